"""The sources file: any number of source systems, declared in YAML, read by one code path.

``load_config(path)`` reads and checks a file; ``demo_layout(dir)`` is the built-in file of the demo
folder layout (``erp.sqlite``, ``shop/``, ``sheets/``) pointed at ``dir``; ``build_source(spec)``
(in ``connectors.config.build``) makes the dlt source of one entry.
"""

from __future__ import annotations

import os
from pathlib import Path

from .model import (
    CUSTOMER_FIELDS,
    FILES_AUTO_FIELDS,
    IDENTITY_FIELDS,
    PURCHASE_FIELDS,
    ConfigError,
    FieldMap,
    PurchasesSpec,
    SourcesConfig,
    SourceSpec,
    load_config,
    parse_config,
)

__all__ = [
    "CONFIG_ENV",
    "CUSTOMER_FIELDS",
    "DEMO_LAYOUT",
    "FILES_AUTO_FIELDS",
    "IDENTITY_FIELDS",
    "PURCHASE_FIELDS",
    "ConfigError",
    "FieldMap",
    "PurchasesSpec",
    "SourceSpec",
    "SourcesConfig",
    "demo_layout",
    "load_config",
    "parse_config",
    "resolve_config",
]

#: The sources file of a Dagster code location that no command line starts.
CONFIG_ENV = "CRM_GOLDEN_SOURCES_CONFIG"
#: The built-in sources file of the demo folder layout.
DEMO_LAYOUT = Path(__file__).with_name("demo_layout.yaml")


def demo_layout(directory: str | Path) -> SourcesConfig:
    """The demo-layout sources file with its paths resolved against ``directory``."""
    return load_config(DEMO_LAYOUT, base_dir=Path(directory).absolute())


def resolve_config(*, config: str | Path | None = None, sources_dir: str | Path | None = None,
                   default_dir: str | Path = "data/demo_sources") -> SourcesConfig:
    """The sources file to run: ``config`` (``--config``), else the demo layout pointed at ``sources_dir``
    (``--sources``), else ``$CRM_GOLDEN_SOURCES_CONFIG``, else the demo layout at ``default_dir``."""
    if config:
        return load_config(config)
    if sources_dir:
        return demo_layout(sources_dir)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return load_config(env)
    return demo_layout(default_dir)
