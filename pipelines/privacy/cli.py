"""``crm-golden erase``: erase one person everywhere, or lift tombstones the sources no longer need.

Output is counts and ids only; the e-mail given on the command line is never printed (errors
show it masked), and PostgreSQL URLs are shown with the password masked.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.paths import default_warehouse
from pipelines.privacy.erase import erase
from pipelines.privacy.keys import PrivacyError
from pipelines.privacy.tombstones import current_source_keys, lift_tombstones
from pipelines.publish import PublishError, postgres_url_from_config
from pipelines.warehouse import Warehouse


def add_erase_parser(sub) -> None:
    """Register ``erase`` on an argparse sub-parsers object (``func`` is :func:`run_erase`)."""
    p = sub.add_parser("erase", help="erase a person from every table (raw to golden) and tombstone them",
                       description="Erase one person from the warehouse (raw, staging, matching, golden, "
                       "history, review, quarantine) and from PostgreSQL when configured; record a "
                       "hashed tombstone so a later load does not bring them back.")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="every customer record with this e-mail, and its golden customer")
    who.add_argument("--golden-id", help="a golden customer and all its source records")
    who.add_argument("--source-record", metavar="SOURCE:ID",
                     help="a source record (e.g. erp:C100123) and its golden customer")
    who.add_argument("--lift-from", metavar="SOURCES_DIR",
                     help="instead of erasing: lift tombstones of ERP/shop records that the sources "
                     "folder no longer holds")
    p.add_argument("--warehouse", default=None, help="DuckDB file (default data/warehouse.duckdb)")
    p.add_argument("--parquet-dir", action="append", default=None,
                   help="Parquet publication to remove the person from (repeatable; default: published/ "
                   "beside the warehouse, when it exists)")
    p.add_argument("--reason", default="erasure request", help="recorded with the tombstone (no personal data)")
    p.add_argument("--postgres", choices=("auto", "yes", "no"), default="auto",
                   help="also erase in PostgreSQL: auto = when DESTINATION__POSTGRES__CREDENTIALS "
                   "(or .dlt/secrets.toml) is configured")
    p.set_defaults(func=run_erase)


def run_erase(args) -> int:
    """Carry out ``crm-golden erase``; 0 done, 1 done but traces left, 2 refused."""
    wh = Warehouse(Path(args.warehouse or default_warehouse()).absolute())
    try:
        if not wh.path.exists():
            raise PrivacyError(f"warehouse not found: {wh.path} (run the pipeline first)")
        if args.lift_from:
            return _lift(wh, Path(args.lift_from))
        url = _postgres_url(args.postgres)
        report = erase(wh, email=args.email, golden_id=args.golden_id,
                       source_record=args.source_record, reason=args.reason, postgres_url=url,
                       parquet_dirs=args.parquet_dir)
    except PrivacyError as exc:
        print(f"crm-golden: error: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.complete else 1


def _lift(wh, folder: Path) -> int:
    if not folder.is_dir():
        raise PrivacyError(f"sources folder not found: {folder}")
    keys, systems = current_source_keys(folder)
    if not systems:
        raise PrivacyError(f"{folder} holds neither erp.sqlite nor shop/customers: nothing to compare with")
    lifted = lift_tombstones(wh, keys, sources=systems)
    print(f"tombstones lifted (records gone from {', '.join(systems)}): "
          f"{lifted['source_record']} source records, {lifted['email']} e-mails")
    return 0


def _postgres_url(mode: str) -> str | None:
    if mode == "no":
        return None
    try:
        return postgres_url_from_config()
    except PublishError as exc:
        if mode == "yes":
            raise PrivacyError(str(exc)) from None
        return None
