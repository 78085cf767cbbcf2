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


def test_queued_validations_are_drawn_by_one_background_renderer(tmp_path, dirty_staged, golden_frame):
    """A run queues each suite's validation and one renderer process draws them on the page the
    check linked; a newer validation of a suite replaces the queued one; nothing stays queued."""
    from expectations.data_docs import PENDING, queue_data_docs, render_in_background, wait_for_data_docs

    docs = tmp_path / "docs"
    staged = run_suite("staged_customers", dirty_staged)
    golden = run_suite("golden_customers", golden_frame)
    first = queue_data_docs(staged, docs)
    newer = queue_data_docs(staged, docs)
    page = queue_data_docs(golden, docs)
    assert len(list((docs / PENDING).glob("*.pkl"))) == 2  # one per suite
    render_in_background(docs)
    assert wait_for_data_docs(docs, timeout=120) is None
    assert not list((docs / PENDING).glob("*.pkl"))
    assert newer.is_file() and page.is_file() and not first.exists()
    assert "j***@example.com" in newer.read_text(encoding="utf-8")
    links = (docs / "index.html").read_text(encoding="utf-8")
    assert "staged_customers" in links and "golden_customers" in links
    assert "Traceback" not in (docs / "render.log").read_text(encoding="utf-8")


def test_wait_draws_the_queue_itself_when_no_renderer_runs(tmp_path, golden_frame):
    from expectations.data_docs import queue_data_docs, wait_for_data_docs

    docs = tmp_path / "docs"
    page = queue_data_docs(run_suite("golden_customers", golden_frame), docs)
    assert wait_for_data_docs(docs, timeout=60) is None
    assert page.is_file()


def test_one_renderer_waits_for_the_whole_run(tmp_path, dirty_staged, golden_frame):
    """A run's session starts the renderer at once; with the queue empty it keeps waiting (holding
    its lock, so the suites start no other) until the run ends, then draws what came last and exits."""
    import time

    from expectations.data_docs import (
        _render_lock,
        data_docs_session,
        queue_data_docs,
        render_in_background,
        wait_for_data_docs,
    )

    docs = tmp_path / "docs"
    with data_docs_session(docs):
        # taken before the renderer has even imported Great Expectations: no suite starts another
        with _render_lock(docs.resolve(), block=False) as free:
            assert not free
        first = queue_data_docs(run_suite("staged_customers", dirty_staged), docs)
        render_in_background(docs)  # what each suite step does: no second renderer
        deadline = time.monotonic() + 120
        while not first.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.is_file()
        time.sleep(0.5)
        with _render_lock(docs.resolve(), block=False) as free:
            assert not free  # still there, waiting for the run's next suite
        last = queue_data_docs(run_suite("golden_customers", golden_frame), docs)
    assert wait_for_data_docs(docs, timeout=120) is None
    assert last.is_file()
    with _render_lock(docs.resolve(), block=False) as free:
        assert free  # gone once the run ended
