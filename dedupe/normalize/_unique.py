"""Run a scalar library call once per distinct value of a column and map the results back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

_UTF8 = pl.Utf8()


def map_unique(
    expr: pl.Expr, function: Callable[[Any], Any], *, return_dtype: pl.DataType = _UTF8
) -> pl.Expr:
    """``function`` applied to each distinct non-null value of ``expr`` (nulls stay null).

    For libraries without a vectorised form (opencc, pypinyin, phonenumbers): the Python call
    runs per unique value, the mapping back is a hash lookup.
    """

    def _apply(s: pl.Series) -> pl.Series:
        uniq = s.drop_nulls().unique()
        if uniq.is_empty():
            return pl.Series(s.name, [None] * len(s), dtype=return_dtype)
        out = pl.Series([function(v) for v in uniq.to_list()], dtype=return_dtype)
        return s.replace_strict(uniq, out, default=None, return_dtype=return_dtype)

    return expr.map_batches(_apply, return_dtype=return_dtype, is_elementwise=True)
