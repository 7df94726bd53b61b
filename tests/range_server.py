"""A local HTTP file server with byte-range support (as GDAL's /vsicurl/ needs), for fetch tests.

It binds to 127.0.0.1 only, on a free port, serves one folder, and records every request
(path and bytes sent), so a test can check what was downloaded. No test reaches the internet.
"""

from __future__ import annotations

import re
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeHandler(BaseHTTPRequestHandler):
    def __init__(self, *args, root: Path, log: list, **kwargs):
        self.root, self.log = root, log
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:  # quiet
        pass

    def _file(self) -> Path | None:
        path = (self.root / self.path.split("?")[0].lstrip("/")).resolve()
        return path if path.is_file() and self.root in path.parents else None

    def do_HEAD(self) -> None:
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.log.append((self.path, 0))

    def do_GET(self) -> None:
        path = self._file()
        if path is None:
            self.send_error(404)
            self.log.append((self.path, 0))
            return
        data = path.read_bytes()
        size = len(data)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1)) if match.group(1) else max(size - int(match.group(2)), 0)
            end = int(match.group(2)) if match.group(1) and match.group(2) else size - 1
            end = min(end, size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            body = data[start : end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)
        self.log.append((self.path, len(body)))


class RangeServer:
    """`with RangeServer(folder) as srv:` serves `folder` at `srv.url` (http://127.0.0.1:PORT/)."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.log: list[tuple[str, int]] = []
        handler = partial(RangeHandler, root=self.root, log=self.log)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def bytes_sent(self, name: str | None = None) -> int:
        return sum(n for p, n in self.log if name is None or p.endswith(name))
