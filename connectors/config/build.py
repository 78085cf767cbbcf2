"""The dlt source of one configured source, with its credentials resolved from dlt's configuration."""

from __future__ import annotations

import contextlib
import secrets as token_secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
from dlt.extract.source import DltSource
from dlt.sources.rest_api import rest_api_resources

from connectors.config.model import ConfigError, SourceSpec
from connectors.sheets import files_source

#: Resource name of the optional key scan of a REST (Shopify) source.
from connectors.shop import (
    KEYS_RESOURCE,  # noqa: F401  (re-exported for the raw assets)
    InvalidPage,
    shop_source,
)
from connectors.sql import sql_source


def setting(spec: SourceSpec, key: str, kind: type = str) -> Any:
    """``sources.<name>.<key>`` from dlt's configuration (secrets.toml, config.toml, environment)."""
    if kind is str:
        return dlt.secrets.get(f"sources.{spec.name}.{key}", str) or dlt.config.get(f"sources.{spec.name}.{key}", str)
    return dlt.config.get(f"sources.{spec.name}.{key}", kind)


def sql_credentials(spec: SourceSpec) -> str:
    """The SQLAlchemy URL: ``sources.<name>.credentials`` (environment, secrets.toml), else the file's ``url``:
    the same sources file can be pointed at another database by configuration."""
    url = setting(spec, "credentials") or spec.url
    if not url:
        raise ConfigError(f"source {spec.name!r}: no database URL; set 'url' (without a password) in the sources "
                          f"file, or sources.{spec.name}.credentials in .dlt/secrets.toml, or "
                          f"SOURCES__{spec.name.upper()}__CREDENTIALS")
    _require_sqlite_file(spec, url)
    return url


