"""crm-golden pipelines: Dagster assets, checks, resources and the ``crm-golden`` CLI."""

from dedupe.spark.session import ignore_pandas3_warning

ignore_pandas3_warning()  # Great Expectations probes pyspark, which warns about pandas 3 (see there)
