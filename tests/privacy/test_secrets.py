"""Secrets stay out of the repository: an example file is committed, the real one is ignored."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _ignored(path: str) -> bool:
    proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False)
    return proc.returncode == 0


def test_real_secrets_file_is_ignored_and_the_example_is_not():
    assert _ignored(".dlt/secrets.toml")
    assert not _ignored(".dlt/secrets.toml.example")


def test_example_secrets_hold_no_values():
    example = tomllib.loads((REPO / ".dlt" / "secrets.toml.example").read_text())

    def leaves(node, path=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from leaves(v, (*path, k))
        else:
            yield ".".join(path), node

    filled = {k: v for k, v in leaves(example) if v not in ("", None)}
    assert filled == {}
