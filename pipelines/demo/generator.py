"""Small, seeded demo CRM sources with their ground truth, so `make demo` needs nothing outside the repo.

The folder it writes has the layout of the shared benchmark kit (``erp.sqlite``, ``shop/``,
``sheets/``, ``truth/``), at demo size: a few hundred people in five locales, seen 1-3 times across
the ERP, the web shop and two spreadsheets, with the noise a real CRM load meets (typos, nicknames,
phone and e-mail variants, abbreviations, movers), look-alikes that must stay apart (households,
namesakes) and a few bad rows for the quarantine. Same seed, same bytes.

The tests use it at larger sizes with ``bad_rows=RATE``: each record is then broken with
probability RATE (malformed e-mail, impossible date, empty name, negative invoice amount, an
Excel ``#REF!`` cell), some ERP rows get a stale second copy in table ``customers_dirty``
(duplicate keys), one shop customers page is cut short, and a GBK-encoded
``sheets/legacy_export.csv`` joins the sources. ``bad_rows=0`` gives a dataset without any.

    python -m pipelines.demo OUT [--entities 300] [--seed 42] [--page-size 50] [--bad-rows RATE]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import random
import shutil
import sqlite3
import sys
import unicodedata
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

__all__ = ["LEGACY_SOURCE", "SOURCES", "generate", "main"]

#: Source names as they appear in ``truth/records.csv`` (sheet sources use the file stem).
SOURCES = ("erp", "shop", "trade_show_leads", "sales_contacts")
#: The GBK-encoded legacy export, written only with ``bad_rows`` > 0.
LEGACY_SOURCE = "legacy_export"

LOCALE_WEIGHTS = {"en_US": 30, "en_GB": 15, "de_DE": 18, "fr_FR": 17, "zh_CN": 20}
SOURCE_WEIGHTS = {"erp": 30, "shop": 35, "trade_show_leads": 15, "sales_contacts": 20}
RECORDS_PER_ENTITY = {1: 45, 2: 35, 3: 20}
B2B_RATE = 0.15
MOVER_RATE = 0.06          # of entities with two or more records
HARD_NEGATIVE_RATE = 0.015  # pairs of each kind (household, namesake) per entity
BAD_ROW_RATE = 0.005       # records per bad-row kind (at least one of each)
BAD_KINDS = ("malformed_email", "empty_name", "impossible_date")
#: With ``bad_rows=RATE``: the kinds a record of each source can be broken with.
RATE_BAD_KINDS = {"erp": (*BAD_KINDS, "negative_amount"), "shop": BAD_KINDS,
                  "trade_show_leads": (*BAD_KINDS, "ref_error"), "sales_contacts": BAD_KINDS}

T_START = int(dt.datetime(2018, 1, 1, tzinfo=dt.UTC).timestamp())
T_END = int(dt.datetime(2025, 7, 1, tzinfo=dt.UTC).timestamp())
DAY = 86_400
FIXED_ZIP_TIME = (2025, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = dt.datetime(2025, 1, 1)

# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
GIVEN = {
    "en_US": ["Robert", "William", "Katherine", "Elizabeth", "Michael", "James", "Jennifer", "John",
              "Mary", "David", "Sarah", "Daniel", "Emily", "Christopher", "Ashley", "Thomas"],
    "en_GB": ["William", "Katherine", "Margaret", "Thomas", "Oliver", "Charlotte", "David", "Emma",
              "Richard", "Sophie", "James", "Hannah", "Robert", "Alexander"],
    "de_DE": ["Johannes", "Katharina", "Thomas", "Michael", "Friedrich", "Anna", "Jürgen", "Susanne",
              "Andreas", "Lena", "Stefan", "Sabine", "Günther", "Alexander"],
    "fr_FR": ["Marie", "Pierre", "Jean", "Hélène", "François", "Chloé", "Nicolas", "Camille",
              "Gérard", "Isabelle", "Julien", "Céline", "Antoine", "Élodie"],
}
SURNAMES = {
    "en_US": ["Smith", "Johnson", "Brown", "Miller", "Davis", "Garcia", "Wilson", "Anderson", "Taylor",
              "Moore", "Jackson", "Martin", "Thompson", "White", "Harris", "Clark"],
    "en_GB": ["Jones", "Williams", "Taylor", "Evans", "Roberts", "Walker", "Wright", "Hughes", "Green",
              "Hall", "Wood", "Turner", "Patel", "Clarke"],
    "de_DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
              "Schulz", "Hoffmann", "Schröder", "Koch", "Böhm", "Weiß"],
    "fr_FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
              "Moreau", "Lefèvre", "Girard", "Fontaine", "Rousseau"],
}
NICKNAMES = {
    "Robert": ["Bob", "Rob"], "William": ["Bill", "Will"], "Katherine": ["Kate", "Kathy"],
    "Elizabeth": ["Liz", "Beth"], "Michael": ["Mike"], "James": ["Jim"], "Jennifer": ["Jenny"],
    "Christopher": ["Chris"], "Daniel": ["Dan"], "Thomas": ["Tom"], "Margaret": ["Maggie"],
    "Richard": ["Rick"], "Alexander": ["Alex"], "Johannes": ["Hans"], "Katharina": ["Kathi"],
    "Friedrich": ["Fritz"], "Andreas": ["Andi"], "Susanne": ["Susi"],
}
#: Common names shared by namesake pairs (different people).
COMMON_NAMES = {"en_US": ("John", "Smith"), "en_GB": ("David", "Jones"), "de_DE": ("Thomas", "Müller"),
                "fr_FR": ("Marie", "Martin"), "zh_CN": ("伟", "王")}

# Chinese: simplified -> (pinyin, traditional); surnames and given-name characters.
ZH_SURNAMES = {"王": ("Wang", "王"), "李": ("Li", "李"), "张": ("Zhang", "張"), "刘": ("Liu", "劉"),
               "陈": ("Chen", "陳"), "杨": ("Yang", "楊"), "黄": ("Huang", "黃"), "赵": ("Zhao", "趙"),
               "吴": ("Wu", "吳"), "周": ("Zhou", "周"), "徐": ("Xu", "徐"), "孙": ("Sun", "孫"),
               "马": ("Ma", "馬"), "朱": ("Zhu", "朱"), "林": ("Lin", "林"), "郑": ("Zheng", "鄭")}
ZH_GIVEN = {"伟": ("wei", "偉"), "芳": ("fang", "芳"), "娜": ("na", "娜"), "敏": ("min", "敏"),
            "静": ("jing", "靜"), "丽": ("li", "麗"), "强": ("qiang", "強"), "磊": ("lei", "磊"),
            "军": ("jun", "軍"), "勇": ("yong", "勇"), "杰": ("jie", "傑"), "涛": ("tao", "濤"),
            "明": ("ming", "明"), "华": ("hua", "華"), "建": ("jian", "建"), "国": ("guo", "國"),
            "文": ("wen", "文"), "红": ("hong", "紅"), "东": ("dong", "東"), "龙": ("long", "龍")}


class City(NamedTuple):
    name: str            # native, canonical
    latin: str
    province: str        # shop "province" (US state code, Chinese province)
    province_latin: str
    postal: tuple        # locale-specific postcode seeds
    area: str            # landline area code (national significant part)
    tz: int              # UTC offset in hours, winter
    dst: bool
    districts: tuple = ()  # zh_CN: (native, pinyin)
    variants: tuple = ()   # other spellings seen in sources (exonyms, short forms)


CITIES = {
    "en_US": [City("New York", "New York", "NY", "NY", ("100", "101", "112"), "212", -5, True),
              City("Chicago", "Chicago", "IL", "IL", ("606",), "312", -6, True),
              City("Seattle", "Seattle", "WA", "WA", ("981",), "206", -8, True),
              City("Austin", "Austin", "TX", "TX", ("787",), "512", -6, True),
              City("Boston", "Boston", "MA", "MA", ("021",), "617", -5, True)],
    "en_GB": [City("London", "London", "", "", ("SW1A", "E1", "N7", "W2", "SE10"), "20", 0, True),
              City("Manchester", "Manchester", "", "", ("M1", "M14", "M20"), "161", 0, True),
              City("Leeds", "Leeds", "", "", ("LS1", "LS6"), "113", 0, True),
              City("Bristol", "Bristol", "", "", ("BS1", "BS8"), "117", 0, True)],
    "de_DE": [City("Berlin", "Berlin", "", "", ("10", "12", "13"), "30", 1, True),
              City("München", "München", "", "", ("80", "81"), "89", 1, True, (), ("Munich", "Muenchen")),
              City("Hamburg", "Hamburg", "", "", ("20", "22"), "40", 1, True),
              City("Köln", "Köln", "", "", ("50", "51"), "221", 1, True, (), ("Cologne", "Koeln"))],
    "fr_FR": [City("Paris", "Paris", "", "", ("75",), "1", 1, True),
              City("Lyon", "Lyon", "", "", ("69",), "4", 1, True),
              City("Marseille", "Marseille", "", "", ("13",), "4", 1, True),
              City("Toulouse", "Toulouse", "", "", ("31",), "5", 1, True)],
    "zh_CN": [City("北京市", "Beijing", "北京市", "Beijing", ("100",), "10", 8, False,
                   (("朝阳区", "Chaoyang"), ("海淀区", "Haidian")), ("北京",)),
              City("上海市", "Shanghai", "上海市", "Shanghai", ("200",), "21", 8, False,
                   (("浦东新区", "Pudong New Area"), ("徐汇区", "Xuhui")), ("上海",)),
              City("深圳市", "Shenzhen", "广东省", "Guangdong", ("518",), "755", 8, False,
                   (("南山区", "Nanshan"), ("福田区", "Futian")), ("深圳",)),
              City("杭州市", "Hangzhou", "浙江省", "Zhejiang", ("310",), "571", 8, False,
                   (("西湖区", "Xihu"), ("滨江区", "Binjiang")), ("杭州",))],
}
COUNTRY = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "zh_CN": "CN"}
COUNTRY_NAMES = {"US": ("USA", "United States"), "GB": ("United Kingdom", "UK"),
                 "DE": ("Germany", "Deutschland"), "FR": ("France",), "CN": ("China", "中国")}
CALLING_CODE = {"US": "1", "GB": "44", "DE": "49", "FR": "33", "CN": "86"}
CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "CN": "CNY"}

# Streets: (name, long type, short type); the full form is canonical.
STREETS = {
    "en": [("Main", "Street", "St."), ("Oak", "Avenue", "Ave"), ("Church", "Road", "Rd"),
           ("Mill", "Lane", "Ln"), ("Park", "Street", "St"), ("Maple", "Drive", "Dr."),
           ("High", "Street", "St."), ("Station", "Road", "Rd.")],
    "de_DE": [("Haupt", "straße", "str."), ("Bahnhof", "straße", "str."), ("Schiller", "straße", "str."),
              ("Goethe", "straße", "str."), ("Linden", "weg", "weg"), ("Berliner ", "Straße", "Str.")],
    "fr_FR": [("de la Paix", "Rue", "r."), ("Victor Hugo", "Avenue", "av."), ("Voltaire", "Boulevard", "bd"),
              ("Pasteur", "Rue", "r."), ("Jean Jaurès", "Avenue", "av."), ("de la République", "Rue", "r.")],
    "zh_CN": [("科技", "Keji"), ("人民", "Renmin"), ("中山", "Zhongshan"), ("解放", "Jiefang"),
              ("建设", "Jianshe"), ("和平", "Heping")],
}
COMPANY_WORDS = {
    "en_US": ["Consulting", "Logistics", "Software", "Supplies"], "en_GB": ["Consulting", "Trading", "Design"],
    "de_DE": ["Logistik", "Maschinenbau", "Elektrotechnik", "Handel"],
    "fr_FR": ["Transports", "Conseil", "Menuiserie", "Boulangerie"],
}
#: Legal form: canonical spelling first, then the variants sources use.
SUFFIXES = {"en_US": ["Inc.", "Inc", "Incorporated", "INC"], "en_GB": ["Ltd", "Ltd.", "Limited", "LTD"],
            "de_DE": ["GmbH", "Gmbh", "G.m.b.H.", "GMBH"], "fr_FR": ["SARL", "S.A.R.L.", "Sarl"],
            "zh_CN": ["有限公司", "有限责任公司"]}
ZH_SUFFIX_LATIN = ["Co., Ltd.", "Co. Ltd", "Company Limited"]
ZH_BRANDS = [("华信", "Huaxin"), ("宏达", "Hongda"), ("瑞丰", "Ruifeng"), ("天成", "Tiancheng")]
ZH_TRADES = [("科技", "Technology", "tech"), ("贸易", "Trading", "trade"), ("电子", "Electronics", "elec")]
MAIL_DOMAINS = {"en_US": ["gmail.com", "yahoo.com", "outlook.com"], "en_GB": ["gmail.com", "btinternet.com", "sky.com"],
                "de_DE": ["gmail.com", "web.de", "gmx.de", "t-online.de"],
                "fr_FR": ["gmail.com", "orange.fr", "free.fr", "laposte.net"],
                "zh_CN": ["qq.com", "163.com", "gmail.com"]}
TLD = {"en_US": "com", "en_GB": "co.uk", "de_DE": "de", "fr_FR": "fr", "zh_CN": "cn"}
PRODUCTS = [("SKU-1001", "Espresso beans 1 kg", 24.90), ("SKU-1002", "Milk frother", 39.00),
            ("SKU-2001", "Ceramic mug", 9.50), ("SKU-2002", "Travel mug", 18.00),
            ("SKU-3001", "Grinder", 129.00), ("SKU-3002", "Descaler", 7.25)]
NOTES = ["met at booth", "wants a quote", "call back in Q3", "existing customer?", "Visitenkarte",
         "rappeler", "需要报价"]
IMPOSSIBLE_DATES = [(2023, 2, 30), (2021, 2, 29), (2022, 4, 31), (2024, 13, 1)]
KEYBOARD_NEIGHBOURS = dict(zip("qwertyuiopasdfghjklzxcvbnm", [
    "wa", "qes", "wrd", "etf", "ryg", "tuh", "yij", "uok", "ipl", "o", "qsz", "awdx", "sefc", "drgv",
    "fthb", "gyjn", "hukm", "jil", "kop", "asx", "zdc", "xfv", "cgb", "vhn", "bjm", "nk"]))


# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------
class Phone(NamedTuple):
    cc: str
    area: str   # area code or mobile prefix (first national group)
    rest: str
    mobile: bool

    @property
    def e164(self) -> str:
        return f"+{self.cc}{self.area}{self.rest}"


@dataclass
class Address:
    locale: str
    city: City
    number: int
    street: tuple
    postal: str
    unit: str | None = None
    district: tuple = ("", "")

    def street_text(self, *, short: bool = False, latin: bool = False) -> str:
        """Street line; the long, native form is canonical."""
        if self.locale == "zh_CN":
            (road, road_latin), (dist, dist_latin) = self.street, self.district
            if latin:
                kind = "Rd" if short else "Road"
                return f"No. {self.number} {road_latin} {kind}, {dist_latin} District"
            return f"{dist}{road}路{self.number}号"
        name, long, abbr = self.street
        kind = abbr if short else long
        if self.locale == "de_DE":
            return f"{name}{kind} {self.number}"
        if self.locale == "fr_FR":
            return f"{self.number} {kind} {name}" if not short else f"{self.number}, {kind} {name}"
        return f"{self.number} {name} {kind}"


@dataclass
class Company:
    name: str
    latin: str
    suffix: str
    domain: str
    vat_id: str


@dataclass
class Person:
    eid: str
    locale: str
    given: str
    surname: str
    given_latin: str
    surname_latin: str
    email: str
    mobile: Phone
    address: Address
    landline: Phone | None = None
    company: Company | None = None
    prev_address: Address | None = None
    household: bool = False

    @property
    def country(self) -> str:
        return COUNTRY[self.locale]


@dataclass
class Record:
    source: str
    person: Person
    created: int
    updated: int
    address: Address
    order: int
    bad: str | None = None
    record_id: str = ""
    detail: str = ""   # bad_rows.csv detail when it is not the BAD_FIELD default


def _weighted(rng, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _fold(text: str) -> str:
    """ASCII form of a Latin name: German umlauts spelled out, other accents dropped."""
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ß", "ss")):
        text = text.replace(a, b)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(text: str) -> str:
    return "".join(c for c in _fold(text).lower() if c.isalnum())


class _Factory:
    """Makes people with unique e-mails and phones from one random stream."""

    def __init__(self, rng):
        self.rng = rng
        self.emails: set[str] = set()
        self.phones: set[str] = set()

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def phone(self, locale: str, city: City, *, mobile: bool) -> Phone:
        rng, cc, digits = self.rng, CALLING_CODE[COUNTRY[locale]], self.digits
        while True:
            if locale == "en_US":
                ph = Phone(cc, city.area, str(rng.randint(2, 9)) + digits(6), mobile)
            elif locale == "en_GB":
                ph = (Phone(cc, "7" + digits(3), digits(6), True) if mobile
                      else Phone(cc, city.area, str(rng.randint(2, 8)) + digits(9 - len(city.area)), False))
            elif locale == "de_DE":
                ph = (Phone(cc, rng.choice(["151", "160", "171", "176"]), digits(rng.choice([7, 8])), True)
                      if mobile else Phone(cc, city.area, str(rng.randint(2, 9)) + digits(9 - len(city.area)), False))
            elif locale == "fr_FR":
                ph = Phone(cc, rng.choice("67") if mobile else city.area, digits(8), mobile)
            else:
                ph = (Phone(cc, rng.choice(["138", "139", "150", "186", "199"]), digits(8), True) if mobile
                      else Phone(cc, city.area, str(rng.randint(2, 8)) + digits(7), False))
            if ph.e164 not in self.phones:
                self.phones.add(ph.e164)
                return ph

    def address(self, locale: str, city: City | None = None) -> Address:
        rng = self.rng
        city = city or rng.choice(CITIES[locale])
        seed = rng.choice(city.postal)
        if locale == "en_US":
            postal = f"{seed}{rng.randint(1, 99):02d}"
        elif locale == "en_GB":
            postal = f"{seed} {rng.randint(1, 9)}{rng.choice('ABDEFHJLNPRSTW')}{rng.choice('ABDEFHJLNPRSTW')}"
        elif locale == "de_DE":
            postal = f"{seed}{rng.randint(100, 999)}"
        elif locale == "fr_FR":
            postal = f"{seed}0{rng.randint(1, 20):02d}"
        else:
            postal = f"{seed}{rng.randint(0, 999):03d}"
        streets = STREETS["en" if locale.startswith("en") else locale]
        addr = Address(locale, city, rng.randint(1, 240), rng.choice(streets), postal)
        if locale == "zh_CN":
            addr.district = rng.choice(city.districts)
            addr.unit = f"{rng.randint(1, 12)}栋{rng.randint(1, 30)}{rng.randint(1, 4):02d}室"
        elif rng.random() < 0.2:
            addr.unit = {"fr_FR": f"Appt {rng.randint(1, 40)}", "de_DE": f"{rng.randint(1, 5)}. OG"}.get(
                locale, f"Apt {rng.randint(1, 40)}" if locale == "en_US" else f"Flat {rng.randint(1, 40)}")
        return addr

    def email(self, locale: str, given: str, surname: str, company: Company | None) -> str:
        rng = self.rng
        g, s = _slug(given), _slug(surname)
        if company:
            local, domain = rng.choice([f"{g}.{s}", f"{g[0]}{s}", f"{g}"]), company.domain
        elif locale == "zh_CN" and rng.random() < 0.5:
            local, domain = str(rng.randint(10_000_000, 2_999_999_999)), "qq.com"
        else:
            domain = rng.choice([d for d in MAIL_DOMAINS[locale] if d != "qq.com"])
            local = rng.choice([f"{g}.{s}", f"{g[0]}{s}", f"{s}.{g}", f"{g}{s}{rng.randint(60, 99)}"])
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{rng.randint(1, 999)}@{domain}"
        self.emails.add(email)
        return email

    def company(self, locale: str, surname_latin: str, city: City) -> Company:
        rng = self.rng
        if locale == "zh_CN":
            (brand, brand_latin), (trade, trade_latin, slug) = rng.choice(ZH_BRANDS), rng.choice(ZH_TRADES)
            short = city.name.removesuffix("市")
            name = f"{short}{brand}{trade}有限公司"
            latin = f"{city.latin} {brand_latin} {trade_latin} Co., Ltd."
            domain = f"{_slug(brand_latin)}-{slug}.com.cn"
            vat = "91" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(16))
            return Company(name, latin, "有限公司", domain, vat)
        word, suffix = rng.choice(COMPANY_WORDS[locale]), SUFFIXES[locale][0]
        base = f"{word} {surname_latin}" if locale == "fr_FR" else f"{surname_latin} {word}"
        digits = "".join(rng.choice("0123456789") for _ in range(9))
        vat = {"en_US": f"{digits[:2]}-{digits[2:]}", "fr_FR": f"FR{rng.randint(10, 99)}{digits}"}.get(
            locale, COUNTRY[locale] + digits)
        return Company(f"{base} {suffix}", f"{base} {suffix}", suffix,
                       f"{_slug(base)}.{TLD[locale]}", vat)

    def person(self, idx: int, *, locale: str | None = None, name: tuple | None = None,
               city: City | None = None, b2b: bool | None = None) -> Person:
        rng = self.rng
        locale = locale or _weighted(rng, LOCALE_WEIGHTS)
        if locale == "zh_CN":
            surname = name[1] if name else rng.choice(list(ZH_SURNAMES))
            given = name[0] if name else "".join(rng.choices(list(ZH_GIVEN), k=rng.choice([1, 2, 2])))
            surname_latin = ZH_SURNAMES[surname][0]
            given_latin = "".join(ZH_GIVEN[c][0] for c in given).capitalize()
        else:
            given, surname = name or (rng.choice(GIVEN[locale]), rng.choice(SURNAMES[locale]))
            given_latin, surname_latin = given, surname
        address = self.address(locale, city)
        b2b = rng.random() < B2B_RATE if b2b is None else b2b
        company = self.company(locale, surname_latin, address.city) if b2b else None
        landline_rate = 0.3 if locale != "zh_CN" else 0.15
        landline = self.phone(locale, address.city, mobile=False) if rng.random() < landline_rate else None
        return Person(f"E{idx:05d}", locale, given, surname, given_latin, surname_latin,
                      self.email(locale, given_latin, surname_latin, company),
                      self.phone(locale, address.city, mobile=True), address, landline, company)


def _people(rng, n: int) -> tuple[list[Person], list[tuple[str, str, str]]]:
    """``n`` people, including household and namesake pairs (listed as hard negatives)."""
    make = _Factory(rng)
    pairs = max(1, round(n * HARD_NEGATIVE_RATE)) if n >= 10 else 0
    slots = ["single"] * (n - 4 * pairs) + ["household", "namesake"] * pairs
    rng.shuffle(slots)
    people, negatives = [], []
    for kind in slots:
        idx = len(people) + 1
        if kind == "single":
            people.append(make.person(idx))
            continue
        locale = _weighted(rng, LOCALE_WEIGHTS)
        if kind == "namesake":
            a = make.person(idx, locale=locale, name=COMMON_NAMES[locale])
            b = make.person(idx + 1, locale=locale, name=COMMON_NAMES[locale], city=a.address.city)
        else:
            a = make.person(idx, locale=locale, b2b=False)
            if a.landline is None:
                a.landline = make.phone(locale, a.address.city, mobile=False)
            b = make.person(idx + 1, locale=locale, b2b=False)
            while b.given == a.given:
                b = make.person(idx + 1, locale=locale, b2b=False)
            if rng.random() < 0.7:
                b.surname, b.surname_latin = a.surname, a.surname_latin
                b.email = make.email(locale, b.given_latin, b.surname_latin, None)
            b.address, b.landline = a.address, a.landline
            a.household = b.household = True
        people += [a, b]
        negatives.append((a.eid, b.eid, kind))
    return people, negatives


def _plan(rng, people: list[Person]) -> list[Record]:
    """1-3 records per person with times; movers' older records keep the old address."""
    make = _Factory(rng)
    records = []
    for person in people:
        t0 = rng.randint(T_START, T_END - 3 * 365 * DAY)
        n = _weighted(rng, RECORDS_PER_ENTITY)
        times = sorted(t0 + rng.randint(0, 2 * 365 * DAY) for _ in range(n))
        mine = []
        for created in times:
            updated = created + rng.randint(0, 180 * DAY)
            mine.append(Record(_weighted(rng, SOURCE_WEIGHTS), person, created, updated,
                               person.address, len(records) + len(mine)))
        if n >= 2 and not person.household and rng.random() < MOVER_RATE:
            same_city = person.address.city if rng.random() < 0.5 else None
            person.prev_address = make.address(person.locale, same_city)
            for rec in mine[:-1]:
                rec.address = person.prev_address
            mine[-1].updated = max(r.updated for r in mine) + rng.randint(30 * DAY, 300 * DAY)
        records += mine
    return records


