"""Comparison library (name, e-mail, phone, date, postcode, address, company ...) and the
vectorised evaluation of comparison levels over candidate-pair arrays.

Exact tests compare integer codes (one dense rank per feature column), fuzzy tests run
rapidfuzz ``process.cpdist`` once per distinct pair of values, so a city pair seen 10,000
times is scored once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein, Indel, Jaro, JaroWinkler, Levenshtein

from dedupe.matching.levels import Comparison, Level

SCORERS: dict[str, Callable] = {
    "jaro_winkler": JaroWinkler.normalized_similarity,
    "jaro": Jaro.normalized_similarity,
    "levenshtein": Levenshtein.normalized_similarity,
    "damerau_levenshtein": DamerauLevenshtein.normalized_similarity,
    "indel": Indel.normalized_similarity,
    "ratio": fuzz.ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
}
PERCENT_SCORERS = {"ratio", "token_sort_ratio", "token_set_ratio", "partial_ratio"}
DISTANCES: dict[str, Callable] = {
    "levenshtein": Levenshtein.distance,
    "damerau_levenshtein": DamerauLevenshtein.distance,
    "indel": Indel.distance,
}


# --------------------------------------------------------------------------------------------
# Library of domain comparisons
# --------------------------------------------------------------------------------------------
def _c(name: str, levels: list[Level], template: dict, description: str = "") -> Comparison:
    return Comparison(name=name, levels=tuple(levels), description=description, template=template)


def person_name(name: str = "name", *, given: str | None = "given_name", surname: str | None = "surname",
                full: str | None = "full_name", suffix: str | None = None, tf: bool = True) -> Comparison:
    """Whole-name comparison, robust to order, script (张伟 / 張偉 / Zhang Wei / Wei Zhang),
    nicknames (Bob / Robert), romanisations (Chan / Chen), initials (J. Smith) and typos; a
    different given name at the same surname is its own level (households). ``suffix``: a column
    holding Jr./Sr. when staging has already split it off the name."""
    p = name
    return _c(name, [
        Level("null", (f"{p}__key",), label="no name"),
        Level("exact", (f"{p}__key",), compatible=(f"{p}__hanzi",), label="same name",
              tf_column=f"{p}__key" if tf else None),
        Level("exact", (f"{p}__key",), label="same pinyin, other characters"),
        Level("overlap", (f"{p}__formals",), same=(f"{p}__last",), label="nickname, same surname",
              tf_column=f"{p}__formal_key" if tf else None),
        Level("fuzzy", (f"{p}__key",), scorer="jaro_winkler", threshold=0.93, label="near-identical name"),
        Level("fuzzy", (f"{p}__first",), scorer="damerau_levenshtein", threshold=0.75, same=(f"{p}__last",),
              label="same surname, given name typo"),
        Level("fuzzy", (f"{p}__last",), scorer="damerau_levenshtein", threshold=0.75, same=(f"{p}__first",),
              label="same given name, surname typo"),
        Level("exact", (f"{p}__last",), overlap=(f"{p}__initials",), when_any=f"{p}__is_initial",
              label="initial and surname", tf_column=f"{p}__last" if tf else None),
        Level("fuzzy", (f"{p}__last",), scorer="damerau_levenshtein", threshold=0.75, overlap=(f"{p}__initials",),
              when_any=f"{p}__is_initial", label="initial, surname typo"),
        Level("exact", (f"{p}__last",), when_any=f"{p}__no_given", label="surname only",
              tf_column=f"{p}__last" if tf else None),
        Level("exact", (f"{p}__last",), label="same surname, other given name",
              tf_column=f"{p}__last" if tf else None),
        Level("exact", (f"{p}__first",), label="same given name, other surname"),
        Level("overlap", (f"{p}__formals",), label="nickname, other surname"),
        Level("fuzzy", (f"{p}__first",), scorer="damerau_levenshtein", threshold=0.75,
              label="similar given name, other surname"),
        Level("if", overlap=(f"{p}__initials",), when_any=f"{p}__is_initial", label="initial, other surname"),
        Level("fuzzy", (f"{p}__key",), scorer="jaro_winkler", threshold=0.82, label="similar name"),
        Level("else", label="different name"),
    ], {"template": "person_name", "given": given, "surname": surname, "full": full, "tf": tf,
        **({"suffix": suffix} if suffix else {})})


def name_suffix(name: str = "name_suffix", *, of: str = "name", place: str | None = None) -> Comparison:
    """Jr. / Sr. / III as written: father and son share everything else. A suffix on one side only
    is weak evidence (it is often left out); two different suffixes are a conflict.

    With ``place`` (a city column), two records without a suffix get a level of their own when a
    Jr./Sr. of the same (formal) name is on record in the same city: two generations of that
    name live there, so name and address no longer tell which one a plain record is."""
    template = {"template": "name_suffix", "of": of}
    if not place:
        return _c(name, [
            Level("exact", (f"{of}__suffix",), label="same suffix"),
            Level("if", when_any=f"{of}__no_suffix", label="suffix on one side only"),
            Level("else", label="different suffix"),
        ], template)
    template["place"] = place
    # the rare generations level comes first, so m starts from these priors rather than from
    # "most matches agree at the first level"
    return _c(name, [
        Level("exact", (f"{of}__suffix",), when_any=f"{of}__no_suffix", peer_flag=f"{of}__has_suffix",
              peer_key=(f"{of}__formal_key", f"{place}__city"), label=GENERATIONS_LEVEL, m=0.005),
        Level("exact", (f"{of}__suffix",), label="same suffix", m=0.975),
        Level("if", when_any=f"{of}__no_suffix", label="suffix on one side only", m=0.015),
        Level("else", label="different suffix", m=0.005),
    ], template)


#: Label of the name_suffix level for two plain records whose name+place a Jr./Sr. shares.
GENERATIONS_LEVEL = "no suffix, a Jr./Sr. of the name in the city"


def email(name: str = "email", *, column: str = "email") -> Comparison:
    """E-mail: exact, same mailbox after Gmail dots / +tags, shared role address (info@),
    same local part at another domain, one typo."""
    c = column
    return _c(name, [
        Level("null", (f"{c}__canonical",), label="no e-mail"),
        Level("exact", (f"{c}__email",), unless_any=f"{c}__generic", label="same address"),
        Level("exact", (f"{c}__canonical",), unless_any=f"{c}__generic", label="same mailbox (dots/+tag)"),
        Level("exact", (f"{c}__canonical",), label="same role address (info@, sales@)"),
        Level("exact", (f"{c}__local",), unless_any=f"{c}__generic", when_any=f"{c}__numbered",
              label="same local part, other domain"),
        Level("distance", (f"{c}__canonical",), scorer="damerau_levenshtein", threshold=1, label="one typo"),
        Level("exact", (f"{c}__local",), unless_any=f"{c}__generic", label="same name-like local part, other domain"),
        Level("else", label="different address"),
    ], {"template": "email", "column": column})


def email_year(name: str = "email_year", *, column: str = "email") -> Comparison:
    """Years in mailbox names (davidhart85 / dhart1994): people reuse their birth year when they make
    a second address, so two different years are evidence of two people (father and son)."""
    c = column
    return _c(name, [
        Level("null", (f"{c}__year",), label="no year in e-mail"),
        Level("exact", (f"{c}__year",), label="same year in e-mail"),
        Level("else", label="different year in e-mail"),
    ], {"template": "email_year", "column": column})


def phone(name: str = "phone", *, column: str = "phone") -> Comparison:
    """Phone by its last nine digits (E.164, national, 00 and trunk-0 spellings agree). Two different
    mobile numbers weigh more against a match than a mobile and a landline."""
    c = column
    return _c(name, [
        Level("null", (f"{c}__key",), label="no phone"),
        Level("exact", (f"{c}__key",), label="same number"),
        Level("distance", (f"{c}__key",), scorer="damerau_levenshtein", threshold=1, label="one digit off"),
        Level("if", when_both=f"{c}__mobile", label="two different mobiles"),
        Level("else", label="different number"),
    ], {"template": "phone", "column": column})


def postcode(name: str = "postcode", *, column: str = "postal_code") -> Comparison:
    c = column
    return _c(name, [
        Level("null", (f"{c}__postcode",), label="no postcode"),
        Level("exact", (f"{c}__postcode",), label="same postcode"),
        Level("exact", (f"{c}__first3",), label="same area (first 3)"),
        Level("else", label="different postcode"),
    ], {"template": "postcode", "column": column})


def city(name: str = "city", *, column: str = "city", tf: bool = True) -> Comparison:
    """City across scripts and exonyms (深圳市 == Shenzhen, Munich == München)."""
    c = column
    return _c(name, [
        Level("null", (f"{c}__city",), label="no city"),
        Level("exact", (f"{c}__city",), label="same city", tf_column=f"{c}__city" if tf else None),
        Level("fuzzy", (f"{c}__city",), scorer="jaro_winkler", threshold=0.9, label="similar city"),
        Level("else", label="different city"),
    ], {"template": "city", "column": column, "tf": tf})


def address(name: str = "address", *, column: str = "street", postcode: str | None = "postal_code",
            city: str | None = "city") -> Comparison:
    """Where the customer lives, as one comparison (street, postcode and city are not independent
    evidence): street line with abbreviations spelled out and words sorted (Chinese as pinyin),
    postcode, city across scripts and exonyms."""
    c = column
    pc = (f"{postcode}__postcode",) if postcode else ()
    cc = (f"{city}__city",) if city else ()
    levels = [
        Level("null", (f"{c}__street", *pc, *cc), label="no address"),
        Level("exact", (f"{c}__street",), compatible=pc + cc, label="same street address"),
        Level("fuzzy", (f"{c}__street",), scorer="token_set_ratio", threshold=0.9, same=(f"{c}__number",),
              compatible=pc + cc, label="similar street, same number"),
    ]
    if pc:
        levels.append(Level("exact", pc, label="same postcode, other street"))
    if cc:
        levels.append(Level("exact", cc, compatible=(f"{postcode}__first2",) if postcode else (),
                            label="same city", tf_column=cc[0]))
        levels.append(Level("fuzzy", cc, scorer="jaro_winkler", threshold=0.9, label="similar city"))
    levels.append(Level("else", label="elsewhere"))
    return _c(name, levels, {"template": "address", "column": column, "postcode": postcode, "city": city})


def company(name: str = "company", *, column: str = "company_name") -> Comparison:
    """Company without legal form (GmbH / G.m.b.H. / Ltd / 有限公司)."""
    c = column
    return _c(name, [
        Level("null", (f"{c}__company",), label="no company"),
        Level("exact", (f"{c}__company",), label="same company"),
        Level("fuzzy", (f"{c}__company",), scorer="jaro_winkler", threshold=0.9, label="similar company"),
        Level("else", label="different company"),
    ], {"template": "company", "column": column})


def vat_id(name: str = "vat_id", *, column: str = "vat_id") -> Comparison:
    c = column
    return _c(name, [
        Level("null", (f"{c}__vat",), label="no VAT id"),
        Level("exact", (f"{c}__vat",), label="same VAT id"),
        Level("else", label="different VAT id"),
    ], {"template": "vat_id", "column": column})


def country(name: str = "country", *, column: str = "country") -> Comparison:
    c = column
    return _c(name, [
        Level("null", (f"{c}__country",), label="no country"),
        Level("exact", (f"{c}__country",), label="same country"),
        Level("else", label="different country"),
    ], {"template": "country", "column": column})


def date(name: str = "date", *, column: str = "date", max_days: int = 365) -> Comparison:
    """Dates: exact, one character off as written (typo, swapped digits), within ``max_days``."""
    c = column
    return _c(name, [
        Level("null", (f"{c}__date", f"{c}__alnum"), label="no date"),
        Level("exact", (f"{c}__date",), label="same date"),
        Level("distance", (f"{c}__alnum",), scorer="damerau_levenshtein", threshold=1, label="one typo"),
        Level("abs_diff", (f"{c}__date",), threshold=max_days, label=f"within {max_days} days"),
        Level("else", label="different date"),
    ], {"template": "date", "column": column, "max_days": max_days})


def string(name: str, *, column: str | None = None, tf: bool = False,
           thresholds: tuple[float, ...] = (0.92, 0.8), scorer: str = "jaro_winkler") -> Comparison:
    """Any text field: exact (folded), then fuzzy thresholds, then else."""
    c = column or name
    levels = [Level("null", (f"{c}__alnum",), label=f"no {c}"),
              Level("exact", (f"{c}__alnum",), label="exact", tf_column=f"{c}__alnum" if tf else None)]
    levels += [Level("fuzzy", (f"{c}__alnum",), scorer=scorer, threshold=t, label=f"{scorer} >= {t}")
               for t in thresholds]
    levels.append(Level("else", label="different"))
    return _c(name, levels, {"template": "string", "column": c, "tf": tf, "thresholds": list(thresholds),
                             "scorer": scorer})


def exact(name: str, *, column: str | None = None, tf: bool = False) -> Comparison:
    c = column or name
    return _c(name, [
        Level("null", (f"{c}__alnum",), label=f"no {c}"),
        Level("exact", (f"{c}__alnum",), label="exact", tf_column=f"{c}__alnum" if tf else None),
        Level("else", label="different"),
    ], {"template": "exact", "column": c, "tf": tf})


TEMPLATES: dict[str, Callable[..., Comparison]] = {
    "person_name": person_name, "name_suffix": name_suffix, "email": email, "email_year": email_year,
    "phone": phone,
    "postcode": postcode, "city": city, "address": address, "company": company, "vat_id": vat_id,
    "country": country, "date": date, "string": string, "exact": exact,
}


def comparison_from_template(template: str, *, name: str, **options) -> Comparison:
    """A library comparison by template name (the YAML ``template:`` key)."""
    if template not in TEMPLATES:
        raise KeyError(f"unknown comparison template {template!r}; known: {sorted(TEMPLATES)}")
    if "thresholds" in options:
        options["thresholds"] = tuple(options["thresholds"])
    return TEMPLATES[template](name, **options)


# --------------------------------------------------------------------------------------------
# Evaluation over pair arrays
# --------------------------------------------------------------------------------------------
def record_codes(feats: pl.DataFrame, col: str, cache: dict) -> np.ndarray:
    """Integer code per record, equal exactly when the values are equal (a 63-bit hash; -1 for
    null; 0/1 for boolean columns); cached in ``cache`` for every later use."""
    if col not in cache:
        s = feats[col]
        if s.dtype == pl.Boolean:
            arr = s.fill_null(False).cast(pl.Int64).to_numpy()
        else:
            h = s.hash(seed=7).to_numpy()
            arr = (h >> np.uint64(1)).astype(np.int64)
            arr[s.is_null().to_numpy()] = -1
        cache[col] = arr
    return cache[col]


def record_key(feats: pl.DataFrame, cols: tuple[str, ...], cache: dict) -> np.ndarray:
    """One code per record for a combination of columns (-1 when any of them is null)."""
    key = ("__key__", cols)
    if key not in cache:
        codes = [record_codes(feats, c, cache) for c in cols]
        k = codes[0].copy()
        for c in codes[1:]:
            k = (k * np.int64(1_000_003)) ^ c
        k &= np.int64(0x7FFF_FFFF_FFFF_FFFF)
        null = np.zeros(len(k), dtype=bool)
        for c in codes:
            null |= c < 0
        k[null] = -1
        cache[key] = k
    return cache[key]


def peer_column(flag: str, key: tuple[str, ...]) -> str:
    """Name of the per-record column ``peer_flags`` reads when the features frame already holds it
    (an engine that scores pairs in batches computes it over the whole table beforehand)."""
    return "__peer__" + "__".join((flag, *key))


def peer_flags(feats: pl.DataFrame, flag: str, key: tuple[str, ...], cache: dict) -> np.ndarray:
    """Per record: some record with the same ``key`` values (none null; itself included) has
    ``flag`` true. Computed over the whole features frame, once."""
    ck = ("__peer__", flag, key)
    if ck not in cache:
        pre = peer_column(flag, key)
        if pre in feats.columns:
            cache[ck] = feats[pre].fill_null(False).to_numpy()
        else:
            k = record_key(feats, key, cache)
            f = record_codes(feats, flag, cache) > 0
            any_ = pl.DataFrame({"k": k, "f": f}).select(pl.col("f").any().over("k")).to_series().to_numpy()
            cache[ck] = any_ & (k >= 0)
    return cache[ck]


def block_sizes(feats: pl.DataFrame, cols: tuple[str, ...], cache: dict) -> np.ndarray:
    """How many records share each record's key for ``cols``."""
    key = ("__sizes__", cols)
    if key not in cache:
        k = record_key(feats, cols, cache)
        cache[key] = pl.DataFrame({"k": k}).select(pl.len().over("k")).to_series().to_numpy()
    return cache[key]


