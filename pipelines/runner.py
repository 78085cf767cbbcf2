"""Run the full-flow job in-process against the Dagster instance, and summarise what it did.

Runs land in ``$DAGSTER_HOME`` (default ``data/dagster_home``), so they show in the UI.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import polars as pl

from expectations.data_docs import data_docs_session, wait_for_data_docs
from expectations.masking import mask_error
from pipelines.assets.staging import docs_dir
from pipelines.build import JOB_NAME, build_definitions
from pipelines.instance import quick_event_log
from pipelines.paths import dagster_home
from pipelines.progress import ProgressHandler, progress_logger_def
from pipelines.resources import SourcesResource
from pipelines.sources import raw_tables
from pipelines.warehouse import Warehouse, holds_run_lock, kept_open, read_copy_path

EXIT_OK = 0
EXIT_NOT_PUBLISHED = 1
EXIT_PUBLISHED_WITH_GAPS = 3


@dataclass
class RunSummary:
    """What a run read, rejected, merged and published."""

    run_id: str
    success: bool
    seconds: float
    warehouse: Path
    rows_read: dict[str, int] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    #: sources whose load failed this run (``quality.load_failures``); later steps used their
    #: raw tables from earlier runs
    failed_sources: list[str] = field(default_factory=list)
    staged: int = 0
    quarantined: int = 0
    #: source records gone from their system (``quality.source_deletions``), kept out of staging
    deleted_at_source: int = 0
    fields_repaired: int = 0
    golden_customers: int = 0
    duplicates_merged: int = 0
    review_queue: int = 0
    published: bool = False
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    quality: dict | None = None
    destination: str = "duckdb"
    #: one line per failed step or source: ``name: cause`` (masked)
    errors: dict[str, str] = field(default_factory=dict)
    #: API pages cut mid-body this run, and the objects on them not read (None: unknown, a last page)
    cut_pages: int = 0
    objects_not_read: int | None = 0
    #: why the Data Docs pages of this run could not be drawn (None: drawn, or no suite ran)
    data_docs_error: str | None = None

    @property
    def exit_code(self) -> int:
        """0: every source loaded and the tables published; 3: published, but a source failed to load or
        a page was cut (its rows come next run); 1: nothing published (the last good tables stay)."""
        if not self.published:
            return EXIT_NOT_PUBLISHED
        if self.failed_sources or self.cut_pages or not self.success:
            return EXIT_PUBLISHED_WITH_GAPS
        return EXIT_OK

    def render(self) -> str:
        ok = sum(1 for _, passed, _ in self.checks if passed)
        failed = [(n, sev) for n, passed, sev in self.checks if not passed]
        lines = [
            "",
            (f"crm-golden run {self.run_id[:8]}: {'succeeded' if self.success else 'FAILED'} "
             f"in {self.seconds:.1f}s"),
            "  records read:",
            *[f"    {t:<22} {n:>9,}" for t, n in self.rows_read.items()],
            f"  staged customers        {self.staged:>9,}",
            f"  quarantined rows        {self.quarantined:>9,}   (quality.quarantine)",
            f"  deleted at the source   {self.deleted_at_source:>9,}   (quality.source_deletions)",
            f"  fields repaired         {self.fields_repaired:>9,}   (quality.field_issues)",
            f"  golden customers        {self.golden_customers:>9,}",
            f"  duplicates merged       {self.duplicates_merged:>9,}",
            f"  pairs for review        {self.review_queue:>9,}",
            f"  checks                  {ok} passed, {len(failed)} failed",
            *[f"    failed: {n} ({sev.lower()})" for n, sev in failed],
        ]
        if self.failed_steps:
            lines.append("  failed steps: " + ", ".join(self.failed_steps))
        for name, cause in self.errors.items():
            lines.append(f"    {name}: {cause}")
        if self.cut_pages:
            lost = "an unknown number of" if self.objects_not_read is None else f"{self.objects_not_read:,}"
            lines.append(f"  cut API pages           {self.cut_pages:>9,}   ({lost} records not read yet: asked for "
                         "again next run; quality.invalid_pages)")
        if self.failed_sources:
            kept = [s for s in self.failed_sources if any(t.startswith(f"raw_{s}.") for t in self.rows_read)]
            lines.append("  sources NOT loaded this run: " + ", ".join(self.failed_sources)
                         + " (see quality.load_failures" + ("; the raw tables of earlier runs were used for "
                                                            + ", ".join(kept) if kept else
                                                            "; no raw tables of earlier runs") + ")")
        if self.data_docs_error:
            lines.append(f"  Data Docs not drawn: {self.data_docs_error}")
        if self.quality:
            q = self.quality
            lines.append(f"  match quality vs. demo truth: pairwise P={q['precision']:.3f} "
                         f"R={q['recall']:.3f} F1={q['f1']:.3f}")
        lines += [
            f"  published: {'golden.customers, golden.crosswalk, golden.customer_360, golden.review_queue' if self.published else 'no (last published tables left as they were)'}"
            + (f" (also to {self.destination})" if self.published and self.destination != "duckdb" else ""),
            f"  warehouse: {self.warehouse}",
            (f"  read copy: {read_copy_path(self.warehouse)}   (BI tools and notebooks: open this one; it never "
            "blocks a run)"),
            "  query it:  .venv/bin/python -c \"import duckdb; print(duckdb.connect('"
            + str(read_copy_path(self.warehouse)) + "', read_only=True).sql('select * from golden.customers "
            "limit 10'))\"",
        ]
        return "\n".join(lines)


@holds_run_lock  # one run per warehouse at a time; WarehouseBusy when another holds it
def run_pipeline(*, warehouse: Path, sources: Path | None = None, config: Path | None = None,
                 base_urls: dict[str, str] | None = None, settings: str | None = None,
                 truth: Path | None = None, destination: str = "duckdb",
                 parquet_dir: str | None = None, full_rebuild: bool = False,
                 retrain: bool = False, engine: str | None = None,
                 spark_master: str | None = None) -> RunSummary:
    """Execute the full flow into ``warehouse`` and return its summary: the sources of the sources file
    ``config``, else the demo layout in the folder ``sources``."""
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    handler = ProgressHandler()
    defs = build_definitions(warehouse=str(warehouse), sources=str(sources) if sources else None,
                             config=str(config) if config else None, base_urls=base_urls, settings=settings,
                             destination=destination, parquet_dir=parquet_dir,
                             full_rebuild=full_rebuild, retrain=retrain,
                             engine=engine, spark_master=spark_master,
                             loggers={"progress": progress_logger_def(handler)})
    job = defs.resolve_job_def(JOB_NAME)
    t0 = time.perf_counter()
    docs = docs_dir(Warehouse(warehouse))
    with kept_open(warehouse), frozen_heap():
        with quick_event_log(dagster_home()), dg.DagsterInstance.get() as instance, data_docs_session(docs):
            result = job.execute_in_process(instance=instance, raise_on_error=False,
                                            run_config={"loggers": {"progress": {}}})
        summary = RunSummary(run_id=result.run_id, success=result.success,
                             seconds=time.perf_counter() - t0, warehouse=warehouse, checks=handler.checks)
        summary.failed_steps = sorted({e.step_key for e in result.all_events if e.is_step_failure})
        summary.errors = step_errors(result.all_events)
        published = any(e.is_step_success and e.step_key and "publish" in e.step_key for e in result.all_events)
        summary.published = published
        summary.destination = destination
        sources_config = SourcesResource(config_path=str(config or ""), base_urls=dict(base_urls or {}),
                                         **({"directory": str(sources)} if sources else {})).config()
        _fill_counts(summary, Warehouse(warehouse), result.run_id, raw_tables(sources_config))
        if truth is not None and (truth / "records.csv").exists() and published:
            summary.quality = pairwise_quality(Warehouse(warehouse).read("golden.crosswalk"), truth / "records.csv")
    summary.data_docs_error = wait_for_data_docs(docs)  # drawn beside the run
    return summary


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """What exists before a run (the libraries, the definitions: ~400k objects) outlives it; for its
    length the cyclic garbage collector leaves it out of its scans (two full scans cost 0.3 s of a
    demo run). Thawed again afterwards, so a process that runs the pipeline many times frees the
    cycles it leaves."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def step_errors(events) -> dict[str, str]:
    """``step: cause`` for each failed step: the innermost error's message, one line, masked."""
    out = {}
    for event in events:
        if not event.is_step_failure or event.step_key in out:
            continue
        error = getattr(event.event_specific_data, "error", None)
        while error is not None and getattr(error, "cause", None) is not None:
            error = error.cause
        message = (getattr(error, "message", "") or "").strip()
        line = next((ln for ln in reversed(message.splitlines()) if ln.strip()), "") if message else ""
        out[event.step_key] = mask_error(line or "failed (see the Dagster run log)", limit=300)
    return out


