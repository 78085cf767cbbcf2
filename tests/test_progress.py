"""The stage timer and loop progress line: real time, real memory, real Dagster metadata."""

from __future__ import annotations

import logging
import time

import dagster as dg

from pipelines.progress import LoopProgress, StageTiming, mark, rss_mb, stage, timed_stage


def test_stage_measures_time_and_the_peak_of_a_freed_allocation(caplog):
    caplog.set_level(logging.INFO, logger="crm_golden.stage")
    with stage("outer") as outer:
        with stage("allocate") as inner:
            block = bytearray(300 * 1024 * 1024)
            block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
            time.sleep(0.2)
            del block
        with stage("sleep"):
            time.sleep(0.1)
    assert inner.peak_rss_mb - inner.start_rss_mb > 250
    assert rss_mb() < inner.peak_rss_mb - 200          # freed again: only the peak remembers it
    assert outer.peak_rss_mb >= inner.peak_rss_mb
    assert list(outer.substages) == ["allocate", "sleep"]
    assert outer.substages["sleep"]["seconds"] >= 0.1
    assert outer.seconds >= 0.3
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("[stage] allocate: ") and " s, peak " in line for line in lines)


def test_timed_stage_adds_metadata_to_assets_and_multi_assets():
    @dg.asset
    @timed_stage
    def single(context) -> dg.MaterializeResult:
        with stage("work"):
            time.sleep(0.05)
        return dg.MaterializeResult(metadata={"rows": 3})

    @dg.multi_asset(specs=[dg.AssetSpec("a"), dg.AssetSpec("b")])
    @timed_stage
    def several(context):
        with stage("build"):
            time.sleep(0.05)
        yield dg.MaterializeResult(asset_key="a", metadata={"rows": 1})
        yield dg.MaterializeResult(asset_key="b")

    result = dg.materialize([single, several])
    assert result.success
    by_key = {m.asset_key.to_user_string(): m.metadata
              for m in result.asset_materializations_for_node("single") + result.asset_materializations_for_node("several")}
    assert set(by_key) == {"single", "a", "b"}
    for meta in by_key.values():
        assert meta["stage_seconds"].value >= 0.05
        assert meta["peak_rss_mb"].value > 10
        assert meta["process_peak_rss_mb"].value >= meta["peak_rss_mb"].value - 1
    assert by_key["single"]["rows"].value == 3
    assert list(by_key["single"]["stages"].value) == ["work"]
    assert list(by_key["a"]["stages"].value) == ["build"]


def test_loop_progress_reports_count_rate_and_eta_only_after_the_interval(caplog):
    caplog.set_level(logging.INFO, logger="crm_golden.stage")
    quiet = LoopProgress(1000, "records")
    quiet.advance(500)
    assert not caplog.records                   # under 10 s: nothing printed
    loop = LoopProgress(1000, "records", every=0.05)
    time.sleep(0.06)
    loop.advance(250)
    [record] = caplog.records
    text = record.getMessage()
    assert text.startswith("[stage] records: 250 / 1,000 (25 %), ")
    rate = float(text.split(", ")[1].removesuffix("/s").replace(",", ""))
    eta = float(text.split("ETA ")[1].removesuffix(" s").replace(",", ""))
    assert 0 < rate <= 250 / 0.06 and eta == round(750 / rate) or abs(eta - 750 / rate) <= 1


def test_metadata_of_a_running_stage_is_up_to_date():
    with stage("running", quiet=True) as timing:
        time.sleep(0.05)
        meta = timing.metadata()
    assert isinstance(timing, StageTiming)
    assert meta["stage_seconds"].value >= 0.05
    assert "stages" not in meta


def test_marks_split_a_stage_into_sub_stages():
    with stage("body", quiet=True) as timing:
        time.sleep(0.05)
        mark("first")
        block = bytearray(200 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.5)  # the sampler (every 0.05 s) sees it even on a busy machine
        del block
        mark("second")
        mark("second")
    assert list(timing.substages) == ["first", "second", "second#2"]
    assert timing.substages["first"]["seconds"] >= 0.05
    assert timing.substages["second"]["peak_rss_mb"] - timing.substages["first"]["peak_rss_mb"] > 150
    assert timing.substages["second#2"]["peak_rss_mb"] < timing.substages["second"]["peak_rss_mb"] - 150
    mark("outside a stage: ignored")
