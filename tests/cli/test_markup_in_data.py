"""Keys, prefixes, reasons and error messages that look like rich markup print as they
are: `z[/]` once raised MarkupError (exit 5) in every command that listed it, and
`photo[b].jpg` printed as a bold `photo.jpg`. Tables and lines, against a served stack
(this module's own, so its dead-letter queue holds only this module's failures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagepipe.local import samples
from tests.cli.conftest import Result, fresh_prefix, run, write
from tests.support import drive, faults

pytestmark = pytest.mark.integration

NAMES = ("photo[b].jpg", "[link=x]k.jpg")
MESSAGE = "boom [b]x[/b] [link=y]z[/link] [/]"


def local(*argv: str) -> tuple[str, ...]:
    return (*argv, "--local")


def ok(result: Result, code: int = 0) -> Result:
    assert result.code == code, (result.out, result.err)
    assert "MarkupError" not in result.err, result.err
    return result


def flat(text: str) -> str:
    """Table cells fold: compare the words."""
    return " ".join(text.split())


def test_markup_in_keys_prints_as_it_is(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    paths = [write(tmp_path / n, samples.jpeg(320, 240, seed=40 + i)) for i, n in enumerate(NAMES)]
    prefix = fresh_prefix() + "z[/]/"
    full = served.stack.settings.upload_prefix + prefix
    keys = [full + name for name in NAMES]

    upload = ok(run(capsys, *local("upload", *map(str, paths), "--prefix", prefix, "--wait")))
    for key in keys:
        assert f"✓ {key}  SUCCEEDED in " in upload.out
    assert "2 of 2 processed" in upload.out
    again = ok(run(capsys, *local("upload", str(paths[0]), "--prefix", prefix)))
    assert f"{paths[0]} -> s3://{served.stack.source_bucket}/{keys[0]} (" in again.out
    drive.wait(served.stack, timeout=120)

    listed = ok(run(capsys, *local("executions", "--limit", "10")))
    for key in keys:
        assert key in listed.out  # the upload column: never folded
    catalogue = ok(run(capsys, *local("catalogue")))
    for key in keys:
        assert key in catalogue.out
    records = ok(run(capsys, *local("catalogue", "--json"))).json()["records"]
    assert set(keys) <= {r["key"] for r in records}

    for key in keys:
        shown = ok(run(capsys, *local("show", key)))
        assert f"Upload: {key}\n" in shown.out
        doc = ok(run(capsys, *local("show", key, "--json"))).json()
        assert doc["execution"]["key"] == key

    dry = ok(run(capsys, *local("backfill", "--prefix", prefix, "--dry-run")))
    assert f"Backfill of {full} (dry run)" in dry.out
    for key in keys:
        assert key in dry.out  # the object column: never folded
    assert f"2 objects under {full}: 2 need renditions" in flat(dry.out)
    plan = ok(run(capsys, *local("backfill", "--prefix", prefix, "--dry-run", "--json"))).json()
    assert (plan["prefix"], sorted(o["key"] for o in plan["objects"])) == (full, sorted(keys))


def test_markup_in_a_failure_and_its_dead_letter(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "bad[i].jpg", samples.jpeg(320, 240, seed=50))
    prefix = fresh_prefix() + "x[/b]/"
    key = served.stack.settings.upload_prefix + prefix + path.name
    function = drive.function_name(served.stack, "resize")
    faults.inject_lambda_fault(function, "RuntimeError", times=100, message=MESSAGE)
    try:
        upload = ok(run(capsys, *local("upload", str(path), "--prefix", prefix, "--wait")), 1)
    finally:
        faults.clear()
    assert f"✗ {key}  FAILED in " in upload.out
    assert f"    dead-lettered: failed: processing_error ({MESSAGE})\n" in upload.out

    shown = ok(run(capsys, *local("show", key)), 1)
    assert f"Upload: {key}\n" in shown.out
    assert f"Dead-lettered as failed: processing_error ({MESSAGE})\n" in shown.out
    assert f"RuntimeError: {MESSAGE} │" in shown.out  # the state table's error column
    listed = ok(run(capsys, *local("executions", "--limit", "10")))
    assert key in listed.out

    redrive = ok(run(capsys, *local("redrive", "--dry-run")))
    assert key in redrive.out
    letters = ok(run(capsys, *local("redrive", "--dry-run", "--json"))).json()
    assert key in [m["key"] for m in letters["messages"]]
