"""Matching features as polars expressions: the comparable form of each field.

Features are named ``<column>__<transform>`` (see ``TRANSFORMS``) or come from a library
comparison (``person_name`` adds ``<name>__key``, ``__first``, ``__last`` ...). Everything is
vectorised; the few library calls without a vectorised form (opencc, pypinyin) run once per
unique value.
"""

from __future__ import annotations

import functools

import polars as pl

from dedupe.normalize.hanzi import has_han, pinyin_joined, runs_expr, simplified_runs
from dedupe.normalize.keys import TRANSFORMS, Transform, blank_punctuation, clean, fold_chars
from dedupe.normalize.names import MATCH_COMPOUND_SURNAMES, nickname_pairs

TITLES = r"(?:mr|mrs|ms|miss|mx|dr|prof|herr|frau|m|mme|mlle|monsieur|madame|sir|dame)"
SUFFIXES = {"jr": "jr", "junior": "jr", "sr": "sr", "senior": "sr", "ii": "ii", "iii": "iii", "iv": "iv"}
CJK_HONORIFICS = ["先生", "女士", "小姐", "太太", "老师", "总", "經理", "经理"]
#: Older / Cantonese / Wade-Giles romanisations of common surnames -> pinyin.
ROMANISATIONS = {
    "chan": "chen", "cheung": "zhang", "chang": "zhang", "wong": "wang", "lee": "li", "lam": "lin",
    "lau": "liu", "ng": "wu", "chow": "zhou", "chou": "zhou", "hsu": "xu", "kuo": "guo", "tsang": "zeng",
    "leung": "liang", "yeung": "yang", "kwok": "guo", "tse": "xie", "hui": "xu", "lo": "luo",
    "fung": "feng", "choi": "cai", "chiu": "zhao", "tang": "tang", "yip": "ye", "tam": "tan",
    "poon": "pan", "ho": "he", "lui": "lu", "lyu": "lu", "lv": "lu", "hsieh": "xie", "tsai": "cai",
    "chao": "zhao", "chiang": "jiang", "tseng": "zeng", "hsiao": "xiao", "kao": "gao", "teng": "deng",
}
# --------------------------------------------------------------------------------------------
# Person names
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def nickname_formals() -> dict[str, list[str]]:
    """Folded given name -> the formal names it can stand for (a formal name stands for itself)."""
    frame = pl.DataFrame(list(nickname_pairs()), schema={"formal": pl.Utf8, "nick": pl.Utf8}, orient="row")
    frame = frame.with_columns(formal_f=fold_chars(pl.col("formal").str.to_lowercase()),
                               nick_f=fold_chars(pl.col("nick").str.to_lowercase()))
    out: dict[str, set[str]] = {}
    for formal, nick in frame.select("formal_f", "nick_f").iter_rows():
        out.setdefault(formal, {formal}).add(formal)
        out.setdefault(nick, set()).add(formal)
    return {k: sorted(v) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def nickname_initials() -> dict[str, list[str]]:
    """Folded given name -> first letters of every name it can be written as (Liz -> b, e, l ...)."""
    formals = nickname_formals()
    names_of: dict[str, set[str]] = {}
    for name, fs in formals.items():
        for f in fs:
            names_of.setdefault(f, {f}).add(name)
    out = {}
    for name, fs in formals.items():
        letters = {name[0]}
        for f in fs:
            letters |= {x[0] for x in names_of.get(f, {f})}
        out[name] = sorted(letters)
    return out


#: Orientation columns ``name_features(orientation=True)`` adds (after ``<prefix>__``): the given-name
#: and surname tokens before any swap (the statistics count them), whether the name may be swapped
#: by the statistics at all, and whether it was.
ORIENTATION = ("o_first", "o_last", "o_free", "o_stat")
#: A name is swapped when its first token is seen this much more (log-odds) as a surname than its last.
SWAP_LOG_ODDS = 1.0


def token_counts(first: pl.Expr, last: pl.Expr, n: pl.Expr, frame: pl.LazyFrame) -> pl.LazyFrame:
    """How often each token is a given name (``nf``) and a surname (``nl``): the orientation statistics."""
    firsts = frame.select(tok=first, n=n).drop_nulls().group_by("tok").agg(nf=pl.col("n").sum())
    lasts = frame.select(tok=last, n=n).drop_nulls().group_by("tok").agg(nl=pl.col("n").sum())
    return firsts.join(lasts, on="tok", how="full", coalesce=True).fill_null(0)


def stat_swaps(frame: pl.LazyFrame, counts: pl.LazyFrame, *, first: str, last: str, free: str) -> pl.LazyFrame:
    """``frame`` with ``_stat``: its name is swapped by the statistics ``counts`` (a free name whose first
    token is seen more as a surname than its last token, by ``SWAP_LOG_ODDS``)."""
    lr = counts.select("tok", lr=((pl.col("nl") + 0.5) / (pl.col("nf") + 0.5)).log())   # > 0: seen more as a surname
    frame = (frame.join(lr.select(pl.col("tok").alias(first), _lr_f=pl.col("lr")), on=first, how="left",
                        maintain_order="left")
             .join(lr.select(pl.col("tok").alias(last), _lr_l=pl.col("lr")), on=last, how="left", maintain_order="left"))
    return frame.with_columns(_stat=(pl.col(free) & ((pl.col("_lr_f") - pl.col("_lr_l")) > SWAP_LOG_ODDS))
                              .fill_null(False)).drop("_lr_f", "_lr_l")


def _orient(t: pl.LazyFrame, counts: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Swap given name and surname where the statistics say they were entered the wrong way round
    ('Kranz Diana' when kranz is seen as a surname and diana as a given name): the table's own, or
    ``counts`` (``token_counts`` over a larger table this one is part of)."""
    if counts is None:
        counts = token_counts(pl.col("_first"), pl.col("_last"), pl.col("_n"), t)
    one_each = (pl.col("_gfull").list.len() == 1) & (pl.col("_sw").str.contains(" ").not_())
    t = t.with_columns(_o_first=pl.col("_first"), _o_last=pl.col("_last"),
                       _o_free=(~pl.col("_cjk") & one_each & pl.col("_first").is_not_null()
                                & pl.col("_last").is_not_null()).fill_null(False))
    t = stat_swaps(t, counts, first="_first", last="_last", free="_o_free").rename({"_stat": "_o_stat"})
    initial_as_surname = (pl.col("_sw").str.len_chars() == 1) & (pl.col("_gfull").list.len() > 0)
    swap = (pl.col("_o_stat") | (~pl.col("_cjk") & initial_as_surname)).fill_null(False)
    t = t.with_columns(
        _gw=pl.when(swap).then("_sw").otherwise("_gw"),
        _sw=pl.when(swap).then("_gw").otherwise("_sw"),
    )
    t = t.with_columns(_gfull=pl.col("_gw").str.split(" ").list.eval(
        pl.element().filter(pl.element().str.len_chars() > 1)))
    return t.with_columns(_first=pl.col("_gfull").list.first(), _last=pl.col("_sw").str.replace_all(" ", ""),
                          _initial=pl.col("_gw").str.slice(0, 1))


def add_person_name(df: pl.DataFrame, prefix: str, *, given: str | None = "given_name",
                    surname: str | None = "surname", full: str | None = "full_name",
                    suffix: str | None = None, counts: pl.DataFrame | None = None,
                    orientation: bool = False) -> pl.DataFrame:
    """Add name features (see ``name_features``), computed once per distinct name."""
    cols = [c for c in (given, surname, full) if c and c in df.columns]
    if not cols:
        raise InputError(f"name comparison {prefix!r} needs at least one of the columns "
                         f"{[c for c in (given, surname, full) if c]}; the input has {df.columns}")
    if suffix and suffix in df.columns:
        cols.append(suffix)
    uniq = df.group_by(cols).agg(_n=pl.len())
    feats = name_features(uniq, prefix, given=given, surname=surname, full=full, suffix=suffix, counts=counts,
                          orientation=orientation).drop("_n")
    return df.join(feats, on=cols, how="left", nulls_equal=True, maintain_order="left")


def _latin_name_words(t: pl.LazyFrame) -> pl.LazyFrame:
    """Given and surname words of names in Latin script; one-field names are split by convention:
    "Surname, Given", "SURNAME Given", "Smith J." (one full word), otherwise "Given Surname"."""
    t = t.with_columns(_comma=pl.col("_f").str.contains(","),
                       _tok=pl.col("_f").str.replace_all(",", " ").str.replace_all(r"\s+", " ")
                       .str.strip_chars().str.split(" "))
    is_long = pl.element().str.replace_all(r"[.\-']", "").str.len_chars() > 1
    t = t.with_columns(_t0=pl.col("_tok").list.first(),
                       _long=pl.col("_tok").list.eval(pl.element().filter(is_long)),
                       _short=pl.col("_tok").list.eval(pl.element().filter(~is_long)))
    t = t.with_columns(_upper_first=(pl.col("_t0").str.contains(r"\p{Lu}{2}") & ~pl.col("_t0").str.contains(r"\p{Ll}")
                                     & pl.col("_f").str.contains(r"\p{Ll}")).fill_null(False),
                       _one_long=(pl.col("_long").list.len() == 1) & (pl.col("_short").list.len() > 0))
    f_sur = (pl.when("_comma").then(pl.col("_f").str.extract(r"^([^,]*),", 1))
             .when("_one_long").then(pl.col("_long").list.first())
             .when("_upper_first").then("_t0").otherwise(pl.col("_tok").list.last()))
    f_giv = (pl.when("_comma").then(pl.col("_f").str.extract(r",(.*)$", 1))
             .when("_one_long").then(pl.col("_short").list.join(" "))
             .when("_upper_first").then(pl.col("_tok").list.slice(1).list.join(" "))
             .otherwise(pl.col("_tok").list.head(pl.col("_tok").list.len() - 1).list.join(" ")))
    t = t.with_columns(_gl=pl.when("_split").then("_g").otherwise(f_giv),
                       _sl=pl.when("_split").then("_s").otherwise(f_sur))
    return t.with_columns(_gw=blank_punctuation(fold_chars(pl.col("_gl").str.to_lowercase())),
                          _sw=blank_punctuation(fold_chars(pl.col("_sl").str.to_lowercase())),
                          _hanzi=pl.lit(None, dtype=pl.Utf8))


def _chinese_name_words(t: pl.LazyFrame) -> pl.LazyFrame:
    """Names in Chinese characters: honorifics dropped, simplified, surname (compound or one
    character) and given name split, both as pinyin words."""
    honor = "|".join(CJK_HONORIFICS)

    def cn(c: str) -> pl.Expr:
        return simplified_runs(pl.col(c).str.replace_all(honor, "").str.replace_all(r"[\s·.,]", ""))

    t = t.with_columns(_cg=cn("_g"), _cs=cn("_s"), _cf=cn("_f"))
    both = pl.col("_cg").str.len_chars().fill_null(0).gt(0) & pl.col("_cs").str.len_chars().fill_null(0).gt(0)
    whole = pl.coalesce(pl.when(pl.col("_split")).then(None).otherwise("_cf"), "_cg", "_cs")
    compound = whole.str.extract("^(" + "|".join(MATCH_COMPOUND_SURNAMES) + ")", 1)
    sur = pl.when(compound.is_not_null() & (whole.str.len_chars() > compound.str.len_chars())).then(compound) \
        .otherwise(whole.str.slice(0, 1))
    t = t.with_columns(_csur=pl.when(both).then("_cs").otherwise(sur),
                       _cgiv=pl.when(both).then("_cg").otherwise(whole.str.slice(sur.str.len_chars())))
    return t.with_columns(
        _gw=blank_punctuation(runs_expr(pl.col("_cgiv"), pinyin_joined).str.to_lowercase()),
        _sw=blank_punctuation(runs_expr(pl.col("_csur"), pinyin_joined).str.to_lowercase()),
        _hanzi=pl.concat_str(["_csur", "_cgiv"]))


def name_features(df: pl.DataFrame, prefix: str, *, given: str | None, surname: str | None,
                   full: str | None, suffix: str | None = None, counts: pl.DataFrame | None = None,
                   orientation: bool = False) -> pl.DataFrame:
    """Add name features from split and/or one-field names, in any order and script.

    ``<prefix>__first``  first given name (folded; pinyin for Chinese), initials dropped
    ``<prefix>__last``   surname (folded, romanisation variants such as Chan -> chen mapped)
    ``<prefix>__key``    all name words sorted: equal for 'Zhang Wei', 'Wei Zhang', '张伟', '張偉'
    ``<prefix>__initial`` first letter of the given name; ``__is_initial`` given is only an initial
    ``<prefix>__formals`` formal names the given name can stand for (Bob -> [robert])
    ``<prefix>__hanzi``  the name in simplified characters when written in characters
    ``<prefix>__suffix`` jr / sr / ii ... or '-' when absent: from the ``suffix`` column (staging
                         splits Jr./Sr. off the name) or else from the end of a name field

    Given name and surname are swapped by statistics over every name of ``df`` (``_n`` rows each),
    or by ``counts`` (``token_counts`` of a larger table); ``orientation`` adds the ``ORIENTATION``
    columns, from which incremental matching tells whose orientation new statistics change.
    """
    def col(name: str | None) -> pl.Expr:
        if name is None or name not in df.columns:
            return pl.lit(None, dtype=pl.Utf8)
        return clean(pl.col(name))

    suffix_re = r"(?i)[\s,]+(jr|junior|sr|senior|ii|iii|iv)\.?$"
    title_re = rf"(?i)^(?:{TITLES}\.?\s+)+"
    t = df.lazy().select(_g=col(given), _s=col(surname), _f=col(full), _x=col(suffix), _n=pl.col("_n"),
                         _row=pl.int_range(pl.len(), dtype=pl.UInt32))
    t = t.with_columns(_split=pl.col("_g").is_not_null() | pl.col("_s").is_not_null())
    given_suffix = (pl.col("_x").str.to_lowercase().str.replace_all(r"[^a-z]", "")
                    .replace_strict(SUFFIXES, default=None, return_dtype=pl.Utf8))
    t = t.with_columns(
        _suffix=pl.coalesce([given_suffix, *[pl.col(c).str.extract(suffix_re, 1).str.to_lowercase()
                                             .replace(SUFFIXES) for c in ("_s", "_g", "_f")]]).fill_null("-"),
        **{c: pl.col(c).str.replace(suffix_re, "").str.replace(title_re, "") for c in ("_g", "_s", "_f")})
    t = t.with_columns(**{c: pl.when(pl.col(c).str.len_chars() > 0).then(c).otherwise(None)
                          for c in ("_g", "_s", "_f")})
    t = t.with_columns(_cjk=has_han(pl.concat_str(["_g", "_s", "_f"], separator="|", ignore_nulls=True)))
    t = t.collect()
    common = ["_row", "_n", "_cjk", "_suffix", "_gw", "_sw", "_hanzi"]
    parts = [_latin_name_words(t.filter(~pl.col("_cjk")).lazy()).select(common),
             _chinese_name_words(t.filter(pl.col("_cjk")).lazy()).select(common)]
    t = pl.concat(parts).lazy()
    t = t.with_columns(_gfull=pl.col("_gw").str.split(" ").list.eval(
        pl.element().filter(pl.element().str.len_chars() > 1)))
    t = t.with_columns(
        _first=pl.col("_gfull").list.first(),
        _last=pl.col("_sw").str.replace_all(" ", ""),
        _initial=pl.col("_gw").str.slice(0, 1),
    )
    keep = ["_row", "_n", "_cjk", "_gw", "_sw", "_hanzi", "_gfull", "_first", "_last", "_initial", "_suffix"]
    t = _orient(t.select(keep).collect().lazy(),   # materialised: the statistics read it three times
                None if counts is None else counts.lazy())
    t = t.with_columns(
        _last=pl.col("_last").replace(ROMANISATIONS),
        _is_initial=(pl.col("_gw").is_not_null() & (pl.col("_gfull").list.len() == 0)).fill_null(False),
        _no_given=pl.col("_gw").is_null() & pl.col("_last").is_not_null(),
        _key=pl.concat_list([pl.col("_gfull").fill_null([]), pl.col("_sw").str.split(" ").fill_null([])])
        .list.eval(pl.element().replace(ROMANISATIONS).filter(pl.element().str.len_chars() > 0))
        .list.sort().list.join(" "),
    )
    formals = nickname_formals()
    nick = pl.DataFrame({"_first": list(formals), "_formals": list(formals.values())},
                        schema={"_first": pl.Utf8, "_formals": pl.List(pl.Utf8)})
    t = t.join(nick.lazy(), on="_first", how="left", maintain_order="left")
    t = t.with_columns(_formals=pl.when(pl.col("_first").is_null()).then(None)
                       .otherwise(pl.coalesce("_formals", pl.concat_list(["_first"]))))
    # initials a given name can be written with: its own, its formal names' and their nicknames'
    inits = nickname_initials()
    ini = pl.DataFrame({"_first": list(inits), "_inits": list(inits.values())},
                       schema={"_first": pl.Utf8, "_inits": pl.List(pl.Utf8)})
    t = t.join(ini.lazy(), on="_first", how="left", maintain_order="left")
    t = t.with_columns(_inits=pl.when(pl.col("_initial").is_null()).then(None).otherwise(
        pl.concat_list([pl.col("_initial")]).list.concat(pl.col("_inits").fill_null([])).list.unique().list.sort()))
    p = prefix
    out = t.select(
        pl.col("_row"),
        pl.col("_first").alias(f"{p}__first"),
        pl.when(pl.col("_last").str.len_chars() > 0).then("_last").otherwise(None).alias(f"{p}__last"),
        pl.when(pl.col("_key").str.len_chars() > 0).then("_key").otherwise(None).alias(f"{p}__key"),
        pl.col("_initial").alias(f"{p}__initial"),
        pl.col("_is_initial").alias(f"{p}__is_initial"),
        pl.col("_no_given").alias(f"{p}__no_given"),
        pl.col("_formals").alias(f"{p}__formals"),
        pl.col("_inits").alias(f"{p}__initials"),
        pl.concat_str([pl.col("_formals").list.first(), pl.col("_last")], separator=" ").alias(f"{p}__formal_key"),
        pl.col("_hanzi").alias(f"{p}__hanzi"),
        pl.col("_suffix").alias(f"{p}__suffix"),
        (pl.col("_suffix") == "-").alias(f"{p}__no_suffix"),
        (pl.col("_suffix") != "-").alias(f"{p}__has_suffix"),
        *([pl.col(f"_{c}").alias(f"{p}__{c}") for c in ORIENTATION] if orientation else []),
    )
    out = out.collect().sort("_row").drop("_row")
    return pl.concat([df, out], how="horizontal")


# --------------------------------------------------------------------------------------------
# prepare: every feature the settings reference
# --------------------------------------------------------------------------------------------
class InputError(ValueError):
    """An input table the engine cannot match, with the table, row and column named."""


def referenced_columns(settings) -> set[str]:
    cols: set[str] = set()
    for comp in settings.comparisons:
        cols |= comp.columns()
    for rule in (*settings.blocking_rules, *settings.training_rules):
        cols.update(rule.on)
    return cols


def base_columns(col: str, settings) -> set[str]:
    """Input columns a feature is computed from (template features resolve to their inputs)."""
    for comp in settings.comparisons:
        t = comp.template or {}
        if t.get("template") == "person_name" and col.startswith(comp.name + "__"):
            return {c for c in (t.get("given"), t.get("surname"), t.get("full"), t.get("suffix")) if c}
    if "__" in col:
        base, _, tr = col.rpartition("__")
        if tr in TRANSFORMS:
            return base_columns(base, settings)
    return {col}


def check_unique_id(df: pl.DataFrame, uid: str, *, table: str = "input") -> None:
    """The unique-id column must exist, be non-null and unique; errors name the rows."""
    if uid not in df.columns:
        raise InputError(f"{table}: unique id column {uid!r} is missing (columns: {df.columns})")
    nulls = df.select(pl.col(uid).is_null().arg_true().head(5)).to_series().to_list()
    if nulls:
        raise InputError(f"{table}: unique id column {uid!r} is empty in rows {[r + 1 for r in nulls]}")
    dup = df.with_row_index("_row").filter(pl.col(uid).is_duplicated()).head(5)
    if dup.height:
        rows = [r + 1 for r in dup["_row"].to_list()]
        raise InputError(f"{table}: unique id column {uid!r} has duplicate values in rows {rows} "
                         f"(e.g. {dup[uid][0]!r})")


def _on_unique(df: pl.DataFrame, steps: list[tuple[str, str, Transform]]) -> pl.DataFrame:
    """Costly steps evaluated once per distinct input value and joined back."""
    for col, src, tr in steps:
        uniq = df.select(pl.col(src).unique().drop_nulls())
        mapped = uniq.lazy().with_columns(tr.fn(pl.col(src)).alias(col)).collect()
        df = df.join(mapped, on=src, how="left", maintain_order="left")
    return df


def prepare(df: pl.DataFrame, settings, *, table: str = "input", name_counts: dict[str, pl.DataFrame] | None = None,
            orientation: bool = False) -> pl.DataFrame:
    """Input frame -> features frame (same rows, same order): the input columns plus every feature
    the comparisons and blocking rules name (intermediate steps are dropped). ``name_counts`` (per
    person-name comparison: ``token_counts`` of a larger table) and ``orientation``: see
    ``name_features``."""
    uid = settings.unique_id
    check_unique_id(df, uid, table=table)
    out = df
    for comp in settings.comparisons:
        t = comp.template or {}
        if t.get("template") == "person_name" and f"{comp.name}__key" not in out.columns:
            out = add_person_name(out, comp.name, given=t.get("given"), surname=t.get("surname"),
                                  full=t.get("full"), suffix=t.get("suffix"),
                                  counts=(name_counts or {}).get(comp.name), orientation=orientation)
    wanted = referenced_columns(settings)
    plan: list[list[tuple[str, str | None, Transform]]] = []
    placed: dict[str, int] = {}

    def depth(col: str, seen: tuple[str, ...] = ()) -> int:
        if col in out.columns:
            return 0
        if col in placed:
            return placed[col]
        base, sep, tr = col.rpartition("__")
        if not sep or tr not in TRANSFORMS or col in seen:
            users = sorted(c.name for c in settings.comparisons if col in c.columns())
            users += sorted(r.name for r in settings.blocking_rules if col in r.on)
            raise InputError(f"{table}: settings need column {col!r} (used by {users}), which the input "
                             f"lacks and no transform derives; input columns: {df.columns}")
        step = TRANSFORMS[tr]
        src = base if step.after is None else f"{base}__{step.after}"
        d = depth(src, (*seen, col)) + 1
        while len(plan) < d:
            plan.append([])
        plan[d - 1].append((col, src, step))
        placed[col] = d
        return d

    for col in sorted(wanted - set(out.columns)):
        depth(col)
    for steps in plan:
        cheap = [(c, src, tr) for c, src, tr in steps if not tr.unique]
        if cheap:   # lazy, so repeated sub-expressions are computed once
            out = out.lazy().with_columns([tr.fn(pl.col(src)).alias(c) for c, src, tr in cheap]).collect()
        out = _on_unique(out, [(c, src, tr) for c, src, tr in steps if tr.unique])
    scratch = [c for c in placed if c not in wanted]
    return out.drop(scratch)
