"""With deleteDerivatives, deleting an original removes its renditions and its backup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imagepipe.local import samples
from imagepipe.local.stack import LocalStack, local_stack
from tests.integration.conftest import fresh_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def removal_stack() -> Iterator[LocalStack]:
    with local_stack("dev", config={"deleteDerivatives": True}) as deployed:
        deployed.pump()
        yield deployed


def test_deleting_an_original_deletes_what_was_made_from_it(removal_stack: LocalStack) -> None:
    stack = removal_stack
    key = stack.upload(samples.jpeg(900, 600, seed=101), fresh_key(stack, "gone soon.jpg"))
    kept = stack.upload(samples.jpeg(600, 900, seed=102), fresh_key(stack, "stays.jpg"))
    stack.pump()
    stem = key.removeprefix(stack.settings.upload_prefix).removesuffix(".jpg")
    made = [k for k in stack.objects(stack.destination_bucket) if stem in k]
    assert len(made) == len(stack.settings.renditions)
    assert key in stack.objects(stack.backup_bucket)

    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    stack.pump()

    sfn = stack.clients.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=stack.state_machine_arn_of("removal"))
    assert [e["status"] for e in runs["executions"]] == ["SUCCEEDED"]
    assert not [k for k in stack.objects(stack.destination_bucket) if stem in k]
    assert key not in stack.objects(stack.backup_bucket)
    assert kept in stack.objects(stack.backup_bucket)  # only what came from the deleted key
    assert stack.dlq_messages() == []


def test_a_removal_is_notified_with_what_was_deleted(removal_stack: LocalStack) -> None:
    stack = removal_stack
    key = stack.upload(samples.jpeg(500, 400, seed=103), fresh_key(stack, "told.jpg"))
    stack.pump()
    stem = key.removeprefix(stack.settings.upload_prefix).removesuffix(".jpg")
    made = {k for k in stack.objects(stack.destination_bucket) if f"/{stem}." in k}
    assert len(made) == len(stack.settings.renditions)

    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    stack.pump()

    removed = [
        n
        for n in stack.notifications()
        if n.attributes.get("event") == "image.removed"
        and isinstance(n.message, dict)
        and n.message["source"]["key"] == key
    ]
    assert len(removed) == 1
    [notice] = removed
    assert notice.subject == "Image removed"
    listed = {d["Key"] for d in notice.message["derivatives"]}
    assert made <= listed  # every rendition that existed is named in the message
    assert not made & set(stack.objects(stack.destination_bucket))