def _require_sqlite_file(spec: SourceSpec, url: str) -> None:
    """SQLite would create a missing database file (and then miss its tables): name it instead."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and not Path(parsed.database).is_file():
        raise FileNotFoundError(f"source {spec.name!r}: database file {parsed.database} not found")


class SourceSchemaError(ValueError):
    """The source system lacks a column the sources file names (renamed or dropped at the source)."""


def _sql_columns(url: str, *, table: str | None, query: str | None) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        if table is not None:
            return [c["name"] for c in sa.inspect(engine).get_columns(table)]
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT * FROM ({query.strip().rstrip(';')}) AS q LIMIT 0")).keys())
    finally:
        engine.dispose()


def check_sql_columns(spec: SourceSpec, url: str) -> None:
    """Before anything is read: every column the file names for this SQL source (id, cursor, mapped
    fields, purchases) exists, so a renamed column stops this source's load with one line naming it
    instead of loading rows that silently lack the field."""
    import sqlalchemy as sa

    checks = [(spec.table, spec.query, spec.customers_table,
               [("id", c) for c in spec.id] + ([("cursor", spec.cursor)] if spec.cursor else [])
               + [(f"fields.{f}", c) for f, m in spec.fields.items() if not m.optional for c in m.columns])]
    if spec.purchases is not None:
        p = spec.purchases
        checks.append((None if p.query else p.table, p.query, spec.purchases_table,
                       [(f"purchases.{f}", c) for f, m in p.fields.items() for c in m.columns]
                       + ([("purchases.cursor", p.cursor)] if p.cursor else [])))
    for table, query, label, wanted in checks:
        try:
            present = _sql_columns(url, table=table, query=query)
        except sa.exc.NoSuchTableError:
            raise SourceSchemaError(f"source {spec.name!r}: the database has no table {table!r}") from None
        lower = {c.lower() for c in present}
        missing = [(key, col) for key, col in wanted if col.lower() not in lower]
        if missing:
            named = ", ".join(f"{col!r} ({key})" for key, col in missing)
            raise SourceSchemaError(f"source {spec.name!r}: {label} has no column {named}; it has "
                                    f"{', '.join(present)}. Renamed at the source? Update the sources file.")


def _purchases_args(spec: SourceSpec) -> list[dict[str, Any]]:
    p = spec.purchases
    if p is None:
        return []
    key = p.fields["id"].columns[:1]
    return [{"name": spec.purchases_table, "table": p.table, "query": p.query, "key": key, "cursor": p.cursor}]


@contextlib.contextmanager
def build_source(spec: SourceSpec, *, definitions: bool = False, invalid_pages: list[InvalidPage] | None = None,
                 key_scan: bool = True, on_invalid_page: str = "salvage") -> Iterator[DltSource]:
    """The dlt source of ``spec`` named like it (raw dataset ``raw_<name>``).

    ``definitions``: only the table names matter (Dagster reads them when definitions load): nothing
    is resolved or connected. For a REST source with ``serve_pages`` the built-in page server runs
    on 127.0.0.1 while the context is open.
    """
    if spec.kind == "sql":
        url = "sqlite:///:memory:" if definitions else sql_credentials(spec)
        if not definitions:
            check_sql_columns(spec, url)
        source = sql_source(url, table=spec.table, query=spec.query, key=spec.id, cursor=spec.cursor,
                            also_tables=spec.also_tables, key_scan=spec.key_scan,
                            purchases=_purchases_args(spec))
        yield source.clone(with_name=spec.name)
    elif spec.kind == "files":
        if not definitions:
            _require_folders(spec)
        purchases = [spec.purchases.table] if spec.purchases is not None else None
        yield files_source(list(spec.paths), file_format=spec.format, header_aliases=spec.header_aliases,
                           purchases_paths=purchases).clone(with_name=spec.name)
    elif spec.preset == "shopify":
        with _shop_endpoint(spec, definitions=definitions) as (url, token):
            options = {"on_invalid_page": on_invalid_page, "invalid_pages": invalid_pages, "key_scan": key_scan,
                       "request_timeout": request_timeout(spec)}
            source = (shop_source(base_url=url, access_token=token, **options) if token
                      else shop_source(base_url=url, access_token="", **options))
            source = source.clone(with_name=spec.name)
            source.invalid_pages = invalid_pages if invalid_pages is not None else []
            yield source
    elif spec.preset == "woocommerce":
        base = "http://127.0.0.1:9" if definitions else _base_url(spec)
        yield _rest_source(spec, woocommerce_config(spec, base, definitions=definitions))
    else:
        yield _rest_source(spec, _plain_rest_config(spec, definitions=definitions))


def describe_location(spec: SourceSpec) -> str:
    """Where a source is read from, for error lines: the database URL (password masked), the API root or
    the files; never a secret."""
    from connectors.common import mask_error

    try:
        if spec.kind == "sql":
            return mask_error(setting(spec, "credentials") or spec.url or "no database URL")
        if spec.kind == "rest":
            url = _configured_base_url(spec)
            return mask_error(url) if url else f"pages served from {spec.serve_pages}"
    except Exception:  # noqa: BLE001 - configuration that cannot be read is itself the error reported
        return f"source {spec.name}"
    return ", ".join(spec.paths)


def request_timeout(spec: SourceSpec) -> float:
    """Seconds a REST request may take before the source fails naming it (``sources.<name>.request_timeout``,
    default 30)."""
    value = setting(spec, "request_timeout", float)
    return float(value) if value else 30.0


def _require_folders(spec: SourceSpec) -> None:
    """A local path whose folder is missing is a misconfiguration (an empty folder is not: no files yet)."""
    from connectors.sheets import split_glob

    for path in spec.paths:
        if "://" in path:
            continue
        folder = Path(split_glob(path)[0])
        if not folder.is_dir():
            raise FileNotFoundError(f"source {spec.name!r}: folder {folder} not found")
        if not any(c in path for c in "*?[") and not Path(path).is_file():
            raise FileNotFoundError(f"source {spec.name!r}: file {path} not found")


def _configured_base_url(spec: SourceSpec) -> str | None:
    """``--base-url``, else ``sources.<name>.base_url`` (environment, config.toml), else the file's."""
    return spec.base_url_override or setting(spec, "base_url") or spec.base_url


