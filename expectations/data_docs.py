"""Optional Great Expectations Data Docs (static HTML) for masked suite outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from expectations.outcomes import SuiteOutcome

SITE_NAME = "crm_golden_docs"  # ``local_site`` is taken in an ephemeral context


def build_data_docs(results: Iterable[SuiteOutcome], out_dir: str | Path, *, run_name: str | None = None) -> Path:
    """Write Data Docs for ``results`` (their masked GX validation results) into ``out_dir``.

    Returns the path of ``index.html``. Costs roughly a fifth of a second per suite on top of
    the validation.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    run_id = RunIdentifier(run_name=run_name or "crm_golden", run_time=dt.datetime.now(dt.UTC))
    stored = 0
    for outcome in results:
        result = outcome.validation_result
        if result is None:
            continue
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=outcome.suite),
            run_id=run_id,
            batch_identifier=result.batch_id or outcome.suite,
        )
        ctx.validation_results_store.set(key, result)
        stored += 1
    if not stored:
        raise ValueError("build_data_docs: none of the outcomes carries a validation result")
    ctx.add_data_docs_site(SITE_NAME, {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    ctx.build_data_docs(site_names=[SITE_NAME])
    return out / "index.html"
