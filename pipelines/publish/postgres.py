"""Publish polars frames to PostgreSQL atomically, with column comments and a read-only BI role.

Every table is first loaded into ``<schema>.__new_<table>`` (COPY, CSV) and committed. Then one
transaction drops the published tables, renames the new ones into place, re-creates the views
that depended on the old tables (with their comments and grants), and resets the BI role's
grants: readers see the old tables or the new ones, never a half-written table. A failure before
that transaction commits removes the ``__new_`` tables and leaves the published ones untouched.

Credentials come the dlt way: ``DESTINATION__POSTGRES__CREDENTIALS=postgresql://...`` or
``[destination.postgres.credentials]`` in ``.dlt/secrets.toml`` (see ``postgres_url_from_config``).
Passwords never appear in messages: URLs are shown masked.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from expectations.masking import mask_url
from pipelines.publish.tables import Hook, PublishError, call, check_tables, descriptions, split_table

NEW_PREFIX = "__new_"
DEFAULT_BI_VIEWS = ("golden.customers", "golden.customer_360", "golden.crosswalk")
#: Schemas the BI role must never read (``*`` matches like a shell pattern).
PRIVATE_SCHEMAS = ("raw_*", "staging", "quality", "matching", "golden_build")
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
_COPY_BATCH_ROWS = 50_000


# -- credentials ------------------------------------------------------------------------------------

def postgres_url_from_config() -> str:
    """The PostgreSQL URL from dlt configuration (env ``DESTINATION__POSTGRES__CREDENTIALS`` or
    ``.dlt/secrets.toml``: a URL string or a table with host, port, database, username, password)."""
    import dlt  # lazy: dlt (slow to import) only to read configured credentials
    from dlt.common.configuration.specs import ConnectionStringCredentials

    value = dlt.secrets.get("destination.postgres.credentials")
    if not value:
        raise PublishError(
            "PostgreSQL credentials are not configured: set DESTINATION__POSTGRES__CREDENTIALS="
            "postgresql://user:password@host:5432/database, or add [destination.postgres.credentials] "
            "to .dlt/secrets.toml")
    if isinstance(value, str):
        return value
    try:
        creds = ConnectionStringCredentials()
        creds.drivername = "postgresql"
        creds.update(dict(value))
        return creds.to_native_representation()
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # name the keys, never values
        keys = ", ".join(sorted(dict(value))) if isinstance(value, Mapping) else type(value).__name__
        raise PublishError(f"destination.postgres.credentials is not a usable connection ({keys}): "
                           f"{type(exc).__name__}") from None


def _conninfo(url: str) -> str:
    """A libpq URI: SQLAlchemy driver suffixes (``postgresql+psycopg://``) removed."""
    url = url.strip()
    m = re.match(r"^(postgres(?:ql)?)(\+[A-Za-z0-9_]+)?://", url)
    if not m:
        raise PublishError(f"not a PostgreSQL URL (expected postgresql://...): {mask_url(url)}")
    return "postgresql://" + url[m.end():]


def _connect(url: str, *, connect_timeout: int):
    import psycopg  # lazy: the PostgreSQL driver loads only for that destination

    try:
        return psycopg.connect(_conninfo(url), connect_timeout=connect_timeout, autocommit=False)
    except psycopg.Error as exc:
        raise PublishError(f"cannot connect to PostgreSQL at {mask_url(url)}: "
                           f"{_scrub(str(exc).strip(), url)}") from None


def _scrub(text: str, url: str) -> str:
    m = re.search(r"://[^:/?#@]*:([^@/?#]+)@", url)
    return text.replace(m.group(1), "***") if m else text


# -- types ------------------------------------------------------------------------------------------

def _pg_type(dtype: pl.DataType, table: str, column: str) -> str:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype in (pl.Int8, pl.Int16, pl.UInt8):
        return "smallint"
    if dtype in (pl.Int32, pl.UInt16):
        return "integer"
    if dtype in (pl.Int64, pl.UInt32):
        return "bigint"
    if dtype in (pl.UInt64, pl.Int128):
        return "numeric(39,0)"
    if dtype == pl.Float32:
        return "real"
    if dtype == pl.Float64:
        return "double precision"
    if isinstance(dtype, pl.Decimal):
        return f"numeric({dtype.precision},{dtype.scale})" if dtype.precision else "numeric"
    if dtype in (pl.Utf8, pl.Categorical, pl.Null) or isinstance(dtype, (pl.Enum, pl.Categorical)):
        return "text"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if dtype == pl.Time:
        return "time"
    if isinstance(dtype, pl.Duration):
        return "interval"
    if dtype == pl.Binary:
        return "bytea"
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
        return "jsonb"
    raise PublishError(f"{table}, column {column}: type {dtype} cannot be published to PostgreSQL")


def _csv_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column as COPY-CSV text understands it (nested values as JSON, bytes as hex)."""
    c = pl.col(name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return c.dt.convert_time_zone("UTC")
    if isinstance(dtype, (pl.Enum, pl.Categorical)) or dtype == pl.Null:
        return c.cast(pl.Utf8)
    if isinstance(dtype, (pl.List, pl.Array)):
        wrapped = pl.struct(c.alias("v")).struct.json_encode()
        return pl.when(c.is_null()).then(None).otherwise(wrapped.str.slice(5, wrapped.str.len_chars() - 6))
    if isinstance(dtype, pl.Struct):
        return pl.when(c.is_null()).then(None).otherwise(c.struct.json_encode())
    if dtype == pl.Binary:
        return pl.concat_str(pl.lit("\\x"), c.bin.encode("hex"))
    if isinstance(dtype, pl.Duration):
        return pl.concat_str(c.dt.total_microseconds().cast(pl.Utf8), pl.lit(" microseconds"))
    return c


def _check_columns(table: str, df: pl.DataFrame) -> None:
    for col in df.columns:
        if not col or len(col.encode()) > 63:
            raise PublishError(f"{table}, column {col!r}: PostgreSQL column names must be 1-63 bytes")
        if "\x00" in col:
            raise PublishError(f"{table}: column name {col!r} contains a NUL character")


# -- publish ----------------------------------------------------------------------------------------

@dataclass
class _View:
    schema: str
    name: str
    kind: str
    definition: str
    owner: str
    options: list[str] | None
    comment: str | None
    column_comments: list[tuple[str, str]]
    grants: list[tuple[str, str]]
    depth: int


def publish_postgres(tables: Mapping[str, pl.DataFrame], url: str, *,
                     comments: Mapping[str, Mapping[str, str]] | None = None,
                     table_comments: Mapping[str, str] | None = None,
                     bi_role: str = "bi_reader", bi_views: Iterable[str] = DEFAULT_BI_VIEWS,
                     bi_login: bool | None = None, bi_password: str | None = None,
                     private_schemas: Iterable[str] = PRIVATE_SCHEMAS,
                     lock_timeout_s: float = 30.0, connect_timeout: int = 10,
                     hook: Hook | None = None) -> dict:
    """Publish ``{"schema.table": frame}`` to the PostgreSQL database at ``url``.

    ``comments``/``table_comments`` default to ``pipelines.schema_docs`` (``{}``: none). The role
    ``bi_role`` gets USAGE on the schemas of ``bi_views`` and SELECT on those relations only;
    every grant it held elsewhere is revoked, and nothing in ``private_schemas`` is readable by
    it. It is created NOLOGIN if missing; ``bi_login`` True/False sets LOGIN/NOLOGIN, a
    ``bi_password`` sets the password and LOGIN; otherwise an existing role keeps its attributes.
    ``hook`` is called with ``written:<table>``, ``before_swap`` and ``before_commit``. Returns a
    summary: ``tables`` (rows), ``views_recreated``, ``bi_granted``, ``bi_missing``, ``seconds``.
    """
    from psycopg import sql  # lazy: the PostgreSQL driver loads only for that destination

    check_tables(tables)
    for table, df in tables.items():
        split_table(table, max_len=63 - len(NEW_PREFIX))
        _check_columns(table, df)
    types = {t: [(c, _pg_type(d, t, c)) for c, d in df.schema.items()] for t, df in tables.items()}
    bi_views, private = list(bi_views), list(private_schemas)
    for view in bi_views:
        if any(fnmatch.fnmatchcase(split_table(view)[0], p) for p in private):
            raise PublishError(f"{view} is in a private schema ({', '.join(private)}): "
                               "it cannot be shown to the BI role")
    split_table(f"x.{bi_role}")  # a plain identifier
    col_docs, tab_docs = descriptions(tables, comments, table_comments)
    t0 = time.perf_counter()

    con = _connect(url, connect_timeout=connect_timeout)
    try:
        try:
            for table, df in tables.items():
                _load_new(con, table, df, types[table], col_docs.get(table, {}), tab_docs.get(table), url)
                con.commit()
                call(hook, f"written:{table}")
            call(hook, "before_swap")
            with con.cursor() as cur:
                cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(f"{int(lock_timeout_s * 1000)}ms")))
                views = _dependent_views(cur, list(tables))
                for table in tables:
                    schema, name = split_table(table)
                    cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                        sql.Identifier(schema, name)))
                    cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                        sql.Identifier(schema, NEW_PREFIX + name), sql.Identifier(name)))
                for view in views:
                    _recreate_view(cur, view)
                granted, missing = _grant_bi(cur, bi_role, bi_views, login=bi_login, password=bi_password)
                call(hook, "before_commit")
            con.commit()
        except BaseException as exc:
            _abort(con, tables)
            if isinstance(exc, PublishError) or not _is_pg_error(exc):
                raise
            raise PublishError(f"publishing to PostgreSQL at {mask_url(url)} failed, the published "
                               f"tables are unchanged: {_scrub(_pg_message(exc), url)}") from None
    finally:
        con.close()
    return {
        "tables": {t: df.height for t, df in tables.items()},
        "views_recreated": [f"{v.schema}.{v.name}" for v in views],
        "bi_role": bi_role,
        "bi_granted": granted,
        "bi_missing": missing,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _is_pg_error(exc: BaseException) -> bool:
    import psycopg  # lazy: the PostgreSQL driver loads only for that destination

    return isinstance(exc, psycopg.Error)


def _pg_message(exc) -> str:
    """The server's message without quoted data values (they may be customer data)."""
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None and diag.message_primary else str(exc)).strip()
    return re.sub(r'"[^"]*"$', '"…"', text.splitlines()[0])


