"""Incremental staging: only the keys whose mapped raw rows changed since the last staging are staged again.

Staging a row depends on the row itself and on three things beyond it, each handled here so that an
incremental staging writes what a full one would:

* the other rows with the same key (``duplicate_primary_key`` keeps the latest): the unit staged
  again is the key, every row of it;
* the source's ``a/b/yyyy`` date order, decided over all its rows (``stage.date_orders``): the
  order is part of every row's digest, so a source whose order flips is staged again whole;
* the run's time (a date after it is impossible): keys with an ``impossible_date`` issue are staged
  again every run.

Each mapped row gets a digest (its values, its system, the source's date orders and date format);
a key is *changed* when the multiset of its rows' digests differs from the last staging's (new,
edited, removed or deleted-at-the-source rows alike). Everything else about staging (the rules, the
normalisation code, erasure tombstones) is covered by a fingerprint: when it differs the whole
staging runs again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

import dedupe.normalize
from dedupe.code_digest import update_with_code
from pipelines.staging.loads import ENCODING_COLUMN, file_encoding_issues
from pipelines.staging.result import FIELD_ISSUES_SCHEMA, QUARANTINE_SCHEMA

#: what the last staging saw and produced, beside staging.customers
ROW_DIGESTS = "staging.state_row_digests"
STATE_QUARANTINE = "staging.state_quarantine"
STATE_FIELD_ISSUES = "staging.state_field_issues"
STATE = "staging.state"
KEY = ["system", "source", "source_record_id"]
DIGEST_SCHEMA = {"system": pl.Utf8, "source": pl.Utf8, "source_record_id": pl.Utf8, "digest": pl.UInt64,
                 "n": pl.UInt32}
#: field issues about a whole file, recomputed from all its rows every run
FILE_RULES = ("non_utf8_encoding",)
#: field issues that depend on the run's time: their keys are staged again every run
TIME_RULES = ("impossible_date",)
_SEED = 0x5EED


def code_fingerprint() -> str:
    """A digest of the staging and normalisation code and data files: a change to either stages
    everything again."""
    h = hashlib.sha256()
    update_with_code(h, Path(__file__).parent, Path(dedupe.normalize.__file__).parent)
    return h.hexdigest()


def _key_columns(frame: pl.DataFrame) -> list[pl.Expr]:
    """The key as staging keys it (text, blanks stripped)."""
    return [pl.col("source").cast(pl.Utf8), pl.col("source_record_id").cast(pl.Utf8).str.strip_chars()]


def row_digests(frame: pl.DataFrame, *, system: str, date_format: str | None,
                orders: pl.DataFrame) -> pl.DataFrame:
    """One row per mapped row (``DIGEST_SCHEMA``): its key, a digest of everything staging reads
    for it, and ``n`` numbering identical rows of one key (so a repeated row counts)."""
    salt = pl.Series([f"{system}\x1f{date_format or ''}"]).hash(seed=_SEED)[0]
    per_source = orders.select("source", __order=orders.drop("source").hash_rows(seed=_SEED)) if orders.width > 1 \
        else orders.select("source", __order=pl.lit(0, pl.UInt64))
    rows = frame.hash_rows(seed=_SEED)
    out = frame.select(*_key_columns(frame)).with_columns(__row=rows).join(
        per_source, on="source", how="left", maintain_order="left")
    out = out.select(pl.lit(system).alias("system"), "source", "source_record_id",
                     digest=pl.struct(pl.col("__row"), pl.col("__order").fill_null(0),
                                      pl.lit(salt, pl.UInt64).alias("__salt")).hash(seed=_SEED))
    return out.with_columns(n=_repeats(out)).cast(DIGEST_SCHEMA)


def _repeats(digests: pl.DataFrame) -> pl.Series:
    """``n``: 0, 1, ... over the rows of one key with one digest. Only rows whose digest occurs more
    than once can be repeats: the window runs over those alone (a window over every row's key costs
    more than the rest of the digest)."""
    n = pl.Series("n", [0] * digests.height, dtype=pl.UInt32)
    repeated = digests.with_row_index("__i").filter(pl.col("digest").is_duplicated())
    if repeated.height:
        ranks = repeated.select("__i", pl.int_range(pl.len(), dtype=pl.UInt32)
                                .over("source", "source_record_id", "digest").alias("n"))
        n = n.scatter(ranks["__i"], ranks["n"])
    return n


def changed_keys(now: pl.DataFrame, before: pl.DataFrame) -> pl.DataFrame:
    """Keys (``system``, ``source``, ``source_record_id``) whose rows differ between two digest sets."""
    cols = list(DIGEST_SCHEMA)
    gone = before.join(now, on=cols, how="anti", nulls_equal=True)
    came = now.join(before, on=cols, how="anti", nulls_equal=True)
    return pl.concat([gone.select(KEY), came.select(KEY)]).unique(maintain_order=True).sort(KEY, nulls_last=True)


def rows_of(frame: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` (one system's mapped rows) whose key is in ``keys``, in their order."""
    k = keys.select("source", "source_record_id").unique()
    marked = frame.with_columns(*[e.alias(f"__k{i}") for i, e in enumerate(_key_columns(frame))])
    return marked.join(k.rename({"source": "__k0", "source_record_id": "__k1"}), on=["__k0", "__k1"],
                       how="semi", nulls_equal=True, maintain_order="left").drop("__k0", "__k1")


def rows_of_keys(digests: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``digests`` (``DIGEST_SCHEMA``) whose ``KEY`` is in ``keys`` (null keys included)."""
    return digests.join(keys.select(KEY).unique(), on=KEY, how="semi", nulls_equal=True, maintain_order="left")


def without_keys(frame: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``source``, ``source_record_id``) without the rows of ``keys``."""
    k = keys.select(pl.col("source").cast(pl.Utf8), pl.col("source_record_id").cast(pl.Utf8)).unique()
    return frame.join(k, on=["source", "source_record_id"], how="anti", nulls_equal=True, maintain_order="left")


def time_keys(issues: pl.DataFrame, system_of: dict[str, str]) -> pl.DataFrame:
    """Keys whose staging depends on the run's time (``TIME_RULES``), to stage again."""
    hit = issues.filter(pl.col("rule").is_in(TIME_RULES)).select("source", "source_record_id").unique()
    return hit.with_columns(system=pl.col("source").replace_strict(system_of, default=None)).drop_nulls(
        "system").select(KEY)


def file_issues(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The whole-file field issues (``FILE_RULES``) of every source, as a full staging finds them."""
    parts = []
    for df in frames.values():
        if ENCODING_COLUMN in df.columns:
            rows = df.filter(pl.col("_row_error").is_null()) if "_row_error" in df.columns else df
            parts.append(file_encoding_issues(rows))
    return pl.concat(parts) if parts else pl.DataFrame(schema=FIELD_ISSUES_SCHEMA)


def empty_state() -> dict[str, pl.DataFrame]:
    return {ROW_DIGESTS: pl.DataFrame(schema=DIGEST_SCHEMA), STATE_QUARANTINE: pl.DataFrame(schema=QUARANTINE_SCHEMA),
            STATE_FIELD_ISSUES: pl.DataFrame(schema=FIELD_ISSUES_SCHEMA)}

