"""Stack configuration, validated once into a frozen Settings before any resource exists.

Defaults for scalar keys live in Pulumi.yaml's `config:` schema (the Pulumi engine
injects them); `renditions` is a list of objects, which Pulumi's project config schema
cannot type, so its default lives here. `read_stack_config` applies the same merge the
Pulumi CLI does, for the tools that run without it (the local stack, `imagepipe render`).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from imagefn.renditions import Rendition, RenditionError, parse_renditions
from infra import asl, durations, environment
from infra.names import STACK_TAG, check_stack_name
from infra.names import StackNameError as StackNameError  # re-exported: load_settings raises it

PROJECT: Final = "imagepipeline"
PROJECT_DIR: Final = Path(__file__).resolve().parent.parent

DEFAULT_RENDITIONS: Final[tuple[Rendition, ...]] = (
    Rendition(name="thumb", width=200, height=200, fit="cover", format="webp", quality=80),
    Rendition(name="medium", width=800, height=800, fit="contain", format="jpeg", quality=82),
    Rendition(name="large", width=1600, height=1600, fit="contain", format="webp", quality=82),
)

# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
     2557, 2922, 3288, 3653}
)  # fmt: skip
RUNTIMES: Final = ("python3.12", "python3.13")
# Lambda runs python3.11 on Amazon Linux 2 (glibc 2.26); no Pillow wheel since 12.3 runs
# there (they need glibc 2.27), so every WebP/AVIF rendition would fail on AWS.
_REFUSED_RUNTIMES: Final = {
    "python3.11": "Lambda runs it on Amazon Linux 2 (glibc 2.26) and Pillow's wheels need "
    "glibc 2.27; use python3.12 or python3.13 (Amazon Linux 2023)",
}
ARCHITECTURES: Final = ("arm64", "x86_64")
WORKFLOW_TYPES: Final = ("STANDARD", "EXPRESS")
LOG_LEVELS: Final = ("ALL", "ERROR", "FATAL", "OFF")


class ConfigError(ValueError):
    """A stack config value is invalid. The message starts with the full key name."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = f"{PROJECT}:{key}"
        super().__init__(f"{self.key}: {problem}")


@dataclass(frozen=True)
class Settings:
    """Everything the program needs from stack config, already validated."""

    renditions: tuple[Rendition, ...] = DEFAULT_RENDITIONS
    upload_prefix: str = "uploads/"
    allowed_suffixes: tuple[str, ...] = (
        ".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".heic", ".heif", ".svg",
    )  # fmt: skip
    max_input_bytes: int = 50 * 1024 * 1024
    max_input_pixels: int = 40_000_000
    workflow_type: Literal["STANDARD", "EXPRESS"] = "STANDARD"
    workflow_log_level: Literal["ALL", "ERROR", "FATAL", "OFF"] = "ERROR"
    lambda_memory_mb: int = 1769
    lambda_timeout_seconds: int = 60
    lambda_architecture: Literal["arm64", "x86_64"] = "arm64"
    lambda_runtime: str = "python3.12"
    map_max_concurrency: int = 10
    ingest_max_receive_count: int = 5
    notification_email: str = ""
    alarm_email: str = ""
    log_retention_days: int = 30
    backup_transition_days: int = 30
    backup_expiration_days: int = 365
    delete_derivatives: bool = False
    backfill_max_concurrency: int = 40
    tags: Mapping[str, str] = field(default_factory=dict)
    # Prebuilt Lambda artifacts (zip files) to deploy instead of building them.
    function_archive: Path | None = None
    layer_archive: Path | None = None
    # Delivery (infra/delivery.py): a CloudFront distribution in front of the renditions.
    cdn: bool = True
    cdn_aliases: tuple[str, ...] = ()
    cdn_certificate_arn: str = ""
    cdn_price_class: str = "PriceClass_All"
    # Where renditions are served when not from the distribution's own domain or first
    # alias (the local stack's HTTP server); "" for those.
    renditions_base_url: str = ""
    # The upload API (infra/upload_api.py): an HTTP API with a JWT authorizer in front of
    # a function that hands out presigned POSTs under <uploadPrefix><sub>/.
    upload_api: bool = False
    upload_api_issuer: str = ""
    upload_api_audience: tuple[str, ...] = ()
    # Browser origins allowed to call the upload API and to POST to the source bucket.
    cors_origins: tuple[str, ...] = ()
    upload_url_expiry_seconds: int = 300

    @property
    def python_version(self) -> str:
        """'3.12' for 'python3.12': what the layer's wheels must be built for."""
        return self.lambda_runtime.removeprefix("python")

    @property
    def workload(self) -> durations.Workload:
        """What the definitions' worst-case durations depend on (infra/durations.py)."""
        return durations.Workload(
            self.lambda_timeout_seconds, len(self.renditions), self.map_max_concurrency
        )


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}, got {value!r}")
        return value

    return check