def _load_new(con, table: str, df: pl.DataFrame, columns: list[tuple[str, str]],
              col_docs: Mapping[str, str], table_doc: str | None, url: str) -> None:
    """Create ``<schema>.__new_<table>``, COPY the frame in, set its comments."""
    import psycopg  # lazy: the PostgreSQL driver loads only for that destination
    from psycopg import sql  # lazy: the PostgreSQL driver loads only for that destination

    schema, name = split_table(table)
    new = sql.Identifier(schema, NEW_PREFIX + name)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
    with con.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(new))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(new, sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns)))
        if df.width and df.height:
            frame = df.select(_csv_expr(c, d) for c, d in df.schema.items())
            try:
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(new, cols)) as copy:
                    for start in range(0, frame.height, _COPY_BATCH_ROWS):
                        buf = io.BytesIO()
                        frame.slice(start, _COPY_BATCH_ROWS).write_csv(buf, include_header=False)
                        copy.write(buf.getvalue())
            except psycopg.Error as exc:
                raise PublishError(f"PostgreSQL rejected {table}{_copy_position(exc)}: "
                                   f"{_scrub(_pg_message(exc), url)}") from None
        if table_doc is not None:
            cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(new, sql.Literal(table_doc)))
        for col, text in col_docs.items():
            if col in df.columns:
                cur.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                    new, sql.Identifier(col), sql.Literal(text)))


