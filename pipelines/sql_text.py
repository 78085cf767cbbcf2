"""SQL text helpers shared by the publishers and the schema comments (no database driver needed)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A SQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"