# --------------------------------------------------------------------------------------------
# Field renderers: one canonical value in, a source-flavoured variant out
# --------------------------------------------------------------------------------------------
def _typo(rng, text: str) -> str:
    if len(text) < 4 or not text.isascii():
        return text
    i = rng.randrange(1, len(text) - 1)
    op = rng.randrange(4)
    if op == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if op == 1:
        return text[:i] + text[i + 1:]
    if op == 2:
        return text[:i] + text[i] + text[i:]
    near = KEYBOARD_NEIGHBOURS.get(text[i].lower())
    return text[:i] + rng.choice(near) + text[i + 1:] if near else text


def _given_variant(rng, p: Person) -> str:
    given = p.given
    if given in NICKNAMES and rng.random() < 0.25:
        given = rng.choice(NICKNAMES[given])
    return _typo(rng, given) if rng.random() < 0.04 else given


def _surname_variant(rng, p: Person) -> str:
    return _typo(rng, p.surname) if rng.random() < 0.04 else p.surname


def _zh_native(rng, text: str) -> str:
    """Chinese characters, sometimes in traditional form."""
    if rng.random() < 0.2:
        table = {**{k: v[1] for k, v in ZH_SURNAMES.items()}, **{k: v[1] for k, v in ZH_GIVEN.items()}}
        return "".join(table.get(c, c) for c in text)
    return text