def _base_url(spec: SourceSpec) -> str:
    url = _configured_base_url(spec)
    if not url:
        raise ConfigError(f"source {spec.name!r}: no base_url; set it in the sources file, with --base-url, or "
                          f"as sources.{spec.name}.base_url (SOURCES__{spec.name.upper()}__BASE_URL)")
    return url


@contextlib.contextmanager
def _shop_endpoint(spec: SourceSpec, *, definitions: bool) -> Iterator[tuple[str, str | None]]:
    """(base_url, token): the configured API, or the built-in server over ``serve_pages``."""
    if definitions:
        yield "http://127.0.0.1:9", "-"
        return
    url = _configured_base_url(spec)
    if url or spec.serve_pages is None:
        yield _base_url(spec), setting(spec, "access_token")
        return
    from connectors.shop.server import ShopServer

    token = token_secrets.token_urlsafe(16)
    with ShopServer(spec.serve_pages, access_token=token) as server:
        yield server.url, token


def _rest_source(spec: SourceSpec, config: dict[str, Any]) -> DltSource:
    @dlt.source(name=spec.name)
    def rest() -> Any:
        dlt.current.source_schema().remove_type_detection("iso_timestamp")
        return rest_api_resources(config)

    return rest()


def woocommerce_config(spec: SourceSpec, base_url: str, *, definitions: bool = False) -> dict[str, Any]:
    """dlt rest_api configuration of the WooCommerce REST API v3 (``/wp-json/wc/v3``): customers
    (read whole each run, merged on id: the API has no change filter for customers) and orders
    (incremental on ``date_modified_gmt`` via ``modified_after``), HTTP basic auth with the consumer
    key and secret from ``sources.<name>.consumer_key`` / ``consumer_secret``."""
    key = "-" if definitions else (setting(spec, "consumer_key") or "")
    secret = "-" if definitions else (setting(spec, "consumer_secret") or "")
    client: dict[str, Any] = {"base_url": base_url.rstrip("/") + "/wp-json/wc/v3/",
                              "paginator": {"type": "header_link"}}
    if key or secret:
        client["auth"] = {"type": "http_basic", "username": key, "password": secret}
    resources: list[dict[str, Any]] = [{
        "name": spec.customers_table, "primary_key": "id", "write_disposition": "merge",
        "endpoint": {"path": "customers", "params": {"per_page": 100, "role": "all"}},
    }]
    if spec.purchases is not None:
        resources.append({
            "name": spec.purchases_table, "primary_key": "id", "write_disposition": "merge",
            "endpoint": {"path": "orders",
                         "params": {"per_page": 100, "dates_are_gmt": "true",
                                    "modified_after": "{incremental.start_value}"},
                         "incremental": {"cursor_path": "date_modified_gmt",
                                         "initial_value": "1970-01-01T00:00:00"}},
        })
    return {"client": client, "resources": resources}


def _plain_rest_config(spec: SourceSpec, *, definitions: bool) -> dict[str, Any]:
    """The file's ``rest_api`` block, with the base URL and any auth secret filled from dlt's configuration."""
    config = dict(spec.rest_api or {})
    client = dict(config.get("client") or {})
    if definitions:
        client["base_url"] = "http://127.0.0.1:9/"
        client.pop("auth", None)
    else:
        client["base_url"] = _configured_base_url(spec) or client.get("base_url") or _base_url(spec)
        auth = dict(client.get("auth") or {})
        for secret in ("token", "api_key", "password"):
            if auth.get("type") and secret not in auth and setting(spec, secret):
                auth[secret] = setting(spec, secret)
        if auth:
            client["auth"] = auth
    config["client"] = client
    return config
