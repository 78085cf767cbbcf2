"""pyspark's "does not yet fully support pandas >= 3" warning is filtered (the engine exchanges
Arrow batches, not pandas frames), in this process and for Spark's Python workers; nothing else is."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("pyspark")

PROBE = ("{imp}from pyspark.sql.pandas.utils import require_minimum_pandas_version\n"
         "require_minimum_pandas_version()\n"
         "import os, warnings\n"
         "warnings.warn('another warning', FutureWarning)\n"
         "print(os.environ.get('PYTHONWARNINGS', ''))\n")


def probe(imp: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "default", "-c", PROBE.format(imp=imp)], check=True,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})


def test_pandas3_warning_is_filtered_and_other_warnings_are_not():
    import pandas as pd

    if int(pd.__version__.split(".")[0]) < 3:
        pytest.skip("the warning only exists with pandas 3")
    bare = probe("")
    assert "does not yet fully support pandas" in bare.stderr   # the warning is real
    run = probe("import pipelines\n")
    assert "does not yet fully support pandas" not in run.stderr
    assert "another warning" in run.stderr
    assert "ignore:PySpark does not yet fully support pandas:FutureWarning" in run.stdout  # for the workers
