"""Stack config is validated once, with errors that name the key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import (
    CONFIG_KEYS,
    DEFAULT_RENDITIONS,
    PROJECT_DIR,
    ConfigError,
    Settings,
    load_stack_settings,
    read_stack_config,
    settings_from_mapping,
)


def test_defaults_are_valid_and_dev_stack_loads() -> None:
    settings = load_stack_settings("dev")
    assert settings.renditions == DEFAULT_RENDITIONS
    assert settings.log_retention_days == 7  # the dev stack's one override
    assert settings.python_version == "3.12"


def test_pulumi_yaml_declares_every_scalar_key_with_the_code_default() -> None:
    """Pulumi.yaml and Settings agree, so the CLI and the local stack see one config."""
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    declared = {k.split(":", 1)[1]: v for k, v in project["config"].items()}
    # Objects cannot be typed in Pulumi.yaml: renditions and tags default in code.
    assert set(declared) == set(CONFIG_KEYS) - {"renditions", "tags", "cdnAliases"}
    defaults = settings_from_mapping({})
    from_yaml = settings_from_mapping({k: v["default"] for k, v in declared.items()})
    assert from_yaml == defaults
    for name, decl in declared.items():
        assert decl["description"], name
        assert decl["type"] in {"string", "integer", "boolean", "array"}, name


def test_dev_stack_holds_only_overrides() -> None:
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())["config"]
    defaults = read_stack_config("dev")
    project_defaults = {
        k.split(":", 1)[1]: v["default"]
        for k, v in yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"].items()
    }
    for key, value in stack.items():
        if key.startswith("imagepipeline:"):
            name = key.split(":", 1)[1]
            assert project_defaults.get(name) != value, f"{key} repeats its default"
            assert defaults[name] == value


@pytest.mark.parametrize(
    ("values", "key", "words"),
    [
        ({"renditions": []}, "renditions", "non-empty"),
        ({"renditions": [{"name": "t", "width": 0, "height": 10}]}, "renditions", "width"),
        (
            {"renditions": [{"name": "t", "width": 10, "height": 10, "fit": "stretch"}]},
            "renditions",
            "fit",
        ),
        (
            {"renditions": [{"name": "t", "width": 10, "height": 10, "format": "bmp"}]},
            "renditions",
            "format",
        ),
        (
            {"renditions": [{"name": "t", "width": 10, "height": 10, "quality": 101}]},
            "renditions",
            "quality",
        ),
        (
            {"renditions": [{"name": "t", "width": 10, "height": 10, "colour": "red"}]},
            "renditions",
            "colour",
        ),
        ({"renditions": [{"name": "a b", "width": 10, "height": 10}]}, "renditions", "name"),
        ({"renditions": [{"name": "t", "width": 9, "height": 9}] * 2}, "renditions", "unique"),
        ({"uploadPrefix": "/abs"}, "uploadPrefix", "leading"),
        ({"allowedSuffixes": ["jpg"]}, "allowedSuffixes", "start with"),
        ({"allowedSuffixes": [".jpg", "g"]}, "allowedSuffixes", "start with"),
        ({"allowedSuffixes": [".gz", ".tar.gz"]}, "allowedSuffixes", "overlap"),
        ({"maxInputBytes": 0}, "maxInputBytes", "whole number"),
        ({"maxInputPixels": "lots"}, "maxInputPixels", "whole number"),
        ({"workflowType": "standard"}, "workflowType", "STANDARD"),
        ({"lambdaMemoryMb": 64}, "lambdaMemoryMb", "128"),
        ({"lambdaArchitecture": "arm"}, "lambdaArchitecture", "arm64"),
        ({"lambdaRuntime": "python3.8"}, "lambdaRuntime", "python3.12"),
        # Amazon Linux 2's glibc is too old for Pillow's wheels: WebP/AVIF would fail on AWS.
        ({"lambdaRuntime": "python3.11"}, "lambdaRuntime", "glibc 2.26"),
        ({"mapMaxConcurrency": 0}, "mapMaxConcurrency", "whole number"),
        ({"notificationEmail": "nobody"}, "notificationEmail", "email"),
        ({"logRetentionDays": 10}, "logRetentionDays", "14"),
        (
            {"backupTransitionDays": 90, "backupExpirationDays": 60},
            "backupExpirationDays",
            "greater",
        ),
        ({"backupTransitionDays": 10}, "backupTransitionDays", "30"),
        ({"lambdaMemory": 512}, "lambdaMemory", "lambdaMemoryMb"),
    ],
)
def test_bad_values_fail_with_the_key_named(values: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(values)
    message = str(caught.value)
    assert message.startswith(f"imagepipeline:{key}: "), message
    assert words in message, message


def test_pulumi_strings_are_parsed_like_the_cli_gives_them() -> None:
    settings = settings_from_mapping(
        {
            "imagepipeline:lambdaMemoryMb": "2048",
            "imagepipeline:allowedSuffixes": [".JPG"],
            "aws:region": "eu-west-1",
            "imagepipeline:renditions": '[{"name": "x", "width": 5, "height": 6}]',
        }
    )
    assert settings.lambda_memory_mb == 2048
    assert settings.allowed_suffixes == (".jpg",)
    assert settings.renditions[0].name == "x"
    assert settings.renditions[0].format == "webp"


def test_settings_is_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.lambda_memory_mb = 1  # type: ignore[misc]
    assert {f.name for f in fields(Settings)} >= {"renditions", "upload_prefix"}


def test_missing_stack_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: imagepipeline\nruntime: python\n")
    with pytest.raises(ConfigError, match=r"Pulumi\.prod\.yaml"):
        read_stack_config("prod", tmp_path)


UPLOAD_API = {
    "uploadApi": True,
    "uploadApiIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123",
    "uploadApiAudience": ["3n4b5urk1ft4fl3mg5e62d9ado"],
}


def test_the_upload_api_is_off_by_default_and_configured_as_a_whole() -> None:
    assert Settings().upload_api is False
    settings = settings_from_mapping(
        {**UPLOAD_API, "corsOrigins": ["https://app.example.com/", "HTTPS://App.Example.com"]}
    )
    assert settings.upload_api_audience == ("3n4b5urk1ft4fl3mg5e62d9ado",)
    assert settings.cors_origins == ("https://app.example.com",)
    assert settings.upload_url_expiry_seconds == 300


def test_upload_api_lists_come_as_the_cli_gives_them() -> None:
    settings = settings_from_mapping(
        {
            **UPLOAD_API,
            "uploadApiAudience": "web-client,ios-client",
            "corsOrigins": '["http://127.0.0.1:8080", "https://a.example:8443"]',
            "uploadUrlExpirySeconds": "60",
        }
    )
    assert settings.upload_api_audience == ("web-client", "ios-client")
    assert settings.cors_origins == ("http://127.0.0.1:8080", "https://a.example:8443")
    assert settings.upload_url_expiry_seconds == 60


@pytest.mark.parametrize(
    ("values", "key", "words"),
    [
        ({"uploadApi": True}, "uploadApiIssuer", "must be set when uploadApi"),
        ({**UPLOAD_API, "uploadApiAudience": []}, "uploadApiAudience", "must be set"),
        ({**UPLOAD_API, "uploadApiIssuer": "http://issuer.example"}, "uploadApiIssuer", "https"),
        ({**UPLOAD_API, "uploadApiIssuer": "https://i.example/?x=1"}, "uploadApiIssuer", "query"),
        # A Cognito pool's issuer is exactly its tokens' iss, or every token is refused.
        *(
            ({**UPLOAD_API, "uploadApiIssuer": issuer}, "uploadApiIssuer", "cognito-idp.<region>")
            for issuer in (
                UPLOAD_API["uploadApiIssuer"] + "/",  # trailing slash
                "https://myapp.auth.eu-west-1.amazoncognito.com",  # the hosted UI's domain
                "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_Abc123",  # other region
                "https://cognito-idp.eu-west-1.amazonaws.com",  # no pool id
            )
        ),
        ({**UPLOAD_API, "uploadApiAudience": ["a b"]}, "uploadApiAudience", "without spaces"),
        ({**UPLOAD_API, "corsOrigins": ["*"]}, "corsOrigins", "wildcard"),
        ({**UPLOAD_API, "corsOrigins": ["http://app.example.com"]}, "corsOrigins", "https"),
        ({**UPLOAD_API, "corsOrigins": ["https://app.example.com/path"]}, "corsOrigins", "path"),
        ({**UPLOAD_API, "uploadUrlExpirySeconds": 86400}, "uploadUrlExpirySeconds", "3600"),
        ({"uploadApiIssuer": UPLOAD_API["uploadApiIssuer"]}, "uploadApiIssuer", "needs uploadApi"),
        ({"corsOrigins": ["https://app.example.com"]}, "corsOrigins", "needs uploadApi"),
    ],
)
def test_bad_upload_api_config_names_the_key(values: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(values)
    message = str(caught.value)
    assert message.startswith(f"imagepipeline:{key}: "), message
    assert words in message, message


def test_loopback_http_is_allowed_for_the_local_stacks_issuer_and_console() -> None:
    settings = settings_from_mapping(
        {
            **UPLOAD_API,
            "uploadApiIssuer": "http://127.0.0.1:40123/upload-api/issuer",
            "corsOrigins": ["http://localhost:5000"],
        }
    )
    assert settings.upload_api_issuer.startswith("http://127.0.0.1:")
