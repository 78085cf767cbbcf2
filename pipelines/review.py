"""``crm-golden review``: list, inspect and decide the uncertain matches.

Decisions go to ``golden.steward_decisions`` and act as must-link / cannot-link constraints in
every later run, full or incremental; a rebuild never drops them. Values are masked unless
``--reveal`` is given (a steward's own terminal, not a log).

``review serve`` starts the browser app (:mod:`pipelines.steward`). It never writes into the
warehouse: its decisions wait in a SQLite store beside it, and :func:`import_pending_decisions`
(called by the clusters asset when a run starts matching) appends them to
``golden.steward_decisions``, with the same rows and meaning as the CLI's own decisions.
"""

from __future__ import annotations

import argparse
import getpass
import uuid
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from expectations.masking import mask_for_column
from pipelines.steward.store import DecisionStore
from pipelines.warehouse import Warehouse

DECISIONS = "golden.steward_decisions"
DECISION_SCHEMA = {
    "decision_id": pl.Utf8, "action": pl.Utf8, "constraint": pl.Utf8, "id_l": pl.Utf8, "id_r": pl.Utf8,
    "golden_id": pl.Utf8, "note": pl.Utf8, "decided_by": pl.Utf8, "decided_at": pl.Datetime("us", "UTC"),
}
SHOWN_FIELDS = ["source", "source_record_id", "given_name", "surname", "full_name", "company_name",
                "email", "phone", "street", "postal_code", "city", "country", "updated_at"]


class ReviewError(Exception):
    """A review command that cannot be carried out (unknown record, no queue yet)."""


def add_review_parser(sub) -> None:
    p = sub.add_parser("review", help="list, show and decide uncertain matches (steward review)")
    p.add_argument("--warehouse", default=None, help="DuckDB file (default data/warehouse.duckdb)")
    rs = p.add_subparsers(dest="review_command", required=True)
    q = rs.add_parser("list", help="pending pairs, most likely matches first")
    q.add_argument("--limit", type=int, default=20)
    q = rs.add_parser("show", help="two records side by side with the match explanation")
    q.add_argument("id_l")
    q.add_argument("id_r")
    q.add_argument("--reveal", action="store_true", help="show values unmasked")
    for name, text in (("accept", "these two records are the same customer"),
                       ("reject", "these two records are different customers")):
        q = rs.add_parser(name, help=text)
        q.add_argument("id_l")
        q.add_argument("id_r")
        q.add_argument("--note", default="")
    q = rs.add_parser("unmerge", help="move a source record out of its golden customer")
    q.add_argument("record_id", help="source:source_record_id")
    q.add_argument("--into", default=None, help="golden id to move it into (default: its own)")
    q.add_argument("--note", default="")
    q = rs.add_parser("serve", help="review in the browser (queue, pairs, golden customers, bulk decisions)")
    q.add_argument("--warehouse", default=argparse.SUPPRESS, help="DuckDB file (default data/warehouse.duckdb)")
    q.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1; any other needs CRM_GOLDEN_REVIEW_USERS)")
    q.add_argument("--port", type=int, default=8780)
    q.add_argument("--masked", action="store_true", default=None,
                   help="mask contact data like the BI tables (default $CRM_GOLDEN_REVIEW_MASKED)")


def run_review(args, warehouse: Path) -> int:
    wh = Warehouse(warehouse)
    cmd = args.review_command  # "serve" (the review app) is started by pipelines/cli.py
    if cmd == "list":
        print(render_queue(pending(wh).head(args.limit)))
    elif cmd == "show":
        print(render_pair(wh, args.id_l, args.id_r, reveal=args.reveal))
    elif cmd in ("accept", "reject"):
        n = decide(wh, cmd, args.id_l, args.id_r, note=args.note)
        print(f"recorded: {cmd} {args.id_l} ~ {args.id_r} ({n} constraint); applies from the next run")
    elif cmd == "unmerge":
        n = unmerge(wh, args.record_id, into=args.into, note=args.note)
        print(f"recorded: unmerge {args.record_id} ({n} constraints); applies from the next run")
    return 0