def _copy_position(exc) -> str:
    """``, row N, field C`` from a COPY error's context (the value itself is left out)."""
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    m = re.search(r"line (\d+)(?:, column ([^:]+))?", context)
    if not m:
        return ""
    return f", row {m.group(1)}" + (f", field {m.group(2)}" if m.group(2) else "")


def _abort(con, tables: Iterable[str]) -> None:
    """Roll back and remove the ``__new_`` tables after a failed publish (best effort: on a
    broken connection the server rolls back alone and the next publish drops them)."""
    import psycopg  # lazy: the PostgreSQL driver loads only for that destination
    from psycopg import sql  # lazy: the PostgreSQL driver loads only for that destination

    try:
        con.rollback()
        with con.cursor() as cur:
            for table in tables:
                schema, name = split_table(table)
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(schema, NEW_PREFIX + name)))
        con.commit()
    except psycopg.Error:
        with contextlib.suppress(psycopg.Error):
            con.rollback()


_DEPENDENT_VIEWS = """
WITH RECURSIVE deps(oid, depth) AS (
    SELECT r.ev_class, 1
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid = ANY(%(oids)s) AND r.ev_class <> d.refobjid
    UNION ALL
    SELECT r.ev_class, deps.depth + 1
    FROM deps JOIN pg_depend d ON d.refobjid = deps.oid
    JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND r.ev_class <> deps.oid AND deps.depth < 50
)
SELECT n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid), pg_get_userbyid(c.relowner),
       c.reloptions, obj_description(c.oid, 'pg_class'),
       (SELECT coalesce(array_agg(array[a.attname, d.description] ORDER BY a.attnum), '{}')
          FROM pg_description d JOIN pg_attribute a ON a.attrelid = d.objoid AND a.attnum = d.objsubid
         WHERE d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid > 0),
       (SELECT coalesce(array_agg(array[CASE WHEN g.grantee = 0 THEN 'PUBLIC'
                                             ELSE pg_get_userbyid(g.grantee) END, g.privilege_type]), '{}')
          FROM aclexplode(c.relacl) g WHERE g.grantee <> c.relowner),
       max(deps.depth)
FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
GROUP BY c.oid, n.nspname, c.relname, c.relkind
ORDER BY max(deps.depth), c.oid
"""


