"""Pulumi code for the image pipeline: the ImagePipeline component and its parts."""

import sys
from pathlib import Path

# The Lambda package (functions/imagefn) shares the rendition rules with this program.
# `make venv` installs it; `pulumi up` in a virtualenv that Pulumi made itself from
# requirements.txt does not, so make it importable from the source tree either way.
_FUNCTIONS = str(Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in sys.path:
    sys.path.append(_FUNCTIONS)
