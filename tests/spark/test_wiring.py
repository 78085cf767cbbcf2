"""The Spark engine as users reach it: ``crm-golden dedupe --engine spark``, ``engine: spark`` in
the settings YAML, and the Dagster matching assets; each gives the polars engine's partition."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import polars as pl
import pytest
import yaml

from dedupe import SettingsError, default_settings, settings_from_dict
from dedupe.cli import main as dedupe_main
from dedupe.matching.settings import dump_settings

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

def partition(clusters: pl.DataFrame, uid: str = "record_id", by: str = "cluster_id") -> set[frozenset]:
    return {frozenset(g) for g in clusters.group_by(by).agg(pl.col(uid))[uid].to_list()}


def run_cli(args, capsys) -> tuple[int, str]:
    rc = dedupe_main(["dedupe", *map(str, args)])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def records_file(records_small_clean, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "records.parquet"
    records_small_clean.write_parquet(path)
    return path


def test_engine_key_in_settings():
    assert default_settings().engine == "polars"
    data = default_settings().to_dict()
    assert settings_from_dict({**data, "engine": "spark"}).engine == "spark"
    with pytest.raises(SettingsError, match="engine 'dask'"):
        settings_from_dict({**data, "engine": "dask"})


def test_options_that_need_or_exclude_spark_are_refused(records_file, tmp_path, capsys):
    rc, err = run_cli([records_file, "--out", tmp_path / "c.parquet", "--spark-master", "local[1]"], capsys)
    assert rc == 1 and "--spark-master needs the Spark engine" in err
    rc, err = run_cli([records_file, "--out", tmp_path / "c.parquet", "--engine", "spark", "--large"], capsys)
    assert rc == 1 and "cannot run with the Spark engine" in err
    assert not (tmp_path / "c.parquet").exists()


def test_master_comes_from_the_flag_then_the_environment(monkeypatch):
    from dedupe.spark import MASTER_ENV, resolve_master

    monkeypatch.delenv(MASTER_ENV, raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert resolve_master() == "local[2]"
    monkeypatch.setenv(MASTER_ENV, "sc://spark.example:15002")
    assert resolve_master() == "sc://spark.example:15002"
    assert resolve_master("local[1]") == "local[1]"
    monkeypatch.delenv(MASTER_ENV)
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")   # under spark-submit: its --master applies
    assert resolve_master() is None


@pytest.mark.skipif(importlib.util.find_spec("grpc_status") is not None,
                    reason="pyspark's connect extra is installed here")
def test_spark_connect_url_without_the_connect_extra_is_explained(records_file, tmp_path, capsys):
    rc, err = run_cli([records_file, "--out", tmp_path / "c.parquet", "--engine", "spark",
                       "--spark-master", "sc://spark.example:15002"], capsys)
    assert rc == 1 and "Spark Connect needs pyspark's 'connect' extra" in err
    assert not (tmp_path / "c.parquet").exists()


def test_cli_engine_spark_gives_the_polars_partition(spark, records_file, tmp_path, capsys):
    """The Spark run scores with the model the polars run saved (training in Spark is covered
    by the equivalence tests and the Dagster test), which keeps it short."""
    outs, model = {}, tmp_path / "model.json"
    for engine, model_flag in (("polars", ["--save-model", model]), ("spark", ["--model", model])):
        out, pairs = tmp_path / f"{engine}.parquet", tmp_path / f"{engine}_pairs.parquet"
        rc, err = run_cli([records_file, "--out", out, "--pairs", pairs, "--engine", engine, *model_flag], capsys)
        assert rc == 0, err
        assert f"; {engine} engine;" in err
        outs[engine] = (pl.read_parquet(out), pl.read_parquet(pairs))
    (cp, pp), (cs, ps) = outs["polars"], outs["spark"]
    assert cs.columns == ["record_id", "cluster_id"]
    assert cs.height == pl.read_parquet(records_file).height > cs["cluster_id"].n_unique()
    assert cs.sort("record_id").equals(cp.sort("record_id"))
    assert ps.columns == pp.columns and ps.height == pp.height
    j = pp.join(ps, on=["id_l", "id_r"], suffix="_s")
    assert j.height == pp.height and (j["match_weight"] - j["match_weight_s"]).abs().max() < 1e-9


def test_settings_engine_spark_is_honoured_and_the_flag_wins(spark, records_file, tmp_path, capsys):
    """``engine: spark`` in the YAML runs Spark (here linking two tables with ``--pairs``);
    ``--engine polars`` on the same file runs polars, with the same links."""
    path = tmp_path / "settings.yaml"
    dump_settings(default_settings().replace(engine="spark"), path)
    assert yaml.safe_load(path.read_text())["engine"] == "spark"
    records = pl.read_parquet(records_file)
    left, right = tmp_path / "left.parquet", tmp_path / "right.parquet"
    records.filter(pl.col("source") == "erp").write_parquet(left)
    records.filter(pl.col("source") != "erp").write_parquet(right)
    outs, model = {}, tmp_path / "model.json"
    for engine, flags in (("polars", ["--engine", "polars", "--save-model", model]), ("spark", ["--model", model])):
        out, pairs = tmp_path / f"{engine}.parquet", tmp_path / f"{engine}_pairs.parquet"
        rc, err = run_cli([left, "--settings", path, "--link-with", right, "--out", out, "--pairs", pairs, *flags],
                          capsys)
        assert rc == 0, err
        assert f"; {engine} engine;" in err
        outs[engine] = (pl.read_parquet(out), pl.read_parquet(pairs))
    (cs, ps), (cp, pp) = outs["spark"], outs["polars"]
    assert cs.columns == ["record_id", "cluster_id"] and cs.height == records.height
    assert cs.sort("record_id").equals(cp.sort("record_id"))
    linked = cs.group_by("cluster_id").len().filter(pl.col("len") > 1).height
    assert linked > 0
    # link_only: every pair joins an ERP record to a record of another source
    erp = set(records.filter(pl.col("source") == "erp")["record_id"])
    assert all((a in erp) != (b in erp) for a, b in ps.select("id_l", "id_r").iter_rows())
    assert ps.select("id_l", "id_r").sort("id_l", "id_r").equals(pp.select("id_l", "id_r").sort("id_l", "id_r"))


def _materialize_matching(warehouse, engine: str):
    """Matching and golden assets of the project's definitions (``build_definitions``) on a
    warehouse whose staging table is already written."""
    import dagster as dg

    from pipelines.assets import golden, matching
    from pipelines.build import build_definitions

    defs = build_definitions(warehouse=str(warehouse), engine=engine)
    resources = {k: defs.resources[k] for k in ("warehouse", "matching", "publishing", "sources")}
    assert resources["matching"].engine == engine
    with dg.instance_for_test() as instance:
        result = dg.materialize([matching.candidate_pairs, matching.scored_pairs, matching.clusters,
                                 golden.golden_tables], resources=resources, instance=instance)
        assert result.success
        mats = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    return {m.asset_key.to_user_string(): m.metadata for m in mats}


def test_dagster_matching_on_spark_gives_the_polars_crosswalk(spark, records_small_clean, tmp_path):
    from pipelines.warehouse import Warehouse

    at = datetime(2026, 1, 1, tzinfo=UTC)
    staged = records_small_clean.with_columns(created_at=pl.lit(at), updated_at=pl.lit(at))
    crosswalks = {}
    for engine in ("polars", "spark"):
        wh = Warehouse(tmp_path / f"{engine}.duckdb")
        wh.write("staging.customers", staged)
        meta = _materialize_matching(wh.path, engine)
        assert meta["matching/scored_pairs"]["engine"].value == engine
        assert meta["matching/clusters"]["engine"].value == engine
        crosswalks[engine] = wh.read("golden_build.crosswalk")
    a, b = crosswalks["polars"], crosswalks["spark"]
    assert a.height == b.height == staged.height > a["golden_id"].n_unique()
    assert partition(a, by="golden_id") == partition(b, by="golden_id")
    # the resource used the session that was already running and left it running
    assert not spark.sparkContext._jsc.sc().isStopped()


def test_settings_engine_selects_spark_in_dagster_unless_the_resource_says_otherwise(tmp_path):
    from pipelines.assets.matching import MatchingResource

    path = tmp_path / "s.yaml"
    dump_settings(default_settings().replace(engine="spark"), path)
    assert MatchingResource(settings_path=str(path)).settings().engine == "spark"
    assert MatchingResource(settings_path=str(path), engine="polars").settings().engine == "polars"
    assert MatchingResource().settings().engine == "polars"
