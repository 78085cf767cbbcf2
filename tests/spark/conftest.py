"""Spark fixtures: one local[2] session for the whole test run (skipped without pyspark or
Java), crm_synth 2k records and one run of each engine on them, and 300 people for the wiring tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def spark():
    from dedupe.spark import local_session, spark_unavailable_reason

    reason = spark_unavailable_reason()
    if reason:
        pytest.skip(f"Spark engine tests need pyspark and Java: {reason}")
    # small data: interpreted expressions start faster than generated code, and the JVM's quick
    # compiler alone (no C2 tier) with the serial collector halves the JVM's CPU time for these
    # short jobs (the tests' Spark time is mostly the JVM compiling Spark's code, not the data)
    session = local_session(master="local[2]", shuffle_partitions=2, driver_memory="1g",
                            conf={"spark.sql.codegen.wholeStage": "false",
                                  "spark.sql.codegen.factoryMode": "NO_CODEGEN",
                                  "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"})
    yield session
    session.stop()


def _crm_synth_source():
    name = "crm_synth_source"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "crm_synth_source.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="session")
def records_2k_clean(synth_2k_clean) -> pl.DataFrame:
    return _crm_synth_source().load_crm_synth(synth_2k_clean, cache=False)


@pytest.fixture(scope="session")
def records_small_clean(synth_300_clean) -> pl.DataFrame:
    """For the tests of how users reach the engine (Spark jobs cost per record); the engines are
    compared record by record on 2k (test_equivalence)."""
    return _crm_synth_source().load_crm_synth(synth_300_clean, cache=False)


@pytest.fixture(scope="session")
def polars_2k(records_2k_clean):
    from dedupe import deduplicate, default_settings

    return deduplicate(records_2k_clean, default_settings(), keep_features=True)


@pytest.fixture(scope="session")
def spark_2k(spark, records_2k_clean):
    """The Spark engine on its own: it trains its model from the Spark data."""
    from dedupe import default_settings
    from dedupe.spark import deduplicate

    result = deduplicate(records_2k_clean, default_settings(), spark=spark, keep_features=True)
    return result, result.to_polars()
