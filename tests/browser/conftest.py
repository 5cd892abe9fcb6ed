"""Fixtures for the console's browser tests: headless Chromium (the system's, Debian's package:
`make test` installs it when missing) driven by Playwright against the running stack.

`chromium` (session): the browser, or a skip saying why when no Chromium is installed.
`people` (per test): the fake cloud with the console's redirect URI and operators set.
`visit(name)`: a new browser context signed in as `name` through the fake Entra's picker.
`shot(page, name)`: saves the page to docs/console/<name>.png (the README shows one).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devtools.fakecloud import FakeCloud
from tests.integration.conftest import cloud
from tests.integration.console_support import CONSOLE, operators
from tests.integration.stack_fixture import Stack

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

__all__ = ["chromium", "cloud", "people", "shot", "visit"]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
VIEWPORT = {"width": 1280, "height": 800}


def chromium_path() -> str | None:
    """The system's Chromium: XTENANT_CHROMIUM, else `chromium` (Debian) on the PATH."""
    named = os.environ.get("XTENANT_CHROMIUM")
    return named or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium: the browser tests drive the system's (`make test` installs Debian's "
            "chromium package; or set XTENANT_CHROMIUM to a Chromium executable)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
def people(cloud: FakeCloud, stack: Stack) -> FakeCloud:
    operators(cloud, stack)
    return cloud


SignIn = Callable[[str], Awaitable["Page"]]


@pytest.fixture
async def visit(chromium: Browser, people: FakeCloud, stack: Stack) -> AsyncIterator[SignIn]:
    contexts: list[BrowserContext] = []

    async def signed_in(name: str, start: str = "/runs") -> Page:
        # the fake Entra serves https with a test CA the browser does not know
        context = await chromium.new_context(ignore_https_errors=True, viewport=VIEWPORT)
        contexts.append(context)
        page = await context.new_page()
        await page.goto(f"{stack.host.http_base_url}{CONSOLE}{start}")
        await page.get_by_role("button", name=name).click()
        await page.wait_for_url(f"**{CONSOLE}{start}*")
        return page

    yield signed_in
    for context in contexts:
        await context.close()


#: A long page (the audit trail, the drift timeline) is saved down to this height only.
MAX_SHOT_HEIGHT = 1400


async def shot(page: Page, name: str) -> None:
    """The page as the operator sees it, saved to docs/console/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = await page.evaluate("document.documentElement.scrollHeight")
    clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": min(height, MAX_SHOT_HEIGHT)}
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, clip=clip)
