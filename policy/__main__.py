"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack policy`.

PolicyPack starts the analyzer's gRPC server and serves until the engine stops it, so this
file only builds the pack; the rules live in policy/rules.py and policy/pack.py.
"""

import sys
from pathlib import Path

# The CLI runs this directory as a script: make the repository root importable, so the
# pack reads infra.iam (the one Resource "*" allowlist) from the program it guards.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policy.pack import POLICIES  # noqa: E402

PolicyPack(
    "imagepipeline-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
