"""upload, executions, show, backfill and outputs against a served local stack, and the
same commands on the deployed-stack path (names from IMAGEPIPE_* variables) pointed at
the same server: one Target, two ways to build it."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from imagefn.imaging import EXTENSIONS, output_format
from imagepipe.local import samples
from tests.cli.conftest import Result, fresh_prefix, run, write
from tests.support import drive, faults

pytestmark = pytest.mark.integration

# "url": where the stack serves it (the local stack: its delivery server).
RENDITION_FIELDS = {"name", "key", "width", "height", "bytes", "format", "url"}
EXECUTION_FIELDS = {
    "arn",
    "name",
    "status",
    "key",
    "startDate",
    "stopDate",
    "seconds",
    "consoleUrl",
}


def local(*argv: str) -> tuple[str, ...]:
    return (*argv, "--local")


def expected_keys(served: Any, stem: str, source_format: str = "JPEG") -> set[str]:
    return {
        f"{r.name}/{stem}.{EXTENSIONS[output_format(r.format, source_format)]}"
        for r in served.stack.settings.renditions
    }


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return write(tmp_path / "photo.jpg", samples.jpeg(1200, 800, seed=1))


def test_outputs_json_shape(served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, *local("outputs", "--json"))
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == {
        "stack", "local", "endpoint", "region", "outputs", "uploadPrefix",
        "allowedSuffixes", "renditions", "consoleUrls", "commands",
    }  # fmt: skip
    assert (doc["stack"], doc["local"], doc["endpoint"]) == ("dev", True, served.endpoint)
    stack = served.stack
    assert doc["outputs"]["sourceBucket"] == stack.source_bucket
    assert doc["outputs"]["destinationBucket"] == stack.destination_bucket
    assert doc["outputs"]["stateMachineArn"] == stack.state_machine_arn
    assert doc["outputs"]["backfillStateMachineArn"] == drive.state_machine_arn_of(
        stack, "backfill"
    )
    assert doc["uploadPrefix"] == stack.settings.upload_prefix
    assert [r["name"] for r in doc["renditions"]] == [r.name for r in stack.settings.renditions]
    # The served stack's console is the local one, at /console/ on the server's address.
    console = f"{served.endpoint}/console/"
    assert doc["outputs"]["executionsConsoleUrl"] == console
    assert doc["consoleUrls"]["executions"] == console
    assert doc["consoleUrls"]["deadLetterQueue"] == f"{console}#/dead-letters"
    assert doc["consoleUrls"]["sourceBucket"] is None  # no S3 browser there
    assert f"--endpoint-url {served.endpoint}" in doc["commands"]["upload"]
    assert f"s3://{stack.source_bucket}/{stack.settings.upload_prefix}" in doc["commands"]["upload"]


def test_outputs_for_people(served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, *local("outputs"))
    assert result.code == 0, result.err
    assert served.stack.source_bucket in result.out
    assert "imagepipe upload ./photo.jpg --wait --local" in result.out


def test_upload_refuses_a_mixed_case_suffix_the_notification_would_not_start(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """S3's suffix filters are case-sensitive ('.jpg', '.JPG'): 'x.Jpg' would upload and
    start nothing, and --wait would wait for an execution that never comes."""
    mixed = write(tmp_path / "x.Jpg", samples.jpeg(64, 64))
    result = run(capsys, *local("upload", str(mixed), "--wait"))
    assert result.code == 2, result.out
    assert "rename it" in result.err
    folder = tmp_path / "only-mixed"
    write(folder / "y.Png", samples.jpeg(64, 64))
    result = run(capsys, *local("upload", str(folder)))
    assert result.code == 2 and "no images in it" in result.err


def test_upload_wait_reports_renditions_and_rejection_reasons(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    write(folder / "a.jpg", samples.jpeg(900, 600, seed=2))
    write(folder / "nested" / "b.png", samples.transparent_png(500, 700, seed=3))
    write(folder / "broken.jpg", b"this is not an image")
    write(folder / "notes.txt", b"skipped: not an allowed suffix")
    write(folder / ".hidden" / "c.jpg", samples.jpeg(100, 100, seed=4))
    sub = fresh_prefix()

    result = run(capsys, *local("upload", str(folder), "--prefix", sub, "--wait", "--json"))

    assert result.code == 1, result.err  # one upload was rejected
    doc = result.json()
    assert set(doc) == {"bucket", "waited", "uploads"}
    assert doc["waited"] is True
    prefix = served.stack.settings.upload_prefix + sub
    by_key = {u["key"]: u for u in doc["uploads"]}
    assert set(by_key) == {f"{prefix}a.jpg", f"{prefix}nested/b.png", f"{prefix}broken.jpg"}
    for upload in doc["uploads"]:
        assert set(upload) == {
            "file", "bucket", "key", "bytes", "etag", "outcome", "execution", "renditions",
            "manifestUrl", "outcomeDetails",
        }  # fmt: skip
        assert set(upload["execution"]) == EXECUTION_FIELDS
        assert upload["execution"]["key"] == upload["key"]

    good = by_key[f"{prefix}a.jpg"]
    assert good["outcome"] == "processed"
    assert good["execution"]["status"] == "SUCCEEDED"
    assert good["outcomeDetails"] is None
    assert all(set(r) == RENDITION_FIELDS for r in good["renditions"])
    assert {r["key"] for r in good["renditions"]} == expected_keys(served, f"{sub}a")
    medium = next(r for r in good["renditions"] if r["name"] == "medium")
    assert (medium["width"], medium["height"]) == (800, 533)
    assert medium["bytes"] > 0
    base = served.stack.outputs["renditionsBaseUrl"]
    assert good["manifestUrl"] == f"{base}/manifests/{sub}a.json"

    png = by_key[f"{prefix}nested/b.png"]
    assert png["outcome"] == "processed"
    assert {r["key"] for r in png["renditions"]} == expected_keys(served, f"{sub}nested/b", "PNG")

    bad = by_key[f"{prefix}broken.jpg"]
    assert bad["outcome"] == "rejected"
    assert bad["execution"]["status"] == "SUCCEEDED"  # recorded and announced, not failed
    assert bad["renditions"] == []
    assert bad["manifestUrl"] is None
    assert bad["outcomeDetails"]["kind"] == "rejected"
    assert bad["outcomeDetails"]["reason"] == "not_an_image"
    assert bad["outcomeDetails"]["error"] == "ImageRejected"


def test_upload_wait_for_people(
    served: Any, capsys: pytest.CaptureFixture[str], photo: Path
) -> None:
    sub = fresh_prefix()
    result = run(capsys, *local("upload", str(photo), "--prefix", sub, "--wait"))
    assert result.code == 0, result.err
    for key in expected_keys(served, f"{sub}photo"):
        assert key in result.out
    base = served.stack.outputs["renditionsBaseUrl"]
    assert f"manifest: {base}/manifests/{sub}photo.json" in result.out
    assert "1 of 1 processed" in result.out


def test_hints_name_the_local_stack(
    served: Any, capsys: pytest.CaptureFixture[str], photo: Path
) -> None:
    """Bug 4: the commands a hint printed lacked --local (and then needed Pulumi)."""
    uploaded = run(capsys, *local("upload", str(photo), "--prefix", fresh_prefix()))
    assert "imagepipe executions --local" in uploaded.out
    listed = run(capsys, *local("executions", "--limit", "1"))
    assert "imagepipe show EXECUTION --local" in listed.out
    assert "1 most recent execution of" in listed.out  # bug 10: not "executions"


def test_upload_without_wait(served: Any, capsys: pytest.CaptureFixture[str], photo: Path) -> None:
    sub = fresh_prefix()
    result = run(capsys, *local("upload", str(photo), "--prefix", sub, "--json"))
    assert result.code == 0, result.err
    [upload] = result.json()["uploads"]
    assert upload["outcome"] == "uploaded"
    assert upload["execution"] is None
    key = served.stack.settings.upload_prefix + sub + "photo.jpg"
    assert upload["key"] == key
    assert key in drive.objects(served.stack, served.stack.source_bucket, key)


def test_an_overwrite_is_matched_to_its_own_execution(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same key uploaded twice: the second wait follows the second execution."""
    sub = fresh_prefix()
    first = write(tmp_path / "one" / "same.jpg", samples.jpeg(1000, 500, seed=5))
    second = write(tmp_path / "two" / "same.jpg", samples.jpeg(500, 1000, seed=6))
    one = run(capsys, *local("upload", str(first), "--prefix", sub, "--wait", "--json")).json()
    two = run(capsys, *local("upload", str(second), "--prefix", sub, "--wait", "--json")).json()
    [a], [b] = one["uploads"], two["uploads"]
    assert a["key"] == b["key"]
    assert a["execution"]["arn"] != b["execution"]["arn"]
    assert a["etag"] != b["etag"]
    medium_a = next(r for r in a["renditions"] if r["name"] == "medium")
    medium_b = next(r for r in b["renditions"] if r["name"] == "medium")
    assert (medium_a["width"], medium_a["height"]) == (800, 400)
    assert (medium_b["width"], medium_b["height"]) == (400, 800)


