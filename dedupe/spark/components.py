"""Connected components on Spark DataFrames with the alternating large-star / small-star
algorithm (Kiveris et al., "Connected Components in MapReduce and Beyond", 2014): O(log n)
rounds of joins and group-bys, no GraphFrames dependency.

Edges are kept as ``(a, b)`` with ``a > b``. Large-star links every neighbour larger than a node
to the smallest node of its neighbourhood; small-star links a node and its smaller neighbours
to the smallest of them. When a round changes nothing, every component is a star around its
smallest node.
"""

from __future__ import annotations


def _oriented(edges, src: str, dst: str):
    from pyspark.sql import functions as F

    return (edges.select(F.greatest(src, dst).alias("a"), F.least(src, dst).alias("b"))
            .where(F.col("a") != F.col("b")).distinct())


def _large_star(e):
    from pyspark.sql import functions as F

    sym = e.unionByName(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
    low = sym.groupBy("a").agg(F.least(F.min("b"), F.first("a")).alias("m"))
    return (sym.where(F.col("b") > F.col("a")).join(low, "a")
            .select(F.col("b").alias("a"), F.col("m").alias("b")).distinct())


def _small_star(e):
    from pyspark.sql import functions as F

    low = e.groupBy("a").agg(F.min("b").alias("m"))
    spokes = e.join(low, "a").select(F.col("b").alias("a"), F.col("m").alias("b")).where(F.col("a") != F.col("b"))
    return spokes.unionByName(low.select("a", F.col("m").alias("b"))).distinct()


def connected_components(edges, *, src: str = "l", dst: str = "r", max_rounds: int = 100):
    """``node, component`` for every node of ``edges`` (long ids); the component is its smallest
    node. Nodes without an edge are not listed."""
    from pyspark.sql import functions as F

    e = _oriented(edges, src, dst)
    for _ in range(max_rounds):
        nxt = _small_star(_large_star(e)).localCheckpoint()
        changed = (nxt.withColumn("_n", F.lit(1)).join(e.withColumn("_e", F.lit(1)), ["a", "b"], "full_outer")
                   .where(F.col("_n").isNull() | F.col("_e").isNull()).limit(1).count())
        e = nxt
        if not changed:
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    spokes = e.select(F.col("a").alias("node"), F.col("b").alias("component"))
    hubs = e.select(F.col("b").alias("node")).distinct().withColumn("component", F.col("node"))
    return spokes.unionByName(hubs)
