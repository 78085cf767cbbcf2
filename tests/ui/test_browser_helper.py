"""``wait_for``, the stale-safe read every browser test goes through, on scripted reads (no browser)."""

from __future__ import annotations

import pytest

from .browser import wait_for

exceptions = pytest.importorskip("selenium.common.exceptions", reason="selenium is not installed (dev extra)")


class ScriptedPage:
    """Stands in for the driver: each read takes the next scripted outcome (a value or an exception)."""

    current_url = "about:scripted"

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.reads = 0

    def read(self, _driver):
        self.reads += 1
        outcome = self.outcomes[min(self.reads, len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def find_element(self, *_):
        raise exceptions.StaleElementReferenceException("body replaced")


def test_a_read_that_goes_stale_is_retried():
    page = ScriptedPage(exceptions.StaleElementReferenceException("re-rendered"), ("a", "b"))
    assert wait_for(page, page.read, "nodes", timeout=5) == ("a", "b")
    assert page.reads == 2


def test_returns_only_a_value_that_stayed_the_same_for_the_settle_time():
    page = ScriptedPage(("a",), ("a", "b"), exceptions.StaleElementReferenceException("re-rendered"),
                        ("a", "b", "c"))
    assert wait_for(page, page.read, "nodes", settle=0.6, timeout=10) == ("a", "b", "c")
    assert page.reads >= 4 + 2  # the last value was read again across the settle time


def test_timeout_fails_naming_what_and_the_last_read():
    page = ScriptedPage(("a",), exceptions.StaleElementReferenceException("re-rendered"))
    with pytest.raises(pytest.fail.Exception, match=r"nodes not shown within 1s .*last read: \('a',\)"):
        wait_for(page, page.read, "nodes", until=lambda v: len(v) == 2, timeout=1)


def test_timeout_not_required_returns_the_last_complete_read():
    page = ScriptedPage(("a",), ("a", "b"), exceptions.NoSuchElementException("gone"))
    assert wait_for(page, page.read, "nodes", until=lambda v: len(v) == 3, timeout=1, required=False) == ("a", "b")