def test_executions_json_and_filters(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sub = fresh_prefix()
    write(tmp_path / "in" / "ok.jpg", samples.jpeg(300, 200, seed=7))
    write(tmp_path / "in" / "empty.jpg", b"")
    run(capsys, *local("upload", str(tmp_path / "in"), "--prefix", sub, "--wait"))

    result = run(capsys, *local("executions", "--json", "--limit", "50"))
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == {"stateMachineArn", "status", "executions"}
    assert doc["stateMachineArn"] == served.stack.state_machine_arn
    rows = {e["key"]: e for e in doc["executions"]}
    prefix = served.stack.settings.upload_prefix + sub
    assert rows[f"{prefix}ok.jpg"]["status"] == "SUCCEEDED"
    assert rows[f"{prefix}ok.jpg"]["outcome"] is None
    assert rows[f"{prefix}empty.jpg"]["outcome"]["reason"] == "empty"
    for row in doc["executions"]:
        assert set(row) == EXECUTION_FIELDS | {"outcome"}
        assert row["consoleUrl"] == f"{served.endpoint}/console/#/executions/" + quote(
            row["arn"], safe=""
        )
    starts = [e["startDate"] for e in doc["executions"]]
    assert starts == sorted(starts, reverse=True)  # newest first

    failed = run(capsys, *local("executions", "--status", "failed", "--json")).json()
    assert failed["status"] == "FAILED"
    # Rejections (empty.jpg) succeed now: only processing failures are listed here.
    assert {e["status"] for e in failed["executions"]} <= {"FAILED"}
    assert f"{prefix}empty.jpg" not in {e["key"] for e in failed["executions"]}
    assert (
        len(run(capsys, *local("executions", "--limit", "1", "--json")).json()["executions"]) == 1
    )

    people = run(capsys, *local("executions"))
    assert people.code == 0
    assert f"{prefix}ok.jpg" in people.out
    assert "rejected: empty" in people.out


def test_show_a_successful_execution_state_by_state(
    served: Any, capsys: pytest.CaptureFixture[str], photo: Path
) -> None:
    sub = fresh_prefix()
    faults.inject_lambda_fault(
        drive.function_name(served.stack, "resize"), "Lambda.ServiceException"
    )
    run(capsys, *local("upload", str(photo), "--prefix", sub, "--wait"))
    key = served.stack.settings.upload_prefix + sub + "photo.jpg"

    result = run(capsys, *local("show", key, "--json"))
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == {
        "execution", "states", "mapRuns", "renditions", "manifestUrl", "outcome", "catalogue",
    }  # fmt: skip
    assert doc["catalogue"]["status"] == "processed"
    base = served.stack.outputs["renditionsBaseUrl"]
    assert doc["manifestUrl"] == f"{base}/manifests/{sub}photo.json"
    assert doc["catalogue"]["manifestUrl"] == doc["manifestUrl"]
    assert doc["execution"]["key"] == key
    assert doc["execution"]["status"] == "SUCCEEDED"
    assert doc["outcome"] is None
    names = [s["name"] for s in doc["states"]]
    count = len(served.stack.settings.renditions)
    assert names[: 8 + count] == [
        "Inspect upload", "Record upload", "Rejected?", "Find same bytes", "Same bytes seen?",
        "New content", "Back up original", "Make renditions", *["Resize"] * count,
    ]  # fmt: skip
    assert "Record processed" in names and names[-1] == "Notify"
    for state in doc["states"]:
        assert set(state) == {
            "name", "type", "map", "iteration", "item", "depth", "entered", "exited",
            "offsetSeconds", "seconds", "attempts", "retries", "error", "cause", "input", "output",
        }  # fmt: skip
        assert state["seconds"] is not None and state["seconds"] >= 0
    resizes = [s for s in doc["states"] if s["name"] == "Resize"]
    assert sorted(s["iteration"] for s in resizes) == list(range(count))
    assert {(s["map"], s["depth"]) for s in resizes} == {("Make renditions", 1)}
    # Each iteration is named by its rendition, and its input and output are there.
    assert sorted(s["item"] for s in resizes) == sorted(
        r.name for r in served.stack.settings.renditions
    )
    assert all(s["input"]["rendition"]["name"] == s["item"] for s in resizes)
    assert all(s["output"]["name"] == s["item"] for s in resizes)
    assert sum(s["retries"] for s in resizes) == 1  # the injected fault, retried
    assert all(s["error"] is None for s in doc["states"])  # the retry succeeded
    assert {r["key"] for r in doc["renditions"]} == expected_keys(served, f"{sub}photo")

    # The same execution by its name (without the upload prefix in the key, too).
    by_name = run(capsys, *local("show", doc["execution"]["name"], "--json")).json()
    assert by_name["execution"]["arn"] == doc["execution"]["arn"]
    by_short_key = run(capsys, *local("show", f"{sub}photo.jpg", "--json")).json()
    assert by_short_key["execution"]["arn"] == doc["execution"]["arn"]
    people = run(capsys, *local("show", doc["execution"]["arn"]))
    assert people.code == 0
    assert "State by state" in people.out
    assert f"Manifest: {doc['manifestUrl']}" in people.out
    for rendition in served.stack.settings.renditions:  # bug 10: not "Resize #0"
        assert f"Resize ({rendition.name})" in people.out
    assert "#0" not in people.out


def test_show_a_rejected_upload(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sub = fresh_prefix()
    bad = write(tmp_path / "bad.png", samples.truncated(samples.transparent_png(600, 400, seed=8)))
    run(capsys, *local("upload", str(bad), "--prefix", sub, "--wait"))
    result = run(capsys, *local("show", f"{sub}bad.png", "--json"))
    assert result.code == 0  # handled: recorded and announced, nothing failed
    doc = result.json()
    assert doc["outcome"]["kind"] == "rejected"
    assert doc["outcome"]["reason"] == "corrupt"
    states = {s["name"]: s for s in doc["states"]}
    assert states["Inspect upload"]["error"] is None  # the refusal comes back as data
    assert states["Rejected"]["type"] == "Succeed"
    assert {"Record rejection", "Notify rejection"} <= set(states)
    assert not {"Dead-letter failure", "Failed"} & set(states)
    assert (doc["catalogue"]["status"], doc["catalogue"]["reason"]) == ("rejected", "corrupt")
    # For people too: a rejection is not in the dead-letter queue, and is not called so.
    people = run(capsys, *local("show", f"{sub}bad.png")).out
    assert "Not processed: rejected: corrupt" in people and "Dead-lettered" not in people


def test_show_a_processing_failure_after_retries(
    served: Any, capsys: pytest.CaptureFixture[str], photo: Path
) -> None:
    """A Map whose iterations fail: the failed Resize rows end where they failed, and the
    Catch's states run at the top level again, not inside the Map."""
    sub = fresh_prefix()
    faults.inject_lambda_fault(
        drive.function_name(served.stack, "resize"), "RuntimeError", times=100
    )
    try:
        upload = run(capsys, *local("upload", str(photo), "--prefix", sub, "--wait", "--json"))
    finally:
        faults.clear()
    assert upload.code == 1
    [item] = upload.json()["uploads"]
    assert item["outcome"] == "failed"
    assert item["outcomeDetails"]["reason"] == "processing_error"
    assert item["outcomeDetails"]["error"] == "RuntimeError"

    name = item["execution"]["name"]
    result = run(capsys, *local("show", name[:8], "--json"))  # a name's first characters
    assert result.code == 1
    doc = result.json()
    assert doc["execution"]["name"] == name
    count = len(served.stack.settings.renditions)
    rows = [(s["name"], s["depth"]) for s in doc["states"]]
    assert [r for r in rows if r[0] != "Resize"] == [
        ("Inspect upload", 0), ("Record upload", 0), ("Rejected?", 0), ("Find same bytes", 0),
        ("Same bytes seen?", 0), ("New content", 0), ("Back up original", 0),
        ("Make renditions", 0), ("Record failure", 0), ("Dead-letter failure", 0), ("Failed", 0),
    ]  # fmt: skip
    # A Map stops at its first failed iteration: under load the others may not have started.
    assert 1 <= rows.count(("Resize", 1)) <= count
    assert (doc["catalogue"]["status"], doc["catalogue"]["reason"]) == (
        "failed",
        "processing_error",
    )
    states = {s["name"]: s for s in doc["states"]}
    assert states["Make renditions"]["error"] == "RuntimeError"
    assert states["Failed"]["error"] == "RuntimeError"
    resizes = [s for s in doc["states"] if s["name"] == "Resize"]
    assert {s["error"] for s in resizes} == {"RuntimeError"}
    assert all(s["seconds"] is not None for s in resizes)
    people = run(capsys, *local("show", name))
    assert "Dead-lettered as failed: processing_error" in people.out


def test_show_finds_nothing(served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, *local("show", "never/uploaded.jpg"))
    assert result.code == 1
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert "no execution for uploads/never/uploaded.jpg" in result.err


def _delete_rendition(served: Any, key: str) -> None:
    served.stack.clients.client("s3").delete_object(Bucket=served.stack.destination_bucket, Key=key)


def test_backfill_dry_run_lists_what_is_missing(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sub = fresh_prefix()
    write(tmp_path / "b" / "kept.jpg", samples.jpeg(640, 480, seed=9))
    write(tmp_path / "b" / "gone.jpg", samples.jpeg(480, 640, seed=10))
    write(tmp_path / "b" / "junk.jpg", b"%PDF-1.4 not an image")
    run(capsys, *local("upload", str(tmp_path / "b"), "--prefix", sub, "--wait"))
    _delete_rendition(served, f"thumb/{sub}gone.webp")

    result = run(
        capsys, *local("backfill", "--prefix", sub, "--only-missing", "--dry-run", "--json")
    )
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == {"dryRun", "prefix", "onlyMissing", "stateMachineArn", "objects", "summary"}
    assert (doc["dryRun"], doc["onlyMissing"]) == (True, True)
    assert doc["prefix"] == served.stack.settings.upload_prefix + sub
    objects = {o["key"].rsplit("/", 1)[-1]: o for o in doc["objects"]}
    assert set(objects) == {"kept.jpg", "gone.jpg", "junk.jpg"}
    assert objects["kept.jpg"]["renditions"] == []
    assert objects["gone.jpg"]["renditions"] == [{"name": "thumb", "key": f"thumb/{sub}gone.webp"}]
    # junk.jpg's upload was recorded as rejected: this version is skipped, with why.
    assert objects["junk.jpg"]["skipped"] == "rejected"
    assert objects["junk.jpg"]["rejected"].startswith("not_an_image:")
    assert doc["summary"] == {
        "objects": 3, "toProcess": 1, "renditions": 1, "complete": 1, "rejected": 0,
        "skipped": 1, "skippedRejected": 1,
    }  # fmt: skip

    everything = run(capsys, *local("backfill", "--prefix", sub, "--dry-run", "--json")).json()
    counts = {o["key"].rsplit("/", 1)[-1]: len(o["renditions"]) for o in everything["objects"]}
    n = len(served.stack.settings.renditions)
    assert counts == {"kept.jpg": n, "gone.jpg": n, "junk.jpg": 0}
    assert everything["summary"]["skippedRejected"] == 1  # with or without --only-missing
    table = run(capsys, *local("backfill", "--prefix", sub, "--dry-run"))
    assert "1 skipped (recorded as rejected)" in " ".join(table.out.split())
    # A dry run starts nothing.
    sfn = served.stack.clients.client("stepfunctions")
    backfills = sfn.list_executions(
        stateMachineArn=drive.state_machine_arn_of(served.stack, "backfill")
    )
    assert not [e for e in backfills["executions"] if sub.strip("/") in e["name"]]


def test_backfill_wait_remakes_the_missing_rendition(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sub = fresh_prefix()
    write(tmp_path / "c" / "x.jpg", samples.jpeg(640, 480, seed=11))
    write(tmp_path / "c" / "y.jpg", samples.jpeg(480, 640, seed=12))
    run(capsys, *local("upload", str(tmp_path / "c"), "--prefix", sub, "--wait"))
    _delete_rendition(served, f"large/{sub}y.webp")

    result = run(capsys, *local("backfill", "--prefix", sub, "--only-missing", "--wait", "--json"))
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == {"dryRun", "input", "execution", "items", "failedItems", "skippedRejected"}
    assert doc["skippedRejected"] == 0
    assert doc["input"] == {
        "prefix": served.stack.settings.upload_prefix + sub, "onlyMissing": True
    }  # fmt: skip
    assert doc["execution"]["status"] == "SUCCEEDED"
    assert doc["execution"]["name"].startswith("backfill-")
    assert doc["items"]["total"] == 2
    assert doc["items"]["succeeded"] == 2
    assert doc["items"]["failed"] == 0
    assert f"large/{sub}y.webp" in drive.objects(
        served.stack, served.stack.destination_bucket, "large/"
    )

    after = run(
        capsys, *local("backfill", "--prefix", sub, "--only-missing", "--dry-run", "--json")
    )
    assert after.json()["summary"]["toProcess"] == 0

    shown = run(capsys, *local("show", doc["execution"]["name"], "--json")).json()
    assert [s["name"] for s in shown["states"]] == ["Process existing images"]
    [map_run] = shown["mapRuns"]
    assert map_run["itemCounts"]["total"] == 2


def test_backfill_of_an_empty_prefix_succeeds_with_nothing_to_do(
    served: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """As on AWS, the backfill's ItemReader reads no item there (locally it ended FAILED,
    exit 1, on moto's reading of an empty listing)."""
    result = run(capsys, *local("backfill", "--prefix", fresh_prefix(), "--wait", "--json"))
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["execution"]["status"] == "SUCCEEDED"
    assert (doc["items"]["total"], doc["items"]["failed"]) == (0, 0)


def test_backfill_dry_run_plans_exactly_what_the_backfill_makes(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Keys no upload would process (another suffix, a suffix in mixed case) are skipped by
    both; a non-image is rejected by both; only-missing plans exactly the keys written."""
    stack = served.stack
    s3 = stack.clients.client("s3")
    sub = fresh_prefix()
    base = stack.settings.upload_prefix + sub
    write(tmp_path / "e" / "a.jpg", samples.jpeg(400, 300, seed=21))
    write(tmp_path / "e" / "B.JPG", samples.jpeg(300, 400, seed=22))
    write(tmp_path / "e" / "fake.png", b"%PDF-1.4 not an image")
    run(capsys, *local("upload", str(tmp_path / "e"), "--prefix", sub, "--wait"))
    # Not started by the upload notification (S3 matches '.jpg' and '.JPG' only).
    s3.put_object(Bucket=stack.source_bucket, Key=base + "c.Jpg", Body=samples.jpeg(90, 90))
    s3.put_object(Bucket=stack.source_bucket, Key=base + "notes.txt", Body=b"plain text")
    # a.jpg lost every rendition; B.JPG only its thumb, the others are marked to show
    # whether the backfill rewrites them.
    etag_b = s3.head_object(Bucket=stack.source_bucket, Key=base + "B.JPG")["ETag"].strip('"')
    for key in drive.objects(stack, stack.destination_bucket):
        if f"/{sub}" not in key:
            continue
        if key.startswith("thumb/") or f"/{sub}a." in key:
            s3.delete_object(Bucket=stack.destination_bucket, Key=key)
        else:
            s3.put_object(
                Bucket=stack.destination_bucket,
                Key=key,
                Body=b"kept",
                Metadata={"source-etag": etag_b},
            )

    dry = run(capsys, *local("backfill", "--prefix", sub, "--only-missing", "--dry-run", "--json"))
    assert dry.code == 0, dry.err
    planned = {o["key"].removeprefix(base): o for o in dry.json()["objects"]}
    # notes.txt is not read: no upload notification would have let it through; fake.png's
    # upload was recorded as rejected, so this version is not read again.
    assert {k for k, o in planned.items() if o["rejected"]} == {"fake.png"}
    assert {k: o["skipped"] for k, o in planned.items()} == {
        "a.jpg": None, "B.JPG": None, "c.Jpg": "suffix", "fake.png": "rejected",
        "notes.txt": "suffix",
    }  # fmt: skip
    planned_keys = {r["key"] for o in planned.values() for r in o["renditions"]}
    names = [r.name for r in stack.settings.renditions]
    assert {k.split("/", 1)[0] for k in planned_keys if f"/{sub}B." in k} == {"thumb"}
    assert len(planned_keys) == len(names) + 1

    result = run(capsys, *local("backfill", "--prefix", sub, "--only-missing", "--wait", "--json"))
    assert result.code == 0, result.err  # fake.png is skipped, not dead-lettered
    items = result.json()["items"]
    summary = dry.json()["summary"]
    assert (items["total"], items["failed"]) == (summary["objects"], 0)
    assert result.json()["skippedRejected"] == summary["skippedRejected"] == 1
    written = {
        key
        for key in drive.objects(stack, stack.destination_bucket)
        if f"/{sub}" in key and drive.read(stack, stack.destination_bucket, key) != b"kept"
    }
    # And each processed image's manifest, made from what its renditions returned.
    assert written == planned_keys | {f"manifests/{sub}a.json", f"manifests/{sub}B.json"}


def test_backfill_skips_a_recorded_rejection_and_says_so(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A rejection pages nobody: the backfill skips it (exit 0), counts it, and
    dead-letters nothing."""
    sub = fresh_prefix()
    write(tmp_path / "d" / "fine.jpg", samples.jpeg(300, 300, seed=13))
    write(tmp_path / "d" / "bad.jpg", b"not an image")
    run(capsys, *local("upload", str(tmp_path / "d"), "--prefix", sub, "--wait"))
    letters = len(drive.dlq_messages(served.stack))
    result = run(capsys, *local("backfill", "--prefix", sub, "--wait"))
    assert result.code == 0, result.err
    out = " ".join(result.out.split())
    assert "It skips 1 object whose current version is recorded as rejected" in out
    assert "0 failed (1 skipped: recorded as rejected)" in out
    assert len(drive.dlq_messages(served.stack)) == letters


def test_backfill_says_what_it_started_before_describing_it(
    served: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The execution runs once StartExecution answers: if describing it then fails
    (throttled, or no DescribeExecution permission), the user still learns it was started
    and where to see it, rather than rerunning a second backfill of the whole prefix."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    from imagepipe import executions

    def throttled(*_: Any) -> Any:
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        raise ClientError(error, "DescribeExecution")

    monkeypatch.setattr(executions, "describe", throttled)
    result = run(capsys, *local("backfill", "--prefix", fresh_prefix()))  # 0 objects
    assert result.code == 4, result.err
    assert "AWS is throttling DescribeExecution" in result.err
    out = " ".join(result.out.split())
    assert "Started backfill backfill-" in out
    assert "Console: " in out or "ARN: arn:" in out


def test_a_backfilled_original_without_a_record_is_shown_processed(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """As for an original older than the catalogue (or whose record was lost): after a
    backfill, `catalogue` and `show KEY` say it was processed, with its renditions."""
    stack, sub = served.stack, fresh_prefix()
    write(tmp_path / "f" / "old.jpg", samples.jpeg(420, 280, seed=14))
    run(capsys, *local("upload", str(tmp_path / "f"), "--prefix", sub, "--wait"))
    key = stack.settings.upload_prefix + sub + "old.jpg"
    stack.clients.client("dynamodb").delete_item(
        TableName=stack.outputs["catalogueTable"], Key={"key": {"S": key}}
    )
    assert run(capsys, *local("show", key, "--json")).json()["catalogue"] is None

    result = run(capsys, *local("backfill", "--prefix", sub, "--wait", "--json"))
    assert result.code == 0, result.err

    listed = run(capsys, *local("catalogue", "--status", "processed", "--limit", "1000", "--json"))
    [record] = [r for r in listed.json()["records"] if r["key"] == key]
    shown = run(capsys, *local("show", key, "--json")).json()["catalogue"]
    assert shown == record
    assert (record["status"], record["width"], record["height"]) == ("processed", 420, 280)
    # The backfill's (on AWS its child's; moto runs the children inline, in the parent).
    assert ":execution:" + stack.outputs["backfillStateMachineArn"].rsplit(":", 1)[1] in str(
        record["executionArn"]
    )
    stem = sub + "old"
    assert {r["key"] for r in record["renditions"]} == expected_keys(served, stem)
    base = stack.outputs["renditionsBaseUrl"]
    assert {r["url"] for r in record["renditions"]} == {
        f"{base}/{quote(k, safe='/')}" for k in expected_keys(served, stem)
    }
    assert record["manifestUrl"] == f"{base}/manifests/{stem}.json"


def test_show_key_finds_an_older_upload_through_its_record(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An upload past the --search window (or recorded by a backfill) is found through
    the execution its catalogue record names."""
    stack, sub = served.stack, fresh_prefix()
    write(tmp_path / "o" / "older.jpg", samples.jpeg(200, 150, seed=21))
    write(tmp_path / "n" / "newer.jpg", samples.jpeg(200, 150, seed=22))
    run(capsys, *local("upload", str(tmp_path / "o"), "--prefix", sub, "--wait"))
    run(capsys, *local("upload", str(tmp_path / "n"), "--prefix", sub, "--wait"))
    key = stack.settings.upload_prefix + sub + "older.jpg"
    result = run(capsys, *local("show", key, "--search", "1", "--json"))
    assert result.code == 0, result.err
    shown = result.json()
    assert shown["execution"]["key"] == key
    assert shown["catalogue"]["executionArn"] == shown["execution"]["arn"]


# -- the deployed-stack path, pointed at the same server ---------------------------------


@pytest.fixture
def deployed_env(served: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names from IMAGEPIPE_* variables (no Pulumi needed), the endpoint from
    AWS_ENDPOINT_URL as for any AWS SDK, and credentials from the environment."""
    stack = served.stack
    env = {
        "IMAGEPIPE_SOURCE_BUCKET": stack.source_bucket,
        "IMAGEPIPE_DESTINATION_BUCKET": stack.destination_bucket,
        "IMAGEPIPE_STATE_MACHINE_ARN": stack.state_machine_arn,
        "AWS_ENDPOINT_URL": served.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_the_deployed_path_runs_the_same_commands(
    served: Any, deployed_env: dict[str, str], capsys: pytest.CaptureFixture[str], photo: Path
) -> None:
    sub = fresh_prefix()
    upload = run(capsys, "upload", str(photo), "--prefix", sub, "--wait", "--json")
    assert upload.code == 0, upload.err
    [item] = upload.json()["uploads"]
    assert item["outcome"] == "processed"
    assert item["execution"]["consoleUrl"].startswith("https://eu-west-1.console.aws.amazon.com/")

    outputs = run(capsys, "outputs", "--json").json()
    assert outputs["local"] is False
    assert outputs["region"] == "eu-west-1"  # from the state machine's ARN
    # Not given, and Pulumi not run: unknown, never derived from the upload one's ARN.
    assert outputs["outputs"]["backfillStateMachineArn"] is None
    assert outputs["consoleUrls"]["executions"].startswith("https://")

    executions = run(capsys, "executions", "--limit", "5", "--json")
    assert executions.code == 0
    assert item["execution"]["arn"] in {e["arn"] for e in executions.json()["executions"]}

    dry = run(capsys, "backfill", "--prefix", sub, "--only-missing", "--dry-run", "--json")
    assert dry.json()["summary"]["toProcess"] == 0


def test_a_missing_bucket_is_a_missing_stack(
    served: Any,
    deployed_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGEPIPE_SOURCE_BUCKET", "imagepipe-dev-source-gone")
    result = run(capsys, "backfill", "--dry-run")
    assert result.code == 3
    assert "bucket not found" in result.err
    assert "pulumi up --stack dev" in result.err
    assert len(result.err.strip().splitlines()) == 1


def one_line(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_an_endpoint_without_a_server(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.support.ports import free_port

    """Bug 5: a wrong --endpoint was reported as a stale state file."""
    url = f"http://127.0.0.1:{free_port()}"
    result = run(capsys, *local("executions", "--endpoint", url))
    assert result.code == 3
    line = one_line(result)
    assert f"nothing answers at {url}" in line
    assert "stale" not in line


def test_an_endpoint_of_another_server(
    served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bug 5: an --endpoint that answers but serves something else is not "restarted"."""
    from imagepipe.target import Target, translate
    from tests.cli.test_errors import _client_error

    target = Target.local_stack("dev", served.endpoint)
    translated = translate(_client_error("NoSuchBucket", "PutObject"), target)
    assert translated is not None and translated.code == 3
    assert f"the server at {served.endpoint} has no such bucket" in translated.message
    assert "restarted" not in translated.message


def test_posix_keys(served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Keys from a folder use '/' and keep the folder's structure under --prefix."""
    sub = fresh_prefix()
    write(tmp_path / "e" / "deep" / "er" / "k.webp", samples.webp(300, 200, seed=14))
    doc = run(capsys, *local("upload", str(tmp_path / "e"), "--prefix", sub, "--json")).json()
    [upload] = doc["uploads"]
    assert upload["key"] == posixpath.join(
        served.stack.settings.upload_prefix + sub, "deep/er/k.webp"
    )
