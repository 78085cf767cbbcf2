"""A real, throwaway PostgreSQL server for the publish tests (Debian's postgresql package).

The server runs from a fresh data folder in the system temp folder, listens on 127.0.0.1 on a
free port (socket in the same folder) with password (scram) authentication, and is stopped and
deleted at the end of the session. As root, initdb refuses to run, so the server runs as the
``postgres`` system user. Tests are skipped only when no server binaries are installed.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "postgres"


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    psql: str | None

    def url(self, database: str = "postgres", *, user: str | None = None,
            password: str | None = None) -> str:
        return (f"postgresql://{user or self.user}:{password or self.password}"
                f"@{self.host}:{self.port}/{database}")


def _find(name: str) -> str | None:
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(folder) / name, os.X_OK):
            return str(Path(folder) / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
                    "postgresql package to run the PostgreSQL publish tests")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' system user to run initdb as")
        prefix = [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="crm-golden-pg-"))
    data, sock, log, pwfile = base / "data", base / "sock", base / "server.log", base / "pw"
    password = secrets.token_hex(12)
    sock.mkdir()
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if owner is not None:
        for p in (base, sock, pwfile):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    port = _free_port()

    def run(*cmd: str, timeout: int = 60) -> None:
        proc = subprocess.run([*prefix, *cmd], check=False, capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}):\n{proc.stdout}\n"
                               f"{proc.stderr}\n{tail}")

    run(initdb, "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}", "-E", "UTF8",
        "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
    opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB")
    run(pg_ctl, "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start", timeout=90)
    try:
        yield PgServer("127.0.0.1", port, SUPERUSER, password, _find("psql"))
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       check=False, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the session server; dropped after the test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.url(), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    yield pg_server.url(name)
    with psycopg.connect(pg_server.url(), autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sample_tables():
    """Published-looking frames: golden tables with awkward text (CJK, quotes, commas, line
    breaks, empty vs. null), plus private raw/staging/quality tables the BI role must not read."""
    return make_tables(version=1)


@pytest.fixture
def sample_tables_v2():
    """The same tables one run later: golden.customers lost a row and its cities changed."""
    return make_tables(version=2)


def make_tables(*, version: int) -> dict:
    import datetime as dt

    import polars as pl

    from pipelines.customer360 import Customer360Config, customer_360

    utc = dt.UTC
    golden = pl.DataFrame({
        "golden_id": ["GC-0001", "GC-0002", "GC-0003"],
        "given_name": ["伟", "Anna", None],
        "surname": ["张", "O'Brien", "Müller"],
        "full_name": ["张伟", 'Anna "Annie" O\'Brien', ""],
        "email": ["zw@qq.com", None, "m@example.de"],
        "phone": ["+8613800138000", "+442071234567", None],
        "street": ["南山区科技路88号", "1 Main St,\nFlat 2", "Hauptstr. 5"],
        "postal_code": ["518000", "SW1A 1AA", "10115"],
        "city": ["深圳", "London", "Berlin"],
        "country": ["CN", "GB", "DE"],
        "company_name": [None, "Acme, Ltd.", "Müller GmbH"],
        "vat_id": [None, None, "DE123456789"],
        "source_count": [2, 1, version],
        "sources": ["erp,shop", "shop", "erp"],
        "first_seen": [dt.datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=utc), None,
                       dt.datetime(2019, 5, 6, tzinfo=utc)],
        "last_updated": [dt.datetime(2024, 1, 1, tzinfo=utc), dt.datetime(2024, 2, 2, tzinfo=utc),
                         dt.datetime(2024, 3, 3, tzinfo=utc)],
    }).with_columns(pl.col("source_count").cast(pl.Int64))
    if version > 1:
        golden = golden.with_columns(pl.col("city").str.to_uppercase()).head(2)
    crosswalk = pl.DataFrame({
        "source": ["erp", "shop", "shop", "erp"],
        "source_record_id": ["C100001", "6500000000001", "6500000000002", "C100003"],
        "record_id": ["erp:C100001", "shop:6500000000001", "shop:6500000000002", "erp:C100003"],
        "golden_id": ["GC-0001", "GC-0001", "GC-0002", "GC-0003"],
    })
    orders = pl.DataFrame({"id": [1, 2], "customer__id": [6500000000001, 6500000000002],
                           "created_at": ["2024-05-01T10:00:00+08:00", "2024-06-01T09:00:00Z"],
                           "total_price": ["99.90", "10.00"], "currency": ["CNY", "GBP"]})
    invoices = pl.DataFrame({"invoice_no": ["INV-1"], "customer_no": ["C100003"],
                             "invoice_date": ["2024-04-04"], "amount": ["120.00"], "currency": ["EUR"]})
    c360 = customer_360(golden, crosswalk, orders, invoices, config=Customer360Config())
    return {
        "golden.customers": golden,
        "golden.crosswalk": crosswalk,
        "golden.customer_360": c360,
        "golden.review_queue": pl.DataFrame({
            "id_l": ["erp:C100001"], "id_r": ["shop:6500000000002"], "match_probability": [0.55],
            "golden_id_l": ["GC-0001"], "golden_id_r": ["GC-0002"], "merged": [False]}),
        "raw_erp.customers": pl.DataFrame({"customer_no": ["C100001"], "contact_name": ["ZHANG, Wei"]}),
        "staging.customers": pl.DataFrame({"record_id": ["erp:C100001"], "email": ["zw@qq.com"]}),
        "quality.quarantine": pl.DataFrame({"record_id": ["erp:C1"], "reason": ["empty_name"],
                                            "tags": [["a", "b"]]}),
    }
