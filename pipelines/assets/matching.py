"""Matching: candidate pairs from blocking, scored pairs from the Fellegi-Sunter model, clusters."""


import json
import time

import dagster as dg
import polars as pl
from pydantic import Field

from pipelines.resources import WarehouseResource


class MatchingResource(dg.ConfigurableResource):
    """Matching settings: the built-in customer settings, or a YAML file."""

    settings_path: str = Field(default="", description="YAML settings file; empty: the default "
                               "settings for the canonical customer schema.")

    def settings(self):
        from dedupe import default_settings, load_settings

        return load_settings(self.settings_path) if self.settings_path else default_settings()

    def survivorship(self):
        """Survivorship rules: the ``survivorship:`` section of the settings YAML, or defaults."""
        from dedupe.survivorship import SurvivorshipRules

        if not self.settings_path:
            return SurvivorshipRules()
        import yaml

        with open(self.settings_path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        return SurvivorshipRules.from_dict(data.get("survivorship") or {})


def _features(wh, settings) -> pl.DataFrame:
    """Matching features of the staged records, computed once by candidate_pairs."""
    feats = wh.read_if_exists("matching.record_features")
    if feats is None:
        from dedupe import prepare

        feats = prepare(wh.read("staging.customers"), settings)
    return feats


@dg.asset(
    key=["matching", "candidate_pairs"],
    deps=[dg.AssetKey(["staging", "customers"])],
    group_name="matching",
    kinds={"polars", "duckdb"},
    owners=["team:data-engineering"],
    description="Record pairs worth comparing, from several blocking rules unioned and de-duplicated "
    "(matching.candidate_pairs). Metadata shows how many pairs each rule produced.",
)
def candidate_pairs(warehouse: WarehouseResource, matching: MatchingResource) -> dg.MaterializeResult:
    from dedupe import block, prepare

    wh, settings = warehouse.get(), matching.settings()
    t0 = time.perf_counter()
    feats = prepare(wh.read("staging.customers"), settings)
    pairs, counts = block(feats, settings)
    wh.write_many({"matching.record_features": feats, "matching.candidate_pairs": pairs})
    return dg.MaterializeResult(metadata={
        "dagster/row_count": pairs.height,
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
def scored_pairs(warehouse: WarehouseResource, matching: MatchingResource) -> dg.MaterializeResult:
    from dedupe import score

    wh, settings = warehouse.get(), matching.settings()
    t0 = time.perf_counter()
    feats = _features(wh, settings)
    pairs = wh.read("matching.candidate_pairs")
    scored, model = score(feats, pairs, settings)
    params = json.dumps(model.to_dict(), default=str) if hasattr(model, "to_dict") else "{}"
    wh.write_many({
        "matching.scored_pairs": scored,
        "matching.model": pl.DataFrame({"params_json": [params]}),
    })
    threshold = settings.threshold
    above = scored.filter(pl.col("match_probability") >= threshold).height
    hist = (scored.select((pl.col("match_probability") * 10).floor().clip(0, 9).cast(pl.Int32).alias("b"))
            .group_by("b").len().sort("b"))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": scored.height,
        "pairs_above_threshold": above,
        "threshold": float(threshold),
        "probability_histogram": dg.MetadataValue.md(
            "| probability | pairs |\n|---|---|\n" + "\n".join(
                f"| {b / 10:.1f}-{(b + 1) / 10:.1f} | {n} |" for b, n in hist.iter_rows())),
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
def clusters(warehouse: WarehouseResource, matching: MatchingResource) -> dg.MaterializeResult:
    from dedupe import cluster
    from dedupe.constraints import apply_constraints
    from pipelines.review import constraints

    wh, settings = warehouse.get(), matching.settings()
    feats = _features(wh, settings)
    scored = wh.read("matching.scored_pairs")
    result = cluster(feats, scored, settings)
    must, cannot = constraints(wh)
    result = apply_constraints(result, scored, must_link=must, cannot_link=cannot,
                               threshold=settings.threshold)
    wh.write("matching.clusters", result)
    sizes = result.group_by("cluster_id").len()
    hist = sizes.group_by(pl.col("len").clip(1, 6).alias("size")).len().sort("size")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": result.height,
        "clusters": sizes.height,
        "records_merged": result.height - sizes.height,
        "largest_cluster": int(sizes["len"].max() or 0),
        "steward_constraints": dg.MetadataValue.json({"must_link": must.height, "cannot_link": cannot.height}),
        "cluster_size_histogram": dg.MetadataValue.md(
            "| size | clusters |\n|---|---|\n" + "\n".join(
                f"| {'6+' if s == 6 else s} | {n} |" for s, n in hist.iter_rows())),
    })
