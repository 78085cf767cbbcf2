r"""Chinese characters for matching: traditional -> simplified and pinyin, per run of characters.

Match keys, unlike ``dedupe.normalize.cjk`` (staging's display forms): ``pinyin_runs_joined`` writes
one word per run (深圳市 -> shenzhenshi) where ``cjk.to_pinyin`` separates syllables (shen zhen shi),
and only ``\p{Han}`` counts as Chinese. Both use the one opencc converter of ``cjk``.

Strings are cut into runs of Han characters and other text; only the distinct runs go through
opencc / pypinyin (a few thousand road, district and given names even for millions of records),
the rest is polars joins. Whole runs keep pypinyin's phrase readings (重庆 -> chongqing).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import polars as pl

from dedupe.normalize.cjk import t2s_converter

HAN = r"\p{Han}"
_RUNS = r"\p{Han}+|[^\p{Han}]+"


@functools.lru_cache(maxsize=1 << 16)
def simplified_text(s: str) -> str:
    return t2s_converter().convert(s)


@functools.lru_cache(maxsize=1 << 16)
def pinyin_words(s: str) -> tuple[str, ...]:
    """Toneless pinyin per character (ü -> u), phrase-aware; non-Han text kept."""
    from pypinyin import Style, lazy_pinyin  # lazy: loads its dictionaries (~0.15 s) on import
    out = lazy_pinyin(s, style=Style.NORMAL, errors="default", v_to_u=True)
    return tuple(p.replace("ü", "u").replace("lv", "lu").replace("nv", "nu") for p in out)


def pinyin_joined(run: str) -> str:
    """One word for a run: 南山 -> nanshan (traditional characters first simplified)."""
    return "".join(pinyin_words(simplified_text(run)))


def map_runs(s: pl.Series, fn: Callable[[str], str]) -> pl.Series:
    """Replace every run of Han characters by ``fn(run)``, calling ``fn`` once per distinct run and
    cutting only the distinct strings that contain characters."""
    s = s.cast(pl.Utf8)
    uniq = s.filter(s.str.contains(HAN).fill_null(False)).unique()
    if uniq.len() == 0:
        return s
    toks = pl.DataFrame({"s": uniq}).with_row_index("_r").with_columns(
        t=pl.col("s").str.extract_all(_RUNS)).explode("t")
    runs = toks.filter(pl.col("t").str.contains("^" + HAN)).select("t").unique()
    runs = runs.with_columns(v=pl.Series([fn(x) for x in runs["t"].to_list()], dtype=pl.Utf8))
    toks = toks.join(runs, on="t", how="left", maintain_order="left").with_columns(v=pl.coalesce("v", "t"))
    mapping = toks.group_by("s", maintain_order=True).agg(pl.col("v").str.join(""))
    out = s.to_frame("s").join(mapping, on="s", how="left", maintain_order="left")
    return out.select(pl.coalesce("v", "s")).to_series().alias(s.name)


def runs_expr(e: pl.Expr, fn: Callable[[str], str]) -> pl.Expr:
    """``map_runs`` as an expression."""
    return e.map_batches(lambda s: map_runs(s, fn), return_dtype=pl.Utf8)


def simplified_runs(e: pl.Expr) -> pl.Expr:
    """張偉 -> 张伟; other text unchanged."""
    return runs_expr(e, simplified_text)


def pinyin_runs_joined(e: pl.Expr) -> pl.Expr:
    """深圳市 -> shenzhenshi (one word per run of characters); other text unchanged."""
    return runs_expr(e, pinyin_joined)


def has_han(e: pl.Expr) -> pl.Expr:
    """True where the value holds a Han character (null: false)."""
    return e.str.contains(HAN).fill_null(False)
