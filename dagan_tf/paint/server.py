"""A static file server for the paint site, with the headers LiteRT.js needs.

- `Cross-Origin-Opener-Policy: same-origin` + `Cross-Origin-Embedder-Policy: require-corp` make the
  page cross-origin isolated, which browsers require for SharedArrayBuffer, i.e. WASM threads
  (without them the page still works, on one thread).
- `.wasm` as `application/wasm` (streaming compilation refuses anything else), `.js` as
  `text/javascript` (ES modules refuse other types), `.tflite` as `application/octet-stream`.
- `Cache-Control: no-cache`: a re-written site (new model) is never mixed with a cached old one.
- Only the files `write_site` wrote (its manifest) are served; anything else, folders included, is a
  404 (no directory listings).

Any static host that sends the same headers serves the site as well (README, "Mobile demo").
"""

from __future__ import annotations

import functools
import http.server
import os
import socket
import sys
import threading
import urllib.parse

__all__ = ["SITE_HEADERS", "SiteServer", "lan_address"]

#: Headers sent with every file.
SITE_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".tflite": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
}


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **_TYPES}

    def __init__(self, *args, allowed: frozenset = frozenset(), **kwargs):
        self.allowed = allowed
        super().__init__(*args, **kwargs)

    def send_head(self):
        relative = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/") or "index.html"
        if relative not in self.allowed:  # not a file the site wrote: folders, "..", anything else
            self.send_error(404, "not part of the paint site")
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "not part of the paint site")
        return None

    def end_headers(self):
        for key, value in SITE_HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, format, *args):  # quiet: one line per file would drown the URL banner
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a browser that drops a download it no longer needs is no error of ours
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class SiteServer:
    """Serves `site_dir` on `host:port` (port 0: a free one) from a daemon thread.

    `url` is the address to open; `stop()` shuts the server down. Usable as a context manager.
    """

    def __init__(self, site_dir, host: str = "127.0.0.1", port: int = 8000):
        from dagan_tf.paint.site import site_files

        allowed = frozenset(site_files(site_dir))
        handler = functools.partial(_SiteHandler, directory=os.fspath(site_dir), allowed=allowed)
        try:
            self.httpd = _QuietServer((host, port), handler)
        except OSError as e:
            raise ValueError(f"cannot serve on {host}:{port} ({e.strerror}); pick another --port or --host") from None
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="dagan-paint-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/"

    def lan_url(self) -> str | None:
        """`http://<this machine's LAN address>:port/` when the server listens on every interface, else None."""
        if self.host not in ("", "0.0.0.0"):
            return None
        address = lan_address()
        return f"http://{address}:{self.port}/" if address else None

    def wait(self) -> None:
        """Block until Ctrl-C (or `stop()` from another thread)."""
        try:
            self._thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def lan_address() -> str | None:
    """This machine's address on the local network (the interface a UDP socket would use), or None.

    A UDP `connect` sends nothing; it only asks the OS which interface routes there.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return None
