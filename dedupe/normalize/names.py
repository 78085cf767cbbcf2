"""Person names: split one-field forms into given name, surname, title and suffix.

Handles "Surname, Given", "Given Surname", "SURNAME Given" (an all-caps first token marks the
surname), initials and middle initials, titles (Dr., Herr, Mme ...), Jr./Sr./III, Chinese names
in characters (surname first, compound surnames such as 欧阳) and pinyin (surname-first order
is only assumed when the first token is a common Chinese surname and the other is not). All
string work is polars expressions, run once per distinct value.
"""

from __future__ import annotations

import functools
from importlib import resources

import polars as pl

from dedupe.normalize._columnwise import columnwise
from dedupe.normalize.cjk import CJK_CLASS
from dedupe.normalize.text import clean_text, proper_case


@functools.cache
def nickname_pairs() -> tuple[tuple[str, str], ...]:
    """(formal name, nickname) pairs of ``nicknames.csv`` as written, in file order: the one parse
    of the table, for the match features (``nickname_formals``) and the golden-record repairs."""
    text = resources.files("dedupe.normalize").joinpath("nicknames.csv").read_text(encoding="utf-8")
    rows = [line.split(",", 1) for line in text.splitlines()[1:] if "," in line]
    return tuple((formal.strip(), nick) for formal, nicks in rows for nick in nicks.split())


def _words(text: str) -> tuple[str, ...]:
    """A table written as blank-separated words."""
    return tuple(text.split())


NAME_FIELDS = ("given_name", "surname", "name_title", "name_suffix", "full_name")
NAME_STRUCT = pl.Struct({f: pl.Utf8() for f in NAME_FIELDS})

#: Title as written (lower-case, no dot) -> canonical form.
TITLES: dict[str, str] = {
    "dr": "Dr.",
    "doctor": "Dr.",
    "mr": "Mr.",
    "mister": "Mr.",
    "mrs": "Mrs.",
    "ms": "Ms.",
    "miss": "Miss",
    "mx": "Mx.",
    "herr": "Herr",
    "frau": "Frau",
    "m": "M.",
    "mme": "Mme",
    "madame": "Mme",
    "mlle": "Mlle",
    "monsieur": "M.",
    "prof": "Prof.",
    "professor": "Prof.",
    "sir": "Sir",
    "dame": "Dame",
}
#: Generational suffix as written (lower-case, no dot) -> canonical form.
SUFFIXES: dict[str, str] = {
    "jr": "Jr.",
    "junior": "Jr.",
    "sr": "Sr.",
    "senior": "Sr.",
    "ii": "II",
    "iii": "III",
    "iv": "IV",
}
#: Chinese honorifics written after the name.
ZH_HONORIFICS = ("先生", "女士", "小姐", "太太", "夫人", "老师", "老師", "博士", "教授")
#: Two-character Chinese surnames (simplified and traditional).
ZH_COMPOUND_SURNAMES = _words(
    "欧阳 歐陽 司马 司馬 诸葛 諸葛 上官 东方 東方 皇甫 令狐 慕容 尉迟 尉遲 公孙 公孫 夏侯 宇文 长孙 長孫 "
    "司徒 端木 澹台 轩辕 軒轅 南宫 南宮 独孤 獨孤 闻人 聞人 申屠 万俟 萬俟 呼延 钟离 鍾離 赫连 赫連 西门 "
    "西門 第五 司空 太史 公冶 濮阳 濮陽 淳于 单于 單于 仲孙 仲孫 亓官 拓跋 百里 东郭 東郭 梁丘 左丘"
)
#: The two-character surnames the match features split a name in characters on (simplified; the
#: rest are one character). A subset of ``ZH_COMPOUND_SURNAMES``: splitting on the rare ones too
#: would change which records match, so the matching list stays as it was tuned.
MATCH_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
                           "夏侯", "轩辕", "令狐", "宇文", "司徒", "端木", "独孤", "南宫", "西门", "申屠")
