"""Generic text cleanup shared by every field: Unicode width, blanks and placeholder nulls."""

from __future__ import annotations

import polars as pl

#: Values people type (or systems export) to mean "no value"; compared case-insensitively.
PLACEHOLDERS: tuple[str, ...] = (
    "", "-", "--", "—", "n/a", "na", "n.a.", "null", "none", "nil", "nan", "?", ".", "unknown",
)

#: Excel error values that leak into exports instead of data.
EXCEL_ERRORS: tuple[str, ...] = (
    "#REF!", "#N/A", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
    "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!",
)

_EXCEL_ERROR_RE = "^(?:" + "|".join(e.replace("?", r"\?") for e in EXCEL_ERRORS) + ")$"
_BLANKS = r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+"


def _as_str(expr: pl.Expr | str) -> pl.Expr:
    return (pl.col(expr) if isinstance(expr, str) else expr).cast(pl.Utf8)


def squish(expr: pl.Expr | str) -> pl.Expr:
    """NFKC (full-width digits/letters become ASCII), blanks incl. NBSP collapsed, ends trimmed.

    Keeps placeholders as they are; use :func:`clean_text` for the null handling too.
    """
    return (
        _as_str(expr)
        .str.normalize("NFKC")
        .str.replace_all(_BLANKS, " ")
        .str.strip_chars()
    )


def is_excel_error(expr: pl.Expr | str) -> pl.Expr:
    """True where the (trimmed) value is an Excel error such as ``#REF!``."""
    return squish(expr).str.to_uppercase().str.contains(_EXCEL_ERROR_RE).fill_null(False)


def is_placeholder(expr: pl.Expr | str, *, placeholders: tuple[str, ...] = PLACEHOLDERS) -> pl.Expr:
    """True where the value is a placeholder null (``""``, ``N/A``, ``-``, ``null`` ...) or an Excel error."""
    s = squish(expr)
    return (s.str.to_lowercase().is_in(list(placeholders)) | is_excel_error(s)).fill_null(False)


def clean_text(expr: pl.Expr | str, *, placeholders: tuple[str, ...] = PLACEHOLDERS) -> pl.Expr:
    """:func:`squish`, then placeholder values and Excel errors become null."""
    s = squish(expr)
    bad = s.str.to_lowercase().is_in(list(placeholders)) | s.str.to_uppercase().str.contains(_EXCEL_ERROR_RE)
    return pl.when(bad).then(None).otherwise(s)


def is_all_upper(expr: pl.Expr) -> pl.Expr:
    """True when the value has letters and none of them is lower-case (``WÄHNER``)."""
    return expr.str.contains(r"\p{Lu}") & ~expr.str.contains(r"\p{Ll}")


def is_all_lower(expr: pl.Expr) -> pl.Expr:
    """True when the value has letters and none of them is upper-case (``o'brien``)."""
    return expr.str.contains(r"\p{Ll}") & ~expr.str.contains(r"\p{Lu}")


def proper_case(expr: pl.Expr | str) -> pl.Expr:
    """Title-case values written all upper or all lower (``WÄHNER`` -> ``Wähner``); mixed case is kept.

    ``mcdonald`` -> ``McDonald``, ``o'brien`` -> ``O'Brien``, ``jean-pierre`` -> ``Jean-Pierre``.
    """
    s = _as_str(expr)
    titled = s.str.to_titlecase()
    # Mc + capital (McDonald); polars cannot upper-case inside a replacement, so splice it.
    mc = titled.str.extract_all(r"\bMc\p{Ll}").list.len() > 0
    fixed = pl.when(mc).then(
        titled.str.replace_all(r"\bMc(\p{Ll})", "Mc\u0000$1")
        .str.split("\u0000")
        .list.eval(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.element())
            .otherwise(pl.element().str.slice(0, 1).str.to_uppercase() + pl.element().str.slice(1))
        )
        .list.join("")
    ).otherwise(titled)
    return pl.when(is_all_upper(s) | is_all_lower(s)).then(fixed).otherwise(s)
