"""The local console's server side (imagepipe.local.console), without a browser: its pages
are served at /console/ of `imagepipe local serve`'s address, and its JSON endpoints
answer exactly what the commands' --json prints for the same stack. The pages
themselves are driven in a real browser by tests/browser (`make browser`)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from imagepipe.local import samples
from imagepipe.local.console import state_marks
from tests.cli.conftest import fresh_prefix, run, write
from tests.cli.test_timeline import load
from tests.support import drive, faults


def call(
    served: Any, path: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, str, Any]:
    """Status, Content-Type and body (parsed if JSON) of a request to the console."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{served.endpoint}/console/{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": content_type} if body is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        status, headers, raw = err.code, err.headers, err.read()
    kind = headers.get("Content-Type", "")
    return status, kind, json.loads(raw) if "json" in kind else raw.decode()


def api(served: Any, path: str, body: Any = None) -> Any:
    status, _, document = call(served, f"api/{path}", body)
    assert status == 200, document
    return document


def test_the_pages_are_served_with_the_stack(served: Any) -> None:
    status, kind, page = call(served, "")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert '<script src="console.js"' in page and 'id="dropzone"' in page
    for name, kind_wanted in (("console.js", "text/javascript"), ("console.css", "text/css")):
        status, kind, _ = call(served, name)
        assert status == 200 and kind.startswith(kind_wanted)
    # Nothing but the static files: no folders, no source.
    for path in ("app.py", "../app.py", "static/console.js", "nothing.html"):
        assert call(served, path)[0] == 404, path
    # The pages load nothing from elsewhere; images also from the local delivery server.
    with urllib.request.urlopen(f"{served.endpoint}/console/") as response:
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert served.stack.outputs["renditionsBaseUrl"] in policy
    # moto still answers everything else on the same address.
    buckets = served.stack.clients.client("s3").list_buckets()["Buckets"]
    assert served.stack.source_bucket in {b["Name"] for b in buckets}


