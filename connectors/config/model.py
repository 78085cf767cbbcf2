"""The sources file: which systems to load and how their columns map to the canonical customer.

A sources file is YAML with a ``sources:`` list. Each entry is one system; its ``name`` is the
``source`` value in the crosswalk and its raw tables land in dataset ``raw_<name>``. Parsing checks
every key and names the source and the key of any problem (:class:`ConfigError`); whether the
columns exist is checked against the system itself when it is read (``crm-golden sources check``).

Secrets never live in the file: a SQL ``url`` with a password, or any ``token``/``password`` key,
is refused. Credentials come from dlt's configuration under ``sources.<name>.*`` (``.dlt/secrets.toml``
or environment variables such as ``SOURCES__ERP__CREDENTIALS``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

#: Canonical customer fields a source can map (all optional but the id; at least one of the
#: identity fields must be mapped).
CUSTOMER_FIELDS: tuple[str, ...] = (
    "full_name", "given_name", "surname", "company_name", "email", "phone", "street", "postal_code",
    "city", "country", "vat_id", "created_at", "updated_at",
)
IDENTITY_FIELDS: tuple[str, ...] = ("full_name", "given_name", "surname", "email", "phone")
#: A files source with header aliases reads each canonical field from the column of its name
#: (where the aliases put a known header: ``E-mail`` -> ``email``) unless ``fields:`` says otherwise.
FILES_AUTO_FIELDS: dict[str, str] = {
    **{f: f for f in CUSTOMER_FIELDS if f not in ("created_at", "updated_at")},
    "created_at": "last_activity",
}
#: Purchase (order / invoice) fields feeding customer_360.
PURCHASE_FIELDS: tuple[str, ...] = ("id", "customer", "date", "amount", "currency")
PURCHASE_KINDS: tuple[str, ...] = ("order", "invoice")
KINDS: tuple[str, ...] = ("sql", "rest", "files")
REST_PRESETS: tuple[str, ...] = ("shopify", "woocommerce")
FILE_FORMATS: tuple[str, ...] = ("auto", "csv", "xlsx", "parquet", "json", "jsonl")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^@/\s]+@", re.IGNORECASE)
_SECRET_KEYS = ("password", "token", "access_token", "api_key", "secret", "consumer_secret", "consumer_key")


class ConfigError(ValueError):
    """A sources file that cannot be used; the message names the file, the source and the key."""


@dataclass(frozen=True)
class FieldMap:
    """How one canonical field is made from the source's columns.

    Exactly one of: ``columns`` with one column (``billing.city`` for a nested JSON field), several
    columns joined by ``sep`` (a composite address) or tried in order (``first``: the first present
    value), or a constant ``value`` (a country for a single-country file).
    """

    columns: tuple[str, ...] = ()
    sep: str | None = " "
    first: bool = False
    value: str | None = None
    optional: bool = False
    """A preset's default mapping: a column the system may not have is read as null."""

    def describe(self) -> str:
        if self.value is not None:
            return f"value {self.value!r}"
        if len(self.columns) == 1:
            return self.columns[0]
        how = "first of" if self.first else f"joined by {self.sep!r}:"
        return f"{how} {', '.join(self.columns)}"


