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

    return pl.from_arrow(to_arrow_schema(schema).empty_table())


def spark_schema(df: pl.DataFrame):
    """The Spark schema of a polars frame's columns."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(to_arrow(df.head(0)).schema)


def map_polars(sdf, fn: Callable[[pl.DataFrame], pl.DataFrame], schema, *, whole_partition: bool = False):
    """``mapInArrow`` with a polars function. Each Arrow batch (or, with ``whole_partition``, all
    batches of a partition at once) becomes a polars frame; the result is cast to ``schema``."""
    from pyspark.sql.pandas.types import to_arrow_schema

    target = to_arrow_schema(schema)
    names = list(target.names)

    def emit(frame: pl.DataFrame) -> Iterator[pa.RecordBatch]:
        if frame.height:
            yield from frame.select(names).to_arrow().cast(target).to_batches()

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if whole_partition:
            tables = [pl.from_arrow(pa.Table.from_batches([b])) for b in batches if b.num_rows]
            if tables:
                yield from emit(fn(pl.concat(tables, how="vertical_relaxed")))
            return
        for b in batches:
            if b.num_rows:
                yield from emit(fn(pl.from_arrow(pa.Table.from_batches([b]))))

    with quiet():
        return sdf.mapInArrow(run, schema)