def _fill_counts(summary: RunSummary, wh: Warehouse, run_id: str, tables: list[str]) -> None:
    if wh.exists("quality.load_failures"):
        failed = wh.query("select source, min(error) as error from quality.load_failures where run_id = ? "
                          "group by source order by source", [run_id])
        summary.failed_sources = failed["source"].to_list()
        for source, error in failed.iter_rows():
            summary.errors[f"source {source}"] = error
    if wh.exists("quality.invalid_pages"):
        pages = wh.query("select * from quality.invalid_pages where run_id = ?", [run_id])
        summary.cut_pages = pages.height
        if pages.height:
            lost = pages["objects_lost"] if "objects_lost" in pages.columns else None
            summary.objects_not_read = None if lost is None or lost.null_count() else int(lost.sum())
    for table in tables:
        if wh.exists(table):
            summary.rows_read[table] = _count(wh, table)
    if wh.exists("staging.customers"):
        summary.staged = _count(wh, "staging.customers")
    for attr, table in (("quarantined", "quality.quarantine"), ("fields_repaired", "quality.field_issues"),
                        ("deleted_at_source", "quality.source_deletions")):
        if wh.exists(table):
            setattr(summary, attr, _count(wh, table))
    schema = "golden" if summary.published else "golden_build"
    if wh.exists(f"{schema}.customers"):
        summary.golden_customers = _count(wh, f"{schema}.customers")
        summary.duplicates_merged = _count(wh, f"{schema}.crosswalk") - summary.golden_customers
        summary.review_queue = _count(wh, f"{schema}.review_queue")


def _count(wh: Warehouse, table: str) -> int:
    return int(wh.query(f"select count(*) as n from {table}")["n"][0])


def pairwise_quality(crosswalk: pl.DataFrame, records_csv: Path) -> dict:
    """Pairwise precision/recall/F1 of a crosswalk against a truth ``records.csv``."""
    truth = pl.read_csv(records_csv, infer_schema=False)
    rec = truth.join(crosswalk.select("source", "source_record_id", "golden_id"),
                     on=["source", "source_record_id"], how="left").with_columns(
        pl.coalesce("golden_id", pl.concat_str([pl.lit("missing:"), "source", pl.lit(":"), "source_record_id"])))

    def pairs(cols):
        return int(rec.group_by(cols).len().select((pl.col("len") * (pl.col("len") - 1) // 2).sum()).item())

    tp, pred, true = pairs(["entity_id", "golden_id"]), pairs(["golden_id"]), pairs(["entity_id"])
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    return {"precision": p, "recall": r, "f1": 0.0 if p + r == 0 else 2 * p * r / (p + r)}