@dataclass(frozen=True)
class PurchasesSpec:
    """Orders or invoices of one source, linked to its customers by ``customer``."""

    table: str
    """SQL table, REST resource or file path/glob."""
    fields: Mapping[str, FieldMap]
    kind: str = "order"
    cursor: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """One configured source system."""

    name: str
    kind: str
    fields: Mapping[str, FieldMap]
    id: tuple[str, ...] = ()
    cursor: str | None = None
    enabled: bool = True
    # sql
    url: str | None = None
    table: str | None = None
    query: str | None = None
    also_tables: tuple[str, ...] = ()
    key_scan: bool = True
    # rest
    preset: str | None = None
    base_url: str | None = None
    base_url_override: str | None = None
    """``--base-url NAME=URL``: wins over the environment and dlt configuration, which win over ``base_url``."""
    serve_pages: Path | None = None
    rest_api: Mapping[str, Any] | None = None
    resource: str | None = None
    key_scan_hours: float = 0.0
    # files
    paths: tuple[str, ...] = ()
    format: str = "auto"
    record_source: str = "name"
    header_aliases: bool = True
    # common
    purchases: PurchasesSpec | None = None
    date_format: str | None = None
    where: str = ""

    @property
    def dataset(self) -> str:
        """The warehouse schema of the raw tables (``raw_<name>``)."""
        return f"raw_{self.name}"

    @property
    def customers_table(self) -> str:
        """Name of the raw customer table in ``raw_<name>``."""
        if self.kind == "sql":
            return self.table or "customers"
        if self.kind == "rest":
            return self.resource or "customers"
        return "contacts"

    @property
    def purchases_table(self) -> str | None:
        if self.purchases is None:
            return None
        if self.kind == "files":
            return "purchases"
        return self.purchases.table

    def raw(self, table: str) -> str:
        return f"{self.dataset}.{table}"


@dataclass(frozen=True)
class SourcesConfig:
    """Every source of a sources file (in file order) and where the file was read from."""

    sources: tuple[SourceSpec, ...]
    path: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def enabled(self) -> tuple[SourceSpec, ...]:
        return tuple(s for s in self.sources if s.enabled)

    def get(self, name: str) -> SourceSpec:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def names(self) -> list[str]:
        return [s.name for s in self.enabled]

    def with_base_url(self, name: str, url: str) -> SourcesConfig:
        """The same file with source ``name``'s REST ``base_url`` replaced (CLI ``--base-url``)."""
        out = []
        for s in self.sources:
            out.append(replace(s, base_url_override=url, serve_pages=None) if s.name == name else s)
        return replace(self, sources=tuple(out))


