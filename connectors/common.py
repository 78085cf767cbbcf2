"""Pipelines for the raw layer: one dlt pipeline per source into one DuckDB warehouse."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt

from expectations.masking import mask_error

log = logging.getLogger(__name__)


def make_pipeline(source_name: str, warehouse: str | Path, *, pipelines_dir: str | Path) -> dlt.Pipeline:
    """``crm_golden_<source>`` loading dataset ``raw_<source>`` of the DuckDB file ``warehouse``.

    ``pipelines_dir`` holds dlt's local state (keep it under the project's data/ folder). Rows that
    arrive as Arrow tables get ``_dlt_load_id`` like row dicts do (the deletion detectors compare
    each row's load with the key scan's).
    """
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    return dlt.pipeline(
        pipeline_name=f"crm_golden_{source_name}",
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=f"raw_{source_name}",
        pipelines_dir=str(pipelines_dir),
    )


def loaded_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows per table written by the pipeline's last run (dlt's own tables left out)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    counts = info.row_counts if info is not None else {}
    return {table: n for table, n in sorted(counts.items()) if not table.startswith("_dlt")}


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a dlt failure chain (the one that says what was wrong)."""
    seen = {id(exc)}
    while True:
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None or id(nxt) in seen:
            return exc
        seen.add(id(nxt))
        exc = nxt


def describe_load_error(exc: BaseException) -> str:
    """``ErrorClass: message`` of the innermost cause of a failed load, masked (:func:`mask_error`)."""
    cause = root_cause(exc)
    return mask_error(f"{cause.__class__.__name__}: {cause}")


def load_all(
    sources_dir: str | Path,
    warehouse: str | Path,
    *,
    pipelines_dir: str | Path,
    include_dirty: bool = False,
) -> dict[str, dict[str, Any]]:
    """Load ERP, shop and sheets from a crm_synth-layout folder into ``warehouse``.

    ``sources_dir`` holds ``erp.sqlite``, ``shop/`` (served by a local ShopServer on a free port
    for the run) and ``sheets/``. Each source runs on its own; one failing does not stop the
    others. Returns ``{source: {"ok": bool, "rows": {table: n}, "error": str | None}}``.
    """
    from .erp import erp_source
    from .sheets import sheets_source
    from .shop import ShopServer, shop_source

    root = Path(sources_dir)
    erp_db = root / "erp.sqlite"

    def erp() -> Any:
        if not erp_db.is_file():
            raise FileNotFoundError(f"{erp_db} not found")
        return erp_source(f"sqlite:///{erp_db.resolve()}", include_dirty=include_dirty)

    def sheets() -> Any:
        if not (root / "sheets").is_dir():
            raise FileNotFoundError(f"{root / 'sheets'} not found")
        return sheets_source(str((root / "sheets").resolve()))

    report = {
        "erp": _run("erp", erp, warehouse, pipelines_dir),
        "shop": {"ok": False, "rows": {}, "error": None},
        "sheets": _run("sheets", sheets, warehouse, pipelines_dir),
    }
    token = secrets.token_hex(16)
    try:
        server = ShopServer(root, access_token=token)
    except FileNotFoundError as exc:
        report["shop"]["error"] = str(exc)
    else:
        with server:
            report["shop"] = _run("shop", lambda: shop_source(server.url, token), warehouse, pipelines_dir)
    for name, result in report.items():
        if result["ok"]:
            log.info("raw load %s: %s", name, result["rows"])
        else:
            log.error("raw load %s failed: %s", name, result["error"])
    return report


def _run(
    name: str, make_source: Callable[[], Any], warehouse: str | Path, pipelines_dir: str | Path
) -> dict[str, Any]:
    pipeline = make_pipeline(name, warehouse, pipelines_dir=pipelines_dir)
    try:
        pipeline.run(make_source())
    except Exception as exc:  # noqa: BLE001 - one source's failure is reported, the others still run
        return {"ok": False, "rows": {}, "error": describe_load_error(exc)}
    return {"ok": True, "rows": loaded_rows(pipeline), "error": None}
