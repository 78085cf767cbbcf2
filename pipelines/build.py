"""Assemble the Dagster definitions: every area's assets and checks, resources, job, schedule."""

from __future__ import annotations

import os

import dagster as dg
from dagster_dlt import DagsterDltResource

from connectors.config import CONFIG_ENV, SourcesConfig
from pipelines import checks, sensors
from pipelines.assets import golden, matching, raw, staging
from pipelines.assets.matching import MatchingResource
from pipelines.job import JOB_NAME
from pipelines.paths import WAREHOUSE_ENV
from pipelines.resources import PublishResource, SourcesResource, WarehouseResource

#: matching engine of a code location (e.g. a Kubernetes deployment) that no command line starts
ENGINE_ENV = "CRM_GOLDEN_ENGINE"


def area_definitions(config: SourcesConfig) -> list[dg.Definitions]:
    """Per-area definitions over the sources of ``config``, merged by the root."""
    return [
        dg.Definitions(assets=raw.raw_assets(config)),
        dg.Definitions(assets=[staging.staged_customers_asset(config)]),
        dg.Definitions(assets=[matching.candidate_pairs, matching.scored_pairs, matching.clusters]),
        dg.Definitions(assets=[golden.golden_tables, golden.publish]),
        dg.Definitions(asset_checks=checks.asset_checks(config)),
        dg.Definitions(sensors=[sensors.sheets_folder_sensor]),
    ]


def full_flow_job() -> dg.UnresolvedAssetJobDefinition:
    """Sources -> raw -> staging -> matching -> golden -> checks -> publish, one step at a time
    (DuckDB allows one writer per file)."""
    return dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        description="The whole flow from the source systems to the published golden customer table.",
    )


def build_definitions(*, warehouse: str | None = None, sources: str | None = None,
                      config: str | None = None, base_urls: dict[str, str] | None = None,
                      settings: str | None = None, destination: str = "duckdb",
                      parquet_dir: str | None = None, full_rebuild: bool = False, retrain: bool = False,
                      engine: str | None = None, spark_master: str | None = None,
                      loggers: dict[str, dg.LoggerDefinition] | None = None) -> dg.Definitions:
    """Definitions with resources bound to the given paths (defaults: the embedded demo setup).
    ``engine``: the matching engine (default: ``$CRM_GOLDEN_ENGINE``, else the settings'
    ``engine`` key, else polars). ``config``: a sources file (else ``$CRM_GOLDEN_SOURCES_CONFIG``, else the
    demo layout in ``sources``); ``base_urls``: REST base URLs by source name."""
    job = full_flow_job()
    source_resource = SourcesResource(
        config_path=str(config or ""), base_urls=dict(base_urls or {}),
        **({"directory": sources} if sources else {}),
    )
    sources_config = source_resource.config()  # the assets and checks are made from it
    if not config and not sources and os.environ.get(CONFIG_ENV):
        # a code location configured by its environment: the UI shows the variable, resolved per run
        source_resource = SourcesResource(config_path=dg.EnvVar(CONFIG_ENV), base_urls=dict(base_urls or {}))
    resources = {
        "dlt": DagsterDltResource(),
        "warehouse": (WarehouseResource(path=warehouse) if warehouse
                      else WarehouseResource(path=dg.EnvVar(WAREHOUSE_ENV)) if os.environ.get(WAREHOUSE_ENV)
                      else WarehouseResource()),
        "sources": source_resource,
        "matching": MatchingResource(settings_path=settings or "", full_rebuild=full_rebuild, retrain=retrain,
                                     engine=engine or (dg.EnvVar(ENGINE_ENV) if os.environ.get(ENGINE_ENV) else ""),
                                     spark_master=spark_master or ""),
        "publishing": PublishResource(destination=destination, parquet_dir=parquet_dir or "",
                                      config_path=settings or ""),
    }
    return dg.Definitions.merge(
        *area_definitions(sources_config),
        dg.Definitions(
            jobs=[job],
            schedules=[dg.ScheduleDefinition(
                name="crm_golden_daily", job=job, cron_schedule="0 3 * * *",
                default_status=dg.DefaultScheduleStatus.STOPPED,
                description="Daily full run at 03:00 (stopped by default: start it in the UI).",
            )],
            resources=resources,
            executor=dg.in_process_executor,
            loggers=loggers or {},
        ),
    )
