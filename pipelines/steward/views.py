"""Page models: records side by side with differences, the match explanation as a waterfall, a
golden customer with lineage and history. Plain data for the templates; values masked on demand."""

from __future__ import annotations

import datetime as dt

import polars as pl

from expectations.masking import mask_for_column
from pipelines.steward.data import Snapshot

HIDDEN_FIELDS = ("golden_id",)
#: fields that identify a record rather than describe the customer: never "different"
ID_FIELDS = ("record_id", "source", "source_record_id")


def show(column: str, value, *, masked: bool) -> str:
    """The text shown for a value: masked like the BI tables and check samples when ``masked``."""
    if value is None:
        return ""
    if masked:
        return mask_for_column(column, value) or ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def _norm(value) -> str:
    return "" if value is None else " ".join(str(value).split()).casefold()


def record(snap: Snapshot, record_id: str) -> dict | None:
    rows = snap.records.filter(pl.col("record_id") == record_id)
    return rows.row(0, named=True) if rows.height else None


def side_by_side(a: dict, b: dict, *, masked: bool) -> list[dict]:
    """Every source field of both records, ``differs`` when the values differ (case and spacing aside)."""
    fields = [c for c in a if c not in HIDDEN_FIELDS]
    out = []
    for f in fields:
        va, vb = a.get(f), b.get(f)
        compared = f not in ID_FIELDS
        out.append({"field": f, "a": show(f, va, masked=masked), "b": show(f, vb, masked=masked),
                    "differs": compared and _norm(va) != _norm(vb),
                    "one_missing": compared and (va is None) != (vb is None)})
    return out


def waterfall(pair: dict, *, width: int = 560, row: int = 22) -> dict | None:
    """Bars of the per-comparison weights (``bf_*``), each starting where the previous ended: the
    prior, then every comparison, then the total match weight. Coordinates for an inline SVG."""
    comps = sorted(k[3:] for k in pair if k.startswith("bf_") and pair[k] is not None)
    if not comps or pair.get("match_weight") is None:
        return None
    total = float(pair["match_weight"])
    steps = [(c, float(pair[f"bf_{c}"]), pair.get(f"gamma_{c}")) for c in comps]
    prior = total - sum(w for _, w, _ in steps)
    bars, run = [("prior", 0.0, prior, None)], prior
    for name, w, level in steps:
        bars.append((name, run, run + w, level))
        run += w
    bars.append(("match weight", 0.0, total, None))
    lo = min(0.0, *(min(s, e) for _, s, e, _ in bars))
    hi = max(0.0, *(max(s, e) for _, s, e, _ in bars))
    label_w, pad = 170, 60
    scale = (width - label_w - pad) / ((hi - lo) or 1.0)
    x = lambda v: label_w + (v - lo) * scale
    items = []
    for i, (name, start, end, level) in enumerate(bars):
        kind = "total" if i in (0, len(bars) - 1) else ("up" if end >= start else "down")
        items.append({"name": name, "level": "" if level is None else str(level), "y": 4 + i * row,
                      "x": round(min(x(start), x(end)), 1), "w": round(max(abs(x(end) - x(start)), 1.5), 1),
                      "weight": end - start if 0 < i < len(bars) - 1 else end, "kind": kind,
                      "tx": round(max(x(start), x(end)) + 4, 1)})
    return {"items": items, "width": width, "height": 8 + len(bars) * row, "zero": round(x(0.0), 1),
            "row": row - 6}


def golden_members(snap: Snapshot, golden_id: str | None, *, exclude: tuple[str, ...] = (),
                   masked: bool) -> list[dict]:
    """The source records of a golden customer (a few identifying fields), ``exclude`` left out."""
    if golden_id is None:
        return []
    rows = snap.records.filter((pl.col("golden_id") == golden_id) & ~pl.col("record_id").is_in(list(exclude)))
    keep = [c for c in ("record_id", "full_name", "email", "phone", "city", "country") if c in rows.columns]
    return [{c: show(c, r[c], masked=masked) for c in keep} for r in rows.sort("record_id").iter_rows(named=True)]


def golden_page(snap: Snapshot, golden_id: str, *, masked: bool) -> dict | None:
    """A golden customer: its fields with the record that supplied each, its records, its history."""
    customers = snap.table("customers")
    row = customers.filter(pl.col("golden_id") == golden_id) if customers is not None else pl.DataFrame()
    ids = snap.table("id_history")
    retired = []
    if ids is not None and ids.height:
        cols = [c for c in ids.columns if c.endswith("_id") and c != "retired_id"]
        hit = ids.filter(pl.any_horizontal([pl.col(c) == golden_id for c in ["retired_id", *cols]]))
        retired = [{k: show(k, v, masked=False) for k, v in r.items()} for r in hit.iter_rows(named=True)]
    if row.height == 0:
        return {"golden_id": golden_id, "exists": False, "id_history": retired} if retired else None
    gold = row.row(0, named=True)
    lineage = snap.table("lineage")
    source_of = {}
    if lineage is not None:
        for f, rid in lineage.filter(pl.col("golden_id") == golden_id).select("field", "record_id").iter_rows():
            source_of[f] = rid
    fields = [{"field": f, "value": show(f, v, masked=masked), "record_id": source_of.get(f, "")}
              for f, v in gold.items() if f != "golden_id"]
    members = snap.records.filter(pl.col("golden_id") == golden_id).sort("record_id")
    records = [{"record_id": r["record_id"],
                "fields": [(c, show(c, r[c], masked=masked)) for c in members.columns
                           if c not in ("record_id", *HIDDEN_FIELDS) and r[c] is not None]}
               for r in members.iter_rows(named=True)]
    history = snap.table("history")
    versions = []
    if history is not None:
        h = history.filter(pl.col("golden_id") == golden_id).sort("valid_from", descending=True)
        shown_cols = [c for c in ("valid_from", "valid_to", "is_current", "full_name", "email", "phone", "street",
                                  "city", "country") if c in h.columns]
        versions = [{c: show(c, r[c], masked=masked and c not in ("valid_from", "valid_to", "is_current"))
                     for c in shown_cols} for r in h.iter_rows(named=True)]
    return {"golden_id": golden_id, "exists": True, "fields": fields, "records": records,
            "history": versions, "id_history": retired}
