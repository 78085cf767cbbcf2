"""Incremental matching gives exactly what a full run gives on the same records: the same pairs (rules,
levels, weights), the same clusters and the same state, also when the changes move statistics that
reach unchanged records (name orientation, peer flags, max_block, term frequencies)."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe import deduplicate, deduplicate_large, default_settings
from dedupe.matching.incremental import MatchState, record_digests, update
from dedupe.matching.settings import BlockingRule

UID = "record_id"


def fetcher(df: pl.DataFrame):
    return lambda ids: df.join(pl.DataFrame({UID: ids}), on=UID, how="semi")


def run(state: MatchState, df: pl.DataFrame, settings, model):
    return update(state, record_digests(df, UID), fetcher(df), settings, model, chunk_pairs=500)


def assert_same(inc, full) -> None:
    assert inc.pairs.columns == full.pairs.columns
    assert inc.pairs.equals(full.pairs)
    assert inc.clusters.equals(full.clusters)
    feats = sorted(full.state.features.columns)
    assert inc.state.features.select(feats).equals(full.state.features.select(feats))
    assert inc.blocking_counts == full.blocking_counts


def person(rid: str, given: str, surname: str, **kw) -> dict:
    return {UID: rid, "source": "extra", "source_record_id": rid, "given_name": given, "surname": surname,
            "full_name": f"{given} {surname}", **kw}


@pytest.fixture(scope="module")
def base(records_2k):
    """The 2k records with a small email block (``max_block`` 2 on the email rule) and the first run."""
    settings = default_settings()
    rules = tuple(BlockingRule(r.name, r.on, 2) if r.name == "email" else r for r in settings.blocking_rules)
    settings = settings.replace(blocking_rules=rules)
    df = records_2k.with_columns(name_suffix=pl.lit(None, pl.Utf8)).sort(UID)
    first = run(MatchState.empty(settings), df, settings, None)
    return settings, df, first


def shared_email(df: pl.DataFrame) -> str:
    """An e-mail address exactly two records hold (the first by value)."""
    shared = df.filter(pl.col("email").is_not_null()).group_by("email").len().filter(pl.col("len") == 2)
    return shared["email"].sort()[0]


def edited(df: pl.DataFrame) -> pl.DataFrame:
    """Edits, deletions and new records, including ones that move statistics of unchanged records."""
    ids = df[UID]
    streets, phones, gone = ids.gather_every(97), ids.gather_every(89, offset=5), ids.gather_every(101, offset=3)
    touched = pl.concat([streets, phones, gone]).implode()
    free = df.filter(pl.col("given_name").str.contains(r"^[A-Za-z]{3,}$") & ~pl.col(UID).is_in(touched)
                     & pl.col("surname").str.contains(r"^[A-Za-z]{3,}$") & pl.col("city").is_not_null())
    tokens = pl.concat([df["given_name"], df["surname"]]).str.to_lowercase().value_counts()
    once = tokens.filter(pl.col("count") == 1)[tokens.columns[0]].implode()
    rare = free.filter(pl.col("given_name").str.to_lowercase().is_in(once)
                       & pl.col("surname").str.to_lowercase().is_in(once))
    a, b = rare.row(0, named=True), free.row(1, named=True)
    # many new people with its names the other way round: the rare name is now read swapped
    turned = [person(f"extra:t{i}", a["surname"], a["given_name"], email=f"t{i}@example.org") for i in range(12)]
    # a Jr. of the second one in the same city: its peer flag (a Jr./Sr. nearby) flips
    junior = [person("extra:jr", b["given_name"], b["surname"], name_suffix="Jr.", city=b["city"],
                     email="junior@example.org")]
    # an e-mail block of two unchanged records grows to three: over max_block, its pair goes
    third = [person("extra:third", "Zed", "Quill", email=shared_email(df))]
    new = pl.DataFrame(turned + junior + third)
    new = new.select([pl.col(c).cast(t) if c in new.columns else pl.lit(None, t).alias(c) for c, t in df.schema.items()])
    changed = df.with_columns(
        street=pl.when(pl.col(UID).is_in(streets.implode())).then(pl.lit("1 Changed Road")).otherwise("street"),
        phone=pl.when(pl.col(UID).is_in(phones.implode())).then(pl.lit(None)).otherwise("phone"))
    return pl.concat([changed.filter(~pl.col(UID).is_in(gone.implode())), new]).sort(UID)


def test_incremental_equals_full_run_when_statistics_move(base):
    settings, df, first = base
    after = edited(df)
    inc = run(first.state, after, settings, first.model)
    full = run(MatchState.empty(settings), after, settings, first.model)
    assert_same(inc, full)
    c = inc.counts
    assert c["records_deleted"] > 10 and 40 < c["records_changed"] < 100
    assert c["records_reoriented"] >= 1    # an unchanged name read the other way round now
    assert c["records_peer_changed"] >= 1  # an unchanged record has a Jr. in its city now
    assert 0 < c["pairs_compared"] < c["pairs"] / 4 and c["pairs_reused"] > c["pairs"] / 2
    # the e-mail block that grew past max_block no longer pairs its two unchanged records
    x, y = df.filter(pl.col("email") == shared_email(df))[UID].sort().to_list()
    assert after.filter(pl.col(UID).is_in([x, y])).equals(df.filter(pl.col(UID).is_in([x, y])))
    pair = (pl.col("id_l") == x) & (pl.col("id_r") == y)
    assert first.pairs.filter(pair)["rule"].to_list() == ["email"]
    assert full.pairs.filter(pair)["rule"].to_list() in ([], *[[r.name] for r in settings.blocking_rules[1:]])


def test_a_run_without_changes_reuses_every_pair_and_changes_nothing(base):
    settings, df, first = base
    again = run(first.state, df, settings, first.model)
    assert_same(again, first)
    assert again.counts["pairs_compared"] == 0 and again.counts["records_changed"] == 0
    assert again.restated.len() == 0


def test_full_update_equals_the_in_memory_and_the_chunked_engines(base, tmp_path):
    settings, df, first = base
    after = edited(df)
    full = run(MatchState.empty(settings), after, settings, first.model)
    memory = deduplicate(after, settings, model=first.model)
    assert memory.pairs.equals(full.pairs)
    assert memory.clusters.sort(UID).equals(full.clusters)
    chunked = deduplicate_large(after, settings, workdir=tmp_path, model=first.model, chunk_records=700,
                                chunk_pairs=600, progress=None, orientation=True)
    assert chunked.clusters.sort(UID).equals(full.clusters)
    assert chunked.pairs().collect().equals(full.pairs)


def test_changes_in_a_row_equal_one_full_run(base):
    """Two incremental runs, the second undoing part of the first, still equal a full run."""
    settings, df, first = base
    after = edited(df)
    inc = run(first.state, after, settings, first.model)
    back = pl.concat([after.filter(~pl.col(UID).str.starts_with("extra:t")),
                      df.filter(pl.col(UID).is_in(df[UID].gather_every(101, offset=3).implode()))]).sort(UID)
    inc2 = run(inc.state, back, settings, first.model)
    assert inc2.counts["records_reoriented"] >= 1   # the swapped name is read as before again
    assert_same(inc2, run(MatchState.empty(settings), back, settings, first.model))
