"""The local console's web application (WSGI), mounted at /console on the moto server.

Pages: static/index.html with console.js and console.css, served as they are. What they
show comes from JSON endpoints that answer exactly what the commands' `--json` prints,
made by the same functions from the same imagepipe.target.Target:

    GET  /console/api/stack                         imagepipe outputs --json
    GET  /console/api/executions?status=S&limit=N   imagepipe executions --json
    GET  /console/api/execution?id=ARN|NAME|KEY     imagepipe show --json
    GET  /console/api/graph.svg?id=ARN|NAME|KEY     the execution's state machine, drawn by
                                                    imagepipe.diagram, each state marked
    GET  /console/api/catalogue?status=S&limit=N    imagepipe catalogue --json
    GET  /console/api/dead-letters                  imagepipe redrive --dry-run --json
    POST /console/api/redrive                       imagepipe redrive --json

The page uploads as an app does, through the stack's upload API, which the server
mounts on the console's own origin (`uploadApi` in /console/api/stack, null without one):
a token from the local test issuer (`{uploadApi}/issuer/token`, the stand-in for the
identity provider an app's users sign in with), `POST {uploadApi}/uploads` for a
presigned POST, then the file to S3 with the fields it returned.

A POST must say `Content-Type: application/json`: a page on another origin cannot send
that without a CORS preflight, which nothing here answers, so other sites open in the
same browser cannot make the console redrive. Each request runs in the server's own
thread, and reads the stack over HTTP like any client: the Lambda handlers and state
machine threads are never waited on.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from imagepipe.errors import ExitCode, OpsError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from imagepipe.executions import Step
    from imagepipe.target import Target

LOG: Final = logging.getLogger(__name__)
PREFIX: Final = "/console"
STATIC: Final = Path(__file__).resolve().parent / "static"
# What static/ holds (the graph's SVG is drawn by api/graph.svg, not a file).
TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
HTTP_STATUS: Final = {
    ExitCode.ITEM_FAILED: 404,
    ExitCode.USAGE: 400,
    ExitCode.NO_STACK: 503,
    ExitCode.AWS_ERROR: 502,
}
# The pages, and the JSON endpoints under api/ (endpoint: the Console method answering).
URLS: Final = Map(
    [
        Rule("/", endpoint="static", defaults={"name": "index.html"}, methods=["GET"]),
        Rule("/<name>", endpoint="static", methods=["GET"]),
        Rule("/api/stack", endpoint="stack", methods=["GET"]),
        Rule("/api/executions", endpoint="executions", methods=["GET"]),
        Rule("/api/execution", endpoint="execution", methods=["GET"]),
        Rule("/api/graph.svg", endpoint="graph", methods=["GET"]),
        Rule("/api/catalogue", endpoint="catalogue", methods=["GET"]),
        Rule("/api/dead-letters", endpoint="dead_letters", methods=["GET"]),
        Rule("/api/redrive", endpoint="redrive", methods=["POST"]),
    ]
)
# How a state's mark outranks another when a state ran more than once (Map iterations).
_RANK: Final = {"succeeded": 1, "running": 2, "caught": 3, "failed": 4}


class ApiError(Exception):
    """A request the console answers with a 4xx and a reason."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def state_marks(steps: Iterable[Step], status: str) -> dict[str, str]:
    """State name -> what happened to it in one execution: succeeded, running, caught (it
    failed and a Catch took over: a later state ran outside it) or failed; a state that
    ran several times (a Map's iterations) gets its worst. States not in the map were
    not reached."""
    ran = list(steps)
    marks: dict[str, str] = {}
    for index, step in enumerate(ran):
        if step.type == "Fail":
            mark = "failed"
        elif step.error:
            later = ran[index + 1 :]
            handled = any(s.depth < step.depth or s.depth == step.depth == 0 for s in later)
            mark = "caught" if handled else "failed"
        elif step.exited is None:
            mark = "running" if status == "RUNNING" else "failed"
        else:
            mark = "succeeded"
        if _RANK[mark] > _RANK.get(marks.get(step.name, ""), 0):
            marks[step.name] = mark
    return marks


