"""Matching: candidate pairs from blocking, scored pairs from the Fellegi-Sunter model, clusters."""


import json
import time

import dagster as dg
import polars as pl
import yaml
from pydantic import Field, PrivateAttr

from dedupe import FSModel, default_settings, load_settings, prepare
from dedupe.canonical import CANONICAL_SCHEMA
from dedupe.golden.survivorship import SurvivorshipRules
from dedupe.matching.constraints import apply_constraints
from dedupe.matching.model import ModelMismatch
from dedupe.spark import block_records, cluster_pairs, engine_session, score_pairs
from pipelines.assets.matching_large import (
    PAIRS,
    STATE,
    UNCONSTRAINED,
    constrained_pairs,
    large_threshold,
    load_state,
    match_incremental,
    match_large,
    staged_digests,
)
from pipelines.progress import timed_stage
from pipelines.resources import WarehouseResource
from pipelines.review import constraints, import_pending_decisions


class MatchingResource(dg.ConfigurableResource):
    """Matching settings (the built-in customer settings, or a YAML file) and the engine that
    runs them: polars in this process, or Spark (a session opened on first use and stopped
    when the run ends)."""

    settings_path: str = Field(default="", description="YAML settings file; empty: the default "
                               "settings for the canonical customer schema.")
    full_rebuild: bool = Field(default=False, description="Stage every raw row and compare every candidate "
                               "pair again instead of only the rows and pairs touching new, changed or "
                               "deleted records.")
    retrain: bool = Field(default=False, description="Train the model again instead of reusing the "
                          "parameters stored in matching.model.")
    engine: str = Field(default="", description="'polars' or 'spark'; empty: the settings' engine key "
                        "(default polars).")
    spark_master: str = Field(default="", description="Spark master (local[4], spark://host:7077, k8s://...) "
                              "or Spark Connect URL (sc://host:15002) for the spark engine; empty: "
                              "$CRM_GOLDEN_SPARK_MASTER, else local[2].")

    _spark_scope = PrivateAttr(default=None)
    _spark = PrivateAttr(default=None)

    def settings(self):
        settings = load_settings(self.settings_path) if self.settings_path else default_settings()
        return settings.replace(engine=self.engine) if self.engine else settings

    def spark(self):
        """The Spark session, started on first use (a session already running is reused)."""
        if self._spark is None:
            scope = engine_session(self.spark_master or None)
            self._spark = scope.__enter__()
            self._spark_scope = scope
        return self._spark

    def teardown_after_execution(self, context) -> None:
        """Stop the Spark session this resource started, if any."""
        if self._spark_scope is not None:
            scope, self._spark_scope, self._spark = self._spark_scope, None, None
            scope.__exit__(None, None, None)

    def survivorship(self):
        """Survivorship rules: the ``survivorship:`` section of the settings YAML, or defaults."""
        if not self.settings_path:
            return SurvivorshipRules()
        with open(self.settings_path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        return SurvivorshipRules.from_dict(data.get("survivorship") or {})


def _features(wh, settings) -> pl.DataFrame:
    """Matching features of the staged records, computed once by candidate_pairs."""
    feats = wh.read_if_exists("matching.record_features")
    if feats is None:
        feats = prepare(wh.read("staging.customers"), settings)
    return feats.sort(settings.unique_id)


def _stored_model(wh, settings):
    """The model parameters of the previous run, if any still fit the settings."""
    stored = wh.read_if_exists("matching.model")
    if stored is None or stored.height == 0 or stored["params_json"][0] in (None, "{}"):
        return None
    model = FSModel.from_dict(json.loads(stored["params_json"][0]))
    try:
        model.check(settings)
    except ModelMismatch:  # settings changed since: the model must be trained again
        return None
    return model


def _digests(staged: pl.DataFrame) -> pl.DataFrame:
    """A fingerprint of every staged record's canonical values, to spot changed records."""
    cols = [c for c in CANONICAL_SCHEMA if c in staged.columns]
    return staged.select("record_id", pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("\x00") for c in cols],
                                                     separator="\x1f").hash(seed=7).alias("digest"))