class PairColumns:
    """Feature values of both sides of many pairs, fetched lazily and cached per column."""

    def __init__(self, feats: pl.DataFrame, left: np.ndarray, right: np.ndarray,
                 codes: dict[str, np.ndarray] | None = None) -> None:
        self.feats = feats
        self.left = left
        self.right = right
        self.n = len(left)
        self._codes = codes if codes is not None else {}
        self._pair_codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._scores: dict[tuple, np.ndarray] = {}

    def release(self) -> None:
        """Drop per-pair caches (codes gathered for pairs, fuzzy scores); the per-record codes stay
        for the next comparison."""
        self._pair_codes.clear()
        self._scores.clear()

    def record_codes(self, col: str) -> np.ndarray:
        return record_codes(self.feats, col, self._codes)

    def codes(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        if col not in self._pair_codes:
            rc = self.record_codes(col)
            self._pair_codes[col] = (rc[self.left], rc[self.right])
        return self._pair_codes[col]

    def values(self, col: str, idx: np.ndarray) -> tuple[pl.Series, pl.Series]:
        s = self.feats[col]
        return s.gather(self.left[idx]), s.gather(self.right[idx])


def _fuzzy(pc: PairColumns, col: str, idx: np.ndarray, scorer: str, distance: bool,
           cutoff: float | None = None) -> np.ndarray:
    """Similarity (or distance) for the pairs ``idx``; computed once per distinct value pair when
    values repeat, with ``cutoff`` letting rapidfuzz stop early on hopeless pairs. Scores are kept
    per (column, scorer), so levels at several thresholds of one measure compute it once."""
    if len(idx) == 0:
        return np.zeros(0)
    cache = pc._scores.setdefault((col, scorer, distance, cutoff), np.full(pc.n, np.nan))
    need = idx[np.isnan(cache[idx])]
    if len(need):
        cache[need] = _compute(pc, col, need, scorer, distance, cutoff)
    return cache[idx]


def _compute(pc: PairColumns, col: str, idx: np.ndarray, scorer: str, distance: bool,
             cutoff: float | None) -> np.ndarray:
    cl, cr = pc.codes(col)
    cl, cr = cl[idx], cr[idx]
    key = cl * np.int64(1_000_003) ^ cr     # 64-bit mix of two hashes: distinct value pairs stay distinct
    probe = key[: min(len(key), 20_000)]
    if len(np.unique(probe)) < 0.8 * len(probe):
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        rows = idx[first]
    else:
        rows, inverse = idx, None
    values = pc.feats[col].cast(pl.Utf8)
    a, b = values.gather(pc.left[rows]).to_list(), values.gather(pc.right[rows]).to_list()
    if distance:
        kw = {"score_cutoff": int(cutoff) + 1} if cutoff is not None else {}
        res = process.cpdist(a, b, scorer=DISTANCES[scorer], workers=-1, **kw).astype(np.float64)
    else:
        pct = scorer in PERCENT_SCORERS
        kw = {"score_cutoff": cutoff * (100.0 if pct else 1.0)} if cutoff is not None else {}
        res = process.cpdist(a, b, scorer=SCORERS[scorer], workers=-1, **kw).astype(np.float64)
        if pct:
            res = res / 100.0
    return res if inverse is None else res[inverse]


def _level_mask(pc: PairColumns, lv: Level, todo: np.ndarray, cutoffs: dict | None = None) -> np.ndarray:
    """Boolean mask (over all pairs) of undecided pairs that pass ``lv``."""
    n = pc.n
    mask = todo.copy()
    if lv.kind == "else":
        return mask
    if lv.kind == "null":
        null = np.ones(n, dtype=bool)
        for c in lv.columns:
            cl, cr = pc.codes(c)
            null &= (cl < 0) | (cr < 0)
        return mask & null
    for c in lv.same + (lv.columns if lv.kind == "exact" else ()):
        cl, cr = pc.codes(c)
        mask &= (cl == cr) & (cl >= 0)
    for c in lv.compatible:
        cl, cr = pc.codes(c)
        mask &= (cl == cr) | (cl < 0) | (cr < 0)
    if lv.when_any:
        cl, cr = pc.codes(lv.when_any)
        mask &= (cl > 0) | (cr > 0)
    if lv.when_both:
        cl, cr = pc.codes(lv.when_both)
        mask &= (cl > 0) & (cr > 0)
    if lv.unless_any:
        cl, cr = pc.codes(lv.unless_any)
        mask &= (cl <= 0) & (cr <= 0)
    if lv.peer_flag:
        peers = peer_flags(pc.feats, lv.peer_flag, lv.peer_key, pc._codes)
        mask &= peers[pc.left] | peers[pc.right]
    for c in lv.overlap:
        idx = np.flatnonzero(mask)
        if len(idx):
            left, right = pc.values(c, idx)
            ok = pl.DataFrame({"a": left, "b": right}).select(
                pl.col("a").list.set_intersection("b").list.len() > 0)["a"].fill_null(False).to_numpy()
            mask[idx[~ok]] = False
    if lv.kind in ("exact", "if"):
        return mask
    col = lv.columns[0]
    if lv.kind in ("fuzzy", "distance"):
        cl, cr = pc.codes(col)
        mask &= (cl >= 0) & (cr >= 0)
        idx = np.flatnonzero(mask)
        scorer = lv.scorer or "levenshtein"
        cut = (cutoffs or {}).get((col, scorer, lv.kind), lv.threshold)
        if lv.kind == "fuzzy":
            ok = _fuzzy(pc, col, idx, scorer, False, cut) >= lv.threshold
        else:
            ok = _fuzzy(pc, col, idx, scorer, True, cut) <= lv.threshold
        out = np.zeros(n, dtype=bool)
        out[idx[ok]] = True
        return out
    idx = np.flatnonzero(mask)
    out = np.zeros(n, dtype=bool)
    if len(idx) == 0:
        return out
    if lv.kind == "swapped":
        a_l, a_r = pc.values(lv.columns[0], idx)
        b_l, b_r = pc.values(lv.columns[1], idx)
        ok = ((a_l == b_r) & (b_l == a_r)).fill_null(False).to_numpy()
    elif lv.kind == "abs_diff":
        left, right = pc.values(col, idx)
        if left.dtype in (pl.Date, pl.Datetime) or isinstance(left.dtype, pl.Datetime):
            diff = (left.cast(pl.Date).cast(pl.Int64) - right.cast(pl.Date).cast(pl.Int64)).abs()
        else:
            diff = (left.cast(pl.Float64) - right.cast(pl.Float64)).abs()
        ok = (diff <= lv.threshold).fill_null(False).to_numpy()
    elif lv.kind == "overlap":
        left, right = pc.values(col, idx)
        frame = pl.DataFrame({"a": left, "b": right})
        ok = frame.select(pl.col("a").list.set_intersection("b").list.len() > 0)["a"].fill_null(False).to_numpy()
    else:  # pragma: no cover - kinds are validated in settings
        raise ValueError(lv.kind)
    out[idx[ok]] = True
    return out


def comparison_gamma(pc: PairColumns, comp: Comparison) -> np.ndarray:
    """Level per pair: -1 null, otherwise counting down from the best level to 0 (else)."""
    gamma = np.full(pc.n, -2, dtype=np.int8)
    todo = np.ones(pc.n, dtype=bool)
    cutoffs: dict[tuple, float] = {}
    for lv in comp.levels:   # one cutoff per measure: the loosest threshold any level uses
        if lv.kind in ("fuzzy", "distance"):
            key = (lv.columns[0], lv.scorer or "levenshtein", lv.kind)
            pick = min if lv.kind == "fuzzy" else max
            cutoffs[key] = pick(cutoffs.get(key, lv.threshold), lv.threshold)
    top = len(comp.scored_levels) - 1
    k = top
    for lv in comp.levels:
        hit = _level_mask(pc, lv, todo, cutoffs)
        if lv.kind == "null":
            gamma[hit] = -1
        else:
            gamma[hit] = k
            k -= 1
        todo &= ~hit
        if not todo.any():
            break
    gamma[gamma == -2] = 0
    return gamma


def term_frequencies(pc: PairColumns, col: str) -> tuple[np.ndarray, float]:
    """Share of records holding each pair's value (the larger of the two sides), and the expected
    share for a pair that agrees by chance (sum of squared shares)."""
    key = ("__tf__", col)
    if key not in pc._codes:
        s = pc.feats[col]
        n = max(s.len() - s.null_count(), 1)
        share = pc.feats.select(pl.when(pl.col(col).is_not_null()).then(pl.len().over(col) / n)).to_series()
        share = share.fill_null(np.nan).to_numpy().astype(np.float64)
        pc._codes[key] = (share, float(np.nansum(share) / n))
    share, expected = pc._codes[key]
    return np.fmax(share[pc.left], share[pc.right]), expected