def _name_one_field(rng, p: Person, *, erp: bool = False) -> str:
    """A whole name in one cell, in the orders people and systems really use."""
    if p.locale == "zh_CN":
        r = rng.random()
        if r < 0.55:
            return _zh_native(rng, p.surname + p.given)
        if erp:
            return f"{p.surname_latin.upper()}, {p.given_latin}"
        g, s = p.given_latin, p.surname_latin
        return rng.choice([f"{s} {g}", f"{g} {s}", f"{s.upper()} {g}"])
    given, surname = _given_variant(rng, p), _surname_variant(rng, p)
    if erp:
        if rng.random() < 0.05:
            given = given[0] + "."
        name = f"{surname}, {given}"
        if rng.random() < 0.5:
            name = name.upper()
            if p.locale in ("de_DE", "fr_FR") and rng.random() < 0.6:
                name = _fold(name).upper()
        return name
    r = rng.random()
    if r < 0.45:
        return f"{given} {surname}"
    if r < 0.6:
        return f"{surname}, {given}"
    if r < 0.7:
        return f"{given} {surname}".lower()
    if r < 0.8:
        return f"{given[0]}. {surname}"
    if r < 0.95:
        return f"{surname.upper()} {given}"
    return f"{rng.choice(['Dr.', 'Prof.'])} {given} {surname}"


