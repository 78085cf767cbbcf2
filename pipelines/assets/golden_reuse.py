"""Golden rows taken from the last published build instead of picked again.

Survivorship, lineage and masking depend on one cluster's prepared members only (with the default,
cluster-local rules). The build records a digest of each golden customer's members
(:func:`dedupe.golden.records.cluster_digests`) in ``golden._state_clusters``, published with the
golden tables in the same transaction; the next build picks only the customers whose digest (or
whose rules, code or masking key: :func:`dedupe.golden.records.plan_fingerprint`) changed; the
others' rows stay in the published ``customers``, ``crosswalk``, ``customer_lineage``,
``customers_masked``, ``customers_history`` and merge lists, which are built as deltas
(:func:`pipelines.publish.swap.write_delta`). On a 1M run where 1 % of the records changed, about
1 % of the customers are picked again. customer_360 is computed whole, and its rows that equal the
published ones (:func:`row_state`) are kept the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from dedupe.code_digest import update_with_code
from dedupe.golden.records import GoldenPlan, plan_fingerprint
from pipelines.warehouse import Warehouse, utc_frame

#: built as golden_build._state_clusters, published as golden._state_clusters (internal: not in the
#: BI read copy, not exported)
STATE = "golden_build._state_clusters"
PUBLISHED_STATE = "golden._state_clusters"
#: which rows of customer_360 equal the published ones (customer_360 and its masked form are built as deltas)
C360_STATE = "golden_build._state_customer_360"
PUBLISHED_C360_STATE = "golden._state_customer_360"
#: the published tables whose rows a reused customer keeps (and its merge-list rows)
REUSED_TABLES = ("golden.customers", "golden.customer_lineage", "golden.customers_masked",
                 "golden.customers_history", "golden.crosswalk")


def fingerprint(plan: GoldenPlan, hash_key: bytes) -> str:
    """The plan's fingerprint with the masking code and key (masked rows are reused too)."""
    privacy = hashlib.sha256()
    update_with_code(privacy, Path(__file__).resolve().parents[1] / "privacy")
    return plan_fingerprint(plan, privacy.digest(), hashlib.sha256(hash_key).digest())


def state_frame(digests: pl.DataFrame, fingerprint: str, *, kept: pl.Series, previous_build: str | None,
                at: datetime) -> pl.DataFrame:
    """What :data:`STATE` holds: the digests and the fingerprint they were made under, whether
    the customer's rows were kept from the last build, and the ids of this build and that one
    (the BI read copy brings itself up to date from them: ``pipelines.warehouse``). The build id
    is a digest of all of it and the build time: the same input gives the same id."""
    h = pl.struct(pl.all()).hash(7)
    whole = (digests.select((h % (1 << 32)).sum().alias("lo"), (h // (1 << 32)).sum().alias("hi")).row(0)
             if digests.height else ())
    build_id = hashlib.sha256(repr((fingerprint, whole, kept.len(), previous_build, at.isoformat())).encode())
    return digests.with_columns(
        pl.lit(fingerprint).alias("fingerprint"),
        pl.col("golden_id").is_in(kept.implode()).alias("kept"),
        pl.lit(build_id.hexdigest()[:32]).alias("build_id"),
        pl.lit(previous_build, pl.Utf8).alias("previous_build_id"),
    )


def reusable_ids(wh: Warehouse, digests: pl.DataFrame, fingerprint: str) -> tuple[pl.Series, str | None]:
    """Golden ids whose digest equals the published state's under the same fingerprint and whose
    published rows are there (none on a first build, or after a change of rules, code or key),
    and the id of the build they are taken from."""
    empty = pl.Series("golden_id", [], pl.Utf8)
    if not all(wh.exists(t) for t in (PUBLISHED_STATE, *REUSED_TABLES)):
        return empty, None
    last = wh.query(f"select golden_id, members, digest_lo, digest_hi, build_id from {PUBLISHED_STATE} "
                    "where fingerprint = ?", [fingerprint])
    if last.is_empty():
        return empty, None
    same = digests.join(last.drop("build_id").cast(digests.schema), on=list(digests.columns), how="semi")
    published = wh.query("select golden_id from golden.customers")   # an erasure removes rows: be sure
    return same.join(published, on="golden_id", how="semi")["golden_id"].sort(), last["build_id"][0]


def row_state(wh: Warehouse, df: pl.DataFrame, fingerprint: str, *, published: str, state: str,
              keep: bool = True) -> pl.DataFrame:
    """A 64-bit digest of each row of ``df`` (keyed by ``golden_id``) and whether it equals the
    row the ``published`` table holds: the ``state`` published with it has the same digest under
    the same ``fingerprint`` (and the published row is there). ``keep=False``: none kept."""
    out = df.select("golden_id").with_columns(df.hash_rows(seed=11).alias("row_digest"),
                                              pl.lit(fingerprint).alias("fingerprint"), pl.lit(False).alias("kept"))
    if not keep or not (wh.exists(state) and wh.exists(published)):
        return out
    try:
        last = wh.query(f"select s.golden_id, s.row_digest from {state} s semi join {published} p "
                        "using (golden_id) where s.fingerprint = ?", [fingerprint])
    except duckdb.BinderException:   # a state of another layout: nothing kept
        return out
    if last.is_empty():
        return out
    same = last.cast({"row_digest": pl.UInt64}).with_columns(pl.lit(True).alias("__same"))
    return (out.drop("kept").join(same, on=["golden_id", "row_digest"], how="left", maintain_order="left")
            .select("golden_id", "row_digest", "fingerprint", pl.col("__same").fill_null(False).alias("kept")))


def register_ids(con: duckdb.DuckDBPyConnection, ids: pl.Series, name: str = "__reuse") -> str:
    """Register ``ids`` as a one-column relation ``name`` (``golden_id``) on ``con``."""
    con.register(name, ids.to_frame("golden_id").to_arrow())
    return name


def reused_rows(con: duckdb.DuckDBPyConnection, table: str, relation: str = "__reuse", *,
                columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The published rows of ``table`` of the golden ids in ``relation`` (only ``columns`` of them
    if given), in golden id order."""
    picked = ", ".join(f't."{c}"' for c in columns) if columns else "t.*"
    return utc_frame(con.sql(f"select {picked} from {table} t where t.golden_id in (select golden_id from {relation}) "
                             "order by t.golden_id").pl())


def stacked(new: pl.DataFrame | None, reused: pl.DataFrame) -> pl.DataFrame:
    """New and reused rows as one frame in golden id order, in the reused rows' columns (which may be
    fewer) and the new rows' column types where there are new rows."""
    if new is None or new.width == 0:
        return reused
    if reused.is_empty():
        return new
    picked = new.select(reused.columns)
    return pl.concat([picked, reused.cast(picked.schema)]).sort("golden_id")
