"""``crm-golden dedupe``: match any CSV/Parquet table (or link two) and write its clusters.

    crm-golden dedupe INPUT(.csv|.parquet) [--settings FILE] --out CLUSTERS.parquet
                      [--link-with OTHER] [--pairs PAIRS.parquet] [--model MODEL.json] [--save-model FILE]
                      [--engine polars|spark] [--spark-master URL]

The clusters file has exactly two columns: the input's unique-id column, then ``cluster_id``.
Without ``--settings`` the settings for the canonical customer schema are used. The engine is
``--engine``, else the settings' ``engine:`` key, else polars; the Spark master is
``--spark-master``, else ``$CRM_GOLDEN_SPARK_MASTER``, else the one ``spark-submit`` was given,
else ``local[2]`` (an ``sc://`` URL connects to a Spark Connect server).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

from dedupe.large_cli import add_large_arguments, run_large, use_large
from dedupe.matching.blocking import BlockingRuleTooBroad
from dedupe.matching.engine import deduplicate
from dedupe.matching.explain import with_level_labels
from dedupe.matching.features import InputError
from dedupe.matching.model import FSModel, ModelMismatch
from dedupe.matching.settings import ENGINES, SettingsError, default_settings, load_settings
from dedupe.spark import engine_session, run_engine
from dedupe.spark.session import SparkUnavailable  # pyspark itself is imported only for --engine spark


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def read_table(path: str | Path) -> pl.DataFrame:
    """CSV (every column as text, UTF-8) or Parquet."""
    path = Path(path)
    if not path.exists():
        raise CliError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pl.read_csv(path, infer_schema=False, encoding="utf8")
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot be read as {suffix[1:]} ({type(exc).__name__}: {str(exc).splitlines()[0]})") \
            from None
    raise CliError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def add_dedupe_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``dedupe`` sub-command on an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "dedupe", help="find duplicate records in a CSV/Parquet table (or link two tables)",
        description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="table to deduplicate (.csv or .parquet)")
    p.add_argument("--settings", help="matching settings YAML (default: the canonical customer schema)")
    p.add_argument("--out", required=True, help="clusters Parquet to write: <unique id>, cluster_id")
    p.add_argument("--link-with", dest="link_with", help="second table: link the two instead of one table")
    p.add_argument("--pairs", help="also write the scored pairs with each comparison's level and weight")
    p.add_argument("--model", help="reuse a model saved with --save-model instead of training")
    p.add_argument("--save-model", dest="save_model", help="write the trained model as JSON")
    p.add_argument("--threshold", type=float, help="match probability for clustering (overrides settings)")
    p.add_argument("--engine", choices=ENGINES,
                   help="where the matching runs (overrides the settings' engine; default polars)")
    p.add_argument("--spark-master", dest="spark_master",
                   help="Spark master (local[4], spark://host:7077, ...) or Spark Connect URL (sc://host:15002); "
                   "default $CRM_GOLDEN_SPARK_MASTER, else spark-submit's, else local[2]")
    add_large_arguments(p)
    p.set_defaults(func=run_dedupe)
    return p


def run_dedupe(args) -> int:
    """Run the sub-command; 0 on success, 1 on an error the message explains."""
    try:
        return _run(args)
    except (CliError, InputError, SettingsError, BlockingRuleTooBroad, ModelMismatch) as exc:
        print(f"crm-golden dedupe: error: {exc}", file=sys.stderr)
        return 1
    except SparkUnavailable as exc:
        print(f"crm-golden dedupe: error: the Spark engine cannot start: {exc}", file=sys.stderr)
        return 1


def _match(records: pl.DataFrame, settings, *, engine: str, link_with: pl.DataFrame | None, model,
           spark_master: str | None):
    """``dedupe.deduplicate`` on the chosen engine (a Spark session is opened for the run and
    stopped after it, unless one was already running)."""
    if engine == "polars":
        return deduplicate(records, settings, link_with=link_with, model=model)
    with engine_session(spark_master) as spark:
        return run_engine(records, settings, engine="spark", link_with=link_with, model=model, spark=spark)


def _run(args) -> int:
    t0 = time.perf_counter()
    settings = load_settings(args.settings) if args.settings else default_settings()
    if args.threshold is not None:
        settings = settings.replace(threshold=args.threshold)
    if args.link_with and settings.link_type == "dedupe_only":
        settings = settings.replace(link_type="link_only")
    if args.engine:
        settings = settings.replace(engine=args.engine)
    if args.spark_master and settings.engine != "spark":
        raise CliError("--spark-master needs the Spark engine (--engine spark or 'engine: spark' in the settings)")
    if getattr(args, "large", False) and settings.engine == "spark":
        raise CliError("--large is the chunked polars engine; it cannot run with the Spark engine")
    if getattr(args, "large", False) and args.link_with:
        raise CliError("--large matches one table; drop --link-with or --large")
    model = None
    if args.model:
        try:
            model = FSModel.load(args.model)
        except (OSError, ValueError, KeyError) as exc:
            raise CliError(f"{args.model}: not a saved model ({exc})") from None
    if use_large(args, settings):
        return run_large(args, settings, model)
    # tables are passed straight in so their memory goes once the features are built
    result = _match(read_table(args.input), settings, engine=settings.engine,
                    link_with=read_table(args.link_with) if args.link_with else None, model=model,
                    spark_master=args.spark_master)
    uid = settings.unique_id
    clusters = result.clusters.select(uid, "cluster_id")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clusters.write_parquet(out)
    if args.pairs:
        Path(args.pairs).parent.mkdir(parents=True, exist_ok=True)
        with_level_labels(result.pairs, settings).write_parquet(args.pairs)
    if args.save_model:
        result.model.save(args.save_model)
    n_clusters = clusters["cluster_id"].n_unique()
    rules = ", ".join(f"{k} {v:,}" for k, v in result.blocking_counts.items())
    print(f"{clusters.height:,} records -> {n_clusters:,} clusters; {result.pairs.height:,} candidate pairs "
          f"({rules}); {settings.engine} engine; {time.perf_counter() - t0:.1f} s; wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm-golden")
    sub = parser.add_subparsers(dest="command", required=True)
    add_dedupe_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
