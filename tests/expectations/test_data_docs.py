"""Optional Data Docs: written to a folder, with masked samples only."""

from __future__ import annotations

from expectations.data_docs import build_data_docs
from expectations.runner import run_suite


def test_data_docs_are_written_without_personal_data(tmp_path, dirty_staged, golden_frame):
    staged = run_suite("staged_customers", dirty_staged, data_docs_dir=tmp_path / "staged_docs")
    index = tmp_path / "staged_docs" / "index.html"
    assert staged.data_docs_index == str(index)
    assert index.is_file()
    pages = list((tmp_path / "staged_docs" / "validations").rglob("*.html"))
    assert len(pages) == 1
    html = pages[0].read_text(encoding="utf-8")
    assert "j***@example.com" in html                       # the masked sample is shown
    golden = run_suite("golden_customers", golden_frame)
    both = build_data_docs([staged, golden], tmp_path / "all_docs")
    assert both.is_file()
    assert len(list((tmp_path / "all_docs" / "validations").rglob("*.html"))) == 2
    raw_values = [*dirty_staged["email"].drop_nulls(), *dirty_staged["phone"].drop_nulls(),
                  *golden_frame["email"].drop_nulls(), *golden_frame["phone"].drop_nulls()]
    for page in tmp_path.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        leaked = [v for v in raw_values if v in text]
        assert not leaked, f"{page.name} shows unmasked values"
