"""Root Dagster definitions (loaded by ``workspace.yaml``): the areas merged with default resources."""

from pipelines.build import build_definitions

defs = build_definitions()