def changed_records(wh, staged: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """(current digests, ids of new or changed records, ids of deleted records); ``None`` for
    the deleted ids when there is no previous run to compare with."""
    now = _digests(staged)
    before = wh.read_if_exists("matching.record_digests")
    if before is None:
        return now, now.select("record_id"), None
    changed = now.join(before, on=["record_id", "digest"], how="anti").select("record_id")
    deleted = before.join(now, on="record_id", how="anti").select("record_id")
    return now, changed, deleted


def _match_polars(wh, settings, matching: MatchingResource, t0: float) -> dg.MaterializeResult:
    """Prepare, block, score and cluster with the polars engine: incrementally from the last run's
    state, else in memory, else (above ``CRM_GOLDEN_LARGE_RECORDS``) with the chunked engine."""
    model = None if matching.retrain else _stored_model(wh, settings)
    digests = staged_digests(wh)
    state = None if matching.full_rebuild or model is None else load_state(wh, settings)
    if state is None and digests.height > large_threshold():
        done, mode, engine = match_large(wh, settings, model, digests), "large", "polars, chunked"
    else:
        done = match_incremental(wh, settings, model, state, digests)
        mode, engine = ("incremental", "polars") if state is not None else ("full", "polars")
    extra = {k: done[k] for k in ("records_reoriented", "records_peer_changed", "pairs_compared", "pairs_reused",
                                  "records_restated", "candidate_pairs_rewritten") if k in done}
    return dg.MaterializeResult(metadata={
        "dagster/row_count": done["candidate_pairs"], "mode": mode, "engine": engine, "records": done["records"],
        "records_new_or_changed": done["records_new_or_changed"], "records_deleted": done["records_deleted"],
        **extra, "model_reused": model is not None,
        "pairs_by_rule": dg.MetadataValue.json(done["pairs_by_rule"]),
        "engine_seconds": dg.MetadataValue.json(done["engine_seconds"]),
        "seconds": round(time.perf_counter() - t0, 2)})


@dg.asset(
    key=["matching", "candidate_pairs"],
    deps=[dg.AssetKey(["staging", "customers"])],
    group_name="matching",
    kinds={"polars", "duckdb"},
    owners=["team:data-engineering"],
    description="Record pairs worth comparing, from several blocking rules unioned and de-duplicated "
    "(matching.candidate_pairs). With the polars engine this step also scores and clusters them; after a "
    "first run only the pairs touching new, changed or deleted records are compared again and the "
    "result equals a full run's (incremental); metadata shows the mode and the pairs per rule.",
)
@timed_stage
def candidate_pairs(warehouse: WarehouseResource, matching: MatchingResource) -> dg.MaterializeResult:
    wh, settings = warehouse.get(), matching.settings()
    t0 = time.perf_counter()
    if settings.engine != "spark":
        return _match_polars(wh, settings, matching, t0)
    with wh.connect() as con:
        con.execute(f"drop table if exists {STATE}")   # the polars state does not follow Spark's runs
    staged = wh.read("staging.customers").sort("record_id")  # ties in clustering follow row order
    digests, changed, deleted = changed_records(wh, staged)
    incremental = (deleted is not None and not matching.full_rebuild and not matching.retrain
                   and wh.exists("matching.scored_pairs") and _stored_model(wh, settings) is not None)
    feats, pairs, counts = block_records(staged, settings, spark=matching.spark())
    if incremental:
        ids = changed["record_id"]
        pairs = pairs.filter(pl.col("id_l").is_in(ids) | pl.col("id_r").is_in(ids))
    wh.write_many({"matching.record_features": feats, "matching.candidate_pairs": pairs,
                   "matching.changed_records": changed.with_columns(pl.lit("changed").alias("change"))
                   if deleted is None else pl.concat([changed.with_columns(pl.lit("changed").alias("change")),
                                                     deleted.with_columns(pl.lit("deleted").alias("change"))]),
                   "matching.record_digests_next": digests,
                   "matching.run_mode": pl.DataFrame({"mode": ["incremental" if incremental else "full"]})})
    return dg.MaterializeResult(metadata={
        "dagster/row_count": pairs.height,
        "mode": "incremental" if incremental else "full",
        "engine": settings.engine,
        "records_new_or_changed": changed.height if deleted is not None else feats.height,
        "records_deleted": deleted.height if deleted is not None else 0,
        "records": feats.height,
        "pairs_by_rule": dg.MetadataValue.json({k: int(v) for k, v in counts.items()}),
        "seconds": round(time.perf_counter() - t0, 2),
    })


@dg.asset(
    key=["matching", "scored_pairs"],
    deps=[candidate_pairs],
    group_name="matching",
    kinds={"polars", "duckdb"},
    owners=["team:data-engineering"],
    description="Every candidate pair with its comparison levels, per-comparison weights (the "
    "explanation) and match probability (matching.scored_pairs); the trained model parameters are "
    "kept in matching.model.",
)
@timed_stage
def scored_pairs(warehouse: WarehouseResource, matching: MatchingResource) -> dg.MaterializeResult:
    wh, settings = warehouse.get(), matching.settings()
    t0 = time.perf_counter()
    if settings.engine != "spark":  # scored by candidate_pairs already
        n, above = wh.query(f"select count(*) as n, count(*) filter (where match_probability >= ?) as a "
                            f"from {PAIRS}", [settings.threshold]).row(0)
        hist = wh.query(f"select least(greatest(floor(match_probability * 10), 0), 9)::int as b, count(*) as n "
                        f"from {PAIRS} group by b order by b")
        return dg.MaterializeResult(metadata={"dagster/row_count": int(n),
                                              "mode": wh.read("matching.run_mode")["mode"][0],
                                              "engine": settings.engine,
                                              "pairs_above_threshold": int(above),
                                              "threshold": float(settings.threshold),
                                              "probability_histogram": _histogram(hist)})
    feats = _features(wh, settings)
    pairs = wh.read("matching.candidate_pairs")
    changes = wh.read("matching.changed_records")
    incremental = wh.read("matching.run_mode")["mode"][0] == "incremental"
    model = None if matching.retrain else _stored_model(wh, settings)
    had_model = model is not None
    scored, model = score_pairs(feats, pairs, settings, model, spark=matching.spark())
    reused = 0
    if incremental:
        touched = changes["record_id"]
        old = wh.read("matching.scored_pairs").filter(
            ~pl.col("id_l").is_in(touched) & ~pl.col("id_r").is_in(touched))
        reused = old.height
        scored = pl.concat([old.select(scored.columns), scored]).sort(["id_l", "id_r"])
    params = json.dumps(model.to_dict(), default=str) if hasattr(model, "to_dict") else "{}"
    wh.write_many({
        "matching.scored_pairs": scored,
        "matching.model": pl.DataFrame({"params_json": [params]}),
        "matching.record_digests": wh.read("matching.record_digests_next"),
    })
    threshold = settings.threshold
    above = scored.filter(pl.col("match_probability") >= threshold).height
    hist = (scored.select((pl.col("match_probability") * 10).floor().clip(0, 9).cast(pl.Int32).alias("b"))
            .group_by("b").len().sort("b"))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": scored.height,
        "mode": "incremental" if incremental else "full",
        "engine": settings.engine,
        "model": "reused from matching.model" if not matching.retrain and had_model else "trained",
        "pairs_above_threshold": above,
        "pairs_scored_this_run": pairs.height,
        "pairs_reused_from_previous_run": reused,
        "threshold": float(threshold),
        "probability_histogram": _histogram(hist),
        "seconds": round(time.perf_counter() - t0, 2),
    })


