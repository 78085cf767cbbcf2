"""Asset checks: Great Expectations suites on staged and golden tables, and reconciliation.

Checks on the golden build are blocking: when one fails, ``golden/published`` does not run and
the last published tables stay as they were.
"""


import dagster as dg

from expectations import run_suite
from expectations.dagster_checks import check_specs, to_check_results
from pipelines.assets.golden import BUILD_TABLES, GOLDEN_CROSSWALK, GOLDEN_CUSTOMERS
from pipelines.resources import WarehouseResource

STAGED = dg.AssetKey(["staging", "customers"])


@dg.multi_asset_check(specs=check_specs("staged_customers", STAGED), can_subset=False)
def staged_customers_suite(warehouse: WarehouseResource):
    """The staged_customers suite on staging.customers."""
    outcome = run_suite("staged_customers", warehouse.get().read("staging.customers"))
    yield from to_check_results(outcome, asset_key=STAGED)


@dg.multi_asset_check(specs=check_specs("golden_customers", GOLDEN_CUSTOMERS), can_subset=False)
def golden_customers_suite(warehouse: WarehouseResource):
    """The golden_customers suite on the golden build, before it is published."""
    outcome = run_suite("golden_customers", warehouse.get().read(BUILD_TABLES[GOLDEN_CUSTOMERS]))
    yield from to_check_results(outcome, asset_key=GOLDEN_CUSTOMERS)


@dg.multi_asset_check(specs=check_specs("golden_crosswalk", GOLDEN_CROSSWALK), can_subset=False)
def golden_crosswalk_suite(warehouse: WarehouseResource):
    """The golden_crosswalk suite, including: every staged record is in the crosswalk once."""
    wh = warehouse.get()
    outcome = run_suite("golden_crosswalk", wh.read(BUILD_TABLES[GOLDEN_CROSSWALK]),
                        staged=wh.read("staging.customers", columns=["record_id"]))
    yield from to_check_results(outcome, asset_key=GOLDEN_CROSSWALK)


ASSET_CHECKS = [staged_customers_suite, golden_customers_suite, golden_crosswalk_suite]