def _name_split(rng, p: Person) -> tuple[str, str]:
    if p.locale == "zh_CN":
        if rng.random() < 0.5:
            return _zh_native(rng, p.given), _zh_native(rng, p.surname)
        pair = (p.given_latin, p.surname_latin)
        return pair[::-1] if rng.random() < 0.3 else pair
    first, last = _given_variant(rng, p), _surname_variant(rng, p)
    r = rng.random()
    if r < 0.06:
        return first.upper(), last.upper()
    if r < 0.12:
        return first.lower(), last.lower()
    return first, last


def _email_variant(rng, p: Person, *, lower: bool = True) -> str:
    local, domain = p.email.split("@")
    if domain == "gmail.com" and rng.random() < 0.3:
        local = local.replace(".", "") if "." in local else ".".join([local[:3], local[3:]])
    if domain != "qq.com" and rng.random() < 0.1:
        local += "+" + rng.choice(["shop", "news", "crm"])
    if rng.random() < 0.02:
        local = _typo(rng, local)
    email = f"{local}@{domain}"
    if not lower:
        r = rng.random()
        email = email.capitalize() if r < 0.2 else email.upper() if r < 0.25 else email
    return email


def _malformed_email(rng, p: Person) -> str:
    local, domain = p.email.split("@")
    return rng.choice([f"{local}@@{domain}", f"{local}.{domain}", f"{local}@{domain.split('.')[0]}",
                       f"{local} {domain}"])


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _phone_text(ph: Phone, style: str) -> str:
    """``ph`` written as people write it: E.164, international or national, spaced or dashed."""
    cc, area, rest = ph.cc, ph.area, ph.rest
    trunk = "" if cc == "1" or (cc == "86" and ph.mobile) else "0"   # Chinese mobiles have no trunk 0
    if cc == "1":
        groups = [rest[:3], rest[3:]]
    elif cc == "33":
        groups = [rest[i:i + 2] for i in range(0, len(rest), 2)]
    elif cc in ("44", "86") and len(rest) == 8 and (ph.mobile or cc == "44"):
        groups = [rest[:4], rest[4:]]
    elif cc == "44" and len(rest) == 7:
        groups = [rest[:3], rest[3:]]
    else:
        groups = [rest]
    if style == "e164":
        return ph.e164
    if style == "intl":
        return f"+{cc} {area} {' '.join(groups)}"
    if style == "00":
        return f"00{cc} {area} {' '.join(groups)}"
    if style == "paren" and cc in ("44", "49"):
        return f"+{cc} (0){area} {' '.join(groups)}"
    if style == "dash":
        return f"{trunk}{area}-{'-'.join(groups)}"
    if style == "slash" and cc == "49":
        return f"0{area}/{rest}"
    if style == "dots" and cc in ("1", "33"):
        return f"{trunk}{area}.{'.'.join(groups)}"
    if style == "compact":
        return f"{trunk}{area}{rest}"
    if cc == "1":
        return f"({area}) {groups[0]}-{groups[1]}"
    return f"{trunk}{area} {' '.join(groups)}"


