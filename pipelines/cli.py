"""``crm-golden``: run the pipeline, the demo, the built-in shop server, or dedupe any table.

Each sub-command imports what it needs inside its function (the one place in the project that
does so for project modules): ``crm-golden --help``, ``dedupe`` and ``review`` start without
loading Dagster, dlt and Great Expectations, which take seconds to import.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from pipelines.paths import data_dir, default_warehouse
from pipelines.warehouse import WarehouseBusy


def entry() -> NoReturn:
    """The ``crm-golden`` command: :func:`main`, then :func:`quick_exit`."""
    quick_exit(main())


def quick_exit(code: int) -> NoReturn:
    """Exit without tearing the interpreter down. A run leaves ~400k objects behind (Dagster's
    definitions, dlt, polars, DuckDB); collecting them and unloading the modules took 0.8 s of an
    8 s demo. What must happen at exit still does: other threads are awaited, the atexit handlers
    run (logging's flush among them) and the output is flushed."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def settled_imports() -> Iterator[None]:
    """Import the pipeline's libraries without the cyclic garbage collector, then freeze what they
    made. The ~370k objects of Dagster, dlt and polars live as long as the process; left to the
    collector they were scanned again and again while the heap grew (0.4 s of a demo's start)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    parser = argparse.ArgumentParser(prog="crm-golden", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="build the demo sources and run the whole pipeline on them")
    p.add_argument("--entities", type=int, default=300, help="demo people to generate (default 300)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--warehouse", default=None, help="DuckDB file (default data/warehouse.duckdb)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("run", help="load the configured sources and publish the golden customer table")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", default=None,
                       help="sources file (YAML) listing the systems to load (README: Connect your own systems)")
    where.add_argument("--sources", default=None,
                       help="a folder in the demo layout (erp.sqlite, shop/ pages, sheets/*): the built-in sources "
                       "file pointed at it")
    p.add_argument("--base-url", dest="base_urls", action="append", default=[], metavar="SOURCE=URL",
                   help="REST base URL of a source (repeatable), e.g. shop=https://example.myshopify.com")
    p.add_argument("--shop-url", default=None, help="same as --base-url shop=URL")
    p.add_argument("--warehouse", default=None, help="DuckDB file (default data/warehouse.duckdb)")
    p.add_argument("--settings", default=None, help="matching settings YAML (default: built-in)")
    p.add_argument("--destination", choices=["duckdb", "postgres", "parquet"], default="duckdb",
                   help="where to publish besides the DuckDB warehouse (postgres reads "
                   "DESTINATION__POSTGRES__CREDENTIALS)")
    p.add_argument("--parquet-dir", default=None, help="folder for --destination parquet")
    p.add_argument("--full-rebuild", action="store_true",
                   help="compare every candidate pair again (default: only pairs touching new, changed "
                   "or deleted records once a previous run exists)")
    p.add_argument("--retrain", action="store_true", help="train the match model again")
    p.add_argument("--engine", choices=["polars", "spark"], default=None,
                   help="where the matching runs (default: $CRM_GOLDEN_ENGINE, else the settings' engine key, "
                   "else polars)")
    p.add_argument("--spark-master", dest="spark_master", default=None,
                   help="Spark master (local[4], spark://host:7077, ...) or Spark Connect URL (sc://host:15002) "
                   "for the spark engine; default $CRM_GOLDEN_SPARK_MASTER, else local[2]")
    p.set_defaults(func=_run)

    p = sub.add_parser("sources", help="check the configured sources without loading anything")
    sources_sub = p.add_subparsers(dest="sources_command", required=True)
    c = sources_sub.add_parser("check", help="connect to every enabled source, list its columns, map a sample "
                               "and report what does not fit")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--config", default=None, help="sources file (default: $CRM_GOLDEN_SOURCES_CONFIG)")
    where.add_argument("--sources", default=None, help="a folder in the demo layout")
    c.add_argument("--base-url", dest="base_urls", action="append", default=[], metavar="SOURCE=URL")
    c.add_argument("--sample", type=int, default=200, help="rows mapped per source (default 200)")
    c.set_defaults(func=_sources_check)

    p = sub.add_parser("serve-shop", help="serve a folder of Shopify-style JSON pages on 127.0.0.1")
    p.add_argument("directory", help="the shop/ folder (or a dataset folder holding shop/)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=_serve_shop)

    from pipelines.review import add_review_parser

    add_review_parser(sub)
    sub.choices["review"].set_defaults(func=_review)

    from pipelines.privacy import add_erase_parser

    add_erase_parser(sub)

    _add_evaluate_parser(sub)

    try:
        from dedupe.cli import add_dedupe_parser
    except ImportError:
        pass
    else:
        add_dedupe_parser(sub)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"crm-golden: error: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusy as exc:
        print(f"crm-golden: error: {exc}", file=sys.stderr)
        return 4
    except Exception as exc:  # an unexpected failure: one masked line; --debug shows the traceback
        if args.debug:
            raise
        from connectors.common import describe_load_error

        print(f"crm-golden: error: {describe_load_error(exc)} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


class UserError(Exception):
    """A problem the user can fix (wrong path, missing folder): printed without a traceback."""


def _sources_config(args):
    """The sources file of ``--config`` / ``--sources`` (else the environment's), with ``--base-url``s."""
    from connectors.config import ConfigError, demo_layout, load_config, resolve_config
    from pipelines.paths import default_sources

    try:
        if getattr(args, "sources", None):
            folder = Path(args.sources)
            if not folder.is_dir():
                raise UserError(f"sources folder not found: {folder}")
            config = demo_layout(folder)
        elif getattr(args, "config", None):
            config = load_config(args.config)
        else:
            config = resolve_config(default_dir=default_sources())
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for name, url in _base_urls(args).items():
        if name not in [s.name for s in config.sources]:
            raise UserError(f"--base-url {name}=...: no source named {name!r} in the sources file")
        config = config.with_base_url(name, url)
    return config


def _base_urls(args) -> dict[str, str]:
    urls = {}
    for item in getattr(args, "base_urls", None) or []:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise UserError(f"--base-url {item!r}: expected SOURCE=URL")
        urls[name] = url
    if getattr(args, "shop_url", None):
        urls["shop"] = args.shop_url
    return urls


def _run(args) -> int:
    _sources_config(args)  # a bad sources file or --base-url fails here, in one line, before any work
    if args.sources:
        sources = Path(args.sources)
        parts = {"erp.sqlite": (sources / "erp.sqlite").is_file(), "shop/": (sources / "shop").is_dir(),
                 "sheets/": (sources / "sheets").is_dir()}
        if not any(parts.values()):
            raise UserError(f"{sources} holds none of erp.sqlite, shop/, sheets/ (the demo layout); for other "
                            "layouts write a sources file and use --config")
        for name, present in parts.items():
            if not present:
                print(f"note: {sources / name} not found; that source will fail and be reported")
    warehouse = Path(args.warehouse or default_warehouse()).absolute()
    with settled_imports():
        from pipelines.runner import run_pipeline

    if args.destination == "postgres":
        from pipelines.publish import PublishError, postgres_url_from_config

        try:
            postgres_url_from_config()
        except PublishError as exc:
            raise UserError(str(exc)) from exc
    summary = run_pipeline(sources=Path(args.sources).absolute() if args.sources else None,
                           config=Path(args.config).absolute() if args.config else None,
                           base_urls=_base_urls(args), warehouse=warehouse, settings=args.settings,
                           destination=args.destination, parquet_dir=args.parquet_dir,
                           full_rebuild=args.full_rebuild, retrain=args.retrain,
                           engine=args.engine, spark_master=args.spark_master)
    print(summary.render())
    return summary.exit_code


def _sources_check(args) -> int:
    from pipelines.sources_check import check_sources

    config = _sources_config(args)
    report = check_sources(config, sample=args.sample)
    print(report.render())
    return 0 if report.ok else 1


def _demo(args) -> int:
    with settled_imports():
        from pipelines.demo import generate
        from pipelines.runner import run_pipeline

    out = data_dir() / "demo_sources"
    t0 = time.perf_counter()
    counts = generate(out, entities=args.entities, seed=args.seed)
    print(f"demo sources written to {_rel(out)} in {time.perf_counter() - t0:.1f}s: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    warehouse = Path(args.warehouse or default_warehouse()).absolute()
    summary = run_pipeline(sources=out, warehouse=warehouse, truth=out / "truth")
    print(summary.render())
    print("Open the Dagster UI on the materialised assets with:  make ui   (http://127.0.0.1:3000)")
    return summary.exit_code


def _review(args) -> int:
    from pipelines.review import ReviewError, run_review

    warehouse = Path(args.warehouse or default_warehouse())
    if not warehouse.exists():
        raise UserError(f"warehouse not found: {warehouse} (run the pipeline first)")
    try:
        if args.review_command == "serve":
            from pipelines.steward.serve import serve  # starlette/uvicorn only for the review app

            return serve(warehouse, host=args.host, port=args.port, masked=args.masked)
        return run_review(args, warehouse)
    except ReviewError as exc:
        raise UserError(str(exc)) from exc


def _serve_shop(args) -> int:
    from connectors.shop.server import serve_forever

    directory = Path(args.directory)
    if (directory / "shop").is_dir():
        directory = directory / "shop"
    if not (directory / "customers").is_dir():
        raise UserError(f"{directory} has no customers/ pages (expected the crm_synth shop layout)")
    token = os.environ.get("SOURCES__SHOP__ACCESS_TOKEN")
    print(f"serving {directory} on http://{args.host}:{args.port}/admin/api/2024-01/customers.json"
          + (" (token required)" if token else "") + "; Ctrl-C stops", flush=True)
    serve_forever(directory, host=args.host, port=args.port, access_token=token)
    return 0


def _add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="precision / recall / F1 of a crosswalk against labelled records or pairs")
    p.add_argument("--crosswalk", required=True,
                   help="a warehouse (.duckdb: its golden.crosswalk) or a CSV/Parquet with source, "
                   "source_record_id (or record_id) and golden_id (or cluster_id)")
    p.add_argument("--truth", default=None,
                   help="CSV/Parquet of record -> entity_id (or a dataset folder with truth/records.csv): "
                   "pairwise and B-cubed scores")
    p.add_argument("--pairs", default=None,
                   help="CSV/Parquet of labelled pairs: id_l, id_r, is_match (or constraint must_link/cannot_link)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    import json

    from dedupe import evaluation as ev

    if not args.truth and not args.pairs:
        raise UserError("evaluate needs --truth FILE, --pairs FILE or both")
    try:
        crosswalk = ev.read_crosswalk(args.crosswalk)
        report: dict = {}
        if args.truth:
            truth_path = Path(args.truth)
            folder = truth_path if truth_path.is_dir() else truth_path.parent
            negatives = next((p for p in (folder / "truth" / "hard_negatives.csv", folder / "hard_negatives.csv")
                              if p.is_file()), None)   # a generated dataset's look-alike pairs
            report = ev.evaluate(crosswalk, ev.read_truth(truth_path), names=(args.crosswalk, args.truth),
                                 hard_negatives=ev.read_table(negatives) if negatives else None)
        if args.pairs:
            report["labelled_pairs"] = ev.evaluate_pairs(crosswalk, ev.read_table(args.pairs),
                                                         names=(args.crosswalk, args.pairs))
    except ev.EvaluationError as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    if "pairwise" in report:
        pw, b3, cov = report["pairwise"], report["bcubed"], report["coverage"]
        print(f"records {report['records']:,}  true clusters {report['true_clusters']:,}  "
              f"predicted clusters {report['predicted_clusters']:,}")
        print(f"pairwise  P={pw['precision']:.4f} R={pw['recall']:.4f} F1={pw['f1']:.4f}  "
              f"(pairs: true {pw['true_pairs']:,}, predicted {pw['predicted_pairs']:,}, "
              f"correct {pw['true_positive_pairs']:,})")
        print(f"b-cubed   P={b3['precision']:.4f} R={b3['recall']:.4f} F1={b3['f1']:.4f}")
        print(f"coverage  {cov['missing_from_crosswalk']:,} truth records missing from the crosswalk, "
              f"{cov['unknown_in_crosswalk']:,} crosswalk rows not in the truth")
        if "hard_negatives" in report:
            hn = report["hard_negatives"]
            kinds = ", ".join(f"{k} {v['merged']}/{v['pairs']}" for k, v in hn["by_kind"].items())
            print(f"look-alikes merged {hn['merged']}/{hn['pairs']}" + (f" ({kinds})" if kinds else ""))
    if "labelled_pairs" in report:
        lp = report["labelled_pairs"]
        print(f"labelled pairs {lp['pairs']:,} ({lp['match_pairs']:,} match): P={lp['precision']:.4f} "
              f"R={lp['recall']:.4f} F1={lp['f1']:.4f}  (false merges {lp['false_positives']:,}, "
              f"missed {lp['false_negatives']:,})")
    return 0


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
