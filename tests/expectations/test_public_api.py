"""The package surface, and that declaring checks stays cheap (no Great Expectations import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import expectations
from expectations.dagster_checks import check_specs
specs = {s: [c.name for c in check_specs(s, ["t", s])] for s in expectations.SUITES}
missing = [n for n in expectations.__all__ if not hasattr(expectations, n)]
print(json.dumps({"gx": "great_expectations" in sys.modules, "missing": missing, "specs": specs,
                  "file": expectations.__file__}))
"""


def test_import_and_check_specs_do_not_load_great_expectations():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["file"] and probe["file"].endswith("__init__.py")
    assert probe["missing"] == []
    assert probe["gx"] is False
    assert set(probe["specs"]) == {"staged_customers", "golden_customers", "golden_crosswalk", "raw_erp_customers",
                                   "raw_erp_invoices", "raw_shop_customers", "raw_shop_orders", "raw_sheets_contacts"}
    assert "staged_records_appear_once_in_crosswalk" in probe["specs"]["golden_crosswalk"]
