"""Moved to :mod:`pipelines.demo`; this name stays only for callers not yet updated."""

from pipelines.demo.generator import LEGACY_SOURCE, SOURCES, generate, main

__all__ = ["LEGACY_SOURCE", "SOURCES", "generate", "main"]
