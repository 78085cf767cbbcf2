"""``crm-golden dedupe``: any CSV/Parquet table in, a two-column clusters Parquet out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from dedupe.cli import main

REPO = Path(__file__).resolve().parents[2]
FEBRL = REPO / "benchmarks" / "settings" / "febrl.yaml"

PEOPLE = [
    ("rec-1-org", "mitchell", "green", "7", "wallaby place", "delmar", "cleveland", "2119", "sa", "19560409", "1804974"),
    ("rec-1-dup-0", "mitchell", "gren", "7", "wallaby plac", "delmar", "cleveland", "2119", "sa", "19560409", "1804974"),
    ("rec-2-org", "harley", "mccarthy", "177", "pridham street", "milton", "marsden", "3165", "nsw", "19080419",
     "6089216"),
    ("rec-2-dup-0", "harley", "mccarthy", "177", "pridhamstreet", "milton", "marsden", "3165", "nsw", "19080419",
     "6089216"),
    ("rec-3-org", "madeline", "mason", "54", "hoseason street", None, "granville", "4881", "nsw", "19081128",
     "2185997"),
] + [(f"rec-{i}-org", g, s, str(i), f"{i} {st} street", None, sub, str(2000 + i), "vic", f"19{50 + i % 40}0{1 + i % 9}1{i % 10}",
      str(1000000 + 7919 * i)) for i, (g, s, st, sub) in enumerate(
          [("amy", "lee", "oak", "kew"), ("ben", "ng", "elm", "ryde"), ("cara", "zhu", "ash", "bondi"),
           ("dan", "ott", "fig", "manly"), ("eve", "roe", "yew", "perth"), ("finn", "ray", "bay", "hobart")] * 5, start=10)]
COLS = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
        "date_of_birth", "soc_sec_id"]


@pytest.fixture()
def people_csv(tmp_path) -> Path:
    df = pl.DataFrame(PEOPLE, schema=dict.fromkeys(COLS, pl.Utf8), orient="row").unique("rec_id", keep="first",
                                                                                       maintain_order=True)
    path = tmp_path / "people.csv"
    df.write_csv(path)
    return path


def test_dedupe_csv_writes_two_columns_and_pairs(people_csv, tmp_path, capsys):
    out, pairs = tmp_path / "out" / "clusters.parquet", tmp_path / "pairs.parquet"
    assert main(["dedupe", str(people_csv), "--settings", str(FEBRL), "--out", str(out), "--pairs", str(pairs),
                 "--save-model", str(tmp_path / "model.json")]) == 0
    clusters = pl.read_parquet(out)
    assert clusters.columns == ["rec_id", "cluster_id"]
    assert clusters.height == pl.read_csv(people_csv).height
    got = dict(clusters.iter_rows())
    assert got["rec-1-org"] == got["rec-1-dup-0"] and got["rec-2-org"] == got["rec-2-dup-0"]
    assert got["rec-1-org"] != got["rec-2-org"]
    scored = pl.read_parquet(pairs)
    assert {"id_l", "id_r", "match_probability", "gamma_name", "bf_name", "level_name"} <= set(scored.columns)
    assert "clusters" in capsys.readouterr().err
    # the saved model is reused
    out2 = tmp_path / "again.parquet"
    assert main(["dedupe", str(people_csv), "--settings", str(FEBRL), "--out", str(out2),
                 "--model", str(tmp_path / "model.json")]) == 0
    assert pl.read_parquet(out2).equals(clusters)


def test_link_with_a_second_table(people_csv, tmp_path):
    df = pl.read_csv(people_csv, infer_schema=False)
    a = df.filter(~pl.col("rec_id").str.contains("dup"))
    b = df.filter(pl.col("rec_id").str.contains("dup"))
    pa_, pb = tmp_path / "a.parquet", tmp_path / "b.csv"
    a.write_parquet(pa_)
    b.write_csv(pb)
    out = tmp_path / "links.parquet"
    assert main(["dedupe", str(pa_), "--link-with", str(pb), "--settings", str(FEBRL), "--out", str(out)]) == 0
    got = dict(pl.read_parquet(out).iter_rows())
    assert len(got) == df.height
    assert got["rec-1-dup-0"] == got["rec-1-org"]


def test_default_settings_need_the_canonical_columns(people_csv, tmp_path, capsys):
    assert main(["dedupe", str(people_csv), "--out", str(tmp_path / "x.parquet")]) == 1
    err = capsys.readouterr().err
    assert "unique id column 'record_id' is missing" in err


def test_errors_name_the_file_and_column(tmp_path, capsys):
    assert main(["dedupe", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.parquet")]) == 1
    assert "missing.csv: no such file" in capsys.readouterr().err
    odd = tmp_path / "data.json"
    odd.write_text("{}", encoding="utf-8")
    assert main(["dedupe", str(odd), "--out", str(tmp_path / "x.parquet")]) == 1
    assert "unsupported file type '.json'" in capsys.readouterr().err
    dup = tmp_path / "dup.csv"
    pl.DataFrame({"rec_id": ["a", "a"], "given_name": ["x", "y"]}).write_csv(dup)
    assert main(["dedupe", str(dup), "--settings", str(FEBRL), "--out", str(tmp_path / "x.parquet")]) == 1
    assert "duplicate values in rows [1, 2]" in capsys.readouterr().err
    few = tmp_path / "few.csv"
    pl.DataFrame({"rec_id": ["a", "b"], "given_name": ["x", "y"]}).write_csv(few)
    assert main(["dedupe", str(few), "--settings", str(FEBRL), "--out", str(tmp_path / "x.parquet")]) == 1
    assert "settings need column" in capsys.readouterr().err


def test_module_entry_point_runs(people_csv, tmp_path):
    out = tmp_path / "c.parquet"
    proc = subprocess.run([sys.executable, "-m", "dedupe.cli", "dedupe", str(people_csv), "--settings", str(FEBRL),
                           "--out", str(out)], check=False, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert pl.read_parquet(out).columns == ["rec_id", "cluster_id"]
