"""Review app benchmark: time to render the queue page, pair views and a golden customer page.

    python benchmarks/bench_review.py --warehouse WAREHOUSE.duckdb [--repeat 20] [--masked]

Requests go through the app object in this process (Starlette's TestClient: no sockets, the
same routing, templates and data code as ``crm-golden review serve``). The first request reads
the warehouse into memory (reported as ``load_s``); every later one is served from that cache
until the warehouse file changes, which is what a steward sees while working through the queue.
One JSON line: the median and the 95th percentile per page, in milliseconds (target: < 300 ms).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path


def _timed(client, url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"bench_review: GET {url} answered {r.status_code}: {r.text[:200]}")
    return out


def _summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, help="a warehouse written by crm-golden run")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--masked", action="store_true")
    args = parser.parse_args(argv)
    warehouse = Path(args.warehouse)
    if not warehouse.is_file():
        raise SystemExit(f"bench_review: warehouse not found: {warehouse}")
    from starlette.testclient import TestClient

    from pipelines.steward.app import create_app

    client = TestClient(create_app(warehouse, users={}, masked=args.masked), client=("127.0.0.1", 50000))
    t0 = time.perf_counter()
    first = client.get("/queue")
    load_s = time.perf_counter() - t0
    if first.status_code != 200:
        raise SystemExit(f"bench_review: the queue page answered {first.status_code}: {first.text[:200]}")
    links = re.findall(r'class="pair-link" href="([^"]+)"', first.text)
    if not links:
        raise SystemExit(f"bench_review: the review queue of {warehouse} is empty")
    pair_urls = [u.replace("&amp;", "&") for u in links[:10]]
    snap = client.app.state.data.get()
    queue_ms = _timed(client, "/queue", args.repeat)
    pair_ms = [m for u in pair_urls for m in _timed(client, u, max(1, args.repeat // len(pair_urls)))]
    gid = snap.queue["golden_id_l"].drop_nulls()[0]
    golden_ms = _timed(client, f"/golden/{gid}", args.repeat)
    filtered_ms = _timed(client, "/queue?" + re.search(r'data-facet="(rule=[^"]+)"', first.text).group(1),
                         args.repeat)
    print(json.dumps({
        "warehouse": str(warehouse), "staged_records": snap.records.height, "queue_pairs": snap.queue.height,
        "load_s": round(load_s, 2), "queue": _summary(queue_ms), "queue_filtered": _summary(filtered_ms),
        "pair": _summary(pair_ms), "golden": _summary(golden_ms), "masked": args.masked, "repeat": args.repeat}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
