"""``crm-golden sources check``: reach every enabled source, list its columns, map a sample, load nothing.

Each source is read just far enough to see its columns and a sample of rows (SQL: the table's or
query's first rows; files: every matching file, first rows; REST: the first page), which is then
mapped as staging would map it. Problems are reported per source in one line each: unreachable
systems and bad credentials (masked), mapped columns the source does not have, ids that are empty
or repeated in the sample, dates that do not parse.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from dlt.common.normalizers.naming.snake_case import NamingConvention

from connectors.common import describe_load_error
from connectors.config import SourcesConfig, SourceSpec
from connectors.config.build import build_source, sql_credentials
from connectors.frames import flatten_structs
from connectors.sheets.readers import file_frame
from pipelines.staging.mapping import MappingError, map_customers
from pipelines.staging.stage import stage_source


@dataclass
class SourceReport:
    name: str
    kind: str
    columns: list[str] = field(default_factory=list)
    rows: int = 0
    staged: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    sources: list[SourceReport]

    @property
    def ok(self) -> bool:
        return all(not s.problems for s in self.sources)

    def render(self) -> str:
        lines = []
        for s in self.sources:
            status = "ok" if not s.problems else "PROBLEM"
            lines.append(f"{s.name} ({s.kind}): {status}; {s.rows} sample row(s), {s.staged} staged; "
                         f"columns: {', '.join(s.columns) if s.columns else '-'}")
            lines += [f"  problem: {p}" for p in s.problems]
            lines += [f"  note: {n}" for n in s.notes]
        bad = sum(1 for s in self.sources if s.problems)
        lines.append(f"{len(self.sources)} source(s) checked, {bad} with problems; nothing was loaded")
        return "\n".join(lines)


def sample_rows(spec: SourceSpec, *, sample: int) -> pl.DataFrame:
    """The first ``sample`` rows of the source's customer table, as the raw layer would hold them."""
    if spec.kind == "sql":
        return _sql_sample(spec, sample)
    if spec.kind == "files":
        return _files_sample(spec, sample)
    with build_source(spec, key_scan=False) as source:
        resource = source.resources[spec.customers_table]
        resource.add_limit(1)
        frames = []
        for item in resource:
            frames.append(_frame(item))
            if sum(f.height for f in frames) >= sample:
                break
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed").head(sample)


def _sql_sample(spec: SourceSpec, sample: int) -> pl.DataFrame:
    engine = sa.create_engine(sql_credentials(spec))
    try:
        with engine.connect() as conn:
            if spec.table:
                table = sa.Table(spec.table, sa.MetaData(), autoload_with=conn)
                query = sa.select(*(sa.cast(c, sa.Text).label(c.name) for c in table.c)).limit(sample)
            else:
                query = sa.text(f"SELECT * FROM ({spec.query.strip().rstrip(';')}) AS q LIMIT {int(sample)}")
            result = conn.execute(query)
            names = list(result.keys())
            rows = [[None if v is None else str(v) for v in r] for r in result]
    finally:
        engine.dispose()
    naming = NamingConvention()
    return pl.DataFrame(rows, schema=[(naming.normalize_identifier(n), pl.Utf8) for n in names], orient="row")


def _files_sample(spec: SourceSpec, sample: int) -> pl.DataFrame:
    files = sorted({f for pattern in spec.paths for f in glob.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no file matches {', '.join(spec.paths)}")
    frames = []
    for path in files:
        frame = file_frame(Path(path).read_bytes(), Path(path).name, fmt=spec.format,
                           aliases=spec.header_aliases)
        if frame is not None:
            frames.append(frame.head(sample))
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _frame(item) -> pl.DataFrame:
    if isinstance(item, pa.Table):
        return pl.from_arrow(item)
    rows = item if isinstance(item, list) else [item]
    frame = flatten_structs(pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame())
    return frame.select([pl.col(c).cast(pl.Utf8, strict=False) if not isinstance(t, pl.List) else
                         pl.col(c).cast(pl.List(pl.Utf8), strict=False).list.join(", ")
                         for c, t in frame.schema.items()])


def check_source(spec: SourceSpec, *, sample: int = 200) -> SourceReport:
    report = SourceReport(spec.name, spec.kind if not spec.preset else f"{spec.kind}, {spec.preset}")
    try:
        rows = sample_rows(spec, sample=sample)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the source is reported, masked
        report.problems.append(f"cannot read {spec.customers_table}: {describe_load_error(exc)}")
        return report
    report.columns = [c for c in rows.columns if not c.startswith("_dlt")]
    report.rows = rows.height
    if rows.height == 0:
        report.notes.append("no rows in the sample: nothing to map")
        return report
    try:
        mapped = map_customers(rows, spec)
    except MappingError as exc:
        report.problems.append(str(exc))
        return report
    ids = mapped["source_record_id"]
    if ids.null_count():
        report.problems.append(f"{ids.null_count()} sample row(s) without an id ({', '.join(spec.id) or 'row'})")
    repeated = mapped.height - mapped.select("source", "source_record_id").n_unique()
    if repeated:
        report.notes.append(f"{repeated} repeated id(s) in the sample (staging keeps the newest, quarantines the rest)")
    for f in ("created_at", "updated_at"):
        if f in spec.fields and mapped[f].null_count() < mapped.height:
            parsed = stage_source(mapped.select("source", "source_record_id", *[
                pl.col(c) for c in mapped.columns if c not in ("source", "source_record_id")]),
                date_format=spec.date_format, now=datetime.now(UTC)).field_issues
            bad = parsed.filter(pl.col("field") == f).height
            if bad:
                report.notes.append(f"{bad} sample value(s) of {f} ({spec.fields[f].describe()}) are no valid date")
            break
    result = stage_source(mapped, date_format=spec.date_format, now=datetime.now(UTC))
    report.staged = result.customers.height
    empty = [f for f, m in spec.fields.items() if not m.optional and f in mapped.columns
             and mapped[f].null_count() == mapped.height]
    if empty:
        report.notes.append(f"mapped but empty in every sample row: {', '.join(empty)}")
    return report


def check_sources(config: SourcesConfig, *, sample: int = 200) -> CheckReport:
    """Check every enabled source (disabled ones are listed as such)."""
    reports = []
    for spec in config.sources:
        if not spec.enabled:
            reports.append(SourceReport(spec.name, spec.kind, notes=["disabled (enabled: false): not checked"]))
            continue
        reports.append(check_source(spec, sample=sample))
    return CheckReport(reports)