def pending(wh: Warehouse) -> pl.DataFrame:
    """The published review queue minus pairs decided since it was built."""
    queue = wh.read_if_exists("golden.review_queue")
    if queue is None:
        raise ReviewError("no review queue yet: run the pipeline first")
    decided = pl.concat([decisions(wh).select("id_l", "id_r"), store_decisions(wh.path).select("id_l", "id_r")])
    if decided.height:
        queue = queue.join(decided.select("id_l", "id_r").unique(), on=["id_l", "id_r"], how="anti")
    return queue


def decisions(wh: Warehouse) -> pl.DataFrame:
    df = wh.read_if_exists(DECISIONS)
    return df if df is not None else pl.DataFrame(schema=DECISION_SCHEMA)


def store_decisions(warehouse_path: Path, *, pending_only: bool = False) -> pl.DataFrame:
    """Decisions in the review app's store beside the warehouse (all, or those not imported yet)."""
    rows = DecisionStore.beside(warehouse_path).rows(pending_only=pending_only)
    if not rows:
        return pl.DataFrame(schema=DECISION_SCHEMA)
    return pl.DataFrame([tuple(r[c] for c in DECISION_SCHEMA) for r in rows],
                        schema={**DECISION_SCHEMA, "decided_at": pl.Utf8}, orient="row").with_columns(
        pl.col("decided_at").str.to_datetime(time_zone="UTC", time_unit="us"))


def import_pending_decisions(wh: Warehouse) -> int:
    """Append the review app's pending decisions to ``golden.steward_decisions`` and mark them
    imported; returns how many. Rows already in the table (an import cut short) are not doubled."""
    waiting = store_decisions(wh.path, pending_only=True)
    if waiting.height == 0:
        return 0
    new = waiting
    if wh.exists(DECISIONS):
        new = waiting.join(wh.query(f"select decision_id from {DECISIONS}"), on="decision_id", how="anti")
    wh.append(DECISIONS, new.select(list(DECISION_SCHEMA)))
    DecisionStore.beside(wh.path).mark_imported(waiting["decision_id"].to_list())
    return new.height


