"""Source write-back files: per source system, a CSV of its records that are one customer.

Data stewards (or an import job) use ``merge_list_<source>.csv`` to merge or link duplicates in
the source system itself. Each file is written to a temporary name and moved into place, so a
reader never sees half a file. Stewards open these files in a spreadsheet: a text cell that a
spreadsheet would evaluate (``=HYPERLINK(…)``, ``+cmd|…``) is written with a leading ``'``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

import polars as pl
import polars.selectors as cs

from dedupe.normalize.text import is_formula
from pipelines.publish.tables import PublishError

_SOURCE = re.compile(r"^[A-Za-z0-9_]+$")


def merge_list_dir(warehouse_path: str | Path) -> Path:
    """``<stem>_merge_lists/`` beside the warehouse: one folder per warehouse."""
    path = Path(warehouse_path)
    return path.parent / f"{path.stem}_merge_lists"


def write_merge_lists(lists: Mapping[str, pl.DataFrame], out_dir: str | Path) -> dict[str, Path]:
    """Write ``{source: merge list}`` (from ``customer360.merge_lists``) as
    ``<out_dir>/merge_list_<source>.csv`` (UTF-8, comma-separated, header row); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bad = [s for s in lists if not _SOURCE.match(s)]
    if bad:
        raise PublishError(f"source names must be letters, digits and _: {', '.join(map(repr, bad))}")
    paths = {}
    for source, df in lists.items():
        target = out / f"merge_list_{source}.csv"
        tmp = out / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            spreadsheet_safe(df).write_csv(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        paths[source] = target
    return paths


def spreadsheet_safe(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every formula-looking text value prefixed by ``'`` (OWASP CSV injection), so a
    spreadsheet shows it as text instead of running it; numbers and phone numbers stay as they are."""
    text = cs.string()
    return df.with_columns(pl.when(is_formula(text)).then(pl.lit("'") + text).otherwise(text).name.keep())
