"""docs/console.png: the local console in headless Chromium, as the README shows it.

    .venv/bin/python -m tests.browser.screenshot [docs/console.png]

Serves the dev stack (as `imagepipe local serve`), uploads a few of the demo's samples
through the page's file picker (the upload API, as an app would), opens the first
photo's execution with its Map's state selected, and saves the window as a palette PNG
(small enough to commit). Needs what `make browser` installs.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

from PIL import Image

from imagepipe.local.samples import demo_samples
from imagepipe.local.serve import start_server
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.support.ports import free_port

SAMPLES = ("portrait.jpg", "sunset.webp", "notes.jpg", "landscape.jpg")
SIZE = {"width": 1400, "height": 1640}


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    logging.disable(logging.CRITICAL)
    os.environ.setdefault("IMAGEPIPE_STATE_DIR", tempfile.mkdtemp(prefix="imagepipe-state-"))
    local = start_server("dev", port=free_port())
    folder = tempfile.TemporaryDirectory(prefix="imagepipe-shot-")
    try:
        files = []
        for sample in (s for s in demo_samples() if s.name in SAMPLES):
            path = Path(folder.name, sample.name)
            path.write_bytes(sample.data)
            files.append(str(path))
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                Path(folder.name, "profile"),
                executable_path=chromium_path(),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=SIZE,
            )
            page = context.new_page()
            page.set_default_timeout(180_000)
            page.goto(local.console_url)
            page.set_input_files("#file-input", files)
            done = "#uploads li[data-status]:not([data-status='RUNNING'])"
            page.wait_for_function(
                f'() => document.querySelectorAll("{done}").length === {len(files)}'
            )
            page.locator("#uploads li[data-status='SUCCEEDED']").last.get_by_role(
                "link", name="open execution"
            ).click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('#renditions img')].length > 0 && "
                "[...document.querySelectorAll('#renditions img')].every(i => i.naturalWidth > 0)"
            )
            page.locator('#graph g.state[data-state="Make renditions"]').dispatch_event("click")
            page.evaluate("window.scrollTo(0, 0)")
            shot = Path(folder.name, "shot.png")
            page.screenshot(path=str(shot))
            context.close()
        Image.open(shot).convert("RGB").quantize(colors=256).save(out, optimize=True)
    finally:
        local.stop()
        folder.cleanup()
    print(f"{out}: {out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console.png"))