def _choice(options: tuple[str, ...] | frozenset[int]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(options, frozenset):
            value = _int(1, 10_000)(value)
        if value not in options:
            shown = ", ".join(str(o) for o in sorted(options)) if isinstance(options, frozenset) \
                else ", ".join(options)  # fmt: skip
            raise ValueError(f"must be one of {shown}, got {value!r}")
        return value

    return check


def _runtime(value: Any) -> str:
    if value in _REFUSED_RUNTIMES:
        raise ValueError(f"{value} is not supported: {_REFUSED_RUNTIMES[value]}")
    checked: str = _choice(RUNTIMES)(value)
    return checked


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not value or value.startswith("/"):
        raise ValueError(f"must be a non-empty key prefix without a leading '/', got {value!r}")
    return value if value.endswith("/") else value + "/"


def _suffixes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("must be a non-empty list of file name suffixes such as '.jpg'")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.startswith(".") or len(item) < 2:
            raise ValueError(f"each suffix must start with '.', got {item!r}")
        out.append(item.lower())
    # S3 rejects notification rules whose suffixes overlap ('.jpg' and 'jpg' would).
    for a in out:
        for b in out:
            if a != b and b.endswith(a):
                raise ValueError(f"suffixes {a!r} and {b!r} overlap; S3 refuses overlapping rules")
    if len(set(out)) != len(out):
        raise ValueError("suffixes must be unique (matching ignores case)")
    return tuple(out)


def _bool(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _email(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or "@" not in value or " " in value.strip():
        raise ValueError(f"must be an email address or empty, got {value!r}")
    return value.strip()


def _renditions(value: Any) -> tuple[Rendition, ...]:
    if isinstance(value, str):
        value = json.loads(value)
    try:
        return parse_renditions(value)
    except RenditionError as err:
        raise ValueError(str(err)) from None


# What every AWS service here accepts in a tag: letters, digits, spaces and _ . : / = + - @
# https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions
_TAG_TEXT: Final = re.compile(r"[\w .:/=+\-@]*")
# AWS allows 50 user tags per resource; the program adds imagepipe:stack to every one.
MAX_TAGS: Final = 49


def _tags(value: Any) -> Mapping[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("must be a mapping of string tag names to string values")
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags (AWS allows 50, the stack adds one)")
    for key, text in value.items():
        if key == STACK_TAG:
            raise ValueError(f"{STACK_TAG} is set by the program to the stack's name")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag {key!r}: names starting with aws: are reserved by AWS")
        if not 1 <= len(key) <= 128 or len(text) > 256:
            raise ValueError(f"tag {key!r}: names take 1 to 128 characters, values up to 256")
        if not (_TAG_TEXT.fullmatch(key) and _TAG_TEXT.fullmatch(text)):
            raise ValueError(
                f"tag {key!r}: only letters, digits, spaces and _ . : / = + - @ are "
                "characters every AWS service accepts"
            )
    return dict(value)


def _archive(value: Any) -> Path | None:
    """A zip file, by its path from the project folder (or an absolute one); "" for none."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be the path of a zip file, got {value!r}")
    path = (PROJECT_DIR / value).resolve()
    if not path.is_file():
        raise ValueError(f"no file {path} (paths are relative to {PROJECT_DIR})")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a zip file")
    return path


PRICE_CLASSES: Final = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# CloudFront takes only certificates from ACM in us-east-1.
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html
_CERTIFICATE_ARN: Final = re.compile(r"arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}")
_HOSTNAME: Final = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
)


def _aliases(value: Any) -> tuple[str, ...]:
    """Alternate domain names: lowercase host names, '*.' allowed first; at most 100."""
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
    if not isinstance(value, list) or len(value) > 100:
        raise ValueError(f"must be a list of at most 100 domain names, got {value!r}")
    out: list[str] = []
    for item in value:
        name = str(item).strip().lower().rstrip(".")
        if len(name) > 253 or not _HOSTNAME.fullmatch(name):
            raise ValueError(f"{item!r} is not a domain name (like images.example.com)")
        if name not in out:
            out.append(name)
    return tuple(out)


def _certificate(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not _CERTIFICATE_ARN.fullmatch(value.strip()):
        raise ValueError(
            "must be the ARN of an ACM certificate in us-east-1 (CloudFront takes no other), "
            f"arn:aws:acm:us-east-1:<account>:certificate/<id>, got {value!r}"
        )
    return value.strip()


def _base_url(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ValueError(f"must be an http(s) URL without query or fragment, got {value!r}")
    return value.rstrip("/")


# Plain HTTP only on the loopback interface: the local stack's test issuer and a console
# served on this machine. Browsers treat loopback origins as secure contexts.
_LOOPBACK: Final = ("127.0.0.1", "localhost", "[::1]")
_ORIGIN: Final = re.compile(r"(https?)://([a-z0-9.\-]+|\[::1\])(:\d{1,5})?")
# A Cognito user pool's tokens carry iss https://cognito-idp.<region>.amazonaws.com/<pool
# id>, the pool id starting with its region; API Gateway compares iss with the issuer
# exactly. https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html
_COGNITO_ISSUER: Final = re.compile(
    r"https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/\1_[0-9A-Za-z]+"
)


def _https_or_loopback(scheme: str, host: str) -> bool:
    return scheme == "https" or host in _LOOPBACK


def _issuer(value: Any) -> str:
    """The JWT issuer: the `iss` tokens carry, and where API Gateway discovers the JWKS
    ({issuer}/.well-known/openid-configuration), e.g. a Cognito user pool's
    https://cognito-idp.<region>.amazonaws.com/<pool id>."""
    if value in (None, ""):
        return ""
    text = str(value).strip()
    match = re.fullmatch(r"(https?)://([^\s/?#:]+|\[::1\])(:\d{1,5})?(/[^\s?#]*)?", text)
    if not match or not _https_or_loopback(match[1], match[2].lower()):
        raise ValueError(
            "must be the issuer's https URL (as in the tokens' iss claim), without query or "
            f"fragment; plain http only on loopback (the local stack's issuer), got {value!r}"
        )
    host = match[2].lower()
    cognito = host.startswith("cognito-idp.") or host.endswith(".amazoncognito.com")
    if cognito and not _COGNITO_ISSUER.fullmatch(text):
        raise ValueError(
            "a Cognito user pool's issuer is https://cognito-idp.<region>.amazonaws.com/<pool "
            "id>, as its tokens' iss (the pool's region, no trailing slash; not the hosted "
            f"UI's domain), got {value!r}"
        )
    return text


def _string_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [str(value)]
    if not isinstance(value, list):
        raise ValueError(f"must be a list of strings, got {value!r}")
    return value


def _audience(value: Any) -> tuple[str, ...]:
    """Accepted `aud` values (or, for access tokens without one, `client_id`): a Cognito
    app client id, an API identifier. A string is one audience (or several, comma-separated)."""
    out: list[str] = []
    for item in _string_list(value):
        text = str(item).strip()
        if not text or any(c.isspace() for c in text):
            raise ValueError(f"each audience must be a word without spaces, got {item!r}")
        if text not in out:
            out.append(text)
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
    if len(out) > 50:
        raise ValueError("at most 50 audiences (API Gateway's limit per JWT authorizer)")
    return tuple(out)


def _origins(value: Any) -> tuple[str, ...]:
    """Browser origins (scheme://host[:port], no path): https, or http on loopback."""
    out: list[str] = []
    for item in _string_list(value):
        text = str(item).strip().rstrip("/").lower()
        match = _ORIGIN.fullmatch(text)
        if text == "*" or not match or not _https_or_loopback(match[1], match[2]):
            raise ValueError(
                "each origin must be https://host[:port] (plain http only for 127.0.0.1, "
                f"localhost or [::1]), without path or wildcard, got {item!r}"
            )
        if text not in out:
            out.append(text)
    if len(out) > 100:
        raise ValueError("at most 100 origins (S3 allows 100 rules per bucket CORS configuration)")
    return tuple(out)


# config key -> (Settings field, validator). Order is the order errors are found in.
_KEYS: Final[dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "renditions": ("renditions", _renditions),
    "uploadPrefix": ("upload_prefix", _prefix),
    "allowedSuffixes": ("allowed_suffixes", _suffixes),
    "maxInputBytes": ("max_input_bytes", _int(1, 5 * 1024**3)),
    # Pillow refuses anything past twice its own bomb limit (~179 MP) whatever we allow.
    "maxInputPixels": ("max_input_pixels", _int(1, 178_000_000)),
    "workflowType": ("workflow_type", _choice(WORKFLOW_TYPES)),
    "workflowLogLevel": ("workflow_log_level", _choice(LOG_LEVELS)),
    "lambdaMemoryMb": ("lambda_memory_mb", _int(128, 10_240)),
    "lambdaTimeoutSeconds": ("lambda_timeout_seconds", _int(3, 900)),
    "lambdaArchitecture": ("lambda_architecture", _choice(ARCHITECTURES)),
    "lambdaRuntime": ("lambda_runtime", _runtime),
    "mapMaxConcurrency": ("map_max_concurrency", _int(1, 40)),
    "ingestMaxReceiveCount": ("ingest_max_receive_count", _int(1, 1000)),
    "notificationEmail": ("notification_email", _email),
    "alarmEmail": ("alarm_email", _email),
    "logRetentionDays": ("log_retention_days", _choice(LOG_RETENTION_DAYS)),
    "backupTransitionDays": ("backup_transition_days", _int(0, 3650)),
    "backupExpirationDays": ("backup_expiration_days", _int(0, 36500)),
    "deleteDerivatives": ("delete_derivatives", _bool),
    "backfillMaxConcurrency": ("backfill_max_concurrency", _int(1, 10_000)),
    "tags": ("tags", _tags),
    "functionArchive": ("function_archive", _archive),
    "layerArchive": ("layer_archive", _archive),
    "cdn": ("cdn", _bool),
    "cdnAliases": ("cdn_aliases", _aliases),
    "cdnCertificateArn": ("cdn_certificate_arn", _certificate),
    "cdnPriceClass": ("cdn_price_class", _choice(PRICE_CLASSES)),
    "renditionsBaseUrl": ("renditions_base_url", _base_url),
    "uploadApi": ("upload_api", _bool),
    "uploadApiIssuer": ("upload_api_issuer", _issuer),
    "uploadApiAudience": ("upload_api_audience", _audience),
    "corsOrigins": ("cors_origins", _origins),
    # A presigned POST stops working when the credentials it was signed with expire: the
    # function's role session lasts longer than an hour, the URL should not.
    "uploadUrlExpirySeconds": ("upload_url_expiry_seconds", _int(10, 3600)),
}
CONFIG_KEYS: Final = tuple(_KEYS)
STRUCTURED_KEYS: Final = frozenset(
    {"renditions", "allowedSuffixes", "tags", "cdnAliases", "uploadApiAudience", "corsOrigins"}
)


def settings_from_mapping(values: Mapping[str, Any]) -> Settings:
    """Validate config values (keys with or without the 'imagepipeline:' namespace).

    Missing keys take the Settings defaults. Raises ConfigError naming the first bad key.
    """
    plain: dict[str, Any] = {}
    for key, value in values.items():
        name = key.split(":", 1)[1] if key.startswith(f"{PROJECT}:") else key
        if ":" in name:
            continue  # another namespace (aws:region, ...): not ours to judge
        if name not in _KEYS:
            close = [k for k in _KEYS if k.lower() == name.lower()]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(name, f"unknown config key{hint}; known: {', '.join(_KEYS)}")
        plain[name] = value
    fields: dict[str, Any] = {}
    for name, (attr, check) in _KEYS.items():
        if name in plain and plain[name] is not None:
            try:
                fields[attr] = check(plain[name])
            except (ValueError, TypeError, json.JSONDecodeError) as err:
                raise ConfigError(name, str(err)) from None
    settings = Settings(**fields)
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    """Rules between keys, after each key is valid on its own."""
    if 0 < settings.backup_transition_days < 30:
        raise ConfigError(
            "backupTransitionDays", "must be 0 or at least 30 (S3's minimum for STANDARD_IA)"
        )
    if (
        settings.backup_expiration_days
        and settings.backup_transition_days
        and (settings.backup_expiration_days <= settings.backup_transition_days)
    ):
        raise ConfigError(
            "backupExpirationDays",
            f"must be greater than backupTransitionDays ({settings.backup_transition_days}) "
            "or 0 to keep backups forever",
        )
    _check_express_duration(settings)
    _check_environment_size(settings)
    _check_cdn(settings)
    _check_upload_api(settings)


def _check_upload_api(settings: Settings) -> None:
    """The API's JWT authorizer needs an issuer and an audience; the keys that only
    shape the API are refused without it, as cdnAliases is without a CDN."""
    if settings.upload_api:
        for key, value in (
            ("uploadApiIssuer", settings.upload_api_issuer),
            ("uploadApiAudience", settings.upload_api_audience),
        ):
            if not value:
                raise ConfigError(
                    key, "must be set when uploadApi is true (the JWT authorizer needs it)"
                )
        return
    for key, value in (
        ("uploadApiIssuer", settings.upload_api_issuer),
        ("uploadApiAudience", settings.upload_api_audience),
        ("corsOrigins", settings.cors_origins),
    ):
        if value:
            raise ConfigError(key, "needs uploadApi: true (there is no upload API to use it)")


def _check_cdn(settings: Settings) -> None:
    """A custom domain needs both its names and a certificate covering them."""
    if settings.cdn_aliases and not settings.cdn_certificate_arn:
        raise ConfigError("cdnCertificateArn", "must be set when cdnAliases is (HTTPS needs it)")
    if settings.cdn_certificate_arn and not settings.cdn_aliases:
        raise ConfigError(
            "cdnAliases", "must name the certificate's domains (cdnCertificateArn is set)"
        )
    if settings.cdn_aliases and not settings.cdn:
        raise ConfigError("cdnAliases", "needs cdn: true (no distribution to serve them)")
    if any(r.name == "manifests" for r in settings.renditions):
        raise ConfigError(
            "renditions", "'manifests' is taken: manifests/ holds each image's manifest"
        )


def _check_environment_size(settings: Settings) -> None:
    """Lambda refuses a function whose variables together pass 4 KB; RENDITIONS grows
    with each rendition. Measured on the maps the program deploys, with the longest
    bucket name S3 allows standing in for the renditions bucket's, not yet known."""
    bound = environment.base_url_bound(settings)
    for kind, variables in environment.environments(settings, "x" * 63, bound).items():
        size = environment.size_bytes(variables)
        if size > environment.LIMIT_BYTES:
            raise ConfigError(
                "renditions",
                f"{len(settings.renditions)} renditions make the {kind.capitalize()} "
                f"function's environment {size} bytes (RENDITIONS alone is "
                f"{len(variables.get('RENDITIONS', ''))} characters), and Lambda allows "
                f"{environment.LIMIT_BYTES} for all of a function's variables together: "
                "use fewer renditions or shorter names",
            )


def _check_express_duration(settings: Settings) -> None:
    """An Express execution stops at 5 minutes without running any Catch, so an upload
    that ran out of time would be lost with no dead letter: refuse a Lambda timeout that
    the retries of an Express workflow's definition could take past the limit."""
    if settings.workflow_type != "EXPRESS":
        return
    workload = settings.workload
    limit = durations.EXPRESS_LIMIT_SECONDS
    files = [asl.DEFINITION_FILE] + ([asl.REMOVAL_FILE] if settings.delete_derivatives else [])
    for path in files:
        worst = durations.definition_seconds(path, workload)
        if worst <= limit:
            continue
        longest = min(durations.longest_lambda_timeout(p, workload, limit) for p in files)
        if not longest:
            raise ConfigError("workflowType", _express_refused(settings, files, worst, path))
        raise ConfigError(
            "lambdaTimeoutSeconds",
            f"{settings.lambda_timeout_seconds} is too long for workflowType EXPRESS: with "
            f"every retry in statemachine/{path.name} an execution can run {worst:.0f} s, "
            f"past Express's {limit} s limit, and a timed-out Express execution skips every "
            f"Catch (no dead letter); use at most {longest}, or set workflowType STANDARD",
        )


def _express_refused(settings: Settings, files: list[Path], worst: float, path: Path) -> str:
    """Why EXPRESS is refused whatever the Lambda timeout: even at 1 s, the retries of a
    definition (the catalogue writes and delivery steps included) pass 5 minutes."""
    workload = settings.workload
    shortest = durations.Workload(1, workload.map_items, workload.map_max_concurrency)
    floor = max(durations.definition_seconds(p, shortest) for p in files)
    return (
        f"EXPRESS is refused: with every retry in statemachine/{path.name} an execution can "
        f"run {worst:.0f} s at lambdaTimeoutSeconds {settings.lambda_timeout_seconds} "
        f"({floor:.0f} s even at 1 s), past Express's {durations.EXPRESS_LIMIT_SECONDS} s "
        "limit, and a timed-out Express execution skips every Catch (the upload would get "
        "no catalogue record and no dead letter); the shipped retry budgets need "
        "workflowType STANDARD"
    )


def load_settings(stack: str | None = None) -> Settings:
    """Read and validate the current Pulumi stack's config (inside a Pulumi program), and
    the stack's name (by default the current stack's) against every name it derives.

    Raises ConfigError naming a bad key, or StackNameError naming the resource name that
    AWS would refuse and its limit.
    """
    import pulumi

    config = pulumi.Config(PROJECT)
    values: dict[str, Any] = {}
    for name in CONFIG_KEYS:
        raw = config.get(name)
        if raw is None:
            continue
        if name in STRUCTURED_KEYS or not _is_string_key(name):
            try:
                values[name] = json.loads(raw)
            except json.JSONDecodeError:
                values[name] = raw  # let the validator say what is wrong with it
        else:
            values[name] = raw
    settings = settings_from_mapping(values)
    check_stack_name(stack or pulumi.get_stack(), delete_derivatives=settings.delete_derivatives)
    return settings


def _is_string_key(name: str) -> bool:
    return name in {
        "uploadPrefix", "workflowType", "workflowLogLevel", "lambdaArchitecture", "lambdaRuntime",
        "notificationEmail", "alarmEmail", "functionArchive", "layerArchive",
        "cdnCertificateArn", "cdnPriceClass", "renditionsBaseUrl", "uploadApiIssuer",
    }  # fmt: skip


def read_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """Pulumi.yaml defaults overlaid with Pulumi.<stack>.yaml values, as the CLI merges them.

    Keys are returned without the namespace. Raises ConfigError for a missing stack file.
    """
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    merged: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        name = key.split(":", 1)[1] if key.startswith(f"{PROJECT}:") else key
        if isinstance(decl, dict) and "default" in decl:
            merged[name] = decl["default"]
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise ConfigError("stack", f"no stack file {stack_file.name} in {project_dir}")
    stack_values = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for key, value in stack_values.items():
        if key.startswith(f"{PROJECT}:"):
            merged[key.split(":", 1)[1]] = value
    return merged


def load_stack_settings(stack: str, project_dir: Path = PROJECT_DIR) -> Settings:
    """Settings for a stack from its files, without the Pulumi CLI."""
    return settings_from_mapping(read_stack_config(stack, project_dir))