def load_config(path: str | Path, *, base_dir: str | Path | None = None) -> SourcesConfig:
    """Read and check a sources file; relative paths resolve against ``base_dir`` (default: the
    file's folder)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sources file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"sources file {path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    base = Path(base_dir) if base_dir is not None else path.parent
    return parse_config(data, where=str(path), base_dir=base.absolute(), path=path)


def parse_config(data: Any, *, where: str = "sources file", base_dir: str | Path | None = None,
                 path: Path | None = None) -> SourcesConfig:
    """A sources file's parsed YAML (a mapping with ``sources:``) as a checked :class:`SourcesConfig`."""
    base = Path(base_dir or Path.cwd()).absolute()
    if not isinstance(data, Mapping) or "sources" not in data:
        raise ConfigError(f"{where}: expected a mapping with a 'sources:' list")
    _no_unknown(data, {"version", "sources"}, where)
    items = data["sources"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: 'sources' must be a non-empty list")
    specs, seen = [], set()
    for i, item in enumerate(items, start=1):
        spec = _source(item, where=f"{where}: source #{i}", base=base)
        if spec.name in seen:
            raise ConfigError(f"{where}: source {spec.name!r}: the name is used twice")
        seen.add(spec.name)
        specs.append(spec)
    if not any(s.enabled for s in specs):
        raise ConfigError(f"{where}: every source is disabled (enabled: false); nothing to load")
    return SourcesConfig(tuple(specs), path=path, base_dir=base)


# ---------------------------------------------------------------------------------------------
# one source
# ---------------------------------------------------------------------------------------------
_COMMON = {"name", "kind", "enabled", "id", "cursor", "fields", "purchases", "date_format"}
_BY_KIND = {
    "sql": {"url", "table", "query", "also_tables", "key_scan"},
    "rest": {"preset", "base_url", "serve_pages", "rest_api", "resource", "key_scan_hours"},
    "files": {"path", "format", "record_source", "header_aliases"},
}


def _source(item: Any, *, where: str, base: Path) -> SourceSpec:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name, kind and fields")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: key 'name': {name!r} is not a valid source name "
                          "(lower-case letters, digits and _, starting with a letter, at most 40)")
    where = f"{where.rsplit(':', 1)[0]}: source {name!r}"
    kind = item.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: key 'kind': {kind!r} is not one of {', '.join(KINDS)}")
    for key in item:
        if str(key).lower() in _SECRET_KEYS:
            raise ConfigError(f"{where}: key {key!r}: secrets do not go in the sources file; set "
                              f"sources.{name}.{key} in .dlt/secrets.toml or SOURCES__{name.upper()}__"
                              f"{str(key).upper()} in the environment")
    _no_unknown(item, _COMMON | _BY_KIND[kind], where)
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: key 'enabled': expected true or false, got {enabled!r}")
    preset = item.get("preset")
    defaults = _preset_defaults(kind, preset, where)
    if kind == "files" and item.get("header_aliases", True) is True:
        defaults = {"fields": FILES_AUTO_FIELDS}
    fields = _fields(item.get("fields"), where=where, defaults=defaults.get("fields"))
    ids = _id(item.get("id", defaults.get("id")), where=where, kind=kind)
    cursor = _opt_str(item, "cursor", where, default=defaults.get("cursor"))
    date_format = _opt_str(item, "date_format", where)
    if date_format is not None and "%" not in date_format:
        raise ConfigError(f"{where}: key 'date_format': {date_format!r} is no strftime format (e.g. '%d/%m/%Y')")
    spec = SourceSpec(name=name, kind=kind, enabled=enabled, fields=fields, id=ids, cursor=cursor,
                      date_format=date_format, where=where)
    if kind == "sql":
        spec = _sql(item, spec, where=where, base=base)
    elif kind == "rest":
        spec = _rest(item, spec, where=where, base=base, defaults=defaults)
    else:
        spec = _files(item, spec, where=where, base=base)
    purchases = item.get("purchases", defaults.get("purchases"))
    if purchases is not None:
        spec = replace(spec, purchases=_purchases(purchases, where=f"{where}: key 'purchases'", kind=kind,
                                                  base=base))
    if not any(f in spec.fields for f in IDENTITY_FIELDS):
        raise ConfigError(f"{where}: key 'fields': maps none of {', '.join(IDENTITY_FIELDS)}; a customer "
                          "needs a name, an e-mail or a phone to be matched")
    return spec


def _sql(item: Mapping, spec: SourceSpec, *, where: str, base: Path) -> SourceSpec:
    url = _opt_str(item, "url", where)
    if url is not None:
        if _URL_PASSWORD.match(url):
            raise ConfigError(f"{where}: key 'url': holds a password; put the URL in sources.{spec.name}."
                              f"credentials (.dlt/secrets.toml) or SOURCES__{spec.name.upper()}__CREDENTIALS "
                              "and leave 'url' out")
        url = _sqlite_relative(url, base)
    table, query = _opt_str(item, "table", where), _opt_str(item, "query", where)
    if (table is None) == (query is None):
        raise ConfigError(f"{where}: give exactly one of 'table' or 'query'")
    if not spec.id:
        raise ConfigError(f"{where}: key 'id': missing; name the column(s) that identify a customer row")
    also = item.get("also_tables", [])
    if not isinstance(also, list) or not all(isinstance(t, str) for t in also):
        raise ConfigError(f"{where}: key 'also_tables': expected a list of table names")
    key_scan = item.get("key_scan", True)
    if not isinstance(key_scan, bool):
        raise ConfigError(f"{where}: key 'key_scan': expected true or false")
    return replace(spec, url=url, table=table, query=query, also_tables=tuple(also),
                   key_scan=key_scan and table is not None)


