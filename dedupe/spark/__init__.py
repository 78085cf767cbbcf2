"""The matching engine on Apache Spark: the polars engine's settings, features, comparisons,
model and chaining guard, with blocking joins, pair scoring and connected components spread
over a Spark cluster (or ``local[N]``). See ``dedupe/spark/README.md``."""

from dedupe.spark.components import connected_components
from dedupe.spark.engine import ENGINES, SparkDedupeResult, deduplicate, run_engine
from dedupe.spark.session import SparkUnavailable, local_session, spark_unavailable_reason

__all__ = [
    "ENGINES", "SparkDedupeResult", "SparkUnavailable", "connected_components", "deduplicate",
    "local_session", "run_engine", "spark_unavailable_reason",
]
