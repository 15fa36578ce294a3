#!/usr/bin/env python3
"""The demo's upstream: answers every request with the request as JSON (method, path, query,
headers, body). `?header=Name:Value` (repeatable) adds a response header, as the harness' echo
server does; `?status=N` sets the status. Usage: echo.py PORT"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        echoed = {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        out = json.dumps(echoed).encode()
        status, extra = 200, []
        for name, value in parse_qsl(url.query):
            if name == "status" and value.isdigit():
                status = int(value)
            elif name == "header" and ":" in value:
                extra.append(value.split(":", 1))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = answer

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
