"""The data-quality suites as code: one function per table, a registry, and the GX builder.

Each suite function returns a ``SuiteSpec`` (plain data) so check names are known without
importing Great Expectations; ``build_suite`` turns a spec into a ``gx.ExpectationSuite``.
Add a suite (e.g. ``raw_erp_customers``) by writing a function and registering it in ``SUITES``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from expectations.definitions import CheckDef, SuiteSpec
from expectations.outcomes import SuiteInputError
from expectations.raw_suites import RAW_SUITES
from expectations.reconcile import (
    STAGED_APPEAR_ONCE,
    evaluate_staged_records_appear_once,
    evaluate_staged_records_appear_once_sql,
)
from expectations.thresholds import Thresholds, resolve_thresholds

if TYPE_CHECKING:
    import great_expectations as gx

NAME_PRESENT = "_name_present"
CONTACT_PRESENT = "_contact_present"


def _present(column: str) -> pl.Expr:
    text = pl.col(column).cast(pl.Utf8)
    return text.is_not_null() & (text.str.strip_chars() != "")


def _any_present(columns: list[str]) -> pl.Expr:
    """True where any of ``columns`` holds a non-blank value, else null (so not-null can count it)."""
    return pl.when(pl.any_horizontal([_present(c) for c in columns])).then(pl.lit(True)).otherwise(None)


def _not_null(name: str, column: str, *, blocking: bool = False, description: str = "",
              mostly: float | None = None, severity: str = "error", label: str | None = None) -> CheckDef:
    kwargs: dict[str, object] = {"column": column}
    if mostly is not None and mostly < 1:
        kwargs["mostly"] = mostly
    return CheckDef(name=name, column=label or column, expectation="ExpectColumnValuesToNotBeNull",
                    kwargs=kwargs, severity=severity, blocking=blocking, description=description)


def _unique(name: str, column: str, *, description: str) -> CheckDef:
    return CheckDef(name=name, column=column, expectation="ExpectColumnValuesToBeUnique",
                    kwargs={"column": column}, blocking=True, description=description)


def _regex(name: str, column: str, pattern: str, mostly: float, *, description: str) -> CheckDef:
    kwargs: dict[str, object] = {"column": column, "regex": pattern}
    if mostly < 1:
        kwargs["mostly"] = mostly
    return CheckDef(name=name, column=column, expectation="ExpectColumnValuesToMatchRegex",
                    kwargs=kwargs, description=description)


def _contact_checks(t: Thresholds) -> list[CheckDef]:
    countries = sorted(t.allowed_countries)
    country_kwargs: dict[str, object] = {"column": "country", "value_set": countries}
    if t.country_allowed_mostly < 1:
        country_kwargs["mostly"] = t.country_allowed_mostly
    return [
        _regex("emails_are_valid", "email", t.email_pattern, t.email_valid_mostly,
               description=f"at least {t.email_valid_mostly:.0%} of e-mails look like addresses"),
        _regex("phones_are_e164", "phone", t.phone_pattern, t.phone_valid_mostly,
               description=f"at least {t.phone_valid_mostly:.0%} of phones are in E.164 form"),
        CheckDef(name="countries_are_allowed", column="country", expectation="ExpectColumnValuesToBeInSet",
                 kwargs=country_kwargs,
                 description=f"at least {t.country_allowed_mostly:.0%} of countries are allowed ISO-2 codes"),
    ]


def _date_check(name: str, column: str, t: Thresholds) -> CheckDef:
    earliest = dt.datetime.combine(t.earliest_date, dt.time(), tzinfo=dt.UTC)
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(days=t.future_slack_days)
    kwargs: dict[str, object] = {"column": column, "min_value": earliest, "max_value": latest}
    if t.dates_plausible_mostly < 1:
        kwargs["mostly"] = t.dates_plausible_mostly
    return CheckDef(name=name, column=column, expectation="ExpectColumnValuesToBeBetween", kwargs=kwargs,
                    description=f"{column} lies between {t.earliest_date} and now + {t.future_slack_days} day(s)")


def staged_customers(thresholds: Thresholds) -> SuiteSpec:
    """``staging.customers``: keys intact (blocking), contact fields well-formed, names mostly present."""
    t = thresholds
    return SuiteSpec(
        name="staged_customers",
        key_columns=("record_id",),
        derived={NAME_PRESENT: _any_present(["given_name", "full_name"])},
        checks=(
            _unique("record_ids_are_unique", "record_id", description="no two staged records share a record_id"),
            _not_null("record_ids_are_present", "record_id", blocking=True,
                      description="every staged record has a record_id"),
            _not_null("sources_are_present", "source", blocking=True,
                      description="every staged record names its source"),
            _not_null("source_record_ids_are_present", "source_record_id", blocking=True,
                      description="every staged record keeps its id in the source"),
            *_contact_checks(t),
            _date_check("created_at_is_plausible", "created_at", t),
            _date_check("updated_at_is_plausible", "updated_at", t),
            _not_null("names_are_present", NAME_PRESENT, mostly=t.name_present_mostly, severity="warn",
                      label="given_name|full_name",
                      description=f"at least {t.name_present_mostly:.0%} of records have a given or full name"),
        ),
    )


def golden_customers(thresholds: Thresholds) -> SuiteSpec:
    """``golden.customers``: one row per golden id (blocking), usable contact data."""
    t = thresholds
    contact = ["given_name", "surname", "full_name", "email", "phone"]
    return SuiteSpec(
        name="golden_customers",
        key_columns=("golden_id",),
        derived={CONTACT_PRESENT: _any_present(contact)},
        optional_columns=("given_name", "surname", "full_name"),
        checks=(
            _unique("golden_ids_are_unique", "golden_id", description="no two golden rows share a golden_id"),
            _not_null("golden_ids_are_present", "golden_id", blocking=True,
                      description="every golden row has a golden_id"),
            *_contact_checks(t),
            _not_null("records_have_name_email_or_phone", CONTACT_PRESENT, mostly=t.contact_present_mostly,
                      label="|".join(contact),
                      description="every golden customer has a name, an e-mail or a phone"),
        ),
    )


def golden_crosswalk(thresholds: Thresholds) -> SuiteSpec:
    """``golden.crosswalk``: each source record maps to one golden id, and every staged record is in it."""
    return SuiteSpec(
        name="golden_crosswalk",
        key_columns=("source", "source_record_id"),
        checks=(
            CheckDef(name="source_keys_are_unique", column="source,source_record_id",
                     expectation="ExpectCompoundColumnsToBeUnique",
                     kwargs={"column_list": ["source", "source_record_id"]}, blocking=True,
                     description="each (source, source_record_id) appears once"),
            _not_null("golden_ids_are_present", "golden_id", blocking=True,
                      description="every crosswalk row points to a golden_id"),
            CheckDef(name=STAGED_APPEAR_ONCE, column="record_id", blocking=True,
                     evaluate=evaluate_staged_records_appear_once,
                     evaluate_sql=evaluate_staged_records_appear_once_sql, requires=("staged",),
                     description="every staged record id appears exactly once in the crosswalk"),
        ),
    )


#: Suite name -> function building its spec from thresholds.
SUITES: dict[str, Callable[[Thresholds], SuiteSpec]] = {
    "staged_customers": staged_customers,
    "golden_customers": golden_customers,
    "golden_crosswalk": golden_crosswalk,
    **RAW_SUITES,
}


def register_suite(name: str, factory: Callable[[Thresholds], SuiteSpec]) -> None:
    """Add (or replace) suite ``name``: the raw suites of configured sources are registered this way."""
    SUITES[name] = factory


def suite_spec(name: str, *, thresholds: Thresholds | None = None) -> SuiteSpec:
    """The spec of suite ``name`` (SuiteInputError listing the known suites if unknown)."""
    try:
        factory = SUITES[name]
    except KeyError:
        raise SuiteInputError(f"unknown suite {name!r}; known suites: {sorted(SUITES)}") from None
    return factory(thresholds if thresholds is not None else resolve_thresholds(None))


def to_gx_suite(spec: SuiteSpec) -> gx.ExpectationSuite:
    """The Great Expectations suite of ``spec``'s expectation checks (check name and flags in meta)."""
    import great_expectations as gx

    expectations = []
    for check in spec.checks:
        if check.expectation is None:
            continue
        cls = getattr(gx.expectations, check.expectation)
        expectations.append(cls(
            **check.kwargs,
            severity="critical" if check.severity == "error" else "warning",
            description=check.description or None,
            meta={"check_name": check.name, "blocking": check.blocking, "severity": check.severity,
                  "column": check.column},
        ))
    return gx.ExpectationSuite(name=spec.name, expectations=expectations)


def build_suite(name: str, *, thresholds: Thresholds | None = None) -> gx.ExpectationSuite:
    """The ``gx.ExpectationSuite`` of suite ``name`` (imports Great Expectations)."""
    return to_gx_suite(suite_spec(name, thresholds=thresholds))
