"""How the local stack serves HTTP: a WSGI application on werkzeug's threaded server (the
one moto's server runs) in a daemon thread. The moto server (imagepipe.local.serve), the
upload API (upload_api) and the CDN's stand-in (delivery) are each one of these."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass  # no line per request, like the rest of the local stack


class BackgroundServer:
    """`app` served on host:port (any free port for 0), each request in its own thread."""

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        handler: type[WSGIRequestHandler] = QuietHandler,
    ) -> None:
        self._server = make_server(host, port, app, threaded=True, request_handler=handler)
        self.url = f"http://{host}:{self._server.port}"
        threading.Thread(
            target=self._server.serve_forever, name="imagepipe-http", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop serving and close the socket (again: nothing)."""
        self._server.shutdown()
        self._server.server_close()
