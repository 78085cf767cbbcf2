"""The matching engine on Apache Spark: the polars engine's settings, features, comparisons,
model and chaining guard, with blocking joins, pair scoring and connected components spread
over a Spark cluster (or ``local[N]``). See ``dedupe/spark/README.md``.

pyspark is an optional extra: every module here imports it inside the functions that use it, so
the package (and ``crm-golden dedupe``) imports without it."""

from dedupe.spark.components import connected_components
from dedupe.spark.engine import (
    ENGINES,
    SparkDedupeResult,
    block_records,
    cluster_pairs,
    deduplicate,
    run_engine,
    score_pairs,
)
from dedupe.spark.session import (
    MASTER_ENV,
    SparkUnavailable,
    connect_unavailable_reason,
    engine_session,
    local_session,
    resolve_master,
    spark_unavailable_reason,
)

__all__ = [
    "ENGINES", "MASTER_ENV", "SparkDedupeResult", "SparkUnavailable", "block_records", "cluster_pairs",
    "connect_unavailable_reason", "connected_components", "deduplicate", "engine_session", "local_session", "resolve_master", "run_engine",
    "score_pairs", "spark_unavailable_reason",
]
