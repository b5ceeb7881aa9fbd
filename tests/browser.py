"""Headless Chromium for tests that look at a page as a person would.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; Playwright's
own browser downloads are not used). Each browser gets a fresh profile
folder and no network-facing extras, and every http(s) request is refused
(a page's CDN scripts fail at once instead of waiting for a network that
is not there); ``allow`` lets a test reach its own local server. Shared by the feedback page's tests
and the student release's JupyterLab test.

Usage::

    with browser.chromium(tmp_path) as context:
        page = browser.open_page(context, path_or_url, browser.LAPTOP)
        browser.screenshot(page, tmp_path / "laptop.png")
        assert browser.horizontal_overflow(page) == 0
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("AUTOGRADER_CHROMIUM", "/usr/bin/chromium")
# Flags for a quiet, headless, throwaway browser run as root.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def require_chromium() -> str:
    """The Chromium executable, or skip the test saying why."""
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file()
                                      else None)
    if not path:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    return path


@contextlib.contextmanager
def chromium(tmp_path: Path, allow: str | None = None):
    """A headless Chromium context with a fresh profile under ``tmp_path``.

    Args:
        tmp_path: the test's folder.
        allow: a URL prefix that may be fetched (e.g. a local server's
            ``http://127.0.0.1:8888/``); every other http(s) URL is refused.
    """
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    profile = Path(tmp_path) / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True,
            args=FLAGS)
        context.route(re.compile(r"^https?://"), lambda route: (
            route.continue_() if allow and route.request.url.startswith(allow)
            else route.abort()))
        try:
            yield context
        finally:
            context.close()


def open_page(context, target: Path | str, viewport: dict):
    """Open a file (a Path) or URL at ``viewport`` size; wait for load."""
    page = context.new_page()
    page.set_viewport_size(viewport)
    url = Path(target).resolve().as_uri() if isinstance(target, Path) \
        else target
    page.goto(url, wait_until="load")
    return page


def screenshot(page, path: Path) -> Path:
    """Save the whole page as a PNG at ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return Path(path)


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its window (0: no
    horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth"
                         " - document.documentElement.clientWidth")
