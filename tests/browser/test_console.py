"""The local console as a person uses it, in headless Chromium: upload through the page
(the upload API, as an app would), watch the execution, open it, read the graph, the
states and the renditions; a broken file's reason; a dead letter redriven."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from imagepipe.local import samples
from tests.browser.conftest import write
from tests.support import drive, faults

# Long enough for an execution on a loaded 2-core machine; never a timing assertion.
WAIT_MS = 120_000


def drop_file(page: Any, name: str, data: bytes, mime: str) -> None:
    """Drop a file on the drop zone, as dragging it from the desktop does."""
    transfer = page.evaluate_handle(
        """([name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )
    page.dispatch_event("#dropzone", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def upload_row(page: Any, name: str) -> Any:
    return page.locator("#uploads li").filter(has=page.locator(".name", has_text=name))


def finished(page: Any, name: str) -> Any:
    """The upload's row once its execution ended; fails with the row's text if not."""
    done = page.locator("#uploads li[data-status]:not([data-status='RUNNING'])").filter(
        has=page.locator(".name", has_text=name)
    )
    try:
        done.wait_for(timeout=WAIT_MS)
    except Exception as err:
        raise AssertionError(f"{name}: {upload_row(page, name).all_inner_texts()}") from err
    return done


def test_upload_by_drop_then_inspect_the_execution(page: Any, served: Any) -> None:
    drop_file(page, "harbour.jpg", samples.jpeg(1200, 800, seed=21), "image/jpeg")
    row = finished(page, "harbour.jpg")
    assert row.get_attribute("data-status") == "SUCCEEDED", row.inner_text()
    prefix = served.stack.settings.upload_prefix
    key = row.locator(".mono").inner_text()
    assert key.startswith(prefix) and key.endswith(".jpg")  # uploads/<sub>/<uuid>.jpg

    # The executions list shows it, newest first, with its result.
    listed = page.locator(f'#executions tbody tr[data-key="{key}"]')
    listed.wait_for()
    assert "SUCCEEDED" in listed.inner_text() and "processed" in listed.inner_text()

    row.get_by_role("link", name="open execution").click()
    page.wait_for_selector("#graph g.state")
    assert page.locator("#execution-status").inner_text() == "SUCCEEDED"
    marks = page.eval_on_selector_all(
        "#graph g.state", "gs => gs.map(g => [g.dataset.state, g.classList[1]])"
    )
    reached = {name: mark for name, mark in marks if mark != "unreached"}
    assert {"Inspect upload", "Make renditions", "Resize", "Notify"} <= set(reached)
    assert set(reached.values()) == {"succeeded"}, reached  # every state it ran: green
    fill = page.eval_on_selector(
        '#graph g.state[data-state="Notify"] > rect', "r => getComputedStyle(r).fill"
    )
    assert fill == "rgb(220, 240, 221)"  # the page's CSS colours it, not the diagram's

    # The Map's iterations are named by rendition; a state's input and output are shown.
    names = sorted(r.name for r in served.stack.settings.renditions)
    items = page.locator("#states tbody tr[data-state='Resize'] .item").all_inner_texts()
    assert sorted(t.strip(" ()") for t in items) == names
    page.locator('#graph g.state[data-state="Resize"]').click()
    detail = page.locator("#state-detail")
    for name in names:
        assert f"Resize ({name})" in detail.inner_text()
    assert detail.locator("pre").count() == 2 * len(names)  # input and output of each
    assert '"rendition"' in detail.locator("pre").first.inner_text()

    # The renditions, loaded from the local delivery server, with size and bytes.
    images = page.locator("#renditions img")
    images.first.wait_for()
    assert images.count() == len(names)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#renditions img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=WAIT_MS,
    )
    base = served.stack.outputs["renditionsBaseUrl"]
    assert all(
        src.startswith(base + "/") for src in images.evaluate_all("is => is.map(i => i.src)")
    )
    caption = page.locator('#renditions figure[data-rendition="thumb"] figcaption').inner_text()
    assert "\u00d7" in caption and ("KiB" in caption or " B" in caption)
    assert "processed" in page.locator("#record").inner_text()


def test_a_broken_file_shows_its_reason(page: Any, served: Any, tmp_path: Path) -> None:
    broken = write(tmp_path / "holiday.jpg", b"this is a text file, not a photo\n")
    page.set_input_files("#file-input", str(broken))  # the page's file picker
    row = finished(page, "holiday.jpg")
    assert "rejected: not_an_image" in row.inner_text()
    key = row.locator(".mono").inner_text()
    listed = page.locator(f'#executions tbody tr[data-key="{key}"]')
    assert "rejected: not_an_image" in listed.inner_text()

    row.get_by_role("link", name="open execution").click()
    outcome = page.locator("#execution-outcome")
    outcome.wait_for()
    assert "rejected: not_an_image" in outcome.inner_text()
    page.wait_for_selector('#graph g.state[data-state="Rejected"].succeeded')
    assert "No renditions." in page.locator("#renditions").inner_text()

    # Filtering by status: a rejection succeeded (it was recorded and announced).
    page.goto(served.console_url + "#/")
    page.select_option("#status-filter", "FAILED")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#executions tbody tr[data-status]')]"
        ".every(tr => tr.dataset.status === 'FAILED')"
    )
    assert page.locator(f'#executions tbody tr[data-key="{key}"]').count() == 0

    # An upload is still followed to its end while the table shows other statuses.
    drop_file(page, "meadow.png", samples.transparent_png(320, 240, seed=23), "image/png")
    row = finished(page, "meadow.png")
    assert row.get_attribute("data-status") == "SUCCEEDED", row.inner_text()
    meadow = row.locator(".mono").inner_text()
    assert page.locator(f'#executions tbody tr[data-key="{meadow}"]').count() == 0


def test_a_dead_letter_is_redriven_from_the_page(page: Any, served: Any) -> None:
    faults.inject_lambda_fault(
        drive.function_name(served.stack, "resize"), "RuntimeError", times=100
    )
    try:
        drop_file(page, "storm.jpg", samples.jpeg(640, 480, seed=22), "image/jpeg")
        row = finished(page, "storm.jpg")
    finally:
        faults.clear()
    assert row.get_attribute("data-status") == "FAILED", row.inner_text()
    key = row.locator(".mono").inner_text()

    page.goto(served.console_url + "#/dead-letters")
    letter = page.locator("#dead-letters tbody tr").filter(has_text=key)
    letter.wait_for()
    assert "failed: processing_error" in letter.inner_text()
    assert letter.get_attribute("data-action") == "would restart"

    page.click("#redrive")
    restarted = page.locator('#dead-letters tbody tr[data-action="restarted"]').filter(has_text=key)
    restarted.wait_for()
    restarted.get_by_role("link", name="new execution").click()
    page.wait_for_function(
        "() => document.querySelector('#execution-status').textContent.trim() === 'SUCCEEDED'",
        timeout=WAIT_MS,
    )
    assert page.locator("#renditions img").count() == len(served.stack.settings.renditions)