#: Common Chinese surnames in pinyin and older/Cantonese romanisations (lower-case).
ZH_SURNAMES_LATIN = frozenset(
    _words(
        "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo gao zheng "
        "liang xie song tang han feng deng cao peng zeng tian dong pan yuan cai jiang yu du ye cheng "
        "wei su lyu lu lv ding ren yao shen zhong cui tan fan liao shi jin jia xia fang zou xiong "
        "bai meng qin qiu hou yin xue duan lei long tao mao hao gu gong shao wan qian dai yan kong "
        "chang kang qiao lai wen fu fei mo xiao qi niu ouyang situ sima zhuge shangguan chan cheung "
        "wong lee lam lau ng chow hsu kuo leung tse yip tsang chiu kwok lo fung chu mak choi chiang "
        "hsieh hung kao tsai tseng yeh"
    )
)
#: The most common Chinese surnames in pinyin: when both tokens could be surnames, these win.
ZH_TOP_SURNAMES_LATIN = frozenset(
    _words(
        "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo gao zheng "
        "liang xie song tang"
    )
)
#: Common single-character Chinese surnames (simplified; compare after ``to_simplified``).
ZH_SURNAMES_HANZI = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢"
    "姚沈钟姜崔谭陆范汪廖石金韦贾夏方邹熊白孟秦邱侯江尹薛段雷龙黎史陶贺毛郝顾龚邵万武钱戴严孔常汤康乔赖"
    "文傅付莫肖齐牛欧洪关柳颜倪谷左鲁葛翟殷安施"
)
#: Lower-case surname particles: a middle token from here on belongs to the surname.
PARTICLES = _words("de du des del della der den di da dos das van von zu ten ter la le st st. af av bin al")

_TITLE_WORDS = "dr|doctor|mr|mister|mrs|ms|miss|mx|herr|frau|mme|madame|mlle|monsieur|prof|professor|sir|dame"
_TITLE_RE = rf"(?i)^((?:{_TITLE_WORDS})\.?)(?:\s+|$)"
_M_TITLE_RE = r"^(M\.)\s+\S+\s+\S+"  # "M. Jean Dupont" is Monsieur; "M. Fiebig" is an initial
_SUFFIX_RE = r"(?i)[,\s]+(jr|junior|sr|senior|ii|iii|iv)\.?$"
_INITIAL_RE = r"^\p{L}\.?$"
_PINYIN_SYLLABLE = (
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcswy])?"
    r"(?:iang|iong|uang|ueng|ian|iao|ing|ong|ang|eng|uai|uan|uen|van|ai|ei|ao|ou|an|en|er|in|ia|ie|iu"
    r"|ua|uo|ui|un|ue|ve|a|o|e|i|u|v|ü)"
)
_PINYIN_WORD_RE = rf"(?i)^(?:{_PINYIN_SYLLABLE})+$"
_HONORIFIC_RE = "(" + "|".join(ZH_HONORIFICS) + ")$"


def _titles_of(df: pl.DataFrame) -> pl.DataFrame:
    """Move up to two leading titles ("Prof. Dr.") from ``n`` to ``title``."""
    maybe = pl.col("n").str.contains(_TITLE_RE) | pl.col("n").str.contains(_M_TITLE_RE)
    df = df.with_columns(__maybe=maybe.fill_null(False))
    rest, titled = df.filter(~pl.col("__maybe")), df.filter(pl.col("__maybe"))
    return pl.concat([rest, _strip_titles(titled)]).drop("__maybe")


