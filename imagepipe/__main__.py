"""`python -m imagepipe`: the same as the `imagepipe` command."""

from imagepipe.cli import main

raise SystemExit(main())