def constraints(wh: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(must_link, cannot_link) pairs from every decision so far; the latest decision on a pair wins."""
    d = decisions(wh)
    if d.height == 0:
        empty = pl.DataFrame(schema={"id_l": pl.Utf8, "id_r": pl.Utf8})
        return empty, empty
    latest = d.sort("decided_at").unique(["id_l", "id_r"], keep="last")
    pick = lambda kind: latest.filter(pl.col("constraint") == kind).select("id_l", "id_r")
    return pick("must_link"), pick("cannot_link")


def decide(wh: Warehouse, action: str, id_l: str, id_r: str, *, note: str = "") -> int:
    _require_records(wh, [id_l, id_r])
    _append(wh, pair_rows(action, [(id_l, id_r)], note=note))
    return 1


def pair_rows(action: str, pairs, *, note: str = "") -> list[tuple]:
    """Decision rows (action, constraint, id_l, id_r, golden_id, note) for accept/reject of pairs."""
    if action not in ("accept", "reject"):
        raise ReviewError(f"unknown decision {action!r} (accept or reject)")
    kind = "must_link" if action == "accept" else "cannot_link"
    return [(action, kind, *sorted((a, b)), None, note) for a, b in pairs]


def unmerge(wh: Warehouse, record_id: str, *, into: str | None = None, note: str = "") -> int:
    """Cannot-link the record with every other member of its golden customer; with ``into``,
    must-link it with the members of that golden customer."""
    cw = wh.read_if_exists("golden.crosswalk")
    if cw is None:
        raise ReviewError("no published crosswalk yet: run the pipeline first")
    rows = unmerge_rows(cw, record_id, into=into, note=note)
    _append(wh, rows)
    return len(rows)


def merge_rows(cw: pl.DataFrame, golden_a: str, golden_b: str, *, note: str = "") -> list[tuple]:
    """Must-link every record of golden customer ``golden_b`` with one record of ``golden_a``."""
    a = cw.filter(pl.col("golden_id") == golden_a)["record_id"].sort().to_list()
    b = cw.filter(pl.col("golden_id") == golden_b)["record_id"].sort().to_list()
    for gid, members in ((golden_a, a), (golden_b, b)):
        if not members:
            raise ReviewError(f"golden id {gid} is not in golden.crosswalk")
    if golden_a == golden_b:
        raise ReviewError(f"cannot merge golden customer {golden_a} with itself")
    return [("merge", "must_link", *sorted((a[0], r)), golden_a, note) for r in b]


def unmerge_rows(cw: pl.DataFrame, record_id: str, *, into: str | None = None, note: str = "") -> list[tuple]:
    """The constraint rows of :func:`unmerge`, from a crosswalk (no warehouse access)."""
    row = cw.filter(pl.col("record_id") == record_id)
    if row.height == 0:
        raise ReviewError(f"record {record_id} is not in golden.crosswalk")
    gid = row["golden_id"][0]
    others = cw.filter((pl.col("golden_id") == gid) & (pl.col("record_id") != record_id))["record_id"].to_list()
    rows = [("unmerge", "cannot_link", *sorted((record_id, o)), gid, note) for o in others]
    if into:
        target = cw.filter(pl.col("golden_id") == into)["record_id"].to_list()
        if not target:
            raise ReviewError(f"golden id {into} is not in golden.crosswalk")
        rows += [("unmerge", "must_link", *sorted((record_id, t)), into, note) for t in target]
    if not rows:
        raise ReviewError(f"record {record_id} is already alone in golden customer {gid}")
    return rows


def stamped(rows, who: str) -> list[tuple]:
    """Decision rows with an id, the decider and the time: ``DECISION_SCHEMA`` in order."""
    now = datetime.now(UTC)
    return [(str(uuid.uuid4()), a, k, left, right, g, n, who, now) for a, k, left, right, g, n in rows]


def _append(wh: Warehouse, rows) -> None:
    wh.append(DECISIONS, pl.DataFrame(stamped(rows, _user()), schema=DECISION_SCHEMA, orient="row"))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


def _require_records(wh: Warehouse, ids: list[str]) -> None:
    found = wh.query("select record_id from staging.customers where record_id in (select unnest(?))", [ids])
    missing = sorted(set(ids) - set(found["record_id"].to_list()))
    if missing:
        raise ReviewError(f"unknown record id(s): {', '.join(missing)} (use source:source_record_id)")


def render_queue(queue: pl.DataFrame) -> str:
    if queue.height == 0:
        return "review queue is empty"
    lines = [f"{'probability':>11}  {'merged':<6}  record A  ~  record B"]
    for r in queue.select("match_probability", "merged", "id_l", "id_r").iter_rows():
        lines.append(f"{r[0]:>11.3f}  {'yes' if r[1] else 'no':<6}  {r[2]}  ~  {r[3]}")
    lines.append(f"{queue.height} pairs shown; inspect one with: crm-golden review show A B")
    return "\n".join(lines)


def render_pair(wh: Warehouse, id_l: str, id_r: str, *, reveal: bool = False) -> str:
    _require_records(wh, [id_l, id_r])
    recs = wh.query("select * from staging.customers where record_id in (?, ?)", [id_l, id_r])
    by_id = {r["record_id"]: r for r in recs.iter_rows(named=True)}
    a, b = by_id[id_l], by_id[id_r]
    show = (lambda c, v: "" if v is None else str(v)) if reveal else (
        lambda c, v: "" if v is None else (mask_for_column(c, v) or ""))
    lines = [f"{'field':<18}{id_l:<36}{id_r}"]
    for f in SHOWN_FIELDS:
        lines.append(f"{f:<18}{show(f, a.get(f)):<36}{show(f, b.get(f))}")
    lo, hi = sorted((id_l, id_r))
    pair = wh.query("select * from matching.scored_pairs where id_l = ? and id_r = ?", [lo, hi]) \
        if wh.exists("matching.scored_pairs") else pl.DataFrame()
    if pair.height:
        p = pair.row(0, named=True)
        lines.append(f"\nmatch probability {p['match_probability']:.3f}, weight {p.get('match_weight', 0):.2f}")
        for c in sorted(k for k in p if k.startswith("bf_")):
            name = c[3:]
            lines.append(f"  {name:<20} level {p.get('gamma_' + name)!s:<4} weight {p[c]:+.2f}")
    else:
        lines.append("\nthis pair was not compared (no blocking rule brought it together)")
    return "\n".join(lines)
