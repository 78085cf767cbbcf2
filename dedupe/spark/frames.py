"""Moving frames between polars and Spark through Arrow, and running polars code over the
batches of a Spark DataFrame (``mapInArrow``) so both engines share the same functions."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl
import pyarrow as pa

from dedupe.spark.session import quiet


def spark_arrow_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type Spark reads for ``t``: plain strings/lists, signed integers."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(spark_arrow_type(t.value_type))
    if pa.types.is_dictionary(t):
        return spark_arrow_type(t.value_type)
    unsigned = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64(), pa.uint64(): pa.int64()}
    return unsigned.get(t, t)


def to_arrow(df: pl.DataFrame) -> pa.Table:
    """A polars frame as an Arrow table Spark accepts."""
    table = df.to_arrow()
    return table.cast(pa.schema([pa.field(f.name, spark_arrow_type(f.type)) for f in table.schema]))


def to_spark(spark, df: pl.DataFrame):
    """A polars frame as a Spark DataFrame (schema kept, unsigned integers widened)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    table = to_arrow(df)
    with quiet():
        if table.num_rows == 0:
            return spark.createDataFrame([], from_arrow_schema(table.schema))
        return spark.createDataFrame(table)


def to_polars(sdf) -> pl.DataFrame:
    """Collect a Spark DataFrame into polars (through Arrow, no pandas)."""
    with quiet():
        return pl.from_arrow(sdf.toArrow())


def empty_frame(schema) -> pl.DataFrame:
    """An empty polars frame with a Spark schema's columns (no Spark job)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return pl.from_arrow(to_arrow_schema(schema, timezone="UTC").empty_table())


def spark_schema(df: pl.DataFrame):
    """The Spark schema of a polars frame's columns."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(to_arrow(df.head(0)).schema)


def map_polars(sdf, fn: Callable[[pl.DataFrame], pl.DataFrame], schema):
    """``mapInArrow`` with a polars function: each Arrow batch becomes a polars frame, the
    result is cast to ``schema``. For work that is independent per row (or per pair)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    target = to_arrow_schema(schema, timezone="UTC")
    names = list(target.names)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            if b.num_rows:
                out = fn(pl.from_arrow(pa.Table.from_batches([b])))
                if out.height:
                    yield from out.select(names).to_arrow().cast(target).to_batches()

    with quiet():
        return sdf.mapInArrow(run, schema)


def map_polars_groups(sdf, by, fn: Callable[[pl.DataFrame], pl.DataFrame], schema):
    """``groupBy(by).applyInArrow`` with a polars function: each group arrives whole, as one
    polars frame (group by a bucket column to hand many small groups over at once)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    target = to_arrow_schema(schema, timezone="UTC")
    names = list(target.names)

    def run(table: pa.Table) -> pa.Table:
        out = fn(pl.from_arrow(table))
        return out.select(names).to_arrow().cast(target) if out.height else target.empty_table()

    with quiet():
        return sdf.groupBy(by).applyInArrow(run, schema)
