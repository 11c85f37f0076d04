"""The local console in a real browser: headless Chromium from the system's packages
(Debian's `chromium`), driven by Playwright's Python driver pointed at that executable.

`make browser` installs both (tests/browser/requirements.txt; `apt-get install chromium`
when running as root) and runs these tests; `make test` does not collect them, so it
needs no browser. CHROMIUM names another Chromium executable.

`served` is `imagepipe local serve`'s machinery (moto's server with the console, the
stack deployed into it, the pipe poller) on a free port of 127.0.0.1, for the module;
`page` a fresh browser page with the console open. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import drive

# What works in a container as root: no sandbox (it needs user namespaces), no GPU, and
# nothing that reaches the network on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        pytest.fail(
            "no Chromium: install Debian's chromium package (`make browser` does as root) "
            "or set CHROMIUM to a Chromium executable"
        )
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("flask", reason="moto[server] (Flask) is not installed")
    from imagepipe.local.serve import start_server
    from tests.support.ports import free_port

    saved = os.environ.get("IMAGEPIPE_STATE_DIR")
    os.environ["IMAGEPIPE_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    local = start_server("dev", port=free_port())
    try:
        local.write_state()
        yield local
        drive.wait(local.stack, timeout=120)  # let executions end before moto stops
    finally:
        local.stop()
        if saved is None:
            os.environ.pop("IMAGEPIPE_STATE_DIR", None)
        else:
            os.environ["IMAGEPIPE_STATE_DIR"] = saved


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    """Chromium with a fresh profile (its own --user-data-dir), headless."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `make browser`")
    with (
        tempfile.TemporaryDirectory(prefix="imagepipe-chromium-") as profile,
        sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any, served: Any) -> Iterator[Any]:
    """A new page with the console open; fails the test on any script error."""
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.set_default_timeout(60_000)
    page.goto(served.console_url)
    yield page
    page.close()
    assert not errors, f"errors in the page: {errors}"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
