"""Closing an in-process local stack stops its stand-ins (the upload API's server) while
moto still answers, and only then stops moto: a request the stand-in is still serving
meanwhile must not reach AWS's real endpoints (the in-process clients name none; moto's
mock is what keeps them local)."""

from __future__ import annotations

from typing import Any

import pytest
from moto.core.models import botocore_stubber

from imagepipe.local.stack import deploy_local
from imagepipe.local.upload_api import LocalUploadApi

pytestmark = pytest.mark.integration


def test_the_upload_api_stops_before_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    mocked_at_close: list[bool] = []
    close = LocalUploadApi.close

    def recording_close(self: Any) -> None:
        mocked_at_close.append(bool(botocore_stubber.enabled))
        close(self)

    monkeypatch.setattr(LocalUploadApi, "close", recording_close)
    with deploy_local("dev") as stack:
        assert stack.upload_api is not None
        assert botocore_stubber.enabled
    assert mocked_at_close == [True]
    assert not botocore_stubber.enabled  # and moto is stopped afterwards