def _strip_titles(df: pl.DataFrame) -> pl.DataFrame:
    for _ in range(2):
        tok = pl.coalesce(pl.col("n").str.extract(_TITLE_RE, 1), pl.col("n").str.extract(_M_TITLE_RE, 1))
        df = df.with_columns(__t=tok).with_columns(
            n=pl.when(pl.col("__t").is_not_null())
            .then(pl.col("n").str.slice(pl.col("__t").str.len_chars()).str.strip_chars(" ,"))
            .otherwise(pl.col("n")),
            title=pl.when(pl.col("__t").is_not_null())
            .then(
                pl.concat_str(
                    pl.col("title"),
                    pl.col("__t")
                    .str.to_lowercase()
                    .str.strip_suffix(".")
                    .replace_strict(TITLES, default=None, return_dtype=pl.Utf8),
                    separator=" ",
                    ignore_nulls=True,
                )
            )
            .otherwise(pl.col("title")),
        )
    return df.drop("__t")


@columnwise(pl.Boolean())
def pinyin_surname_first(first: pl.Expr, last: pl.Expr, *, strict: bool = False) -> pl.Expr:
    """True where two pinyin tokens read surname first (``Li Wei``, ``Yuan Shixia``; not ``Wei Zhang``).

    The first token must be a Chinese surname and both tokens pinyin; when both could be
    surnames, a very common surname in second place (``Wei Zhang``) means given name first.
    ``strict`` (for separate first/last fields, where the order is usually right) requires
    that the second token is no surname at all.
    """
    return _pinyin_first(first, last, strict=strict)


def _pinyin_first(first: pl.Expr, last: pl.Expr, *, strict: bool) -> pl.Expr:
    f, la = first.str.to_lowercase(), last.str.to_lowercase()
    both_pinyin = f.str.contains(_PINYIN_WORD_RE) & la.str.contains(_PINYIN_WORD_RE)
    f_top, l_top = f.is_in(list(ZH_TOP_SURNAMES_LATIN)), la.is_in(list(ZH_TOP_SURNAMES_LATIN))
    second_ok = ~la.is_in(list(ZH_SURNAMES_LATIN)) if strict else ~(l_top & ~f_top)
    return (both_pinyin & f.is_in(list(ZH_SURNAMES_LATIN)) & second_ok).fill_null(False)


@columnwise(pl.Boolean())
def hanzi_surname_first(first: pl.Expr, last: pl.Expr) -> pl.Expr:
    """True where a given-name field holds the Chinese surname (``李`` / ``鸿春``): the two are swapped.

    ``first``/``last`` should be simplified already; a one-character surname in ``last`` keeps the order.
    """
    f_sur = first.is_in(list(ZH_SURNAMES_HANZI)) | first.is_in(list(ZH_COMPOUND_SURNAMES))
    l_sur = last.is_in(list(ZH_SURNAMES_HANZI)) | last.is_in(list(ZH_COMPOUND_SURNAMES))
    return (f_sur & (~l_sur | (last.str.len_chars() >= 2)) & last.str.contains(CJK_CLASS)).fill_null(False)


def _surname_first(first: pl.Expr, last: pl.Expr, n: pl.Expr, *, pinyin: bool) -> pl.Expr:
    """Names written surname first: ``SCHMIDT Anna``, ``Karz L.``, and with ``pinyin`` ``Yuan Shixia``."""
    first_caps = first.str.contains(r"\p{Lu}.*\p{Lu}") & ~first.str.contains(r"\p{Ll}") & n.str.contains(r"\p{Ll}")
    initial_last = last.str.contains(_INITIAL_RE) & ~first.str.contains(_INITIAL_RE)
    out = first_caps | initial_last
    return out | _pinyin_first(first, last, strict=False) if pinyin else out


def _comma_form(df: pl.DataFrame) -> pl.DataFrame:
    """``Surname, Given`` (a trailing middle initial after the given name is dropped)."""
    parts = pl.col("n").str.split_exact(",", 1)
    after = parts.struct.field("field_1").str.strip_chars(" ,")
    after = pl.when(after.str.contains(r"\S+\s+\p{L}\.?$")).then(
        after.str.replace(r"\s+\p{L}\.?$", "")).otherwise(after)
    return df.with_columns(given_name=after, surname=parts.struct.field("field_0").str.strip_chars())


