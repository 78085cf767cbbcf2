"""Chinese script helpers: detection, traditional -> simplified, and tone-less pinyin."""

from __future__ import annotations

import functools

import polars as pl

from dedupe.normalize._columnwise import columnwise
from dedupe.normalize._unique import map_unique

#: CJK unified ideographs (+ extension A, compatibility ideographs) and CJK radicals.
CJK_CLASS = r"[\u2e80-\u2fdf\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"


def _as_str(expr: pl.Expr | str) -> pl.Expr:
    return (pl.col(expr) if isinstance(expr, str) else expr).cast(pl.Utf8)


def has_cjk(expr: pl.Expr | str) -> pl.Expr:
    """True where the value contains at least one Chinese character."""
    return _as_str(expr).str.contains(CJK_CLASS)


@functools.cache
def t2s_converter():
    """The opencc traditional -> simplified converter (built once)."""
    import opencc  # lazy, with the converter it builds: only Chinese text needs it

    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=1 << 18)
def _simplified(value: str) -> str:
    return t2s_converter().convert(value)


@functools.lru_cache(maxsize=1 << 18)
def _pinyin(value: str) -> str:
    from pypinyin import Style, lazy_pinyin  # lazy: loads its dictionaries (~0.15 s) on import

    return " ".join(p for p in lazy_pinyin(value, style=Style.NORMAL, v_to_u=False) if p.strip()).lower()


@columnwise(pl.Utf8())
def to_simplified(expr: pl.Expr | str) -> pl.Expr:
    """Traditional -> simplified characters (opencc ``t2s``); values without CJK pass unchanged."""
    s = expr.cast(pl.Utf8)
    cjk = s.str.contains(CJK_CLASS)
    return pl.when(cjk).then(map_unique(pl.when(cjk).then(s), _simplified)).otherwise(s)


@columnwise(pl.Utf8())
def to_pinyin(expr: pl.Expr | str) -> pl.Expr:
    """Tone-less lower-case pinyin, syllables joined by a space (``張偉`` -> ``zhang wei``).

    Traditional characters are simplified first; non-CJK values are lower-cased as they are.
    """
    s = expr.cast(pl.Utf8)
    cjk = s.str.contains(CJK_CLASS)
    simplified = map_unique(pl.when(cjk).then(s), _simplified)
    return pl.when(cjk).then(map_unique(simplified, _pinyin)).otherwise(s.str.to_lowercase())