def _rest(item: Mapping, spec: SourceSpec, *, where: str, base: Path, defaults: Mapping) -> SourceSpec:
    preset = item.get("preset")
    rest_api = item.get("rest_api")
    if (preset is None) == (rest_api is None):
        raise ConfigError(f"{where}: give exactly one of 'preset' ({', '.join(REST_PRESETS)}) or 'rest_api' "
                          "(a dlt rest_api configuration)")
    if rest_api is not None:
        if not isinstance(rest_api, Mapping) or "resources" not in rest_api:
            raise ConfigError(f"{where}: key 'rest_api': expected a dlt rest_api configuration with "
                              "'client' and 'resources'")
        _no_inline_secrets(rest_api, where=f"{where}: key 'rest_api'", name=spec.name)
        if not spec.id:
            raise ConfigError(f"{where}: key 'id': missing; name the field that identifies a customer")
    serve = _opt_str(item, "serve_pages", where)
    resource = _opt_str(item, "resource", where) or defaults.get("resource")
    hours = item.get("key_scan_hours", 0)
    if not isinstance(hours, int | float) or hours < 0:
        raise ConfigError(f"{where}: key 'key_scan_hours': expected a number of hours >= 0")
    return replace(spec, preset=preset, rest_api=rest_api, base_url=_opt_str(item, "base_url", where),
                   serve_pages=(base / serve).absolute() if serve else None, resource=resource,
                   key_scan_hours=float(hours))


def _files(item: Mapping, spec: SourceSpec, *, where: str, base: Path) -> SourceSpec:
    raw = item.get("path")
    paths = [raw] if isinstance(raw, str) else raw
    if not paths or not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise ConfigError(f"{where}: key 'path': expected a file path or glob, or a list of them")
    fmt = item.get("format", "auto")
    if fmt not in FILE_FORMATS:
        raise ConfigError(f"{where}: key 'format': {fmt!r} is not one of {', '.join(FILE_FORMATS)}")
    record_source = item.get("record_source", "name")
    if record_source not in ("name", "file_stem"):
        raise ConfigError(f"{where}: key 'record_source': expected 'name' (the source's name) or 'file_stem' "
                          "(each file is its own source in the crosswalk)")
    aliases = item.get("header_aliases", True)
    if not isinstance(aliases, bool):
        raise ConfigError(f"{where}: key 'header_aliases': expected true or false")
    resolved = tuple(p if "://" in p else str((base / p).absolute()) for p in paths)
    return replace(spec, paths=resolved, format=fmt, record_source=record_source, header_aliases=aliases)


def _purchases(item: Any, *, where: str, kind: str, base: Path) -> PurchasesSpec:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with table, id, customer, date, amount")
    allowed = {"table", "query", "resource", "path", "kind", "cursor", *PURCHASE_FIELDS}
    _no_unknown(item, allowed, where)
    table_key = {"sql": "table", "rest": "resource", "files": "path"}[kind]
    table = item.get(table_key)
    query = item.get("query") if kind == "sql" else None
    if not isinstance(table, str) and query is None:
        raise ConfigError(f"{where}: key {table_key!r}: missing (the {table_key} holding the purchases)")
    if kind == "files":
        table = table if "://" in table else str((base / table).absolute())
    purchase_kind = item.get("kind", "invoice" if kind == "sql" else "order")
    if purchase_kind not in PURCHASE_KINDS:
        raise ConfigError(f"{where}: key 'kind': {purchase_kind!r} is not one of {', '.join(PURCHASE_KINDS)}")
    fields = {}
    for name in PURCHASE_FIELDS:
        value = item.get(name)
        if value is None:
            if name in ("id", "customer", "amount"):
                raise ConfigError(f"{where}: key {name!r}: missing")
            continue
        fields[name] = _field_map(value, where=f"{where}: key {name!r}")
    return PurchasesSpec(table=table or "purchases", fields=fields, kind=purchase_kind,
                         cursor=_opt_str(item, "cursor", where), query=query)