def test_stack_is_what_outputs_prints(served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    document = api(served, "stack")
    printed = run(capsys, "outputs", "--json", "--local").json()
    # Plus where the page reaches the upload API: mounted on the console's own origin.
    assert document.pop("uploadApi") == f"{served.endpoint}/upload-api"
    assert document == printed
    assert document["consoleUrls"]["executions"] == f"{served.endpoint}/console/"


def _upload(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[str, str]:
    """A photo and a text file named .jpg, uploaded and waited for; their keys."""
    sub = fresh_prefix()
    write(tmp_path / sub / "photo.jpg", samples.jpeg(640, 480, seed=3))
    write(tmp_path / sub / "notes.jpg", b"shopping list: eggs, milk\n")
    run(capsys, "upload", str(tmp_path / sub), "--prefix", sub, "--wait", "--local")
    return f"uploads/{sub}photo.jpg", f"uploads/{sub}notes.jpg"


def test_executions_and_one_execution_are_what_the_commands_print(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    photo, notes = _upload(capsys, tmp_path)
    listing = api(served, "executions?limit=50")
    assert listing == run(capsys, "executions", "--json", "--limit", "50", "--local").json()
    rows = {e["key"]: e for e in listing["executions"]}
    assert rows[photo]["status"] == "SUCCEEDED" and rows[photo]["outcome"] is None
    assert rows[notes]["outcome"]["reason"] == "not_an_image"
    assert rows[photo]["consoleUrl"].startswith(f"{served.endpoint}/console/#/executions/")
    only = api(served, "executions?status=failed&limit=50")
    assert only["status"] == "FAILED" and photo not in {e["key"] for e in only["executions"]}

    for key in (photo, notes):
        arn = rows[key]["arn"]
        shown = api(served, f"execution?id={quote(arn)}")
        assert shown == run(capsys, "show", arn, "--json", "--local").json()
        assert api(served, f"execution?id={quote(key)}") == shown  # by key, as `show`
    shown = api(served, f"execution?id={quote(rows[photo]['arn'])}")
    resizes = [s for s in shown["states"] if s["name"] == "Resize"]
    assert sorted(s["item"] for s in resizes) == sorted(
        r.name for r in served.stack.settings.renditions
    )
    assert {r["name"] for r in shown["catalogue"]["renditions"]} == {
        r.name for r in served.stack.settings.renditions
    }


def _marks(served: Any, arn: str) -> dict[str, str]:
    status, kind, svg = call(served, f"api/graph.svg?id={quote(arn)}")
    assert (status, kind) == (200, "image/svg+xml")
    return {
        name: mark for mark, name in re.findall(r'<g class="state (\w+)" data-state="([^"]+)"', svg)
    }


def test_the_graph_marks_what_each_state_did(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    photo, notes = _upload(capsys, tmp_path)
    shown = api(served, f"execution?id={quote(photo)}")
    marks = _marks(served, shown["execution"]["arn"])
    ran = {s["name"] for s in shown["states"]}
    assert {name for name, mark in marks.items() if mark == "succeeded"} == ran
    assert {"Resize", "Notify", "Record processed"} <= ran
    assert marks["Failed"] == marks["Rejected"] == "unreached"

    rejected = _marks(served, api(served, f"execution?id={quote(notes)}")["execution"]["arn"])
    assert rejected["Rejected"] == rejected["Record rejection"] == "succeeded"
    assert rejected["Make renditions"] == rejected["Failed"] == "unreached"


def test_marks_from_recorded_histories() -> None:
    """A failure caught by a Catch is `caught`, the Fail state it leads to `failed`; a
    retried state that then succeeded is `succeeded`; a running state `running`."""
    for name in ("succeeded", "retried"):
        info, steps = load(name)
        assert set(state_marks(steps, info.status).values()) == {"succeeded"}
    for name in ("map-failed", "map-iteration-retried-and-failed", "rejected"):
        info, steps = load(name)
        marks = state_marks(steps, info.status)
        failing = [s.name for s in steps if s.error and s.type != "Fail"]
        assert failing and all(marks[n] == "caught" for n in failing), (name, marks)
        assert [n for n, m in marks.items() if m == "failed"] == [
            s.name for s in steps if s.type == "Fail"
        ]
    running = steps[:3]
    running[-1].exited = None
    assert state_marks(running, "RUNNING")[running[-1].name] == "running"


def test_one_list_of_execution_statuses() -> None:
    """The statuses the console's filter offers and colours, `executions --status` takes
    and the terminal colours are the model's (imagepipe.executions.STATUSES)."""
    from imagepipe import display
    from imagepipe.cli import build_parser
    from imagepipe.executions import STATUSES
    from imagepipe.local.console.app import STATIC

    page = (STATIC / "index.html").read_text()
    select = page.split('<select id="status-filter">')[1].split("</select>")[0]
    assert tuple(re.findall(r"<option>(\w+)</option>", select)) == STATUSES
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    [status] = [a for a in commands["executions"]._actions if a.dest == "status"]
    assert tuple(status.choices) == STATUSES
    # The page colours each as the terminal does.
    css = (STATIC / "console.css").read_text()
    for name in STATUSES:
        [rule] = [line for line in css.splitlines() if re.search(rf"\.status\.{name}\b", line)]
        word = {"green": "ok", "yellow": "run", "red": "bad"}[display.STATUS_COLOURS[name]]
        assert f"color: var(--{word})" in rule, name


def test_bad_requests_get_a_reason(served: Any) -> None:
    unknown = served.stack.state_machine_arn.replace(":stateMachine:", ":execution:") + ":nope"
    cases = [
        ("api/executions?status=sleeping", None, 400, "bad_status"),
        ("api/executions?limit=0", None, 400, "bad_limit"),
        ("api/execution", None, 400, "missing_id"),
        ("api/execution?id=never/uploaded.jpg", None, 404, "item_failed"),
        (f"api/graph.svg?id={quote(unknown)}", None, 404, "item_failed"),
        ("api/nothing", None, 404, "not_found"),
        ("api/redrive", None, 405, "method_not_allowed"),
        ("api/redrive", [1], 400, "bad_json"),
        ("api/redrive", {"max": 0}, 400, "bad_max"),
    ]
    for path, body, status, error in cases:
        got_status, kind, document = call(served, path, body)
        assert (got_status, kind, document["error"]) == (status, "application/json", error), path
        assert document["message"]
    # A POST that is not JSON (a form another site could send) is refused.
    status, _, document = call(served, "api/redrive", {}, content_type="text/plain")
    assert (status, document["error"]) == (415, "json_only")


def test_dead_letters_and_redrive(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sub = fresh_prefix()
    photo = write(tmp_path / "photo.jpg", samples.jpeg(400, 300, seed=5))
    faults.inject_lambda_fault(
        drive.function_name(served.stack, "resize"), "RuntimeError", times=100
    )
    try:
        run(capsys, "upload", str(photo), "--prefix", sub, "--wait", "--local")
    finally:
        faults.clear()
    key = f"uploads/{sub}photo.jpg"
    letters = api(served, "dead-letters")
    assert letters["dryRun"] is True
    [letter] = [m for m in letters["messages"] if m["key"] == key]
    assert (letter["kind"], letter["reason"], letter["action"]) == (
        "failed",
        "processing_error",
        "would restart",
    )
    assert api(served, "dead-letters")["messages"] == letters["messages"]  # nothing consumed
    # What `redrive --dry-run` prints: both ask commands.redrive.redriven.
    assert run(capsys, "redrive", "--dry-run", "--local", "--json").json() == letters

    report = api(served, "redrive", {})
    [restarted] = [m for m in report["messages"] if m["key"] == key]
    assert restarted["action"] == "restarted" and restarted["deleted"] is True
    assert key not in {m["key"] for m in api(served, "dead-letters")["messages"]}
    deadline = time.monotonic() + 120
    while True:
        shown = api(served, f"execution?id={quote(restarted['executionArn'])}")
        if shown["execution"]["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert shown["execution"]["status"] == "SUCCEEDED"
    assert shown["catalogue"]["status"] == "processed"


def test_the_upload_api_on_the_consoles_origin(served: Any) -> None:
    """What the page does, over HTTP: a token from the local issuer, a presigned POST from
    the upload API, the file to S3: all on the console's own address."""
    import requests

    root = api(served, "stack")["uploadApi"]
    assert root.startswith(served.endpoint + "/")
    token = requests.post(f"{root}/issuer/token", json={"sub": "console"}, timeout=30).json()
    refused = requests.post(f"{root}/uploads", json={"filename": "a.jpg"}, timeout=30)
    assert refused.status_code == 401  # no token, no URL
    grant = requests.post(
        f"{root}/uploads",
        json={"filename": "a.jpg", "contentType": "image/jpeg"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=30,
    ).json()
    assert grant["url"] == f"{served.endpoint}/{served.stack.source_bucket}"
    assert grant["key"].startswith(f"{served.stack.settings.upload_prefix}console/")
    posted = requests.post(
        grant["url"],
        data=grant["fields"],
        files={"file": ("a.jpg", samples.jpeg(320, 240, seed=9), "image/jpeg")},
        timeout=30,
    )
    assert posted.status_code == 204, posted.text
    deadline = time.monotonic() + 120
    while True:
        rows = {e["key"]: e for e in api(served, "executions?limit=50")["executions"]}
        status = rows.get(grant["key"], {}).get("status")
        if status not in (None, "RUNNING") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == "SUCCEEDED"