PHONE_STYLES = {
    "erp": {"national": 55, "dash": 15, "slash": 10, "compact": 10, "intl": 10},
    "shop": {"e164": 70, "intl": 20, "national": 10},
    "trade_show_leads": {"national": 30, "intl": 25, "e164": 10, "00": 10, "paren": 10, "dots": 10, "dash": 5},
    "sales_contacts": {"national": 50, "intl": 30, "e164": 20},
    LEGACY_SOURCE: {"compact": 70, "national": 30},
}


def _phone_for(rng, rec: Record) -> str | None:
    p = rec.person
    if rng.random() < (0.15 if rec.source == "shop" else 0.1):
        return None
    use_landline = p.landline is not None and rng.random() < (0.6 if p.household else 0.25)
    text = _phone_text(p.landline if use_landline else p.mobile, _weighted(rng, PHONE_STYLES[rec.source]))
    return text.translate(FULL_WIDTH) if p.locale == "zh_CN" and rng.random() < 0.05 else text


def _street_for(rng, addr: Address, *, short_rate: float, latin: bool) -> str:
    text = addr.street_text(short=rng.random() < short_rate, latin=latin)
    if addr.locale == "de_DE" and rng.random() < 0.15:
        text = text.replace("straße", "strasse").replace("Straße", "Strasse")
    return _typo(rng, text) if rng.random() < 0.03 else text


def _city_for(rng, addr: Address, *, latin: bool) -> str:
    city = addr.city
    if latin and addr.locale == "zh_CN":
        return city.latin
    if city.variants and rng.random() < 0.3:
        return rng.choice(city.variants)
    if addr.locale == "en_US" and rng.random() < 0.15:
        return f"{city.name}, {city.province}"
    return city.name.upper() if addr.locale != "zh_CN" and rng.random() < 0.15 else city.name


def _company_for(rng, company: Company | None, *, latin: bool) -> str | None:
    if company is None:
        return None
    if company.suffix == "有限公司":
        if latin:
            return company.latin.replace("Co., Ltd.", rng.choice(ZH_SUFFIX_LATIN))
        return company.name.replace("有限公司", rng.choice(SUFFIXES["zh_CN"]))
    variants = next(v for v in SUFFIXES.values() if v[0] == company.suffix)
    suffix = variants[0] if rng.random() < 0.5 else rng.choice(variants)
    return company.name.removesuffix(company.suffix) + suffix


def _vat_for(rng, company: Company | None) -> str | None:
    if company is None:
        return None
    vat, r = company.vat_id, rng.random()
    if r < 0.15 and vat[:2].isalpha() and len(vat) < 18:
        return vat[2:]
    if r < 0.3 and vat[:2].isalpha():
        return f"{vat[:2]} {vat[2:5]} {vat[5:]}"
    return vat.lower() if r < 0.35 else vat


def _local_time(t: int, city: City) -> tuple[dt.datetime, int]:
    off = city.tz
    if city.dst and 4 <= dt.datetime.fromtimestamp(t, dt.UTC).month <= 10:
        off += 1
    return dt.datetime.fromtimestamp(t, dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=off), off


def _iso(t: int, city: City) -> str:
    local, off = _local_time(t, city)
    return f"{local:%Y-%m-%dT%H:%M:%S}{'+' if off >= 0 else '-'}{abs(off):02d}:00"


def _sql_time(t: int, city: City) -> str:
    return f"{_local_time(t, city)[0]:%Y-%m-%d %H:%M:%S}"


def _impossible(rng) -> tuple[int, int, int]:
    return rng.choice(IMPOSSIBLE_DATES)


# --------------------------------------------------------------------------------------------
# Records per source
# --------------------------------------------------------------------------------------------
def _erp_row(rng, rec: Record) -> tuple:
    p, addr = rec.person, rec.address
    latin = addr.locale == "zh_CN" and rng.random() < 0.3
    email = None if rng.random() < 0.35 else _email_variant(rng, p)
    created = _sql_time(rec.created, addr.city)
    contact = _name_one_field(rng, p, erp=True)
    if rec.bad == "malformed_email":
        email = _malformed_email(rng, p)
    elif rec.bad == "empty_name":
        contact = ""
    elif rec.bad == "impossible_date":
        y, m, d = _impossible(rng)
        created = f"{y:04d}-{m:02d}-{d:02d}{created[10:]}"
    country = COUNTRY[addr.locale]
    return (rec.record_id, _company_for(rng, p.company, latin=latin), contact,
            _street_for(rng, addr, short_rate=0.6, latin=latin),
            None if rng.random() < 0.05 else addr.postal, _city_for(rng, addr, latin=latin),
            country if rng.random() < 0.9 else COUNTRY_NAMES[country][0], _phone_for(rng, rec), email,
            _vat_for(rng, p.company), created, _sql_time(rec.updated, addr.city))


