"""What a student sees in JupyterLab (headless Chromium, tests/browser.py).

JupyterLab from the kit's environment serves a student's folder (the
release copied alone, with ``../data``); its kernel cannot import the kit
(tests/student_env.py). The test opens a release notebook, runs all cells
from the Run menu, and looks at the page: the failing check's box says
what failed in a few lines, naming the student's function, and no
traceback through the kit shows. Screenshots go to the test's folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import browser
import student_env
from autograder.student import report

pytestmark = pytest.mark.slow

TOKEN = "student-browser-test"
NOTEBOOK = "deep_rnn.ipynb"
FIRST_TEST = "test_deep_rnn_shapes"  # the first test a student meets
ERROR_BOX = '.jp-OutputArea-output[data-mime-type=' \
    '"application/vnd.jupyter.stderr"]'
# JupyterLab settings of the test's own user: every cell in the page (no
# windowing, so the test can read any cell), and no news prompt.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc, timeout: float = 180) -> None:
    """Wait for the server's API to answer (or fail if it exited)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=5):
                return
        time.sleep(1)
    raise TimeoutError(f"jupyter lab did not answer {url} in {timeout} s")


@contextlib.contextmanager
def jupyter_lab(folder, tmp_path):
    """JupyterLab serving ``folder`` on a free local port, with the
    kit-less kernel and its own settings, runtime and home folders.

    Yields:
        The server's base URL.
    """
    port = _free_port()
    home = tmp_path / "home"
    for name, values in SETTINGS.items():
        path = home / ".jupyter/lab/user-settings" / \
            f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {**os.environ, "HOME": str(home),
           "JUPYTER_PATH": str(student_env.kernel(tmp_path)),
           "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
           "JUPYTER_DATA_DIR": str(home / ".local/share/jupyter"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "MPLBACKEND": "Agg"}
    log = open(tmp_path / "jupyter-lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser",
         "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token="
         f"{TOKEN}", f"--ServerApp.root_dir={folder}",
         "--allow-root", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(f"{base}api/status?token={TOKEN}", proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _started(page, timeout_ms: int) -> bool:
    """Has a cell started running (a prompt shows ``[*]`` or a number)?"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-InputPrompt')]"
            ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))",
            timeout=timeout_ms)
        return True
    except PlaywrightTimeout:
        return False


def _run_all(page, tries: int = 3) -> None:
    """Run > Run All Cells, as a student does (again if the page was not
    ready for it yet: the menu item does nothing until the notebook is)."""
    for _ in range(tries):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel",
                     has_text="Run All Cells").first.click()
        if _started(page, 30_000):
            return
        page.keyboard.press("Escape")
    raise AssertionError(f"Run > Run All Cells started no cell in {tries} "
                         "tries")


def test_a_failing_check_shows_a_short_box_and_no_kit_traceback(tmp_path):
    """Run all cells of the untouched release in JupyterLab: does the first
    test show a short error box that names the student's function, with
    no traceback through the kit anywhere on the page?"""
    browser.require_chromium()
    folder = student_env.student_folder(tmp_path)
    with jupyter_lab(folder, tmp_path) as base, \
            browser.chromium(tmp_path, allow=base) as context:
        page = browser.open_page(
            context, f"{base}lab/tree/{NOTEBOOK}?token={TOKEN}",
            browser.LAPTOP)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.get_by_text("(student, without the kit) | Idle").wait_for(
            timeout=120_000)
        _run_all(page)
        box = page.locator(ERROR_BOX).first
        box.wait_for(state="attached", timeout=300_000)
        box.scroll_into_view_if_needed()
        browser.screenshot(page, tmp_path / "student-laptop.png")
        box.screenshot(path=str(tmp_path / "failing-check.png"))
        text = box.inner_text()
        page_text = page.locator(".jp-Notebook").inner_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].startswith(f"✗ {FIRST_TEST} (2 points) failed"), text
    assert len(lines) <= report.MAX_LINES, text
    assert "get_deep_rnn_params" in text and "NotImplementedError" in text
    for kit in ("Traceback", "rnn_checks/", "site-packages"):
        assert kit not in page_text, kit