def _short_form(df: pl.DataFrame) -> pl.DataFrame:
    """One or two tokens without a comma: ``Madonna``, ``Anna Schmidt``, ``SCHMIDT Anna``."""
    parts = pl.col("n").str.split_exact(" ", 1)
    first, last = parts.struct.field("field_0"), parts.struct.field("field_1")
    swap = _surname_first(first, last, pl.col("n"), pinyin=True).fill_null(False)
    return df.with_columns(
        given_name=pl.when(swap).then(last).otherwise(pl.when(last.is_not_null()).then(first)),
        surname=pl.when(swap).then(first).otherwise(pl.coalesce(last, first)),
    )


def _long_form(df: pl.DataFrame) -> pl.DataFrame:
    """Three or more tokens: middle initials dropped, particles (``de la``) start the surname."""
    tokens = pl.col("n").str.split(" ")
    ntok = tokens.list.len()
    first, last = tokens.list.first(), tokens.list.last()
    middle = tokens.list.slice(1, ntok - 2)
    is_particle = pl.element().str.to_lowercase().is_in(list(PARTICLES))
    has_particle = middle.list.eval(is_particle).list.any()
    p_idx = middle.list.eval(is_particle).list.arg_max()
    given_mid = pl.when(has_particle).then(middle.list.slice(0, p_idx)).otherwise(middle)
    given_mid = given_mid.list.eval(pl.element().filter(~pl.element().str.contains(_INITIAL_RE)))
    sur_mid = pl.when(has_particle).then(middle.list.slice(p_idx)).otherwise(
        pl.lit([], dtype=pl.List(pl.Utf8)))
    swap = _surname_first(first, last, pl.col("n"), pinyin=False)
    return df.with_columns(
        given_name=pl.when(swap).then(tokens.list.slice(1).list.join(" "))
        .otherwise(pl.concat_list(first, given_mid).list.join(" ")),
        surname=pl.when(swap).then(first).otherwise(pl.concat_list(sur_mid, last).list.join(" ")),
    )


def _latin(df: pl.DataFrame) -> pl.DataFrame:
    """Given/surname for Latin-script names in ``n`` (title and suffix already removed)."""
    df = df.with_columns(
        __comma=pl.col("n").str.contains(",").fill_null(False),
        __ntok=pl.col("n").str.count_matches(" ").fill_null(0) + 1,
        __letters=pl.col("n").str.contains(r"\p{L}").fill_null(False),
    )
    out = pl.concat([
        _comma_form(df.filter(pl.col("__comma"))),
        _short_form(df.filter(~pl.col("__comma") & (pl.col("__ntok") <= 2))),
        _long_form(df.filter(~pl.col("__comma") & (pl.col("__ntok") > 2))),
    ], how="diagonal_relaxed")
    return out.with_columns(
        given_name=pl.when(pl.col("__letters")).then(pl.col("given_name")),
        surname=pl.when(pl.col("__letters")).then(pl.col("surname")),
    ).drop("__comma", "__ntok", "__letters")


def _cjk(df: pl.DataFrame) -> pl.DataFrame:
    """Surname-first split for names in Chinese characters."""
    hon = pl.col("n").str.extract(_HONORIFIC_RE, 1)
    df = df.with_columns(
        title=pl.coalesce(pl.col("title"), hon),
        n=pl.col("n").str.replace(_HONORIFIC_RE, "").str.strip_chars(),
    )
    n = pl.col("n")
    compact = n.str.replace_all(" ", "")
    spaced = n.str.contains(" ")
    compound = compact.str.slice(0, 2).is_in(ZH_COMPOUND_SURNAMES) & (compact.str.len_chars() > 2)
    sur_len = pl.when(compound).then(2).otherwise(1)
    surname = (
        pl.when(spaced)
        .then(n.str.split_exact(" ", 1).struct.field("field_0"))
        .otherwise(compact.str.slice(0, sur_len))
    )
    given = (
        pl.when(spaced)
        .then(n.str.split_exact(" ", 1).struct.field("field_1").str.replace_all(" ", ""))
        .otherwise(compact.str.slice(sur_len))
    )
    return df.with_columns(given_name=given.replace("", None), surname=surname.replace("", None))


