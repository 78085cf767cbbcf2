"""Shaping nested records into flat tables, shared by the connectors that read JSON."""

from __future__ import annotations

import polars as pl


def flatten_structs(frame: pl.DataFrame) -> pl.DataFrame:
    """Struct columns unnested recursively as ``parent__child`` (how dlt names nested fields)."""
    while any(isinstance(t, pl.Struct) for t in frame.schema.values()):
        cols = []
        for name, dtype in frame.schema.items():
            if isinstance(dtype, pl.Struct):
                cols += [pl.col(name).struct.field(f.name).alias(f"{name}__{f.name}") for f in dtype.fields]
            else:
                cols.append(pl.col(name))
        frame = frame.select(cols)
    return frame
