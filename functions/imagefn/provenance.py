"""Which version of an original a stored rendition (or manifest) was made from: the
`source-etag` metadata that Resize and the manifest function write with it. Inspect reads
it back (an only-missing run makes just what is absent or stale), and so does
`imagepipe backfill --dry-run`, so both answer "which renditions does this object still
need" from the same metadata, read the same way (with imagefn.plan.renditions_to_make)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

SOURCE_ETAG: Final = "source-etag"
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})


def metadata(etag: str) -> dict[str, str]:
    """The metadata to store with what is made from the original's version `etag`."""
    return {SOURCE_ETAG: etag}


def head(s3: Any, bucket: str, key: str) -> Mapping[str, Any] | None:
    """HeadObject of bucket/key, None if it does not exist."""
    try:
        found: Mapping[str, Any] = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
    return found


def made_from(s3: Any, bucket: str, key: str) -> str | None:
    """The ETag of the original's version bucket/key was made from, None if it does not
    exist (or, written before this metadata, does not say)."""
    found = head(s3, bucket, key)
    value = found.get("Metadata", {}).get(SOURCE_ETAG) if found is not None else None
    return str(value) if value is not None else None
