"""Evaluate a normaliser over materialised input columns.

An eager ``DataFrame.select`` does not share common sub-expressions: an input expression that a
normaliser references several times (``when(is_upper(s)).then(title(s)).otherwise(s)``) would be
computed once per reference, Python UDFs inside it included, and chained normalisers multiply
that. ``columnwise`` computes the inputs once and runs the normaliser on plain columns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import polars as pl


def keep_name(out: pl.Expr, source: pl.Expr | str | None) -> pl.Expr:
    """``out`` named like its input column (so ``select(f(pl.col("x")))`` yields column ``x``)."""
    if isinstance(source, str):
        return out.alias(source)
    if source is None:
        return out
    try:
        return out.alias(source.meta.output_name())
    except pl.exceptions.PolarsError:  # no single output name (e.g. pl.all()): keep polars' choice
        return out


def _as_expr(value: pl.Expr | str | None) -> pl.Expr:
    if value is None:
        return pl.lit(None, dtype=pl.Utf8)
    return pl.col(value) if isinstance(value, str) else value


def columnwise(return_dtype: pl.DataType) -> Callable[[Callable[..., pl.Expr]], Callable[..., pl.Expr]]:
    """Decorator: positional arguments are input expressions, evaluated once; keywords pass through."""

    def decorate(fn: Callable[..., pl.Expr]) -> Callable[..., pl.Expr]:
        @functools.wraps(fn)
        def wrapper(*inputs: pl.Expr | str | None, **options: object) -> pl.Expr:
            exprs = [_as_expr(e) for e in inputs]
            names = [f"__in{i}" for i in range(len(exprs))]

            def run(s: pl.Series) -> pl.Series:
                frame = s.struct.unnest() if len(exprs) > 1 else s.to_frame(names[0])
                out = fn(*[pl.col(n) for n in names], **options)
                return frame.select(out.cast(return_dtype).alias("__out")).to_series()

            source = pl.struct(*[e.alias(n) for e, n in zip(exprs, names, strict=True)]) if len(exprs) > 1 \
                else exprs[0]
            out = source.map_batches(run, return_dtype=return_dtype, is_elementwise=True)
            return keep_name(out, inputs[0])

        return wrapper

    return decorate
