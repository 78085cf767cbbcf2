"""The package's public functions: expressions that keep their input column's name."""

from __future__ import annotations

import inspect

import polars as pl

import dedupe.normalize as N


def test_every_normaliser_keeps_the_column_name():
    df = pl.DataFrame({"x": ["Anna Müller", None], "cc": ["DE", None]})
    for name in N.__all__:
        fn = getattr(N, name)
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
        args = [pl.col("x")] + [pl.col("cc")] * (len(params) - 1)
        out = df.select(fn(*args))
        assert out.columns == ["x"], name
        assert out.height == 2, name


def test_options_are_keyword_only():
    for name in N.__all__:
        sig = inspect.signature(getattr(N, name))
        for p in sig.parameters.values():
            if p.default is not inspect.Parameter.empty and p.name not in {"default_country", "country"}:
                assert p.kind == p.KEYWORD_ONLY, f"{name}({p.name})"


def test_each_normaliser_evaluates_its_input_once():
    """Eager ``select`` shares no sub-expressions: a normaliser that referenced its input several
    times would recompute it (and any Python UDF in it) each time."""
    df = pl.DataFrame({"x": ["Anna Müller", "WÄHNER, JOHANNE", None], "cc": ["DE", "DE", None]})
    for name in N.__all__:
        calls = []

        def counted(s: pl.Series, calls=calls) -> pl.Series:
            calls.append(len(s))
            return s

        fn = getattr(N, name)
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
        source = pl.col("x").map_batches(counted, return_dtype=pl.Utf8)
        df.select(fn(source, *[pl.col("cc")] * (len(params) - 1)))
        assert len(calls) == 1, f"{name} evaluated its input {len(calls)} times"