def _shop_customer(rng, rec: Record, used_emails: set[str]) -> tuple[dict, list[dict]]:
    p, addr = rec.person, rec.address
    latin = addr.locale != "zh_CN" or rng.random() < 0.4
    first, last = _name_split(rng, p)
    email = None if rng.random() < 0.05 else _email_variant(rng, p)
    if rec.bad == "malformed_email":
        email = _malformed_email(rng, p)
    while email in used_emails:   # one account per e-mail, as in the shop
        local, domain = p.email.split("@")
        email = f"{local}+{rng.randint(2, 99)}@{domain}"
    if email:
        used_emails.add(email)
    if rec.bad == "empty_name":
        first, last = None, None
    created = _iso(rec.created, addr.city)
    if rec.bad == "impossible_date":
        y, m, d = _impossible(rng)
        created = f"{y:04d}-{m:02d}-{d:02d}{created[10:]}"
    orders, last_order = [], rec.created
    for _ in range(min(4, int(rng.expovariate(1 / 1.3)))):
        t = rng.randint(rec.created, min(T_END, rec.created + 365 * DAY))
        last_order = max(last_order, t)
        items = [{"sku": sku, "title": title, "quantity": rng.randint(1, 3), "price": f"{price:.2f}"}
                 for sku, title, price in rng.sample(PRODUCTS, rng.randint(1, 3))]
        total = sum(i["quantity"] * Decimal(i["price"]) for i in items)
        orders.append({"created_at": (t, _iso(t, addr.city)), "total_price": f"{total:.2f}",
                       "currency": CURRENCY[COUNTRY[addr.locale]], "line_items": items})
    orders.sort(key=lambda o: o["created_at"][0])
    for o in orders:
        o["created_at"] = o["created_at"][1]
    spent = sum(Decimal(o["total_price"]) for o in orders)
    province = addr.city.province_latin if latin else addr.city.province
    customer = {
        "email": email, "first_name": first or None, "last_name": last or None,
        "phone": _phone_for(rng, rec), "created_at": created,
        "updated_at": _iso(max(rec.updated, last_order), addr.city),
        "accepts_marketing": rng.random() < 0.4, "orders_count": len(orders), "total_spent": f"{spent:.2f}",
        "default_address": {
            "address1": _street_for(rng, addr, short_rate=0.3, latin=latin),
            "address2": None if (latin and addr.locale == "zh_CN") else addr.unit,
            "city": _city_for(rng, addr, latin=latin), "province": province or None,
            "zip": None if rng.random() < 0.05 else addr.postal,
            "country_code": COUNTRY[addr.locale], "company": _company_for(rng, p.company, latin=latin)},
    }
    return customer, orders


def _lead_row(rng, rec: Record) -> list:
    p, addr = rec.person, rec.address
    latin = addr.locale != "zh_CN" or rng.random() < 0.5
    company = _company_for(rng, p.company, latin=latin) or rng.choice([None, None, None, "-"])
    email = None if rng.random() < 0.1 else _email_variant(rng, p, lower=False)
    tel = _phone_for(rng, rec)
    if tel and tel.isascii() and rng.random() < 0.08:   # the spreadsheet turned it into a number
        tel = int("".join(c for c in tel if c.isdigit()))
    day = _local_time(rec.created, addr.city)[0].date()
    r = rng.random()
    date = day if r < 0.75 else day.strftime("%d.%m.%Y") if r < 0.85 else day.strftime(
        "%m/%d/%Y") if r < 0.93 else day.isoformat()
    name = _name_one_field(rng, p)
    if rec.bad == "malformed_email":
        email = _malformed_email(rng, p)
    elif rec.bad == "empty_name":
        name = None
    elif rec.bad == "impossible_date":
        y, m, d = _impossible(rng)
        date = f"{d:02d}.{m:02d}.{y:04d}"
    country = COUNTRY[addr.locale]
    notes = rng.choice(NOTES) if rng.random() < 0.3 else None
    row = [name, company, email, tel, None if rng.random() < 0.05 else _city_for(rng, addr, latin=latin),
           rng.choice([country, *COUNTRY_NAMES[country]]) if rng.random() > 0.05 else None, notes, date]
    if rec.bad == "ref_error":   # a formula whose reference was deleted
        col = rng.choice([1, 2, 3, 4])
        row[col] = "#REF!"
        rec.detail = LEADS_HEADER[col]
    return row


LEADS_HEADER = ["Name", "Company", "E-mail", "Tel", "City", "Country", "Notes", "Date"]


def _legacy_row(rng, rec: Record) -> list:
    """NAME, EMAIL, PHONE, CITY, COUNTRY, LAST_ORDER as an old system exported them."""
    p, addr = rec.person, rec.address
    latin = addr.locale != "zh_CN" or rng.random() < 0.3
    name = _name_one_field(rng, p)
    email = "" if rng.random() < 0.1 else _email_variant(rng, p)
    return [name.upper() if latin else name, email, _phone_for(rng, rec) or "",
            _city_for(rng, addr, latin=latin), COUNTRY[addr.locale],
            _local_time(rec.updated, addr.city)[0].strftime("%Y%m%d")]


def _sales_row(rng, rec: Record) -> list:
    p, addr = rec.person, rec.address
    latin = addr.locale != "zh_CN" or rng.random() < 0.4
    name = _name_one_field(rng, p)
    email = "" if rng.random() < 0.1 else _email_variant(rng, p, lower=rng.random() < 0.7)
    last = _local_time(rec.updated, addr.city)[0].strftime("%d/%m/%Y")
    if rec.bad == "malformed_email":
        email = _malformed_email(rng, p)
    elif rec.bad == "empty_name":
        name = ""
    elif rec.bad == "impossible_date":
        y, m, d = _impossible(rng)
        last = f"{d:02d}/{m:02d}/{y:04d}"
    city = rng.choice(["", "n/a"]) if rng.random() < 0.08 else _city_for(rng, addr, latin=latin)
    return [name, _company_for(rng, p.company, latin=latin) or "", email, _phone_for(rng, rec) or "",
            city, last]


