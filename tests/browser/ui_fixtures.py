"""Fixtures and helpers of the browser tests (re-exported by conftest.py beside this file): admin's web UI in headless Chromium, driven by Playwright.

* The browser is Debian's ``/usr/bin/chromium`` (Playwright cannot download its own here),
  launched by pytest-playwright's session-scoped ``browser`` fixture with the flags of
  ../shared/UI-NOTES.md. Without it these tests skip with the reason, unless
  ``PROMOGATE_REQUIRE_BROWSER`` is set (``.ci/run`` sets it): then they FAIL.
* Each test gets the real admin over HTTP (``AdminServer``) and the in-process gateway
  (``gateway_fixtures.in_process``, seeded with its data set) on the shared Redis under the
  test's own key prefix, and a fresh browser context.
* Every page fails its test on a console error or an uncaught script error, except the ones a
  test says it expects (a 401 answer is logged by Chromium as a failed resource).
* They run after every other test (tests/conftest.py sorts the ``browser`` marker last): the
  sync API keeps an event loop running that would break pytest-asyncio tests collected after.

Screenshots: ``PROMOGATE_SCREENSHOTS=docs/screenshots`` (``make screenshots``) writes them into
the repository; otherwise into the test's tmp_path, so a plain ``make test`` leaves the tree
clean.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from gateway_fixtures import InProcess, in_process  # noqa: E402

from admin.testing import AdminServer  # noqa: E402

#: Debian's Chromium; PROMOGATE_CHROMIUM names another binary (or a missing one, to see the skip)
CHROMIUM = os.environ.get("PROMOGATE_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


def _required() -> bool:
    return os.environ.get("PROMOGATE_REQUIRE_BROWSER", "") not in ("", "0")


def browser_unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"the browser tests cannot run: {reason} (PROMOGATE_REQUIRE_BROWSER is set)",
                    pytrace=False)  # fmt: skip
    pytest.skip(f"browser tests skipped: {reason}; `apt-get install -y chromium` "
                "(set PROMOGATE_REQUIRE_BROWSER=1 to fail instead, as CI does)")  # fmt: skip


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, on the system Chromium."""
    if not os.access(CHROMIUM, os.X_OK):
        browser_unavailable(f"{CHROMIUM} not found")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS,
            "headless": True}  # fmt: skip


@pytest.fixture(scope="session")
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("PROMOGATE_SCREENSHOTS")
    path = (ROOT / where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Stack:
    """The admin server, the in-process gateway and what the browser logged."""

    admin: AdminServer
    gw: InProcess
    shots: Path
    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_console(self, pattern: str) -> None:
        """A console error this test provokes on purpose (matched once, then required)."""
        self.expected.append(re.compile(pattern))


@pytest.fixture
def stack(redis_url: str, key_prefix: str, shots_dir: Path) -> Iterator[Stack]:
    with in_process(redis_url, key_prefix) as g, AdminServer(redis_url, key_prefix) as srv:
        yield Stack(admin=srv, gw=g, shots=shots_dir)


@pytest.fixture
def ui(browser: Any, stack: Stack) -> Iterator[Any]:
    """A page on a fresh browser context at the admin's address (1280 x 800), failing the test
    on any console error or page error it was not told to expect."""
    context = browser.new_context(base_url=stack.admin.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            stack.errors.append(f"console: {msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: stack.errors.append(f"page error: {exc}"))
    try:
        yield page
    finally:
        context.close()
    unexpected = []
    for e in stack.errors:
        hit = next((p for p in stack.expected if p.search(e)), None)
        if hit is None:
            unexpected.append(e)
        else:
            stack.expected.remove(hit)
    assert not unexpected, "browser console errors:\n" + "\n".join(unexpected)
    assert not stack.expected, f"expected console errors did not happen: {stack.expected}"


def sign_in(page: Any, key: tuple[str, str]) -> None:
    page.goto("/")
    page.get_by_label("Key id").fill(key[0])
    page.get_by_label("Token").fill(key[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))
