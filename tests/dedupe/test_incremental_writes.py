"""An incremental matching run in the pipeline writes only the candidate pairs that changed (delete + insert)
and leaves the matching tables exactly as a full run on the same staged records leaves them."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe import default_settings
from pipelines.assets.matching import _stored_model
from pipelines.assets.matching_large import load_state, match_incremental, staged_digests
from pipelines.warehouse import Warehouse

UID = "record_id"
TABLES = ("matching.candidate_pairs", "matching.scored_pairs", "matching.clusters_unconstrained")


def edited(df: pl.DataFrame) -> pl.DataFrame:
    """Streets and e-mails changed, records deleted, and copies of existing records under new ids."""
    ids = df[UID]
    streets, emails, gone = ids.gather_every(50), ids.gather_every(70, offset=7), ids.gather_every(90, offset=3)
    copies = df.filter(pl.col(UID).is_in(ids.gather_every(60, offset=11).implode())).with_columns(
        (pl.lit("extra:") + pl.col(UID)).alias(UID))
    changed = df.with_columns(
        street=pl.when(pl.col(UID).is_in(streets.implode())).then(pl.lit("1 Changed Road")).otherwise("street"),
        email=pl.when(pl.col(UID).is_in(emails.implode())).then(pl.lit(None)).otherwise("email"))
    return pl.concat([changed.filter(~pl.col(UID).is_in(gone.implode())), copies]).sort(UID)


def run(wh: Warehouse, settings, model) -> dict:
    return match_incremental(wh, settings, model, load_state(wh, settings), staged_digests(wh))


def rows(wh: Warehouse, table: str) -> pl.DataFrame:
    df = wh.read(table)
    return df.sort(df.columns)


@pytest.fixture(scope="module")
def first(records_2k, tmp_path_factory):
    """A warehouse after a first (full) run on the 2k records, and the model it trained."""
    settings = default_settings()
    path = tmp_path_factory.mktemp("wh") / "first.duckdb"
    wh = Warehouse(path)
    wh.write("staging.customers", records_2k.sort(UID))
    assert run(wh, settings, None)["candidate_pairs_rewritten"] == "all"
    return settings, path, _stored_model(wh, settings)


def incremental_and_full(first, tmp_path, records_2k, spoil=None) -> tuple[dict, Warehouse, Warehouse]:
    settings, path, model = first
    after = edited(records_2k.sort(UID))
    inc = Warehouse(tmp_path / "inc.duckdb")
    inc.path.write_bytes(path.read_bytes())
    inc.write("staging.customers", after)
    if spoil:
        with inc.connect() as con:
            con.execute(spoil)
    done = run(inc, settings, model)
    full = Warehouse(tmp_path / "full.duckdb")
    full.write("staging.customers", after)
    assert run(full, settings, model)["candidate_pairs_rewritten"] == "all"
    return done, inc, full


def test_incremental_run_rewrites_only_the_changed_candidate_pairs(first, tmp_path, records_2k):
    done, inc, full = incremental_and_full(first, tmp_path, records_2k)
    deleted, inserted = (int(part.split()[0]) for part in done["candidate_pairs_rewritten"].split(", "))
    assert 0 < deleted < done["candidate_pairs"] / 5 and 0 < inserted < done["candidate_pairs"] / 5
    assert done["pairs_compared"] < done["candidate_pairs"] / 5
    for table in TABLES:
        assert rows(inc, table).equals(rows(full, table)), table


def test_candidate_pairs_are_rewritten_when_the_table_is_not_the_last_runs(first, tmp_path, records_2k):
    """A table that lost a row since the last run (not the state's pairs any more) is rewritten whole."""
    spoil = "delete from matching.candidate_pairs where rowid = (select min(rowid) from matching.candidate_pairs)"
    done, inc, full = incremental_and_full(first, tmp_path, records_2k, spoil)
    assert done["candidate_pairs_rewritten"] == "all"
    assert rows(inc, "matching.candidate_pairs").equals(rows(full, "matching.candidate_pairs"))
