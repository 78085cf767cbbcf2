"""Value repair before survivorship: fix what no single record has right.

Survivorship can only choose among the values the sources wrote; when every record of a customer
carries a typo, a ``+tag``, an abbreviation or an ASCII-folded spelling, the golden record
inherits it. These rules rewrite staged member values into their canonical form first, using
the cluster and the whole batch as evidence, never outside reference data:

- ``spelling``: within one country, spellings that fold to the same letters (``Francoise`` /
  ``Françoise``, ``Kuehnertstraße`` / ``Kühnertstraße``, ``MCKENZIE`` / ``Mckenzie``) take the
  form most records use (names, city, street words);
- ``typos``: a rare value one edit (incl. a transposition) away from a value 10-50 times more
  frequent in the batch is taken as a typo of it (names, city, street words, e-mail domains);
  within a cluster, a value one edit from one more of its records use is too (names, street);
- ``names``: swapped given name / surname (by how often each value is used as a given name or
  as a surname, in the batch and in the cluster), nicknames replaced by the formal name the
  cluster also uses, an initial completed from the e-mail address, traditional Chinese
  characters simplified;
- ``emails``: lower case, ``+tags`` dropped, Gmail dots that split no name dropped, a local part
  one edit from the name the cluster agrees on corrected;
- ``addresses``: Chinese pinyin street lines in the ``No. 88 Keji Road, Nanshan District`` form.

``annotate`` also adds ranking hints survivorship uses: how common a value is in the whole batch
(breaks a tie between ``Michell`` and ``Michelle``), whether an e-mail looks like the person's
name, and whether it is a work address for a contact at a company.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist, cpdist

from dedupe.normalize.hanzi import has_han, simplified_runs
from dedupe.normalize.keys import fold
from dedupe.normalize.names import nickname_pairs

REPAIRS = ("spelling", "typos", "names", "emails", "addresses")
#: the fields the repairs rewrite, and every column they read
REPAIRED = ("given_name", "surname", "email", "city", "street")
REPAIR_INPUTS = ("cluster_id", "country", *REPAIRED)

#: Personal mailbox providers: for a contact at a company, an address elsewhere is the work one.
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com",
    "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "live.com", "live.co.uk", "live.fr",
    "msn.com", "outlook.com", "outlook.fr", "outlook.de", "aol.com", "icloud.com", "me.com", "mac.com",
    "mail.com", "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de", "freenet.de", "posteo.de",
    "mailbox.org", "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "laposte.net", "neuf.fr", "bbox.fr",
    "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net", "comcast.net", "verizon.net", "att.net",
    "sbcglobal.net", "protonmail.com", "proton.me", "qq.com", "163.com", "126.com", "sina.com", "sina.cn",
    "sohu.com", "foxmail.com", "yeah.net", "aliyun.com", "139.com",
})

_TAG_RE = r"\+[^@]*@"


# -- vocabulary helpers -------------------------------------------------------------------------

def _fold(e: pl.Expr) -> pl.Expr:
    return fold(e)


def _row_ids(df: pl.DataFrame, condition: pl.Expr) -> pl.Series:
    """Indices of the rows meeting ``condition``: a rule that can change only those works on them
    alone instead of joining its result back to every row."""
    return df.select(pl.arg_where(condition.fill_null(False))).to_series()


def _set_rows(df: pl.DataFrame, rows: pl.Series, values: pl.DataFrame) -> pl.DataFrame:
    """``df`` with the columns of ``values`` set at ``rows`` (indices, one per row of ``values``);
    every other row as it was."""
    if rows.is_empty():
        return df
    return df.with_columns(df[c].scatter(rows, values[c].cast(df.schema[c])) for c in values.columns)


def _with_name_keys(df: pl.DataFrame, cols: Iterable[str] = ("given_name", "surname")) -> pl.DataFrame:
    """``__key_<col>``: folded letters only (``Müller`` -> ``mueller``), computed per distinct value."""
    for c in cols:
        if c in df.columns:
            keys = df.select(pl.col(c).unique()).with_columns(
                _fold(pl.col(c)).str.replace_all(r"[^a-z]", "").alias(f"__key_{c}"))
            df = df.join(keys, on=c, how="left", nulls_equal=True, maintain_order="left")
    return df


def spelling_map(values: pl.DataFrame, value: str, group: str | None = None) -> pl.DataFrame:
    """``value -> canonical`` for values that fold to the same letters (per ``group``): the form
    most rows use; on a tie the one with diacritics / mixed case, then the smaller string."""
    by = [group] if group else []
    v = values.select(*by, pl.col(value).alias("value")).drop_nulls("value")
    counts = v.group_by(*by, "value").len().with_columns(_fold(pl.col("value")).alias("__key"))
    counts = counts.with_columns(
        pl.col("value").str.contains(r"[^\x00-\x7f]").alias("__rich"),
        (pl.col("value") != pl.col("value").str.to_uppercase()).alias("__cased"),
    )
    best = (counts.sort(["len", "__rich", "__cased", "value"], descending=[True, True, True, False])
            .unique([*by, "__key"], keep="first", maintain_order=True)
            .select(*by, "__key", pl.col("value").alias("canonical")))
    return (counts.join(best, on=[*by, "__key"]).filter(pl.col("value") != pl.col("canonical"))
            .select(*by, "value", "canonical"))


def typo_map(values: pl.Series, *, ratio: float = 20.0, rare: int | None = None, min_len: int = 4,
             min_count: int = 3, batch: int = 2048) -> pl.DataFrame:
    """``value -> correction`` for values one edit from a value at least ``ratio`` times more
    frequent (and used by at most ``rare`` rows, if given).

    Relative, so the rule means the same at 2 k and at 1 M rows. Compared case-insensitively; the
    correction keeps the frequent value's own spelling. Only the distinct values are compared
    (rapidfuzz ``cdist`` in batches, OSA distance so a swapped pair of letters is one edit). A
    value one edit from two equally frequent values (``Abel945``: ``Abel95`` | ``Abel545``) is
    ambiguous and stays as written: the answer must not depend on row or hash order.
    """
    # per key: how many rows use it and its most used form (on a tie the smallest), from the
    # counts of each written form: cheaper than a mode per group
    counts = (pl.DataFrame({"value": values}).drop_nulls().group_by("value").len("c")
              .with_columns(pl.col("value").str.to_lowercase().alias("key"))
              .sort(["c", "value"], descending=[True, False])
              .group_by("key", maintain_order=True).agg(pl.col("c").sum().alias("n"), pl.col("value").first().alias("form"))
              .sort("key"))
    cap = counts["n"].max() / ratio if counts.height else 0
    cap = min(cap, rare) if rare is not None else cap
    small = counts.filter((pl.col("n") <= cap) & (pl.col("key").str.len_chars() >= min_len))
    big = counts.filter((pl.col("n") >= min_count) & (pl.col("key").str.len_chars() >= min_len - 1))
    empty = pl.DataFrame(schema={"key": pl.Utf8, "correction": pl.Utf8})
    if small.is_empty() or big.is_empty():
        return empty
    big_keys, big_n = big["key"].to_list(), big["n"].to_numpy().astype(np.int64)
    small_keys, small_n = small["key"].to_list(), small["n"].to_numpy().astype(np.int64)
    best_idx = np.full(len(small_keys), -1, dtype=np.int64)
    # A correction needs a unique most frequent neighbour used at least ratio times as often, so
    # each value is compared only with the values that frequent (the first ``m`` by count): any
    # rarer neighbour can neither win nor tie with a winner. Values go in batches of equal counts.
    by_count = np.argsort(small_n, kind="stable")
    big_order = np.argsort(-big_n, kind="stable")
    big_desc = -big_n[big_order]
    for lo in range(0, len(by_count), batch):
        rows = by_count[lo:lo + batch]
        need = max(ratio * small_n[rows].min(), min_count)
        m = int(np.searchsorted(big_desc, -need, side="right"))
        if m == 0:
            continue
        cand = big_order[:m]
        d = cdist([small_keys[i] for i in rows], [big_keys[j] for j in cand], scorer=OSA.distance,
                  score_cutoff=1, dtype=np.int32, workers=1)
        # the neighbours one edit away are few: the most frequent of them, and whether it is alone
        hit_row, hit_col = np.nonzero(d == 1)
        n = big_n[cand[hit_col]]
        top = np.zeros(len(rows), dtype=np.int64)
        np.maximum.at(top, hit_row, n)
        at_top = n == top[hit_row]
        unique_top = np.bincount(hit_row[at_top], minlength=len(rows)) == 1
        winner = np.full(len(rows), -1, dtype=np.int64)
        winner[hit_row[at_top]] = cand[hit_col[at_top]]
        ok = unique_top & (top >= np.maximum(ratio * small_n[rows], min_count))
        best_idx[rows] = np.where(ok, winner, -1)
    hit = best_idx >= 0
    if not hit.any():
        return empty
    forms = big["form"].to_numpy()
    return pl.DataFrame({"key": np.asarray(small_keys, dtype=object)[hit].tolist(),
                         "correction": forms[best_idx[hit]].tolist()}, schema=empty.schema)


def _fix_typos(df: pl.DataFrame, col: str, group: str | None = "country", **kw) -> pl.DataFrame:
    """Typo fixes with a vocabulary per ``group`` (a German ``Xaver`` is no typo of ``Xavier``)."""
    group = group if group in df.columns else None
    cols = [group, col] if group else [col]
    parts = df.select(cols).partition_by(group, as_dict=True) if group else {(None,): df.select(col)}
    maps = []
    for (g,), part in parts.items():
        m = typo_map(part[col], **kw)
        if not m.is_empty():
            maps.append(m.with_columns(pl.lit(g, pl.Utf8).alias("__g")))
    if not maps:
        return df
    m = pl.concat(maps)
    key = pl.col(group).cast(pl.Utf8) if group else pl.lit(None, pl.Utf8)
    rows = _row_ids(df, pl.col(col).str.to_lowercase().is_in(m["key"].unique().implode()))
    fixed = (df[rows].select(key.alias("__g"), col, pl.col(col).str.to_lowercase().alias("key"))
             .join(m, on=["__g", "key"], how="left", nulls_equal=True, maintain_order="left")
             .select(pl.coalesce("correction", col).alias(col)))
    return _set_rows(df, rows, fixed)


def _fix_spelling(df: pl.DataFrame, col: str, group: str | None = "country") -> pl.DataFrame:
    group = group if group in df.columns else None
    m = spelling_map(df, col, group)
    if m.is_empty():
        return df
    by = [group] if group else []
    rows = _row_ids(df, pl.col(col).is_in(m["value"].unique().implode()))
    fixed = (df[rows].select(*by, col)
             .join(m.rename({"value": col}), on=[*by, col], how="left", nulls_equal=True, maintain_order="left")
             .select(pl.coalesce("canonical", col).alias(col)))
    return _set_rows(df, rows, fixed)


def cluster_vote(df: pl.DataFrame, col: str, *, max_dist: int = 1) -> pl.DataFrame:
    """Within a cluster, a value ``max_dist`` edits (OSA) from a value more of the cluster's records
    use (on a tie: that the whole batch uses more often) is taken as a typo of it
    (``O'Connr`` | ``O'Connor`` | ``O'Connor``; ``Christisne`` | ``Christiane``)."""
    if "cluster_id" not in df.columns or col not in df.columns:
        return df
    key = pl.col(col).str.to_lowercase()
    # a cluster needs two records, and two written forms, to have two values: the rest never
    # vote, so the sort and the pairs below see a fraction of the clusters
    written = (df.filter(pl.col(col).is_not_null() & pl.col("cluster_id").is_duplicated())
               .group_by("cluster_id", col).len("__c"))
    # per cluster and value (case-folded): how many records use it and its most used form (on a
    # tie the smallest), from the counts of each written form: cheaper than a mode per group
    forms = (written.filter(pl.col("cluster_id").is_duplicated())
             .with_columns(key.alias("__k")).sort(["__c", col], descending=[True, False]))
    support = (forms.group_by("cluster_id", "__k", maintain_order=True)
               .agg(pl.col("__c").sum().alias("__n"), pl.col(col).first().alias("__form")))
    multi = support.filter((pl.len().over("cluster_id") > 1) & (pl.col("__k").str.len_chars() >= 3))
    if multi.is_empty():
        return df
    # how often the whole batch uses each value, counted for the values that can vote only
    pop = (df.select(key.alias("__k")).filter(pl.col("__k").is_in(multi["__k"].unique().implode()))
           .group_by("__k").agg(pl.len().alias("__pop")))
    multi = multi.join(pop, on="__k")
    pairs = multi.join(multi, on="cluster_id", suffix="_b").filter(
        (pl.col("__n_b") > pl.col("__n")) | ((pl.col("__n_b") == pl.col("__n")) & (pl.col("__pop_b") > pl.col("__pop"))))
    if pairs.is_empty():
        return df
    d = cpdist(pairs["__k"].to_list(), pairs["__k_b"].to_list(), scorer=OSA.distance, score_cutoff=max_dist,
               workers=1)
    best = (pairs.filter(pl.Series(d <= max_dist))
            .sort(["__n_b", "__pop_b", "__form_b"], descending=[True, True, False])
            .unique(["cluster_id", "__k"], keep="first", maintain_order=True)
            .select("cluster_id", "__k", pl.col("__form_b").alias("__vote")))
    if best.is_empty():
        return df
    rows = _row_ids(df, pl.col("cluster_id").is_in(best["cluster_id"].unique().implode()))
    voted = (df[rows].select("cluster_id", col, key.alias("__k"))
             .join(best, on=["cluster_id", "__k"], how="left", maintain_order="left")
             .select(pl.coalesce("__vote", col).alias(col)))
    return _set_rows(df, rows, voted)


def _word_level(df: pl.DataFrame, col: str, fix) -> pl.DataFrame:
    """Apply a vocabulary fix to the letter-only words of ``col`` (house numbers stay as written).

    ``fix`` sees every letter-only word with its row's country (the batch is its evidence) and maps
    each (country, word) to one form; only the rows with a word it changed are put together again.
    """
    by = ["country"] if "country" in df.columns else []
    words = (df.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"), *by, pl.col(col).str.split(" ").alias("__w"))
             .explode("__w"))
    letters = pl.col("__w").str.contains(r"^\p{L}[\p{L}'\-]*\p{L}$").fill_null(False)
    cand = words.filter(letters)
    fixed = fix(cand)["__w"]   # the fixes keep the rows and their order
    changed = cand.with_columns(fixed.alias("__new")).filter(pl.col("__w") != pl.col("__new"))
    if changed.is_empty():
        return df
    mapping = changed.select(*by, "__w", "__new").unique([*by, "__w"])
    touched = changed["__row"].unique()
    redo = (words.filter(pl.col("__row").is_in(touched.implode()))
            .join(mapping, on=[*by, "__w"], how="left", nulls_equal=True, maintain_order="left")
            .with_columns(pl.coalesce("__new", "__w").alias("__w"))
            .group_by("__row", maintain_order=True)
            .agg(pl.when(pl.col("__w").is_null().all()).then(None)
                 .otherwise(pl.col("__w").drop_nulls().str.join(" ")).first().alias("__j")))
    return (df.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"))
            .join(redo, on="__row", how="left", maintain_order="left")
            .with_columns(pl.when(pl.col("__row").is_in(touched.implode())).then(pl.col("__j"))
                          .otherwise(pl.col(col)).alias(col))
            .drop("__row", "__j"))


# -- field rules --------------------------------------------------------------------------------

def _nicknames() -> pl.DataFrame:
    """``nickname -> formal`` pairs from the nickname table (one row per pair)."""
    pairs = [(nick.lower(), formal) for formal, nick in nickname_pairs()]
    return pl.DataFrame(pairs, schema={"nick": pl.Utf8, "formal": pl.Utf8}, orient="row").unique()


def repair_names(df: pl.DataFrame, *, spelling: bool = True, typos: bool = True, names: bool = True) -> pl.DataFrame:
    cols = [c for c in ("given_name", "surname") if c in df.columns]
    if not cols:
        return df
    if names:
        rows = _row_ids(df, pl.any_horizontal(has_han(pl.col(c)) for c in cols))   # the few Chinese names
        df = _set_rows(df, rows, df[rows].select(
            pl.when(has_han(pl.col(c))).then(simplified_runs(pl.col(c))).otherwise(pl.col(c)).alias(c) for c in cols))
        if len(cols) == 2:
            df = _unswap(df)

    def vocabulary(df: pl.DataFrame, c: str) -> pl.DataFrame:
        if spelling:
            df = _fix_spelling(df, c)
        return _fix_typos(df, c, ratio=10, rare=1, min_len=4) if typos else df

    df = _per_column(df, cols, vocabulary)
    if names and len(cols) == 2:
        df = _unswap_in_cluster(df)
    if names and "given_name" in df.columns:
        df = _formal_names(df)   # before the vote: Steve | Steven is a nickname, not a typo
    if typos:
        df = _per_column(df, cols, cluster_vote)
    if names and "email" in df.columns and len(cols) == 2:
        df = _initial_from_email(df)
    return df


def _per_column(df: pl.DataFrame, cols: list[str], rule) -> pl.DataFrame:
    """``rule(df, c)`` for each of ``cols``, where the rule rewrites column ``c`` reading no other of
    ``cols``: the columns are done in threads at once, each on a frame without the others."""
    if len(cols) < 2:
        return rule(df, cols[0]) if cols else df

    def alone(c: str) -> pl.DataFrame:
        return df.drop([o for o in cols if o != c])

    with ThreadPoolExecutor(len(cols) - 1) as pool:
        done = [pool.submit(rule, alone(c), c) for c in cols[1:]]
        first = rule(alone(cols[0]), cols[0])
        return df.with_columns(first[cols[0]], *(f.result()[c] for f, c in zip(done, cols[1:], strict=True)))


def _unswap(df: pl.DataFrame) -> pl.DataFrame:
    """Swap given name and surname when each is, across the batch, far more often used in the other
    role (``Rodriguez`` / ``Margaud``)."""
    g = df.group_by(pl.col("given_name").str.to_lowercase().alias("k")).len("as_given").drop_nulls("k")
    s = df.group_by(pl.col("surname").str.to_lowercase().alias("k")).len("as_surname").drop_nulls("k")
    roles = g.join(s, on="k", how="full", coalesce=True).fill_null(0)
    gk, sk = pl.col("given_name").str.to_lowercase(), pl.col("surname").str.to_lowercase()
    rg = roles.rename({"k": "__gk", "as_given": "__g_as_g", "as_surname": "__g_as_s"})
    rs = roles.rename({"k": "__sk", "as_given": "__s_as_g", "as_surname": "__s_as_s"})
    # only a given name used as a surname about as often (and a surname used as a given name) can
    # swap: the rows with both are few
    as_surname = roles.filter(pl.col("as_surname") + 1 > pl.col("as_given"))["k"]
    as_given = roles.filter(pl.col("as_given") + 1 > pl.col("as_surname"))["k"]
    rows = _row_ids(df, gk.is_in(as_surname.implode()) & sk.is_in(as_given.implode()))
    x = (df[rows].select("given_name", "surname", gk.alias("__gk"), sk.alias("__sk"))
         .join(rg, on="__gk", how="left", maintain_order="left")
         .join(rs, on="__sk", how="left", maintain_order="left"))
    # add-one smoothing, minus the record's own use (no evidence for its reading): n - 1 + 1
    g_right, g_wrong = pl.col("__g_as_g"), pl.col("__g_as_s") + 1
    s_right, s_wrong = pl.col("__s_as_s"), pl.col("__s_as_g") + 1
    swap = ((g_wrong > g_right) & (s_wrong > s_right) & (g_wrong * s_wrong >= 8 * g_right * s_right)).fill_null(False)
    return _set_rows(df, rows, x.select(
        pl.when(swap).then(pl.col("surname")).otherwise(pl.col("given_name")).alias("given_name"),
        pl.when(swap).then(pl.col("given_name")).otherwise(pl.col("surname")).alias("surname")))


def _unswap_in_cluster(df: pl.DataFrame) -> pl.DataFrame:
    """Swap a record's given name and surname when more records of the same cluster have the two
    the other way round (``Curtis Holmes`` among ``Holmes Curtis`` rows read as given/surname)."""
    if "cluster_id" not in df.columns:
        return df
    g, s = pl.col("given_name").str.to_lowercase(), pl.col("surname").str.to_lowercase()
    # a one-record cluster has no other record to disagree with
    pairs = (df.filter(pl.col("given_name").is_not_null() & pl.col("surname").is_not_null()
                       & pl.col("cluster_id").is_duplicated())
             .group_by("cluster_id", g.alias("__g"), s.alias("__s")).agg(pl.len().alias("__n")))
    other = pairs.rename({"__g": "__s", "__s": "__g", "__n": "__n_swapped"})
    swap = (pairs.join(other, on=["cluster_id", "__g", "__s"])
            .filter(pl.col("__n_swapped") > pl.col("__n")).select("cluster_id", "__g", "__s", pl.lit(True).alias("__swap")))
    if swap.is_empty():
        return df
    rows = _row_ids(df, pl.col("cluster_id").is_in(swap["cluster_id"].unique().implode()))
    x = (df[rows].select("cluster_id", "given_name", "surname", g.alias("__g"), s.alias("__s"))
         .join(swap, on=["cluster_id", "__g", "__s"], how="left", maintain_order="left"))
    flip = pl.col("__swap").fill_null(False)
    return _set_rows(df, rows, x.select(
        pl.when(flip).then(pl.col("surname")).otherwise(pl.col("given_name")).alias("given_name"),
        pl.when(flip).then(pl.col("given_name")).otherwise(pl.col("surname")).alias("surname")))


def _formal_names(df: pl.DataFrame) -> pl.DataFrame:
    """A nickname becomes the formal name another record of the same cluster uses (Bob -> Robert)."""
    if "cluster_id" not in df.columns:
        return df
    nick = _nicknames()
    several = df.filter(pl.col("cluster_id").is_duplicated())   # a lone record keeps its own name
    present = (several.select("cluster_id", pl.col("given_name").alias("formal")).drop_nulls().unique())
    cand = (several.select("cluster_id", pl.col("given_name").str.to_lowercase().alias("nick")).drop_nulls().unique()
            .join(nick, on="nick").join(present, on=["cluster_id", "formal"])
            .group_by("cluster_id", "nick").agg(pl.col("formal").sort().first()))
    if cand.is_empty():
        return df
    rows = _row_ids(df, pl.col("cluster_id").is_in(cand["cluster_id"].unique().implode()))
    x = (df[rows].select("cluster_id", "given_name", pl.col("given_name").str.to_lowercase().alias("nick"))
         .join(cand, on=["cluster_id", "nick"], how="left", maintain_order="left"))
    return _set_rows(df, rows, x.select(pl.coalesce("formal", "given_name").alias("given_name")))


def _initial_from_email(df: pl.DataFrame) -> pl.DataFrame:
    """``J.`` + ``john.taylor56@…`` -> ``John``: the local part minus the surname, when that is a
    given name the batch knows and starts with the initial."""
    initial = pl.col("given_name").str.replace_all(r"[.\s]", "").str.len_chars() == 1
    rows = _row_ids(df, initial & pl.col("email").is_not_null() & pl.col("surname").is_not_null())
    if rows.is_empty():
        return df
    x = _with_name_keys(df[rows].select("given_name", "surname", "email"))
    local = pl.col("email").str.to_lowercase().str.extract(r"^([^@+]+)").str.replace_all(r"[^a-z]", "")
    sn = pl.col("__key_surname")
    n = sn.str.len_chars()
    rest = (pl.when((n >= 2) & local.str.starts_with(sn)).then(local.str.slice(n))
            .when((n >= 2) & local.str.ends_with(sn)).then(local.str.slice(0, local.str.len_chars() - n)))
    x = x.with_columns(rest.alias("__k")).join(_given_name_vocabulary(df), on="__k", how="left", maintain_order="left")
    ok = (pl.col("__full").is_not_null() & (pl.col("__k") != local)
          & (pl.col("__k").str.slice(0, 1) == pl.col("__key_given_name").str.slice(0, 1)))
    return _set_rows(df, rows, x.select(pl.when(ok).then(pl.col("__full")).otherwise(pl.col("given_name"))
                                        .alias("given_name")))


def _given_name_vocabulary(df: pl.DataFrame) -> pl.DataFrame:
    """``__k`` (folded letters) -> ``__full``: the given name (two letters or more) the batch
    writes most often for it (on a tie the smaller), for keys at least two records use; counted
    per distinct name, then per key."""
    counts = df.filter(pl.col("given_name").str.len_chars() >= 2).group_by("given_name").len("__c")
    counts = _with_name_keys(counts, ["given_name"]).rename({"__key_given_name": "__k"})
    return (counts.sort(["__c", "given_name"], descending=[True, False])
            .group_by("__k", maintain_order=True)
            .agg(pl.col("__c").sum().alias("__n"), pl.col("given_name").first().alias("__full"))
            .filter(pl.col("__n") >= 2).drop("__n"))


def repair_emails(df: pl.DataFrame, *, typos: bool = True) -> pl.DataFrame:
    """Lower case, ``+tag`` dropped (the same mailbox), domain typos fixed (``gmail.ccom``);
    with the person's name at hand, Gmail dots that split no name dropped (``jamesbr.own`` ->
    ``jamesbrown``) and a local part one edit from the name written out (``ronald_elils`` ->
    ``ronald_ellis``)."""
    if "email" not in df.columns:
        return df
    e = pl.col("email").str.to_lowercase().str.replace(_TAG_RE, "@")
    df = df.with_columns(e.alias("email"))
    if {"given_name", "surname"} <= set(df.columns):
        df = _email_name_forms(df, typos=typos)
    if not typos:
        return df
    parts = df.select(pl.col("email").str.split_exact("@", 1).struct.rename_fields(["__local", "__domain"])
                      ).unnest("email")
    m = typo_map(parts["__domain"], ratio=50, min_len=5)
    if m.is_empty():
        return df
    fixed = pl.coalesce(pl.col("__domain").replace_strict(m["key"], m["correction"], default=None), pl.col("__domain"))
    return (df.with_columns(parts).with_columns(
        pl.when(pl.col("__domain").is_not_null()).then(pl.col("__local") + "@" + fixed).otherwise(pl.col("email"))
        .alias("email")).drop("__local", "__domain"))


def _email_name_forms(df: pl.DataFrame, *, typos: bool) -> pl.DataFrame:
    """The rules need the name the customer's records agree on; only a Gmail address (dots) or a
    record of a cluster that agrees on a name (local part typos) can change, so the address is
    parsed for those rows alone and written back to them."""
    cols = df.columns
    df = _with_name_keys(df)
    g, s = pl.col("__key_given_name"), pl.col("__key_surname")
    if "cluster_id" in df.columns:   # the name most records of the customer agree on, and how many
        agreed = _agreed_names(df)
        df = df.join(agreed, on="cluster_id", how="left", maintain_order="left").with_columns(
            pl.coalesce("__gk", g).alias("__gk"), pl.coalesce("__sk", s).alias("__sk"))
        g, s = pl.col("__gk"), pl.col("__sk")
        supported = ((pl.col("__gn") >= 2) & (pl.col("__sn") >= 2)).fill_null(False)
    else:
        supported = pl.lit(False)
    email = pl.col("email")
    gmail = email.str.ends_with("@gmail.com") | email.str.ends_with("@googlemail.com")
    rows = _row_ids(df, email.is_not_null() & (gmail | supported))
    if rows.is_empty():
        return df.select(cols)
    x = _email_letters(df[rows].select("email", g.alias("__g"), s.alias("__s"), supported.alias("__supported")),
                       typos=typos)
    return _set_rows(df, rows, x.select("email")).select(cols)


def _agreed_names(df: pl.DataFrame) -> pl.DataFrame:
    """Per cluster of several records: the given name and surname keys most of them use (on a
    tie the smaller) and how many use each (``__gk, __gn, __sk, __sn``); a cluster with no such
    key has none. A one-record cluster agrees with its own record."""
    several = df.filter(pl.col("cluster_id").is_duplicated())
    out = None
    for k, key, n in (("__key_given_name", "__gk", "__gn"), ("__key_surname", "__sk", "__sn")):
        counts = several.filter(pl.col(k).is_not_null()).group_by("cluster_id", pl.col(k).alias(key)).len(n)
        best = (counts.filter(pl.col(n) == pl.col(n).max().over("cluster_id"))
                .group_by("cluster_id").agg(pl.col(key).min(), pl.col(n).first()))
        out = best if out is None else out.join(best, on="cluster_id", how="full", coalesce=True)
    return out


def _email_letters(x: pl.DataFrame, *, typos: bool) -> pl.DataFrame:
    """``email`` rewritten from ``__g`` / ``__s`` (the name keys) and ``__supported`` (whether the
    customer's records agree on them): Gmail dots dropped, a local part one edit from the name."""
    cols, supported = x.columns, pl.col("__supported")
    parts = pl.col("email").str.extract_groups(r"^([a-z._\-]+?)(\d*)@(gmail\.com|googlemail\.com|.+)$")
    x = x.with_columns(parts.alias("__p")).with_columns(
        pl.col("__p").struct.field("1").alias("__letters"), pl.col("__p").struct.field("2").alias("__digits"),
        pl.col("__p").struct.field("3").alias("__dom")).drop("__p")
    named = (pl.col("__g").str.len_chars() >= 2) & (pl.col("__s").str.len_chars() >= 2)
    # Gmail ignores dots: a dot that separates no name part is noise, the mailbox has none
    gmail = pl.col("__dom").is_in(["gmail.com", "googlemail.com"])
    at_boundary = pl.any_horizontal(
        pl.col("__letters").str.contains(pl.col("__g") + ".", literal=True),
        pl.col("__letters").str.contains("." + pl.col("__g"), literal=True),
        pl.col("__letters").str.contains(pl.col("__s") + ".", literal=True),
        pl.col("__letters").str.contains("." + pl.col("__s"), literal=True))
    undot = gmail & named & pl.col("__letters").str.contains(".", literal=True) & ~at_boundary.fill_null(False)
    x = x.with_columns(pl.when(undot.fill_null(False)).then(pl.col("__letters").str.replace_all(".", "", literal=True))
                       .otherwise(pl.col("__letters")).alias("__letters"))
    if typos:
        gi, si = pl.col("__g").str.slice(0, 1), pl.col("__s").str.slice(0, 1)
        forms = [pl.concat_str(a) for a in (
            [pl.col("__g"), pl.lit("."), pl.col("__s")], [pl.col("__g"), pl.col("__s")],
            [pl.col("__s"), pl.lit("."), pl.col("__g")], [pl.col("__g"), pl.lit("_"), pl.col("__s")],
            [gi, pl.col("__s")], [pl.col("__s"), gi], [pl.col("__g"), si])]
        cand = x.with_row_index("__i").filter(named & supported & pl.col("__letters").is_not_null()
                                              & (pl.col("__letters").str.len_chars() >= 5))
        cand = cand.select("__i", "__letters", *[f.alias(f"__f{k}") for k, f in enumerate(forms)])
        exact = pl.any_horizontal([pl.col("__letters") == pl.col(f"__f{k}") for k in range(len(forms))])
        cand = cand.filter(~exact)
        if cand.height:
            letters = cand["__letters"].to_list()
            best = pl.Series([None] * cand.height, dtype=pl.Utf8)
            hits = np.zeros(cand.height, dtype=np.int32)
            for k in range(len(forms)):
                form = cand[f"__f{k}"]
                d = cpdist(letters, form.fill_null("").to_list(), scorer=OSA.distance, score_cutoff=1, workers=1)
                one = (d == 1) & form.is_not_null().to_numpy()
                hits += one
                best = pl.select(pl.when(pl.Series(one)).then(form).otherwise(best)).to_series()
            fix = cand.select("__i", pl.when(pl.Series(hits == 1)).then(best).alias("__fix")).drop_nulls("__fix")
            x = (x.with_row_index("__i").join(fix, on="__i", how="left", maintain_order="left")
                 .with_columns(pl.coalesce("__fix", "__letters").alias("__letters")).drop("__i", "__fix"))
    rebuilt = pl.concat_str(pl.col("__letters"), pl.col("__digits").fill_null(""), pl.lit("@"), pl.col("__dom"))
    return x.with_columns(pl.when(pl.col("__letters").is_not_null()).then(rebuilt).otherwise(pl.col("email"))
                          .alias("email")).select(cols)


_CN_LATIN_STREET = r"^(\d+[A-Za-z]?)\s+([^,]+?\s(?:Road|Street|Avenue|Lane)),\s*(.+?\sDistrict)$"


def repair_addresses(df: pl.DataFrame, *, spelling: bool = True, typos: bool = True,
                     addresses: bool = True) -> pl.DataFrame:
    if "city" in df.columns:
        if spelling:
            df = _fix_spelling(df, "city")
        if typos:
            df = _fix_typos(df, "city", group=None, min_len=4)
    if "street" not in df.columns:
        return df
    if spelling or typos:
        def fix(w: pl.DataFrame) -> pl.DataFrame:
            if spelling:
                w = _fix_spelling(w, "__w")
            if typos:
                w = _fix_typos(w, "__w", min_len=4)
            return w
        df = _word_level(df, "street", fix)
    if addresses:
        df = df.with_columns(pl.col("street").str.replace(_CN_LATIN_STREET, "No. $1 $2, $3"))
    return df


def repair(members: pl.DataFrame, enabled: Iterable[str] = REPAIRS) -> pl.DataFrame:
    """All enabled repairs on staged member rows (same rows and columns back)."""
    on = set(enabled)
    unknown = on - set(REPAIRS)
    if unknown:
        raise ValueError(f"unknown repair(s) {sorted(unknown)}; use {', '.join(REPAIRS)}")
    if not on:
        return members
    # the rules read these columns only and keep the row order: they run on a narrow copy, where
    # the cluster is a number (the rules only compare it; grouping by it gets cheaper)
    df = members.select([c for c in REPAIR_INPUTS if c in members.columns])
    if "cluster_id" in df.columns:
        df = df.with_columns(pl.col("cluster_id").rank("dense"))

    def places(df: pl.DataFrame) -> pl.DataFrame:
        df = repair_addresses(df, spelling="spelling" in on, typos="typos" in on, addresses="addresses" in on)
        return cluster_vote(df, "street") if "typos" in on else df

    # the address rules read no name or e-mail: they run beside the name and e-mail rules (polars and
    # rapidfuzz let go of the GIL), on a frame of their own
    place_columns = [c for c in ("cluster_id", "country", "city", "street") if c in df.columns]
    with ThreadPoolExecutor(1) as pool:
        addresses = pool.submit(places, df.select(place_columns))
        df = repair_names(df.drop("city", "street", strict=False), spelling="spelling" in on, typos="typos" in on,
                          names="names" in on)
        df = repair_emails(df, typos="typos" in on) if "emails" in on else df
        df = df.with_columns(addresses.result().select([c for c in ("city", "street") if c in place_columns]))
    return members.with_columns(df.select([c for c in REPAIRED if c in df.columns]))


def match_key(f: str) -> pl.Expr:
    """The form two values of field ``f`` are counted as "the same" in by ``most_frequent``:
    case, punctuation and e-mail ``+tags`` do not split the vote."""
    e = pl.col(f).cast(pl.Utf8).str.to_lowercase()
    if f == "email":
        return e.str.replace(r"\+[^@]*@", "@")
    if f == "phone":
        return e.str.replace_all(r"\D", "").str.slice(-9)
    return e.str.replace_all(r"[^\p{L}\p{N}]", "")


def _in_clusters_where(members: pl.DataFrame, condition: pl.Expr) -> pl.Expr:
    """Whether any record of the row's cluster meets ``condition`` (``condition.any().over(cluster)``,
    from the few clusters that do instead of a window over every row)."""
    hits = members.filter(condition.fill_null(False))["cluster_id"].unique()
    return pl.col("cluster_id").is_in(hits.implode())


def annotate(members: pl.DataFrame, fields: Iterable[str]) -> pl.DataFrame:
    """Ranking hints for survivorship: ``__pre_<field>`` (sorted ascending before the rule's own
    keys) and ``__post_<field>`` (descending, after them, before recency)."""
    fields = list(fields)
    out = []
    for f in ("given_name", "surname", "city"):
        if f in fields:   # batch-wide popularity breaks ties between a typo and the right spelling
            out.append(pl.len().over(match_key(f)).alias(f"__post_{f}"))
    for f in ("given_name", "surname"):
        if f in fields:   # the native-script form (张伟) is canonical, and it never has typos
            cjk = has_han(pl.col(f))
            out.append((_in_clusters_where(members, cjk) & ~cjk).cast(pl.Int8).alias(f"__pre_{f}"))
    if "email" in fields:
        members = _with_name_keys(members)
        local = pl.col("email").str.extract(r"^([^@]+)")
        named = pl.lit(0, pl.Int32)
        for c in ("surname", "given_name"):
            if c in members.columns:
                key = pl.col(f"__key_{c}")
                named = named + (key.str.len_chars().fill_null(0) >= 2).and_(
                    local.str.contains(key, literal=True)).fill_null(False).cast(pl.Int32)
        out.append(named.alias("__post_email"))
        if "company_name" in members.columns:
            work_contact = _in_clusters_where(members, pl.col("company_name").is_not_null())
            personal = pl.col("email").str.extract(r"@(.+)$").is_in(list(FREE_MAIL_DOMAINS)).fill_null(False)
            out.append((work_contact & personal).cast(pl.Int8).alias("__pre_email"))
    return members.with_columns(out).drop("__key_given_name", "__key_surname", strict=False)