BAD_FIELD = {
    "erp": {"malformed_email": "email", "empty_name": "contact_name", "impossible_date": "created_at"},
    "shop": {"malformed_email": "email", "empty_name": "first_name,last_name", "impossible_date": "created_at"},
    "trade_show_leads": {"malformed_email": "E-mail", "empty_name": "Name", "impossible_date": "Date"},
    "sales_contacts": {"malformed_email": "email", "empty_name": "full_name",
                       "impossible_date": "last_contacted"},
}


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------
def _write_erp(rng, path: Path, records: list[Record], dirty_rate: float = 0.0,
               dirty_rng: random.Random | None = None) -> tuple[dict, list]:
    """``customers`` and ``invoices``; with ``dirty_rate`` > 0 also ``customers_dirty``: stale second
    copies (phone sometimes lost, ``updated_at`` = ``created_at``) of that share of customers.
    Returns the counts and the bad rows found outside the records (invoices, dirty copies)."""
    for stale in (path, path.with_name(path.name + "-journal")):
        stale.unlink(missing_ok=True)
    customers, invoices, dirty, bad = [], [], [], []
    for rec in records:
        row = _erp_row(rng, rec)
        customers.append(row)
        city = rec.address.city
        currency = CURRENCY[COUNTRY[rec.address.locale]]
        days = sorted(rng.randint(rec.created, T_END) for _ in range(rng.choice([0, 1, 1, 2, 3, 4])))
        if rec.bad == "negative_amount":
            days = days or [rng.randint(rec.created, T_END)]
            negative = rng.randrange(len(days))
        for i, t in enumerate(days):
            amount = round(rng.lognormvariate(6.5 if rec.person.company else 4.5, 0.8), 2)
            invoice_no = f"INV-{len(invoices) + 1:06d}"
            if rec.bad == "negative_amount" and i == negative:
                amount = -amount
                bad.append(("erp", invoice_no, "negative_amount", f"customer_no={rec.record_id}"))
            invoices.append((invoice_no, rec.record_id, _local_time(t, city)[0].date().isoformat(),
                             f"{amount:.2f}", currency))
        if dirty_rate and dirty_rng.random() < dirty_rate:
            copy = list(row)
            copy[7] = None if dirty_rng.random() < 0.5 else copy[7]   # phone lost in the stale copy
            copy[11] = copy[10]                                        # updated_at = created_at
            dirty.append(tuple(copy))
            bad.append(("erp", rec.record_id, "duplicate_pk", "second row with this customer_no in customers_dirty"))
    con = sqlite3.connect(path)
    try:
        con.executescript("""
            CREATE TABLE customers (customer_no TEXT PRIMARY KEY, company_name TEXT, contact_name TEXT,
                street TEXT, postal_code TEXT, city TEXT, country TEXT, phone TEXT, email TEXT, vat_id TEXT,
                created_at TEXT, updated_at TEXT);
            CREATE TABLE invoices (invoice_no TEXT PRIMARY KEY,
                customer_no TEXT REFERENCES customers(customer_no), invoice_date TEXT, amount NUMERIC,
                currency TEXT);
        """)
        con.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", customers)
        con.executemany("INSERT INTO invoices VALUES (?,?,?,?,?)", invoices)
        if dirty_rate:
            con.execute("CREATE TABLE customers_dirty AS SELECT * FROM customers WHERE 0")
            con.executemany("INSERT INTO customers_dirty VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", dirty)
        con.commit()
    finally:
        con.close()
    counts = {"erp": len(customers), "erp_invoices": len(invoices)}
    return (counts | {"erp_dirty_copies": len(dirty)} if dirty_rate else counts), bad


def _page_token(seed: int, kind: str, page: int) -> str:
    return hashlib.blake2b(f"demo:{seed}:{kind}:{page}".encode(), digest_size=12).hexdigest()


