"""Reading the Dagster UI without racing its re-renders.

The UI replaces DOM nodes whenever it re-renders (live-data polling, a layout after Alt+E, a status
arriving after "Loading..."), so an element found a moment ago may be gone when it is read. Every
browser test reads the page through ``wait_for``: the read re-finds its elements on each poll, a poll
whose elements went stale counts as "not yet", and the result returned is one complete read that met
the condition and then stayed the same for ``settle`` seconds. Tests assert on that returned value,
never on elements found outside the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

PAGE_TIMEOUT = 45.0
POLL = 0.25
_NOT_READ = object()


def _replaced() -> tuple[type[Exception], ...]:
    """Errors meaning "an element was replaced between its find and its read": retry the read."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    return StaleElementReferenceException, NoSuchElementException


def wait_for(driver, read: Callable[..., T], what: str, *, until: Callable[[T], object] = bool,
             settle: float = 0.0, timeout: float = PAGE_TIMEOUT, required: bool = True) -> T | None:
    """Poll ``read(driver)`` until ``until(value)`` holds and the value stays equal for ``settle`` s.

    Returns that value. On timeout: fails naming ``what`` with the last value and the page text, or,
    with ``required=False``, returns the last complete read (None if every read went stale) so the
    caller can assert on it with its own message.
    """
    replaced = _replaced()
    deadline = time.monotonic() + timeout
    last, since = _NOT_READ, time.monotonic()
    while True:
        try:
            value = read(driver)
        except replaced:
            value = _NOT_READ
        now = time.monotonic()
        if value is _NOT_READ or value != last or not until(value):
            since = now
        if value is not _NOT_READ:
            if until(value) and now - since >= settle:
                return value
            last = value
        if now >= deadline:
            break
        time.sleep(POLL)
    shown = None if last is _NOT_READ else last
    if not required:
        return shown
    pytest.fail(f"{what} not shown within {timeout:.0f}s at {driver.current_url}; last read: {shown!r:.500}\n"
                f"page text:\n{page_text(driver)[:1500]}")


def page_text(driver) -> str:
    """The visible text of the page; '' while the body is being replaced."""
    try:
        return driver.find_element("tag name", "body").text
    except _replaced():
        return ""


def texts(driver, css: str) -> list[str]:
    """Visible, non-empty texts of the elements matching ``css``, found afresh (may raise stale)."""
    return [t for t in (e.text.strip() for e in driver.find_elements("css selector", css)) if t]


def press_alt(driver, key: str) -> None:
    """Alt+``key``, a keyboard shortcut of the UI."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).key_down(Keys.ALT).send_keys(key).key_up(Keys.ALT).perform()
