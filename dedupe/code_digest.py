"""A digest of the code and data files a stored state was computed with.

Incremental steps (staging, matching, the golden build) keep state from the last run and use it
only while the code that made it is the same: any edit to those files makes the next run a full one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def update_with_code(h: hashlib._Hash, *roots: Path) -> None:
    """Feed ``h`` every file under ``roots`` (path relative to its root, then its bytes), sorted,
    ``__pycache__`` left out."""
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
