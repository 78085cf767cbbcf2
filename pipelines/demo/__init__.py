"""Seeded demo CRM sources with their ground truth: the demo's data and every test's data.

Not part of the pipeline: nothing under ``pipelines/`` outside this package imports it except the
``crm-golden demo`` command. ``python -m pipelines.demo OUT`` writes a dataset.
"""

from pipelines.demo.generator import LEGACY_SOURCE, SOURCES, generate, main

__all__ = ["LEGACY_SOURCE", "SOURCES", "generate", "main"]
