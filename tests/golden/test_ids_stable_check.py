"""``golden_ids_are_stable`` counts the same on a crosswalk built whole and one built as a delta."""

import duckdb
import polars as pl
import pytest

from pipelines.checks import golden_ids_are_stable
from pipelines.publish.swap import discard_build, write_built, write_delta
from pipelines.resources import WarehouseResource

# published: r1-r2 in g1, r3 in g2, r4 in g3, r5 in g4
PUBLISHED = [("r1", "g1"), ("r2", "g1"), ("r3", "g2"), ("r4", "g3"), ("r5", "g4")]
# this build: g1 kept as it was; r3 joins g1 (g2 retired, named in the id history); r4 moves to the new
# g5; g3 and g4 lose their records, and only g3 is in the id history: g4 is unexplained
BUILT = [("r1", "g1"), ("r2", "g1"), ("r3", "g1"), ("r4", "g5"), ("r5", "g5")]
RETIRED = ["g2", "g3"]


def _frame(rows):
    return pl.DataFrame({"record_id": [r for r, _ in rows], "golden_id": [g for _, g in rows]})


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema golden")
        con.register("p", _frame(PUBLISHED).to_arrow())
        con.execute("create table golden.crosswalk as select * from p")
        discard_build(con)
        write_built(con, "golden_build.id_history_new", pl.DataFrame({"retired_id": RETIRED}))
    return path


def _metadata(path):
    result = golden_ids_are_stable(WarehouseResource(path=str(path)))
    return result.passed, {k: getattr(v, "value", getattr(v, "data", v)) for k, v in result.metadata.items()}


EXPECTED = {"ids_kept": 1, "ids_retired": 3, "ids_new": 1, "records_with_new_id": 3, "unexplained_ids": ["g4"]}


def test_counts_on_a_crosswalk_built_whole(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        write_built(con, "golden_build.crosswalk", _frame(BUILT))
    assert _metadata(warehouse) == (False, EXPECTED)


def test_counts_on_a_crosswalk_built_as_a_delta(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        # r3 moved into g1, so g1 is picked again (only customers without changes are kept): nothing kept
        write_built(con, "golden_build._state", pl.DataFrame({"golden_id": ["g1", "g5"], "kept": [False, False]}))
        write_delta(con, "golden_build.crosswalk", _frame(BUILT), published="golden.crosswalk",
                    kept_by="golden_build._state")
    assert _metadata(warehouse) == (False, EXPECTED)


def test_a_delta_keeping_customers_counts_their_records_unmoved(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from golden.crosswalk where golden_id = 'g4'")   # g4 was never published here
        write_built(con, "golden_build._state", pl.DataFrame({"golden_id": ["g1", "g5"], "kept": [True, False]}))
        # g1 kept (its published rows r1, r2); r3 into g1 would change g1, so here r3 stays out of it
        write_delta(con, "golden_build.crosswalk", _frame([("r3", "g5"), ("r4", "g5")]),
                    published="golden.crosswalk", kept_by="golden_build._state")
    passed, meta = _metadata(warehouse)
    assert passed and meta == {"ids_kept": 1, "ids_retired": 2, "ids_new": 1, "records_with_new_id": 2,
                               "unexplained_ids": []}