def _json_response(document: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(document, default=str),
        status=status,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _refused(request: Request, err: HTTPException) -> Response:
    """No such page or endpoint, or not by that method: JSON under api/, else text."""
    if not request.path.startswith("/api/"):
        return Response(f"{err.name.lower()}\n", status=err.code, mimetype="text/plain")
    method = "GET" if request.method == "HEAD" else request.method
    error = "method_not_allowed" if err.code == 405 else "not_found"
    message = f"{method} {request.path.removeprefix('/api/')}"
    return _json_response({"error": error, "message": message}, err.code or 500)


def _limit(request: Request, default: int) -> int:
    text = request.args.get("limit", str(default))
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise ApiError(400, "bad_limit", f"limit must be a number from 1 to 1000, not {text!r}")
    return int(text)


def _status(request: Request, allowed: Iterable[str]) -> str | None:
    """The status asked for, spelt as `allowed` spells it (in any case)."""
    text = request.args.get("status", "").strip()
    if not text:
        return None
    value = {a.lower(): a for a in allowed}.get(text.lower())
    if value is None:
        choices = ", ".join(allowed)
        raise ApiError(400, "bad_status", f"status must be one of {choices}, not {text!r}")
    return value


def _body(request: Request) -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiError(415, "json_only", "POST a JSON body with Content-Type: application/json")
    try:
        document = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        raise ApiError(400, "bad_json", "the body is not JSON") from None
    if not isinstance(document, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return document


@dataclass
class Console:
    """The console for one stack; set `target` (and `upload_api`) once it is deployed (the
    server starts before the stack exists, so until then the API answers 503)."""

    target: Target | None = None
    upload_api: str | None = None  # the upload API's URL on this origin, if the stack has one
    _redrive_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)  # mounted at PREFIX: request.path is relative to it
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
        except RequestRedirect as redirect:  # /console to /console/
            response: Response = redirect.get_response()
        except HTTPException as err:
            response = _refused(request, err)
        else:
            response = self.static(**args) if endpoint == "static" else self.api(request, endpoint)
        return response(environ, start_response)

    def static(self, name: str) -> Response:
        """A file of static/ (by its plain name: no folders, nothing else)."""
        path = STATIC / name  # `name` has no "/" (the route's default converter)
        if not path.is_file() or path.suffix not in TYPES:
            return Response("not found\n", status=404, mimetype="text/plain")
        response = Response(path.read_bytes(), content_type=TYPES[path.suffix])
        response.headers.update(self._page_headers())
        return response

    def _page_headers(self) -> dict[str, str]:
        """The console's pages load only their own files and the renditions."""
        images = ["'self'", "data:", "blob:"]
        base = str((self.target.outputs if self.target else {}).get("renditionsBaseUrl") or "")
        if base.startswith("http"):
            parts = urlsplit(base)
            images.append(f"{parts.scheme}://{parts.netloc}")
        return {
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": (
                "default-src 'self'; img-src " + " ".join(images) + "; "
                "style-src 'self'; script-src 'self'; connect-src 'self'; "
                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
        }

    # -- the JSON API --------------------------------------------------------------

    def api(self, request: Request, endpoint: str) -> Response:
        """The endpoint's answer, or its failure as JSON: a reason, never a traceback."""
        from imagepipe.target import translate

        route: Callable[[Target, Request], Response] = getattr(self, endpoint)
        target = self.target
        if target is None:
            return _json_response({"error": "starting", "message": "the stack is deploying"}, 503)
        try:
            return route(target, request)
        except ApiError as err:
            return _json_response({"error": err.error, "message": err.message}, err.status)
        except Exception as err:
            failure = err if isinstance(err, OpsError) else translate(err, target)
            if failure is None:
                LOG.exception("console: %s %s", request.method, request.path)
                message = f"{type(err).__name__}: {err}"
                return _json_response({"error": "internal", "message": message}, 500)
            # An OpsError says what went wrong (500 unless known); an AWS error's is 502.
            status = HTTP_STATUS.get(failure.code, 500 if failure is err else 502)
            document = {"error": failure.code.name.lower(), "message": failure.message}
            return _json_response(document, status)

    def stack(self, target: Target, request: Request) -> Response:
        from imagepipe.commands.outputs import Outputs

        document = Outputs(target).to_dict()
        document["uploadApi"] = self.upload_api  # None: the stack has no upload API
        return _json_response(document)

    def executions(self, target: Target, request: Request) -> Response:
        from imagepipe.commands.executions import listing
        from imagepipe.executions import STATUSES

        status = _status(request, STATUSES)
        return _json_response(listing(target, status, _limit(request, 25)).to_dict())

    def _resolve(self, target: Target, request: Request) -> Any:
        from imagepipe.commands.show import resolve

        what = request.args.get("id", "").strip()
        if not what:
            raise ApiError(400, "missing_id", "say which execution: ?id=ARN, name or key")
        return resolve(target, what, 500)

    def execution(self, target: Target, request: Request) -> Response:
        from imagepipe.commands.show import shown

        return _json_response(shown(target, self._resolve(target, request)).to_dict())

    def graph(self, target: Target, request: Request) -> Response:
        """The state machine that ran the execution, as deployed, each state marked."""
        from imagepipe.diagram import render
        from imagepipe.executions import history, timeline

        info = self._resolve(target, request)
        machine = target.client("stepfunctions").describe_state_machine_for_execution(
            executionArn=info.arn
        )
        marks = state_marks(timeline(history(target, info.arn), info), info.status)
        svg = render(json.loads(machine["definition"]), str(machine["name"]), marks)
        return Response(svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    def catalogue(self, target: Target, request: Request) -> Response:
        from imagepipe.catalogue import STATUSES as RECORD_STATUSES
        from imagepipe.commands.catalogue import listing

        status = _status(request, RECORD_STATUSES)
        return _json_response(listing(target, status, _limit(request, 100)).to_dict())

    def dead_letters(self, target: Target, request: Request) -> Response:
        """What `redrive --dry-run` says of each message: nothing is restarted or
        deleted, and every message is visible again when it returns."""
        return self._redrive(target, dry_run=True, most=None, rejected=False)

    def redrive(self, target: Target, request: Request) -> Response:
        body = _body(request)
        most = body.get("max")
        if most is not None and (not isinstance(most, int) or isinstance(most, bool) or most < 1):
            raise ApiError(400, "bad_max", "max must be a positive whole number")
        rejected = body.get("includeRejected") is True
        return self._redrive(target, dry_run=False, most=most, rejected=rejected)

    def _redrive(self, target: Target, dry_run: bool, most: int | None, rejected: bool) -> Response:
        """`imagepipe redrive [--dry-run] [--max MOST] [--include-rejected]`."""
        from imagepipe.commands.redrive import redriven

        # One at a time: a dry run receives (hides) the messages while it reads them.
        with self._redrive_lock:
            report = redriven(target, dry_run=dry_run, most=most, rejected=rejected)
        return _json_response(report.to_dict())
