"""The local console: what the Step Functions, S3 and SQS consoles show of a stack, for
the stack `imagepipe local serve` runs, at /console/ on the server's own address.

Plain pages (static/: HTML, CSS and JavaScript, no build step, nothing loaded from
elsewhere) over JSON endpoints that answer what the commands' `--json` prints, built by
the commands' own functions from the same Target (imagepipe.local.console.app).
"""

from imagepipe.local.console.app import PREFIX, Console, state_marks

__all__ = ["PREFIX", "Console", "state_marks"]
