"""Match keys: the comparable form of a field, as polars expressions (``fold``, ``city_key``,
``street_key``, ``email_match_key``, ``company_match_key`` ...), and the chain of steps the
matching features are built from (``TRANSFORMS``).

These forms are for comparing values, not for showing them: a city key is folded to ASCII and
exonyms are mapped (München == Munich), a street key has its words sorted. Staging's normalisers
(``dedupe.normalize.emails`` ...) produce the displayed values; where both exist they differ on
purpose (``email_match_key`` does not validate the address, ``normalize.emails.email_canonical``
does) and changing a key here changes which records match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from dedupe.normalize.hanzi import has_han, pinyin_runs_joined, simplified_runs

_BLANKS = r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+"
PLACEHOLDERS = ["", "-", "--", "—", "n/a", "na", "n.a.", "null", "none", "nil", "nan", "?", ".",
                "unknown", "#ref!", "#n/a", "#value!", "#name?"]

#: Local parts that name a role, not a person: shared by colleagues, weak evidence of identity.
GENERIC_LOCALS = [
    "info", "sales", "kontakt", "contact", "office", "admin", "service", "support", "hello", "mail",
    "team", "enquiries", "inquiries", "vertrieb", "buero", "bureau", "post", "accounts", "billing",
    "orders", "order", "shop", "marketing", "hr", "jobs", "careers", "reception", "empfang",
    "verkauf", "einkauf", "purchasing", "procurement", "finance", "invoice", "invoices", "noreply",
    "no-reply", "webmaster", "help", "general", "hallo", "bonjour", "commercial", "direction",
    "secretariat", "sekretariat", "zentrale", "mailbox", "kefu", "service-client",
]
GMAIL_DOMAINS = ["gmail.com", "googlemail.com"]

EXONYMS = {  # folded spelling -> the folded local name (ü -> ue as ``fold`` writes it)
    "munich": "muenchen", "munchen": "muenchen", "cologne": "koeln", "koln": "koeln",
    "nuremberg": "nuernberg", "nurnberg": "nuernberg", "hanover": "hannover", "brunswick": "braunschweig",
    "frankfurt": "frankfurtammain", "frankfurtmain": "frankfurtammain", "dusseldorf": "duesseldorf",
    "gottingen": "goettingen", "vienna": "wien", "zurich": "zuerich", "geneva": "geneve",
    "lyons": "lyon", "marseilles": "marseille", "dunkirk": "dunkerque", "peking": "beijing",
    "canton": "guangzhou", "nanking": "nanjing", "hongkong": "xianggang", "saarbrucken": "saarbruecken",
    "osnabruck": "osnabrueck", "lubeck": "luebeck", "wurzburg": "wuerzburg", "munster": "muenster",
}
STREET_WORDS = {
    "st": "street", "str": "strasse", "straße": "strasse", "rd": "road", "ave": "avenue", "av": "avenue",
    "dr": "drive", "ln": "lane", "blvd": "boulevard", "bd": "boulevard", "bvd": "boulevard",
    "ct": "court", "pl": "place", "sq": "square", "hwy": "highway", "pkwy": "parkway", "cres": "crescent",
    "r": "rue", "ch": "chemin", "chem": "chemin", "imp": "impasse", "rte": "route", "fbg": "faubourg",
    "dist": "district", "no": "", "nr": "", "apt": "", "n": "", "nº": "", "numero": "",
    "n°": "", "weg": "weg", "gasse": "gasse", "allee": "allee", "pfad": "pfad",
}
CN_STREET_MARKERS = [("大道", " avenue "), ("大街", " street "), ("路", " road "), ("街", " street "),
                     ("区", " district "), ("县", " county "), ("号", " "), ("巷", " lane "), ("弄", " lane "),
                     ("道", " road "), ("市", " "), ("省", " ")]
#: Legal forms, written as they look once punctuation became blanks (G.m.b.H. -> g m b h).
COMPANY_SUFFIXES = [
    "gmbh & co kg", "gmbh und co kg", "gmbh", "g m b h", "mbh", "ag", "kg", "ohg", "ug", "e k", "gbr", "se",
    "inc", "incorporated", "corp", "corporation", "co ltd", "company limited", "company ltd", "ltd",
    "limited", "llc", "l l c", "plc", "llp", "lp", "pty ltd", "pty", "sarl", "s a r l", "sas", "s a s",
    "sa", "s a", "eurl", "sasu", "snc", "sci", "bv", "nv", "co", "company", "& co", "and co", "group",
]
CN_COMPANY_SUFFIXES = ["有限责任公司", "股份有限公司", "有限公司", "集团", "公司", "有限責任公司", "股份有限公司"]
COUNTRY_NAMES = {
    "us": "US", "usa": "US", "u.s.a.": "US", "u.s.": "US", "united states": "US",
    "united states of america": "US", "america": "US", "gb": "GB", "uk": "GB", "u.k.": "GB",
    "united kingdom": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "de": "DE", "germany": "DE", "deutschland": "DE", "allemagne": "DE",
    "fr": "FR", "france": "FR", "frankreich": "FR", "cn": "CN", "china": "CN", "prc": "CN",
    "中国": "CN", "中華人民共和國": "CN", "中华人民共和国": "CN", "p.r. china": "CN", "p.r.c.": "CN",
}


# --------------------------------------------------------------------------------------------
# Field transforms. Each step takes the output of the step it names as ``after`` (``None``: the
# raw column), so prepare computes e.g. the cleaned e-mail once and derives the canonical form,
# local part and domain from it. The public functions chain the steps for one-off use.
# --------------------------------------------------------------------------------------------
def _nonempty(s: pl.Expr) -> pl.Expr:
    return pl.when(s.str.len_chars() > 0).then(s).otherwise(None)


def _clean(e: pl.Expr) -> pl.Expr:
    s = e.cast(pl.Utf8).str.normalize("NFKC").str.replace_all(_BLANKS, " ").str.strip_chars()
    return pl.when(s.str.to_lowercase().is_in(PLACEHOLDERS)).then(None).otherwise(s)


_FOLD = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d"}


def fold_chars(s: pl.Expr) -> pl.Expr:
    return s.str.replace_many(_FOLD).str.normalize("NFKD").str.replace_all(r"\p{Mn}", "")


def _alnum(s: pl.Expr) -> pl.Expr:
    return _nonempty(s.str.replace_all(r"[^\p{L}\p{N}]", ""))


def blank_punctuation(s: pl.Expr) -> pl.Expr:
    return _nonempty(s.str.replace_all(r"['\u2019`]", "").str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars())


def _email(s: pl.Expr) -> pl.Expr:
    s = s.str.replace_all(" ", "")
    return pl.when(s.str.contains("@")).then(s).otherwise(None)


def _canonical(s: pl.Expr) -> pl.Expr:
    local = s.str.extract(r"^([^@]*)@", 1).str.replace(r"\+.*$", "")
    domain = s.str.extract(r"@(.*)$", 1)
    gmail = domain.is_in(GMAIL_DOMAINS)
    local = pl.when(gmail).then(local.str.replace_all(".", "", literal=True)).otherwise(local)
    domain = pl.when(gmail).then(pl.lit("gmail.com")).otherwise(domain)
    return local + "@" + domain


def _email_year(s: pl.Expr) -> pl.Expr:
    """A year-of-birth hint in a mailbox name ('davidhart85', 'j.smith1972'): the last two digits of
    a 19xx/20xx year, or two trailing digits; null without one."""
    local = s.str.extract(r"^([^@+]*)", 1)
    four = local.str.extract(r"(?:^|\D)(19[3-9]\d|200\d)$", 1)
    two = local.str.extract(r"(?:^|\D)(\d{2})$", 1)
    return pl.coalesce(four.str.slice(2), two)


def _phone_body(s: pl.Expr) -> pl.Expr:
    """The number without its extension, still as written ("030 41050368-12" -> "030 41050368")."""
    s = s.str.replace(r"\s*(?:ext\.?|x|durchwahl|poste|extension|#)\s*\d{1,5}$", "")
    head, tail = s.str.extract(r"^(.*)-\s*\d{1,3}$", 1), s.str.extract(r"-\s*(\d{1,3})$", 1)
    long_head = head.str.replace_all(r"\D", "").str.len_chars() >= 9
    return pl.when(tail.is_not_null() & long_head).then(head).otherwise(s)


def _phone_key(s: pl.Expr) -> pl.Expr:
    d = s.str.replace_all(r"\D", "")
    return pl.when(d.str.len_chars() >= 6).then(d.str.slice(-9)).otherwise(None)


def _mobile_series(s: pl.Series) -> pl.Series:
    f = pl.DataFrame({"s": s})
    f = f.with_columns(intl=pl.col("s").str.strip_chars_start().str.contains(r"^(?:\+|00)"),
                       d=pl.col("s").str.replace(r"\(0\)", "").str.replace_all(r"\D", ""))
    f = f.with_columns(d=pl.when(pl.col("d").str.starts_with("00")).then(pl.col("d").str.slice(2)).otherwise("d"))
    f = f.with_columns(cc_len=pl.when(pl.col("d").str.starts_with("1")).then(1)
                       .when(pl.col("d").str.slice(0, 2).is_in(["33", "44", "49", "86"])).then(2).otherwise(0))
    f = f.with_columns(cc=pl.col("d").str.slice(0, pl.col("cc_len")), rest=pl.col("d").str.slice(pl.col("cc_len")))
    f = f.with_columns(nsn_i=pl.when(pl.col("rest").str.starts_with("0")).then(pl.col("rest").str.slice(1))
                       .otherwise("rest"), nsn_n=pl.col("d").str.slice(1), trunk=pl.col("d").str.starts_with("0"))
    f = f.with_columns(n_i=pl.col("nsn_i").str.len_chars(), n_n=pl.col("nsn_n").str.len_chars(),
                       f_i=pl.col("nsn_i").str.slice(0, 1), f_n=pl.col("nsn_n").str.slice(0, 1),
                       de_i=pl.col("nsn_i").str.slice(0, 2).is_in(["15", "16", "17"]),
                       de_n=pl.col("nsn_n").str.slice(0, 2).is_in(["15", "16", "17"]),
                       second=pl.col("nsn_i").str.slice(1, 1).is_in(list("3456789")),
                       cn=pl.col("d").str.starts_with("1") & (pl.col("d").str.len_chars() == 11)
                       & pl.col("d").str.slice(1, 1).is_in(list("3456789")))
    by_cc = (pl.when(pl.col("cc") == "44").then((pl.col("f_i") == "7") & (pl.col("n_i") == 10))
             .when(pl.col("cc") == "33").then(pl.col("f_i").is_in(["6", "7"]) & (pl.col("n_i") == 9))
             .when(pl.col("cc") == "49").then(pl.col("de_i") & pl.col("n_i").is_between(10, 11))
             .when(pl.col("cc") == "86").then((pl.col("f_i") == "1") & (pl.col("n_i") == 11) & pl.col("second"))
             .otherwise(None))
    national = (pl.when("trunk").then(((pl.col("f_n") == "7") & (pl.col("n_n") == 10))
                                      | (pl.col("f_n").is_in(["6", "7"]) & (pl.col("n_n") == 9))
                                      | (pl.col("de_n") & pl.col("n_n").is_between(10, 11)))
                .when("cn").then(True).otherwise(None))
    out = f.select(pl.when(pl.col("s").is_null() | (pl.col("d").str.len_chars() < 6)).then(None)
                   .when("intl").then(by_cc).otherwise(national))
    return out.to_series().alias(s.name)


def _mobile(s: pl.Expr) -> pl.Expr:
    """True for a mobile number, false for a landline, null when the format does not tell (North
    American numbers, unknown countries): from the country code or the national trunk prefix."""
    return s.map_batches(_mobile_series, return_dtype=pl.Boolean)


def _postcode(s: pl.Expr) -> pl.Expr:
    return _nonempty(s.str.to_uppercase().str.replace_all(r"[^0-9A-Z]", ""))


def _city(s: pl.Expr) -> pl.Expr:
    han = has_han(s)
    s = pl.when(han).then(s.str.replace(r"(市|区|县|省)$", "")).otherwise(s.str.replace(r",\s*\w{2}$", ""))
    s = pl.when(han).then(pinyin_runs_joined(s)).otherwise(s)
    return _alnum(fold_chars(s.str.to_lowercase())).replace(EXONYMS)


def _street(s: pl.Expr) -> pl.Expr:
    han = has_han(s)
    cn = s
    for mark, word in CN_STREET_MARKERS:
        cn = cn.str.replace_all(mark, word, literal=True)
    s = pl.when(han).then(pinyin_runs_joined(cn)).otherwise(s)
    s = fold_chars(s.str.to_lowercase())
    s = s.str.replace_all(r"(\p{L})str\b\.?", "${1}strasse").str.replace_all(r"(\p{L})strasse\b", "$1 strasse")
    s = s.str.replace_all(r"(\d)([a-z])\b", "$1 $2").str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars()
    toks = s.str.split(" ").list.eval(pl.element().replace(STREET_WORDS)).list.eval(
        pl.element().filter(pl.element().str.len_chars() > 0))
    return _nonempty(toks.list.sort().list.join(" "))


def _company(s: pl.Expr) -> pl.Expr:
    s = pl.when(has_han(s)).then(simplified_runs(s)).otherwise(s)
    for suf in CN_COMPANY_SUFFIXES:
        s = s.str.replace(suf + "$", "")
    s = fold_chars(s.str.to_lowercase()).str.replace_all(r"[^\p{L}\p{N}&]+", " ").str.strip_chars()
    pat = "|".join(re.escape(x) for x in sorted(COMPANY_SUFFIXES, key=len, reverse=True))
    for _ in range(3):
        s = s.str.replace(rf"(?:^|\s)(?:{pat})$", "").str.strip_chars()
    return _nonempty(s.str.replace_all(r"[^\p{L}\p{N}]", ""))


def _vat(s: pl.Expr) -> pl.Expr:
    s = s.str.to_uppercase().str.replace_all(r"[^0-9A-Z]", "").str.replace(r"^[A-Z]{2}(\d)", "$1")
    return pl.when(s.str.len_chars() > 2).then(s).otherwise(None)


def _country(s: pl.Expr) -> pl.Expr:
    return s.replace_strict(COUNTRY_NAMES, default=s.str.to_uppercase(), return_dtype=pl.Utf8)


def _date(e: pl.Expr) -> pl.Expr:
    s = _clean(e.cast(pl.Utf8))
    return pl.coalesce(
        s.str.to_date("%Y-%m-%d", strict=False),
        s.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
        s.str.to_date("%Y%m%d", strict=False),
        s.str.to_date("%d.%m.%Y", strict=False),
        s.str.to_date("%d/%m/%Y", strict=False),
    )


@dataclass(frozen=True)
class Transform:
    """One feature step: ``fn`` applied to the output of step ``after`` (None: the raw column);
    ``unique``: evaluate once per distinct value (costly steps on repetitive columns)."""

    after: str | None
    fn: Callable[[pl.Expr], pl.Expr]
    unique: bool = False
    doc: str = ""


def _first(n: int) -> Transform:
    return Transform("alnum", lambda s: s.str.slice(0, n), doc=f"first {n} letters/digits (a blocking key)")


TRANSFORMS: dict[str, Transform] = {
    "clean": Transform(None, _clean, doc="NFKC, blanks collapsed, placeholders (N/A, -, null) -> null"),
    "norm": Transform("clean", lambda s: s.str.to_lowercase(), doc="clean, lower-case"),
    "fold": Transform("norm", fold_chars, doc="lower-case ASCII-ish: ü -> ue, accents stripped"),
    "alnum": Transform("fold", _alnum, doc="fold, letters and digits only"),
    "words": Transform("fold", blank_punctuation, doc="fold, punctuation -> blanks"),
    "sorted_words": Transform("words", lambda s: s.str.split(" ").list.sort().list.join(" "),
                              doc="words in alphabetical order"),
    "digits": Transform("clean", lambda s: _nonempty(s.str.replace_all(r"\D", "")), doc="digits only"),
    "first1": _first(1), "first2": _first(2), "first3": _first(3), "first4": _first(4), "first5": _first(5),
    "simplified": Transform("clean", simplified_runs, unique=True, doc="traditional -> simplified Chinese"),
    "pinyin": Transform("clean", pinyin_runs_joined, unique=True, doc="Chinese characters -> toneless pinyin"),
    "email": Transform("norm", _email, doc="lower-case address without blanks (null without @)"),
    "canonical": Transform("email", _canonical, doc="mailbox: +tag dropped, Gmail dots dropped"),
    "local": Transform("canonical", lambda s: s.str.extract(r"^([^@]*)@", 1), doc="canonical local part"),
    "domain": Transform("email", lambda s: s.str.extract(r"@(.*)$", 1), doc="e-mail domain"),
    "year": Transform("email", _email_year, doc="year-of-birth hint in the mailbox name (two digits)"),
    "numbered": Transform("local", lambda s: s.str.contains(r"\d").fill_null(False),
                          doc="the local part carries a number (dhart85): specific to one person"),
    "generic": Transform("local", lambda s: s.is_in(GENERIC_LOCALS).fill_null(False),
                         doc="role address (info@, sales@ ...)"),
    "phone": Transform("norm", _phone_body, doc="phone as written without its extension"),
    "key": Transform("phone", _phone_key, doc="phone: last 9 digits without extension"),
    "mobile": Transform("phone", _mobile, doc="phone: true mobile, false landline, null unknown"),
    "postcode": Transform("clean", _postcode, doc="upper-case letters and digits"),
    "city": Transform("clean", _city, unique=True, doc="city across scripts and exonyms"),
    "street": Transform("clean", _street, unique=True, doc="street words, abbreviations spelled out, sorted"),
    "number": Transform("clean", lambda s: s.str.extract(r"(\d+)", 1), doc="first house number"),
    "company": Transform("clean", _company, unique=True, doc="company without legal form"),
    "vat": Transform("clean", _vat, doc="VAT id without blanks or country prefix"),
    "country": Transform("norm", _country, doc="ISO-2 country code from codes and common names"),
    "date": Transform(None, _date, doc="date from date/datetime or common text formats"),
    "is_null": Transform("clean", lambda s: s.is_null(), doc="true where the value is missing"),
}
TRANSFORMS["phone_key"] = TRANSFORMS["key"]


def apply_transform(e: pl.Expr, name: str) -> pl.Expr:
    """The whole chain of steps ending in ``name`` as one expression (for one-off use)."""
    t = TRANSFORMS[name]
    return t.fn(e if t.after is None else apply_transform(e, t.after))


def clean(e: pl.Expr) -> pl.Expr:
    """NFKC, blanks collapsed and trimmed; placeholder values become null (case kept)."""
    return _clean(e)


def norm(e: pl.Expr) -> pl.Expr:
    return apply_transform(e, "norm")


def fold(e: pl.Expr) -> pl.Expr:
    """Lower-case ASCII-ish form: German umlauts spelled out (ü -> ue, as legacy systems do), accents
    stripped, so Müller == MUELLER and Jérôme == Jerome."""
    return apply_transform(e, "fold")


def words(e: pl.Expr) -> pl.Expr:
    """``fold`` with punctuation turned into blanks (apostrophes dropped: O'Neill -> oneill)."""
    return apply_transform(e, "words")


def email_match_key(e: pl.Expr) -> pl.Expr:
    """The mailbox for matching: lower-case, ``+tag`` dropped, Gmail dots dropped; not validated
    (``normalize.emails.email_canonical`` is the validating form staging uses)."""
    return apply_transform(e, "canonical")


def phone_key(e: pl.Expr) -> pl.Expr:
    """The last 9 digits of the number without its extension."""
    return apply_transform(e, "key")


def street_key(e: pl.Expr) -> pl.Expr:
    """南山区科技路88号 == No. 88 Keji Road, Nanshan District; Hauptstr. 5 == Hauptstraße 5."""
    return apply_transform(e, "street")


def city_key(e: pl.Expr) -> pl.Expr:
    """深圳市 == Shenzhen, München == Munich."""
    return apply_transform(e, "city")


def company_match_key(e: pl.Expr) -> pl.Expr:
    """Koch Handel GmbH == KOCH HANDEL G.m.b.H. (letters and digits only; ``normalize.companies.company_core``
    keeps word breaks and spells ``&`` out)."""
    return apply_transform(e, "company")
