"""Publishing to a real PostgreSQL server, read back as a BI tool would (SQLAlchemy, psql)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from pipelines.publish import (
    PublishError,
    mask_url,
    postgres_url_from_config,
    publish,
    publish_postgres,
)
from pipelines.schema_docs import COLUMN_DOCS, TABLE_DOCS

BI_PASSWORD = "bi-secret-pw"
REPO = Path(__file__).resolve().parents[2]


def _bi_url(pg_server, url: str) -> str:
    return pg_server.url(url.rsplit("/", 1)[1], user="bi_reader", password=BI_PASSWORD)


def _read(url: str, query: str) -> pl.DataFrame:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as con:
            df = pl.read_database(query, con)
    finally:
        engine.dispose()
    # the session time zone may be spelled Etc/UTC: compare instants in UTC
    return df.with_columns(pl.col(c).dt.convert_time_zone("UTC") for c, t in df.schema.items()
                           if isinstance(t, pl.Datetime) and t.time_zone)


def _psql(pg_server, url: str, query: str) -> subprocess.CompletedProcess:
    if not pg_server.psql:
        pytest.skip("psql client not installed")
    db = url.rsplit("/", 1)[1]
    env = {**os.environ, "PGPASSWORD": BI_PASSWORD}
    return subprocess.run(
        [pg_server.psql, "-h", pg_server.host, "-p", str(pg_server.port), "-U", "bi_reader", "-d", db,
         "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", query],
        check=False, capture_output=True, text=True, env=env, timeout=30)


def _publish(tables, url, **kw):
    return publish_postgres(tables, url, bi_password=BI_PASSWORD, **kw)


def _snapshot(url: str) -> dict[str, pl.DataFrame]:
    return {t: _read(url, f"select * from {t} order by 1") for t in ("golden.customers", "golden.crosswalk")}


def _new_tables(url: str) -> list[str]:
    with psycopg.connect(url) as con:
        return [r[0] for r in con.execute(
            "select schemaname || '.' || tablename from pg_tables where tablename like '\\_\\_new\\_%'")]


def test_round_trip_types_and_text(pg_server, pg_url, sample_tables):
    summary = _publish(sample_tables, pg_url)
    assert summary["tables"]["golden.customers"] == 3
    assert summary["bi_granted"] == ["golden.customers", "golden.customer_360", "golden.crosswalk"]
    got = _read(pg_url, "select * from golden.customers order by golden_id")
    assert_frame_equal(got, sample_tables["golden.customers"], check_dtypes=False)
    assert got.schema["first_seen"] == pl.Datetime("us", "UTC")
    c360 = _read(pg_url, "select * from golden.customer_360 order by golden_id")
    assert_frame_equal(c360, sample_tables["golden.customer_360"], check_dtypes=False)
    tags = _read(pg_url, "select tags::text as tags from quality.quarantine")["tags"].to_list()
    assert tags == ['["a", "b"]']
    # empty string stays empty, null stays null
    row = _read(pg_url, "select full_name, given_name from golden.customers where golden_id = 'GC-0003'")
    assert row.row(0) == ("", None)


def test_comments_are_set(pg_url, sample_tables):
    _publish(sample_tables, pg_url)
    cols = _read(pg_url, """
        select c.relname as table_name, a.attname as column_name, col_description(c.oid, a.attnum) as doc
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0
        where n.nspname = 'golden' and c.relname in ('customers', 'customer_360')""")
    for table, column, doc in cols.iter_rows():
        assert doc == COLUMN_DOCS[f"golden.{table}"][column], (table, column)
    assert cols.height == sample_tables["golden.customers"].width + sample_tables["golden.customer_360"].width
    tdoc = _read(pg_url, "select obj_description('golden.customer_360'::regclass, 'pg_class') as d")["d"][0]
    assert tdoc == TABLE_DOCS["golden.customer_360"]


def test_bi_reader_sees_only_published_golden_tables(pg_server, pg_url, sample_tables):
    _publish(sample_tables, pg_url)
    bi = _bi_url(pg_server, pg_url)
    # SQLAlchemy, as a BI tool connects
    n = _read(bi, "select count(*) as n from golden.customers")["n"][0]
    assert n == 3
    segs = _read(bi, "select golden_id, rfm_segment, lifecycle_status from golden.customer_360 order by 1")
    assert segs.height == 3
    # psql
    ok = _psql(pg_server, pg_url, "select count(*) from golden.customer_360")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "3"
    ok = _psql(pg_server, pg_url, "select golden_id from golden.customers order by 1")
    assert ok.stdout.split() == ["GC-0001", "GC-0002", "GC-0003"]
    for table in ("raw_erp.customers", "staging.customers", "quality.quarantine", "golden.review_queue"):
        res = _psql(pg_server, pg_url, f"select count(*) from {table}")
        assert res.returncode != 0, table
        assert "permission denied" in res.stderr, (table, res.stderr)
    res = _psql(pg_server, pg_url, "insert into golden.crosswalk (source) values ('x')")
    assert "permission denied" in res.stderr
    res = _psql(pg_server, pg_url, "create table golden.mine (a int)")
    assert "permission denied" in res.stderr


@pytest.mark.parametrize("stage", ["written:golden.crosswalk", "before_swap", "before_commit"])
def test_failed_publish_keeps_previous_tables(pg_server, pg_url, sample_tables, sample_tables_v2, stage):
    _publish(sample_tables, pg_url)
    before = _snapshot(pg_url)

    def crash(s):
        if s == stage:
            raise RuntimeError(f"simulated crash at {s}")

    with pytest.raises(RuntimeError, match="simulated crash"):
        _publish(sample_tables_v2, pg_url, hook=crash)
    after = _snapshot(pg_url)
    for table, df in before.items():
        assert_frame_equal(after[table], df)
    assert after["golden.customers"].height == 3
    assert _new_tables(pg_url) == []
    # the BI role still reads the old tables
    res = _psql(pg_server, pg_url, "select count(*) from golden.customers")
    assert res.stdout.strip() == "3", res.stderr


def test_republish_replaces_and_keeps_dependent_views(pg_server, pg_url, sample_tables, sample_tables_v2):
    _publish(sample_tables, pg_url)
    with psycopg.connect(pg_url) as con:
        con.execute("create view golden.customers_masked as select golden_id, "
                    "left(email, 1) || '***' as email, city from golden.customers")
        con.execute("create view golden.cities as select city, count(*) as n from golden.customers_masked group by city")
        con.execute("comment on view golden.customers_masked is 'masked customers'")
        con.execute("comment on column golden.customers_masked.email is 'first letter only'")
    summary = _publish(sample_tables_v2, pg_url, bi_views=[
        "golden.customers", "golden.customer_360", "golden.crosswalk", "golden.customers_masked"])
    assert summary["views_recreated"] == ["golden.customers_masked", "golden.cities"]
    assert summary["bi_granted"][-1] == "golden.customers_masked"
    got = _read(pg_url, "select golden_id, city from golden.customers order by 1")
    assert got.to_dict(as_series=False) == {"golden_id": ["GC-0001", "GC-0002"], "city": ["深圳", "LONDON"]}
    masked = _read(pg_url, "select * from golden.customers_masked order by 1")
    assert masked["email"].to_list() == ["z***", None]
    assert _read(pg_url, "select sum(n) as n from golden.cities")["n"][0] == 2
    docs = _read(pg_url, "select obj_description('golden.customers_masked'::regclass, 'pg_class') as t, "
                         "col_description('golden.customers_masked'::regclass, 2) as c")
    assert docs.row(0) == ("masked customers", "first letter only")
    res = _psql(pg_server, pg_url, "select count(*) from golden.customers_masked")
    assert res.stdout.strip() == "2", res.stderr
    res = _psql(pg_server, pg_url, "select count(*) from golden.cities")
    assert "permission denied" in res.stderr


def test_reader_holding_a_lock_makes_publish_time_out_cleanly(pg_url, sample_tables, sample_tables_v2):
    _publish(sample_tables, pg_url)
    with psycopg.connect(pg_url) as reader:
        reader.execute("begin")
        reader.execute("select count(*) from golden.customers").fetchone()
        with pytest.raises(PublishError, match="unchanged.*lock timeout"):
            _publish(sample_tables_v2, pg_url, lock_timeout_s=0.5)
        assert reader.execute("select count(*) from golden.customers").fetchone()[0] == 3
        reader.rollback()
    assert _snapshot(pg_url)["golden.customers"].height == 3
    assert _new_tables(pg_url) == []


def test_credentials_the_dlt_way(monkeypatch, pg_url, sample_tables):
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    with pytest.raises(PublishError, match="DESTINATION__POSTGRES__CREDENTIALS"):
        postgres_url_from_config()
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_url)
    assert postgres_url_from_config() == pg_url
    summary = publish({"golden.crosswalk": sample_tables["golden.crosswalk"]}, destination="postgres")
    assert summary["tables"] == {"golden.crosswalk": 4}
    assert summary["bi_missing"] == ["golden.customers", "golden.customer_360"]


def test_errors_never_show_the_password(pg_server, sample_tables):
    url = f"postgresql://postgres:Sup3r-Secret@127.0.0.1:{pg_server.port}/postgres"
    assert mask_url(url) == f"postgresql://postgres:***@127.0.0.1:{pg_server.port}/postgres"
    with pytest.raises(PublishError) as err:
        publish_postgres({"golden.crosswalk": sample_tables["golden.crosswalk"]}, url)
    assert "Sup3r-Secret" not in str(err.value)
    assert "password authentication failed" in str(err.value)
    with pytest.raises(PublishError, match="not a PostgreSQL URL"):
        publish_postgres({"golden.crosswalk": sample_tables["golden.crosswalk"]}, "mysql://u:pw@h/db")


def test_bad_names_and_values_are_named(pg_url):
    with pytest.raises(PublishError, match="schema.table"):
        publish_postgres({"customers": pl.DataFrame({"a": [1]})}, pg_url)
    bad = pl.DataFrame({"golden_id": ["GC-1", "GC-2"], "note": ["ok", "bad\x00byte"]})
    with pytest.raises(PublishError) as err:
        publish_postgres({"golden.notes": bad}, pg_url)
    msg = str(err.value)
    assert "golden.notes" in msg and "row 2" in msg and "bad" not in msg.replace("golden.notes", "")
    assert _new_tables(pg_url) == []


def test_bi_role_attributes(pg_server, pg_url, sample_tables, sample_tables_v2):
    def can_login(role):
        with psycopg.connect(pg_url) as con:
            return con.execute("select rolcanlogin from pg_roles where rolname = %s", [role]).fetchone()[0]

    crosswalk = {"golden.crosswalk": sample_tables["golden.crosswalk"]}
    publish_postgres(crosswalk, pg_url, bi_role="bi_nologin")
    assert can_login("bi_nologin") is False
    _publish(sample_tables, pg_url)
    publish_postgres(sample_tables_v2, pg_url)  # no password, no bi_login: the role keeps LOGIN
    assert can_login("bi_reader") is True
    res = _psql(pg_server, pg_url, "select count(*) from golden.customers")
    assert res.stdout.strip() == "2", res.stderr
    with pytest.raises(PublishError, match="superuser"):
        publish_postgres(sample_tables, pg_url, bi_role="postgres")
    assert _snapshot(pg_url)["golden.customers"].height == 2
    with pytest.raises(PublishError, match="private schema"):
        publish_postgres(crosswalk, pg_url, bi_views=["staging.customers"])


def test_mask_url_variants():
    assert mask_url("postgresql+psycopg://u:p%40ss@h/db") == "postgresql+psycopg://u:***@h/db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("host=h user=u password=s3cret dbname=d") == "host=h user=u password=*** dbname=d"
    assert mask_url("postgresql://u@h/db?password=s3cret&sslmode=require") == \
        "postgresql://u@h/db?password=***&sslmode=require"


def test_credentials_from_secrets_toml(tmp_path):
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        '[destination.postgres.credentials]\ndatabase = "crm"\nusername = "loader"\n'
        'password = "s3cret"\nhost = "db.internal"\nport = 5433\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESTINATION__")}
    env["PYTHONPATH"] = str(REPO)
    code = "from pipelines.publish import postgres_url_from_config as f; print(f())"
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=False,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "postgresql://loader:s3cret@db.internal:5433/crm"


_KILLED_PUBLISHER = """
import sys, time
import polars as pl
from pipelines.publish import publish_postgres

def hook(stage):
    if stage == sys.argv[2]:
        print("READY", flush=True)
        time.sleep(60)

frame = pl.DataFrame({"golden_id": ["GC-9"], "city": ["Nowhere"]})
publish_postgres({"golden.customers": frame, "golden.crosswalk": frame}, sys.argv[1], hook=hook)
"""


def test_killed_publisher_leaves_previous_tables(pg_server, pg_url, sample_tables, sample_tables_v2):
    """SIGKILL inside the swap transaction (tables already renamed, not committed)."""
    _publish(sample_tables, pg_url)
    before = _snapshot(pg_url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_PUBLISHER, pg_url, "before_commit"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "READY", proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    after = _snapshot(pg_url)
    for table, df in before.items():
        assert_frame_equal(after[table], df)
    res = _psql(pg_server, pg_url, "select count(*) from golden.customers")
    assert res.stdout.strip() == "3", res.stderr
    _publish(sample_tables_v2, pg_url)  # the next publish clears what the killed one left
    assert _snapshot(pg_url)["golden.customers"].height == 2
    assert _new_tables(pg_url) == []