# ---------------------------------------------------------------------------------------------
# fields
# ---------------------------------------------------------------------------------------------
def _fields(raw: Any, *, where: str, defaults: Mapping[str, Any] | None) -> dict[str, FieldMap]:
    if raw is None and defaults is None:
        raise ConfigError(f"{where}: key 'fields': missing; map the source's columns to "
                          f"{', '.join(CUSTOMER_FIELDS)}")
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: key 'fields': expected a mapping of canonical field -> column")
    out = {name: replace(_field_map(v, where=f"{where}: preset field {name!r}"), optional=True)
           for name, v in (defaults or {}).items()}
    for name, value in (raw or {}).items():
        if name not in CUSTOMER_FIELDS:
            raise ConfigError(f"{where}: key 'fields.{name}': {name!r} is not a canonical field; expected one "
                              f"of {', '.join(CUSTOMER_FIELDS)}")
        if value is None:
            out.pop(name, None)  # a preset field switched off
            continue
        out[name] = _field_map(value, where=f"{where}: key 'fields.{name}'")
    if "updated_at" not in out and "created_at" in out:
        out["updated_at"] = out["created_at"]
    return out


def _field_map(value: Any, *, where: str) -> FieldMap:
    if isinstance(value, str) and value.strip():
        return FieldMap(columns=(value.strip(),))
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"value"}:
            return FieldMap(value=str(value["value"]))
        if keys <= {"columns", "sep"} and "columns" in keys:
            cols = value["columns"]
            if isinstance(cols, list) and cols and all(isinstance(c, str) and c for c in cols):
                return FieldMap(columns=tuple(cols), sep=str(value.get("sep", " ")))
        if keys == {"first"}:
            cols = value["first"]
            if isinstance(cols, list) and cols and all(isinstance(c, str) and c for c in cols):
                return FieldMap(columns=tuple(cols), first=True)
    raise ConfigError(f"{where}: expected a column name, {{columns: [a, b], sep: ' '}}, {{first: [a, b]}} or "
                      f"{{value: constant}}, got {value!r}")


def _id(value: Any, *, where: str, kind: str) -> tuple[str, ...]:
    if value is None:
        return ()
    cols = [value] if isinstance(value, str) else value
    if not isinstance(cols, list) or not cols or not all(isinstance(c, str) and c for c in cols):
        raise ConfigError(f"{where}: key 'id': expected a column name or a list of column names")
    return tuple(cols)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _preset_defaults(kind: str, preset: Any, where: str) -> dict[str, Any]:
    if preset is None:
        return {}
    if kind != "rest":
        raise ConfigError(f"{where}: key 'preset': presets are for kind rest")
    if preset not in REST_PRESETS:
        raise ConfigError(f"{where}: key 'preset': {preset!r} is not one of {', '.join(REST_PRESETS)}")
    from connectors.config.presets import PRESETS

    return PRESETS[preset]


def _no_unknown(item: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in item if k not in allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected "
                          f"{', '.join(sorted(allowed))}")


def _opt_str(item: Mapping, key: str, where: str, *, default: str | None = None) -> str | None:
    value = item.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: key {key!r}: expected text, got {value!r}")
    return value.strip()


def _sqlite_relative(url: str, base: Path) -> str:
    """``sqlite:///erp.sqlite`` (three slashes, a relative path) resolves against the file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix):]).absolute())
    return url


def _no_inline_secrets(value: Any, *, where: str, name: str) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if str(key).lower() in _SECRET_KEYS and isinstance(inner, str) and inner and not inner.startswith("{"):
                raise ConfigError(f"{where}: key {key!r}: secrets do not go in the sources file; leave the "
                                  f"value out and set sources.{name}.{key} in .dlt/secrets.toml or "
                                  f"SOURCES__{name.upper()}__{str(key).upper()} in the environment")
            _no_inline_secrets(inner, where=where, name=name)
    elif isinstance(value, list):
        for inner in value:
            _no_inline_secrets(inner, where=where, name=name)
