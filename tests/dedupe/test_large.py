"""The chunked engine gives what the in-memory engine gives, whatever the chunk sizes."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe import FSModel, InputError, Progress, deduplicate, deduplicate_large, default_settings


@pytest.fixture(scope="module")
def records_path(records_2k, tmp_path_factory):
    path = tmp_path_factory.mktemp("large_input") / "records.parquet"
    records_2k.write_parquet(path, row_group_size=700)
    return path


@pytest.fixture(scope="module")
def in_memory(records_2k):
    return deduplicate(records_2k, default_settings())


@pytest.fixture(scope="module")
def chunked(records_path, tmp_path_factory):
    events: list[Progress] = []
    res = deduplicate_large(records_path, default_settings(), workdir=tmp_path_factory.mktemp("large_work"),
                            chunk_records=1_000, chunk_pairs=700, progress=events.append)
    return res, events


def test_same_pairs_model_and_clusters_as_in_memory(in_memory, chunked, records_2k):
    res, _ = chunked
    assert records_2k.height > 3 * 1_000          # several record chunks
    assert res.candidate_pairs > 3 * 700          # several pair chunks
    assert res.model.to_dict() == in_memory.model.to_dict()
    assert res.blocking_counts == in_memory.blocking_counts
    pairs = res.pairs().collect()
    assert pairs.columns == in_memory.pairs.columns
    assert pairs.equals(in_memory.pairs)
    assert res.clusters.sort("record_id").equals(in_memory.clusters.sort("record_id"))


def test_name_suffix_column_is_read_as_in_memory(records_2k, tmp_path):
    """Staging splits Jr./Sr. into ``name_suffix``: the chunked name tables must key on it too."""
    recs = records_2k.head(600).with_columns(
        name_suffix=pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.lit("Jr.")).otherwise(None))
    path = tmp_path / "suffix.parquet"
    recs.write_parquet(path)
    mem = deduplicate(recs, default_settings(), keep_features=True)
    big = deduplicate_large(path, default_settings(), workdir=tmp_path / "work", chunk_records=250)
    cols = [c for c in mem.features.columns if c.endswith("__suffix")]
    assert cols and mem.features[cols[0]].eq("jr").sum() > 0
    assert big.pairs().collect().equals(mem.pairs)
    assert big.clusters.sort("record_id").equals(mem.clusters.sort("record_id"))


def test_progress_per_chunk_without_record_values(chunked, records_2k):
    res, events = chunked
    by_stage: dict[str, list[Progress]] = {}
    for e in events:
        by_stage.setdefault(e.stage, []).append(e)
    assert [e.done for e in by_stage["prepare"]][-1] == records_2k.height
    assert len(by_stage["prepare"]) == -(-records_2k.height // 1_000)
    assert len(by_stage["score"]) == -(-res.candidate_pairs // 700)
    last = by_stage["score"][-1]
    assert last.done == last.total == res.candidate_pairs and last.eta == 0
    line = str(by_stage["prepare"][0])
    assert line.startswith("prepare: 1,000/") and "records/s" in line and "ETA" in line
    names = set(records_2k["surname"].drop_nulls().head(50).to_list())
    assert not any(n in str(e) for e in events for n in names if len(n) > 3)


def test_lazy_input_reused_model_and_review_queue(records_2k, in_memory, tmp_path):
    settings = default_settings()
    res = deduplicate_large(records_2k.lazy(), settings, workdir=tmp_path, chunk_records=1_500,
                            model=FSModel.from_dict(in_memory.model.to_dict()), progress=None)
    assert res.clusters.sort("record_id").equals(in_memory.clusters.sort("record_id"))
    queue = res.review_queue(settings).collect()
    assert queue.equals(in_memory.review_queue(settings))


def test_duplicate_ids_across_chunks_are_refused(records_2k, tmp_path):
    dup = pl.concat([records_2k.head(10), records_2k.head(1)])
    with pytest.raises(InputError, match="duplicate"):
        deduplicate_large(dup, default_settings(), workdir=tmp_path, chunk_records=5, progress=None)


def test_cli_large_writes_what_the_in_memory_run_writes(records_path, in_memory, tmp_path, capsys):
    from dedupe.cli import main

    out, pairs = tmp_path / "clusters.parquet", tmp_path / "pairs.parquet"
    assert main(["dedupe", str(records_path), "--out", str(out), "--pairs", str(pairs), "--large"]) == 0
    assert pl.read_parquet(out).sort("record_id").equals(in_memory.clusters.sort("record_id"))
    written = pl.read_parquet(pairs)
    assert written.height == in_memory.pairs.height and "level_name" in written.columns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.parquet", "pairs.parquet"]   # temp work gone
    err = capsys.readouterr().err
    assert "prepare: " in err and "records/s" in err and "chunked polars engine" in err
