"""A Data Docs index builder for one site that separate validations add to (imports Great
Expectations: loaded by name from the site configuration, only when Data Docs are built)."""

from __future__ import annotations

from typing import Any

from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder


class SharedSiteIndexBuilder(DefaultSiteIndexBuilder):
    """Keeps the pages earlier builds wrote: the default builder deletes every validation page
    whose result is not in the current (ephemeral) context, i.e. all other suites' pages."""

    def build(self, skip_and_clean_missing: bool = True, build_index: bool = True) -> Any:
        return super().build(skip_and_clean_missing=False, build_index=build_index)