def _write_pages(root: Path, kind: str, objects: list[dict], *, seed: int, page_size: int,
                 cut_page: int | None = None) -> int:
    """``root/kind/page-NNNN.json`` chained by ``next_page_info`` tokens, ``_index.json``, ``kind.jsonl``.

    Page number ``cut_page`` (1-based) is written cut at 60 % of its bytes; the ``.jsonl`` stays whole."""
    folder = root / kind
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    n_pages = max(1, -(-len(objects) // page_size))
    width = max(4, len(str(n_pages)))
    names = [f"page-{i:0{width}d}.json" for i in range(1, n_pages + 1)]
    tokens = {}
    for i, name in enumerate(names):
        token = _page_token(seed, kind, i + 2) if i + 1 < n_pages else None
        if token:
            tokens[token] = names[i + 1]
        page = {kind: objects[i * page_size:(i + 1) * page_size], "next_page_info": token}
        data = _json(page).encode()
        (folder / name).write_bytes(data[:int(len(data) * 0.6)] if i + 1 == cut_page else data)
    index = {"first_page": names[0], "next_page_info_to_file": tokens, "pages": n_pages}
    (folder / "_index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (root / f"{kind}.jsonl").write_bytes("".join(_json(o) + "\n" for o in objects).encode())
    return n_pages


def _json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _write_shop(rng, root: Path, records: list[Record], *, seed: int, page_size: int,
                cut: bool = False) -> tuple[dict, list]:
    """Customers and orders pages; with ``cut`` one customers page (chosen by the seed) is cut short.
    Returns the counts and the bad rows of the cut page (one per customer on it)."""
    customers, orders, used_emails = [], [], set()
    next_order = 5_200_000_000_000
    for rec in records:
        customer, its_orders = _shop_customer(rng, rec, used_emails)
        customers.append({"id": int(rec.record_id), **customer})
        for order in its_orders:
            next_order += rng.randint(1, 20_000)
            orders.append({"id": next_order, "customer": {"id": int(rec.record_id)}, **order})
    n_pages = max(1, -(-len(customers) // page_size))
    cut_page = random.Random(f"{seed}:cut").randint(1, n_pages) if cut and customers else None
    bad = []
    if cut_page:
        name = f"page-{cut_page:0{max(4, len(str(n_pages)))}d}.json"
        bad = [("shop", str(c["id"]), "truncated_json_page", f"shop/customers/{name}")
               for c in customers[(cut_page - 1) * page_size:cut_page * page_size]]
    return {"shop": len(customers), "shop_orders": len(orders),
            "shop_customer_pages": _write_pages(root, "customers", customers, seed=seed, page_size=page_size,
                                                cut_page=cut_page),
            "shop_order_pages": _write_pages(root, "orders", orders, seed=seed, page_size=page_size)}, bad


def _write_xlsx(path: Path, header: list[str], rows: list[list]) -> None:
    """Sheet ``Leads`` with fixed document properties and zip entry times (same input, same bytes)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.properties.created = wb.properties.modified = FIXED_DOC_TIME
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))


def _write_legacy(rng, path: Path, records: list[Record]) -> tuple[dict, list]:
    """The GBK (cp936) legacy export; characters GBK lacks (``ß``, ``É``) become ``?``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="gbk", errors="replace", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(["NAME", "EMAIL", "PHONE", "CITY", "COUNTRY", "LAST_ORDER"])
        writer.writerows(_legacy_row(rng, rec) for rec in records)
    return {LEGACY_SOURCE: len(records)}, [(LEGACY_SOURCE, "*", "non_utf8_encoding",
                                            "sheets/legacy_export.csv is GBK (cp936); unencodable chars replaced by '?'")]


def _write_sheets(rng, folder: Path, leads: list[Record], sales: list[Record]) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    _write_xlsx(folder / "trade_show_leads.xlsx", LEADS_HEADER, [_lead_row(rng, rec) for rec in leads])
    with open(folder / "sales_contacts.csv", "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\r\n")
        writer.writerow(["full_name", "company", "email", "phone", "city", "last_contacted"])
        writer.writerows(_sales_row(rng, rec) for rec in sales)
    return {"trade_show_leads": len(leads), "sales_contacts": len(sales)}


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


ENTITY_COLUMNS = ["entity_id", "given_name", "surname", "email", "phone_e164", "street", "postal_code", "city",
                  "country", "company_name", "locale", "given_name_latin", "surname_latin", "street_latin",
                  "city_latin", "company_name_latin", "vat_id", "landline_e164", "prev_street",
                  "prev_postal_code", "prev_city"]


def _entity_row(p: Person) -> list[str]:
    a, prev, c = p.address, p.prev_address, p.company
    return [p.eid, p.given, p.surname, p.email, p.mobile.e164, a.street_text(), a.postal, a.city.name,
            p.country, c.name if c else "", p.locale, p.given_latin, p.surname_latin,
            a.street_text(latin=True), a.city.latin, c.latin if c else "", c.vat_id if c else "",
            p.landline.e164 if p.landline else "", prev.street_text() if prev else "",
            prev.postal if prev else "", prev.city.name if prev else ""]


def _write_truth(folder: Path, people, records, negatives, extra_bad=()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "records.csv", ["source", "source_record_id", "entity_id"],
               ([r.source, r.record_id, r.person.eid] for r in records))
    _write_csv(folder / "entities.csv", ENTITY_COLUMNS, (_entity_row(p) for p in people))
    _write_csv(folder / "hard_negatives.csv", ["entity_id_a", "entity_id_b", "kind"], negatives)
    own = ([r.source, r.record_id, r.bad, r.detail or BAD_FIELD[r.source][r.bad]] for r in records
           if r.bad and r.bad != "negative_amount")   # a negative amount is the invoice's row (extra_bad)
    _write_csv(folder / "bad_rows.csv", ["source", "record_id", "kind", "detail"], [*own, *extra_bad])


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def _assign_ids(rng, records: list[Record]) -> dict[str, list[Record]]:
    """Per source, ids in time order (ERP numbers and shop ids grow with created_at)."""
    by_source = {s: sorted((r for r in records if r.source == s), key=lambda r: (r.created, r.order))
                 for s in SOURCES}
    for i, rec in enumerate(by_source["erp"], 1):
        rec.record_id = f"C{100000 + i}"
    shop_id = 7_300_000_000_000
    for rec in by_source["shop"]:
        shop_id += rng.randint(1, 40_000)
        rec.record_id = str(shop_id)
    for source in ("trade_show_leads", "sales_contacts"):
        for i, rec in enumerate(by_source[source], 1):
            rec.record_id = str(i)
    return by_source


def _mark_bad_rows_at_rate(rng, records: list[Record], rate: float) -> None:
    """Each record broken with probability ``rate``, by one of its source's kinds."""
    for rec in records:
        if rng.random() < rate:
            rec.bad = rng.choice(RATE_BAD_KINDS[rec.source])


def _plan_legacy(rng, people: list[Person], rate: float) -> list[Record]:
    """A legacy-export record for about ``2 * rate`` of the people, at their latest address."""
    out = []
    for person in people:
        if rng.random() < min(1.0, 2 * rate):
            created = rng.randint(T_START, T_END - 30 * DAY)
            out.append(Record(LEGACY_SOURCE, person, created, created + rng.randint(0, 30 * DAY),
                              person.address, len(out)))
    return out


def _mark_bad_rows(rng, records: list[Record]) -> None:
    """At least one record of each bad kind (when there are enough records)."""
    if len(records) < len(BAD_KINDS):
        return
    per_kind = max(1, round(len(records) * BAD_ROW_RATE))
    chosen = rng.sample(records, min(len(records), per_kind * len(BAD_KINDS)))
    for i, rec in enumerate(chosen):
        rec.bad = BAD_KINDS[i % len(BAD_KINDS)]


def generate(out_dir: str | Path, *, entities: int = 300, seed: int = 42, page_size: int = 50,
             bad_rows: float | None = None) -> dict:
    """Write the demo sources and truth into ``out_dir``; returns record counts per source and file.

    ``bad_rows`` None: a few bad rows of each record kind (the demo). A rate in [0, 1]: each record
    broken with that probability, plus dirty ERP copies, a cut shop page and the GBK legacy export
    (none of them at 0). Files this writes are replaced; other files in ``out_dir`` are left alone.
    """
    if bad_rows is not None and (isinstance(bad_rows, bool) or not isinstance(bad_rows, int | float)
                                 or not 0 <= bad_rows <= 1):
        raise ValueError(f"demo data: bad_rows must be a rate between 0 and 1, got {bad_rows!r}")
    for name, value, low in (("entities", entities, 1), ("page_size", page_size, 1), ("seed", seed, None)):
        if not isinstance(value, int) or isinstance(value, bool) or (low is not None and value < low):
            kind = "a positive integer" if low else "an integer"
            raise ValueError(f"demo data: {name} must be {kind}, got {value!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"demo data: output path {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(f"crm-golden-demo:{seed}")
    people, negatives = _people(rng, entities)
    records = _plan(rng, people)
    rate = float(bad_rows or 0)
    legacy = []
    if bad_rows is None:
        _mark_bad_rows(rng, records)
    else:
        bad_rng = random.Random(f"{seed}:bad")
        _mark_bad_rows_at_rate(bad_rng, records, rate)
        legacy = _plan_legacy(bad_rng, people, rate) if rate else []
    by_source = _assign_ids(rng, records)
    for i, rec in enumerate(legacy, 1):
        rec.record_id = str(i)

    counts = {"entities": len(people), "records": len(records) + len(legacy)}
    erp_counts, erp_bad = _write_erp(random.Random(f"{seed}:erp"), out / "erp.sqlite", by_source["erp"],
                                     rate, random.Random(f"{seed}:dirty"))
    shop_counts, shop_bad = _write_shop(random.Random(f"{seed}:shop"), out / "shop", by_source["shop"],
                                        seed=seed, page_size=page_size, cut=rate > 0)
    counts |= erp_counts | shop_counts
    counts |= _write_sheets(random.Random(f"{seed}:sheets"), out / "sheets",
                            by_source["trade_show_leads"], by_source["sales_contacts"])
    legacy_path, legacy_bad = out / "sheets" / "legacy_export.csv", []
    legacy_path.unlink(missing_ok=True)
    if legacy:
        legacy_counts, legacy_bad = _write_legacy(random.Random(f"{seed}:legacy"), legacy_path, legacy)
        counts |= legacy_counts
    ordered = [rec for source in SOURCES for rec in by_source[source]] + legacy
    extra_bad = erp_bad + shop_bad + legacy_bad
    _write_truth(out / "truth", people, ordered, negatives, extra_bad)
    counts["hard_negatives"] = len(negatives)
    counts["bad_rows"] = sum(1 for r in records if r.bad and r.bad != "negative_amount") + len(extra_bad)
    manifest = {"generator": "pipelines.demo", "entities": entities, "seed": seed,
                "page_size": page_size, "counts": counts}
    if bad_rows is not None:
        manifest["bad_rows"] = rate
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.demo OUT [--entities N] [--seed S] [--page-size P] [--bad-rows RATE]``."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.demo", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output folder")
    parser.add_argument("--entities", type=int, default=300, help="number of people (default 300)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--page-size", type=int, default=50, help="shop API page size (default 50)")
    parser.add_argument("--bad-rows", type=float, default=None, metavar="RATE",
                        help="break each record with this probability, plus dirty ERP copies, a cut shop page "
                        "and a GBK legacy export (default: a few bad rows of each kind)")
    args = parser.parse_args(argv)
    try:
        counts = generate(args.out, entities=args.entities, seed=args.seed, page_size=args.page_size,
                          bad_rows=args.bad_rows)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
