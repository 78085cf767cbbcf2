"""The name of the one Dagster job (the full flow): defined by :mod:`pipelines.build`, started by the
sheets-folder sensor and by ``crm-golden run``. Kept apart so the sensor need not import the builder."""

JOB_NAME = "crm_golden_job"
