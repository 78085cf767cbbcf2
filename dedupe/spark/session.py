"""A Spark session for the matching engine: local mode by default, the project's Python on the
workers (so they import the same polars/rapidfuzz as the driver), no UI, few shuffle partitions."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from pathlib import Path


class SparkUnavailable(RuntimeError):
    """pyspark or a Java runtime is missing."""


def spark_unavailable_reason() -> str | None:
    """Why a Spark session cannot start here, or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (install the 'spark' extra: pip install 'crm-golden[spark]')"
    home = os.environ.get("JAVA_HOME")
    if not ((home and (Path(home) / "bin" / "java").exists()) or shutil.which("java")):
        return "no Java runtime: install Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)"
    return None


def local_session(*, master: str = "local[2]", shuffle_partitions: int = 4, driver_memory: str = "2g",
                  app_name: str = "crm-golden-dedupe", conf: dict[str, str] | None = None):
    """Get or create a Spark session. A session that is already running is returned as it is
    (Spark allows one per process), so the options only apply to the first call."""
    reason = spark_unavailable_reason()
    if reason:
        raise SparkUnavailable(reason)
    from pyspark.sql import SparkSession

    options = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        "spark.driver.memory": driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
    }
    options.update(conf or {})
    # pyspark reads the workers' interpreter from the environment when the context starts
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in options.items():
        builder = builder.config(key, value)
    with quiet():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextlib.contextmanager
def quiet():
    """Silence pyspark's warning that it does not fully support pandas 3 (the engine exchanges
    data as Arrow, not pandas)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        yield
