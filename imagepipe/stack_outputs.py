"""The names of a stack's outputs that the commands read, and how a flag or an
IMAGEPIPE_* variable spells each. Only the stdlib: the model (imagepipe.target) and the
parsers (imagepipe.commands.options, loaded for `--help`) both read this table."""

from __future__ import annotations

import re
from typing import Final

# What most commands need; with these from flags or the environment, Pulumi is not run.
ESSENTIAL_OUTPUTS: Final = ("sourceBucket", "destinationBucket", "stateMachineArn")
# The settings the commands use, exported as outputs (older stacks: in Pulumi.<stack>.yaml).
SETTING_OUTPUTS: Final = ("uploadPrefix", "allowedSuffixes", "renditions")

# The deployed stack's outputs that a flag or an IMAGEPIPE_* variable can give (flags beat
# variables, which beat `pulumi stack output`), spelled after the output: sourceBucket is
# --source-bucket and IMAGEPIPE_SOURCE_BUCKET. Output -> the flag's metavar and help, or
# None for a variable only.
GIVEN_OUTPUTS: Final[dict[str, tuple[str, str] | None]] = {
    "sourceBucket": ("NAME", "source bucket"),
    "destinationBucket": ("NAME", "renditions bucket"),
    "stateMachineArn": ("ARN", "upload state machine"),
    "backfillStateMachineArn": ("ARN", "backfill state machine"),
    "deadLetterQueueUrl": ("URL", "dead-letter queue"),
    "backupBucket": None,
    "topicArn": None,
    "catalogueTable": None,
}


def snake(output: str) -> str:
    """sourceBucket -> source_bucket: the flag's argparse dest."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", output).lower()


def flag(output: str) -> str:
    return "--" + snake(output).replace("_", "-")


def variable(output: str) -> str:
    return "IMAGEPIPE_" + snake(output).upper()
