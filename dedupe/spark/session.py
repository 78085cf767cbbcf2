"""A Spark session for the matching engine: local mode by default, the project's Python on the
workers (so they import the same polars/rapidfuzz as the driver), no UI, few shuffle partitions.
``engine_session`` picks the session from configuration: a master URL, a Spark Connect URL
(``sc://``), the session ``spark-submit`` started, or ``local[2]``."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from pathlib import Path

#: master URL (``local[4]``, ``spark://host:7077``, ``k8s://...``) or Spark Connect URL (``sc://host:15002``)
MASTER_ENV = "CRM_GOLDEN_SPARK_MASTER"
DEFAULT_MASTER = "local[2]"


#: pyspark 4.x warns at every pandas entry point (pandas UDFs, ``mapInArrow``, Spark Connect's
#: dependency check, Great Expectations' Spark probe) that it "does not yet fully support pandas >=
#: 3.0.0". The engine hands data to Spark as Arrow record batches, never as pandas frames, so the
#: warning does not apply; it is filtered by its exact text, for this process and the workers.
PANDAS3_WARNING = "PySpark does not yet fully support pandas"
_WORKER_FILTER = f"ignore:{PANDAS3_WARNING}:FutureWarning"


def ignore_pandas3_warning() -> None:
    """Filter pyspark's pandas-3 warning here and in the Python workers Spark starts (they read
    ``PYTHONWARNINGS``); every other warning stays visible."""
    warnings.filterwarnings("ignore", message=PANDAS3_WARNING, category=FutureWarning)
    current = os.environ.get("PYTHONWARNINGS", "")
    if _WORKER_FILTER not in current.split(","):
        os.environ["PYTHONWARNINGS"] = ",".join(f for f in (current, _WORKER_FILTER) if f)


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
    ignore_pandas3_warning()
    options["spark.executorEnv.PYTHONWARNINGS"] = os.environ["PYTHONWARNINGS"]
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
        warnings.filterwarnings("ignore", message=PANDAS3_WARNING, category=FutureWarning)
        yield


def connect_unavailable_reason() -> str | None:
    """Why a Spark Connect client cannot start here (its gRPC packages are an optional extra of
    pyspark), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (install the 'spark' extra: pip install 'crm-golden[spark]')"
    try:
        from pyspark.sql.connect.utils import check_dependencies

        with quiet():
            check_dependencies()
    except ImportError as exc:
        return (f"Spark Connect needs pyspark's 'connect' extra (pip install 'pyspark[connect]==4.3.*': "
                f"grpcio-status, googleapis-common-protos, zstandard): {str(exc).splitlines()[0]}")
    return None


def resolve_master(master: str | None = None) -> str | None:
    """The master to use: the argument, else ``$CRM_GOLDEN_SPARK_MASTER``, else None under
    ``spark-submit`` (its ``--master`` applies), else ``local[2]``."""
    master = master or os.environ.get(MASTER_ENV) or None
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        master = DEFAULT_MASTER
    return master


def _active_session():
    """The session already running in this process (any thread), if any."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None and SparkContext._active_spark_context is not None:
        with quiet():
            active = SparkSession.builder.getOrCreate()
    return active


@contextlib.contextmanager
def engine_session(master: str | None = None, **options):
    """A session for one run, stopped at the end only if this call started it (a session that
    is already running, e.g. a notebook's or a test's, is used and left running).

    ``master``: see ``resolve_master``. An ``sc://`` URL opens a Spark Connect session with
    ``SparkSession.builder.remote``; anything else a classic session (``options`` go to
    ``local_session``)."""
    master = resolve_master(master)
    reason = spark_unavailable_reason() if not (master or "").startswith("sc://") else connect_unavailable_reason()
    if reason:
        raise SparkUnavailable(reason)
    running = _active_session()
    if running is not None:
        yield running
        return
    if master and master.startswith("sc://"):
        from pyspark.sql import SparkSession

        with quiet():
            spark = SparkSession.builder.remote(master).appName(options.get("app_name", "crm-golden-dedupe")) \
                .getOrCreate()
    elif master is None:       # under spark-submit: its master and configuration
        from pyspark.sql import SparkSession

        with quiet():
            spark = SparkSession.builder.appName(options.get("app_name", "crm-golden-dedupe")).getOrCreate()
    else:
        spark = local_session(master=master, **options)
    try:
        yield spark
    finally:
        spark.stop()