@dg.asset(
    key=["matching", "clusters"],
    deps=[scored_pairs],
    group_name="matching",
    kinds={"polars", "duckdb"},
    owners=["team:data-engineering"],
    description="One row per staged record with the cluster it belongs to (matching.clusters); "
    "pairs above the threshold are joined, with a guard that splits clusters chained through "
    "pairs with strong negative evidence. Steward decisions (golden.steward_decisions) apply "
    "as must-link / cannot-link constraints.",
)
@timed_stage
def clusters(warehouse: WarehouseResource, matching: MatchingResource) -> dg.MaterializeResult:
    wh, settings = warehouse.get(), matching.settings()
    imported = import_pending_decisions(wh)  # decisions made in the review app since the last run
    must, cannot = constraints(wh)
    if settings.engine != "spark":  # clustered by candidate_pairs
        result = wh.read(UNCONSTRAINED)
        named = pl.concat([must.select(pl.col(c).alias("record_id")) for c in must.columns[:2]]
                          + [cannot.select(pl.col(c).alias("record_id")) for c in cannot.columns[:2]])
        if named.height:
            result = apply_constraints(result, constrained_pairs(wh, result, named["record_id"]),
                                       must_link=must, cannot_link=cannot, threshold=settings.threshold)
        return _clusters_result(wh, settings, result, must, cannot, imported)
    feats = _features(wh, settings)
    scored = wh.read("matching.scored_pairs")
    result = cluster_pairs(feats, scored, settings, model=_stored_model(wh, settings), spark=matching.spark())
    result = apply_constraints(result, scored, must_link=must, cannot_link=cannot,
                               threshold=settings.threshold)
    return _clusters_result(wh, settings, result, must, cannot, imported)


def _histogram(hist: pl.DataFrame) -> dg.MetadataValue:
    """Pairs per tenth of match probability (``b``, ``n``) as a markdown table."""
    return dg.MetadataValue.md("| probability | pairs |\n|---|---|\n" + "\n".join(
        f"| {b / 10:.1f}-{(b + 1) / 10:.1f} | {n} |" for b, n in hist.iter_rows()))


def _clusters_result(wh, settings, result: pl.DataFrame, must: pl.DataFrame, cannot: pl.DataFrame,
                     imported: int) -> dg.MaterializeResult:
    wh.write("matching.clusters", result)
    sizes = result.group_by("cluster_id").len()
    hist = sizes.group_by(pl.col("len").clip(1, 6).alias("size")).len().sort("size")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": result.height,
        "engine": settings.engine,
        "clusters": sizes.height,
        "records_merged": result.height - sizes.height,
        "largest_cluster": int(sizes["len"].max() or 0),
        "steward_constraints": dg.MetadataValue.json({"must_link": must.height, "cannot_link": cannot.height,
                                                      "imported_from_review_app": imported}),
        "cluster_size_histogram": dg.MetadataValue.md(
            "| size | clusters |\n|---|---|\n" + "\n".join(
                f"| {'6+' if s == 6 else s} | {n} |" for s, n in hist.iter_rows())),
    })
