"""Generic text cleanup shared by every field: Unicode width, blanks and placeholder nulls."""

from __future__ import annotations

import polars as pl

from dedupe.normalize._columnwise import columnwise, keep_name

#: Values people type (or systems export) to mean "no value"; matched as written, lower, UPPER or Title.
PLACEHOLDERS: tuple[str, ...] = (
    "", "-", "--", "—", "n/a", "n.a.", "null", "none", "nil", "?", ".", "unknown",
)

#: Excel error values that leak into exports instead of data.
EXCEL_ERRORS: tuple[str, ...] = (
    "#REF!", "#N/A", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
    "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!",
)


#: A cell a spreadsheet evaluates: ``=``/``@`` first, or ``+``/``-`` first and not just a number or
#: phone number (``+49 30 1234``, ``-12.5`` stay). Leading blanks and control characters do not hide it.
FORMULA = r"^[\s\x00-\x1f]*(?:[=@]|[+\-].*[^\d\s().,/+\-])"


def is_formula(expr: pl.Expr | str) -> pl.Expr:
    """True where a spreadsheet would evaluate the value as a formula (``=HYPERLINK(…)``, ``+cmd|…``)."""
    return _as_str(expr).str.contains(FORMULA).fill_null(False)


def _case_variants(values: tuple[str, ...]) -> list[str]:
    """Each value as written, lower, UPPER and Title: an exact ``is_in`` instead of case-folding every row."""
    return sorted({f(v) for v in values for f in (str, str.lower, str.upper, str.title)})


_PLACEHOLDER_SET = _case_variants(PLACEHOLDERS)
_EXCEL_ERROR_SET = _case_variants(EXCEL_ERRORS)
_BLANKS = r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+"
#: Control characters (C0 except tab/newline/CR, which become blanks; DEL; C1) and the bidi
#: embedding, override, isolate and mark characters that make text display other than it reads.
INVISIBLE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"


def _as_str(expr: pl.Expr | str) -> pl.Expr:
    return (pl.col(expr) if isinstance(expr, str) else expr).cast(pl.Utf8)


def _nfkc_non_ascii(s: pl.Series) -> pl.Series:
    """NFKC only where a value has non-ASCII characters (NFKC leaves ASCII unchanged)."""
    mask = s.str.contains(r"[^\x00-\x7f]").fill_null(False)
    if not mask.any():
        return s
    return s.scatter(mask.arg_true(), s.filter(mask).str.normalize("NFKC"))


def squish(expr: pl.Expr | str) -> pl.Expr:
    """NFKC (full-width digits/letters become ASCII), control and bidi characters removed, blanks
    incl. NBSP collapsed, ends trimmed.

    Keeps placeholders as they are; use :func:`clean_text` for the null handling too.
    """
    return keep_name(
        _as_str(expr)
        .map_batches(_nfkc_non_ascii, return_dtype=pl.Utf8, is_elementwise=True)
        .str.replace_all(INVISIBLE, "")
        .str.replace_all(_BLANKS, " ")
        .str.strip_chars(),
        expr,
    )


def is_excel_error(expr: pl.Expr | str) -> pl.Expr:
    """True where the (trimmed) value is an Excel error such as ``#REF!``."""
    return squish(expr).is_in(_EXCEL_ERROR_SET).fill_null(False)


def is_placeholder(expr: pl.Expr | str, *, placeholders: tuple[str, ...] = PLACEHOLDERS) -> pl.Expr:
    """True where the value is a placeholder null (``""``, ``N/A``, ``-``, ``null`` ...) or an Excel error."""
    known = _PLACEHOLDER_SET if placeholders == PLACEHOLDERS else _case_variants(placeholders)
    return squish(expr).is_in(known + _EXCEL_ERROR_SET).fill_null(False)


def clean_text(expr: pl.Expr | str, *, placeholders: tuple[str, ...] = PLACEHOLDERS) -> pl.Expr:
    """:func:`squish`, then placeholder values and Excel errors become null.

    Placeholders match as written, lower-case, upper-case or title-case (``N/A``, ``None``, ``NULL``).
    """
    known = _PLACEHOLDER_SET if placeholders == PLACEHOLDERS else _case_variants(placeholders)
    return keep_name(squish(expr).replace(known + _EXCEL_ERROR_SET, None), expr)


def is_all_upper(expr: pl.Expr) -> pl.Expr:
    """True when the value has letters and none of them is lower-case (``WÄHNER``)."""
    return expr.str.contains(r"\p{Lu}") & ~expr.str.contains(r"\p{Ll}")


def is_all_lower(expr: pl.Expr) -> pl.Expr:
    """True when the value has letters and none of them is upper-case (``o'brien``)."""
    return expr.str.contains(r"\p{Ll}") & ~expr.str.contains(r"\p{Lu}")


def _capitalise_after_mc(s: pl.Series) -> pl.Series:
    """``Mcdonald`` -> ``McDonald`` (after title-casing "Mc" only starts a word); touches only those rows."""
    mask = s.str.contains("Mc[a-z]").fill_null(False)
    if not mask.any():
        return s
    sub = s.filter(mask)
    for c in "abcdefghijklmnopqrstuvwxyz":
        sub = sub.str.replace_all(f"Mc{c}", f"Mc{c.upper()}", literal=True)
    return s.scatter(mask.arg_true(), sub)


@columnwise(pl.Utf8())
def proper_case(expr: pl.Expr | str) -> pl.Expr:
    """Title-case values written all upper or all lower (``WÄHNER`` -> ``Wähner``); mixed case is kept.

    ``mcdonald`` -> ``McDonald``, ``o'brien`` -> ``O'Brien``, ``jean-pierre`` -> ``Jean-Pierre``.
    """
    s = expr.cast(pl.Utf8)
    titled = s.str.to_titlecase().map_batches(_capitalise_after_mc, return_dtype=pl.Utf8, is_elementwise=True)
    return pl.when(is_all_upper(s) | is_all_lower(s)).then(titled).otherwise(s)