def _split_frame(names: pl.Series) -> pl.DataFrame:
    """The name struct fields for a series of distinct, cleaned names."""
    df = pl.DataFrame({"raw": names}).with_columns(
        n=pl.col("raw"), title=pl.lit(None, dtype=pl.Utf8), suffix=pl.lit(None, dtype=pl.Utf8)
    )
    df = _titles_of(df)
    cjk_only = pl.col("n").str.contains(CJK_CLASS) & ~pl.col("n").str.contains(r"[A-Za-z]")
    cjk = _cjk(df.filter(cjk_only))
    latin = df.filter(~cjk_only).with_columns(suffix=pl.col("n").str.extract(_SUFFIX_RE, 1))
    latin = latin.with_columns(
        n=pl.col("n").str.replace(_SUFFIX_RE, "").str.strip_chars(" ,"),
        suffix=pl.col("suffix")
        .str.to_lowercase()
        .replace_strict(SUFFIXES, default=None, return_dtype=pl.Utf8),
    )
    latin = _latin(latin).with_columns(
        given_name=proper_case(pl.col("given_name").replace("", None)),
        surname=proper_case(pl.col("surname").replace("", None)),
    )
    cols = ["raw", "given_name", "surname", "title", "suffix"]
    out = pl.concat([latin.select(cols), cjk.select(cols)])
    latin_full = pl.concat_str("given_name", "surname", separator=" ", ignore_nulls=True)
    cjk_full = pl.concat_str("surname", "given_name", ignore_nulls=True)
    is_cjk = pl.concat_str("surname", "given_name", ignore_nulls=True).str.contains(CJK_CLASS)
    return out.with_columns(
        full_name=pl.when(is_cjk).then(cjk_full).otherwise(latin_full).replace("", None),
    ).rename({"title": "name_title", "suffix": "name_suffix"})


def _split_batch(s: pl.Series) -> pl.Series:
    uniq = s.drop_nulls().unique()
    table = _split_frame(uniq)
    joined = pl.DataFrame({"raw": s}).join(table, on="raw", how="left", maintain_order="left")
    return joined.select(pl.struct(*NAME_FIELDS).alias(s.name)).to_series()


def split_name(expr: pl.Expr | str) -> pl.Expr:
    """One-field name -> struct(given_name, surname, name_title, name_suffix, full_name).

    ``full_name`` is the cleaned name without title/suffix: "Given Surname", or surname then
    given name without a space for Chinese characters. Use ``.struct.unnest()`` for columns.
    """
    s = clean_text(pl.col(expr) if isinstance(expr, str) else expr)
    return s.map_batches(_split_batch, return_dtype=NAME_STRUCT, is_elementwise=True)


def clean_name_part(expr: pl.Expr | str) -> pl.Expr:
    """A given name or surname from a field of its own: cleaned and proper-cased (``SMITH`` -> ``Smith``)."""
    return proper_case(clean_text(pl.col(expr) if isinstance(expr, str) else expr))


def name_suffix_of(expr: pl.Expr | str) -> pl.Expr:
    """Canonical generational suffix at the end of the value (``"Smith Jr."`` -> ``"Jr."``), else null."""
    s = clean_text(pl.col(expr) if isinstance(expr, str) else expr)
    return (
        s.str.extract(_SUFFIX_RE, 1)
        .str.to_lowercase()
        .replace_strict(SUFFIXES, default=None, return_dtype=pl.Utf8)
    )


def strip_name_suffix(expr: pl.Expr | str) -> pl.Expr:
    """The value without a trailing generational suffix (``"Smith Jr."`` -> ``"Smith"``)."""
    s = clean_text(pl.col(expr) if isinstance(expr, str) else expr)
    return s.str.replace(_SUFFIX_RE, "").str.strip_chars(" ,").replace("", None)