def _dependent_views(cur, tables: list[str]) -> list[_View]:
    """Views and materialized views built (directly or not) on the published tables."""
    cur.execute("SELECT to_regclass(t)::oid FROM unnest(%s::text[]) AS t",
                [[".".join(f'"{p}"' for p in split_table(t)) for t in tables]])
    oids = [r[0] for r in cur.fetchall() if r[0] is not None]
    if not oids:
        return []
    cur.execute(_DEPENDENT_VIEWS, {"oids": oids})
    return [_View(schema=s, name=n, kind=k, definition=d, owner=o, options=opts, comment=cm,
                  column_comments=[tuple(x) for x in cc], grants=[tuple(x) for x in g], depth=dp)
            for s, n, k, d, o, opts, cm, cc, g, dp in cur.fetchall()]


def _recreate_view(cur, view: _View) -> None:
    from psycopg import sql  # lazy: the PostgreSQL driver loads only for that destination

    ident = sql.Identifier(view.schema, view.name)
    kind = sql.SQL("MATERIALIZED VIEW" if view.kind == "m" else "VIEW")
    with_opts = sql.SQL(" WITH ({})").format(sql.SQL(", ").join(sql.SQL(o) for o in view.options)) \
        if view.options else sql.SQL("")
    body = view.definition.strip().rstrip(";")
    cur.execute(sql.SQL("CREATE {} {}{} AS ").format(kind, ident, with_opts) + sql.SQL(body))
    cur.execute("SELECT current_user")
    if cur.fetchone()[0] != view.owner:
        cur.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(kind, ident, sql.Identifier(view.owner)))
    if view.comment is not None:
        cur.execute(sql.SQL("COMMENT ON {} {} IS {}").format(kind, ident, sql.Literal(view.comment)))
    for col, text in view.column_comments:
        cur.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
            ident, sql.Identifier(col), sql.Literal(text)))
    for grantee, privilege in view.grants:
        who = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee)
        cur.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), ident, who))


def _grant_bi(cur, role: str, views: list[str], *, login: bool | None,
              password: str | None) -> tuple[list[str], list[str]]:
    """Create/alter the BI role and leave it with SELECT on ``views`` only."""
    from psycopg import sql  # lazy: the PostgreSQL driver loads only for that destination

    r = sql.Identifier(role)
    cur.execute("SELECT rolsuper, rolcreaterole, rolname = current_user FROM pg_roles WHERE rolname = %s",
                [role])
    found = cur.fetchone()
    if found and any(found):
        raise PublishError(f"BI role {role!r} is a superuser, may create roles or is the publishing "
                           "user: choose a dedicated read-only role")
    if password is not None:
        login = True
    opts = [] if login is None else [sql.SQL("LOGIN" if login else "NOLOGIN")]
    if password is not None:
        opts.append(sql.SQL("PASSWORD {}").format(sql.Literal(password)))
    if not found:
        opts = opts or [sql.SQL("NOLOGIN")]
        cur.execute(sql.SQL("CREATE ROLE {} WITH {}").format(r, sql.SQL(" ").join(opts)))
    elif opts:
        cur.execute(sql.SQL("ALTER ROLE {} WITH {}").format(r, sql.SQL(" ").join(opts)))
    cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
        sql.Identifier(_current_database(cur)), r))
    cur.execute("SELECT nspname FROM pg_namespace WHERE nspname <> ALL(%s) AND nspname NOT LIKE 'pg\\_%%'",
                [list(_SYSTEM_SCHEMAS)])
    schemas = [row[0] for row in cur.fetchall()]
    for schema in schemas:
        s = sql.Identifier(schema)
        cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r))
        cur.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(s, r))
        cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(s, r))
    granted, missing = [], []
    for view in views:
        schema, name = split_table(view)
        cur.execute("SELECT to_regclass(%s)", [f'"{schema}"."{name}"'])
        if cur.fetchone()[0] is None:
            missing.append(view)
            continue
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), r))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(schema, name), r))
        granted.append(view)
    return granted, missing


def _current_database(cur) -> str:
    cur.execute("SELECT current_database()")
    return cur.fetchone()[0]
