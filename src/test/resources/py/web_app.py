# A small web app for the web-port tests, run in the python:3.11 image on the real node: it shows
# what reached it, echoes bodies, streams large responses and answers slowly when asked.
import hashlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.command, self.path))

    def send_bytes(self, status, body, content_type="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App", "web-app")
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/big":
            size = int(query["mib"][0]) * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = bytes(range(256)) * 256
            sent = 0
            while sent < size:
                self.wfile.write(block)
                sent += len(block)
            return
        if url.path == "/broken":
            # a chunked response the app gives up in the middle of: no last chunk, the connection closed
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"10\r\n0123456789abcdef\r\n")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if url.path == "/slow":
            time.sleep(float(query.get("s", ["30"])[0]))
            self.send_bytes(200, b"late\n", "text/plain")
            return
        seen = {"method": self.command, "path": url.path, "query": url.query,
                "headers": {k.lower(): v for k, v in self.headers.items()}}
        self.send_bytes(200, json.dumps(seen).encode(), "application/json")

    def do_POST(self):
        body = self.read_body()
        reply = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                 "content_type": self.headers.get("Content-Type"), "path": self.path}
        self.send_bytes(201, json.dumps(reply).encode(), "application/json")


# one server per port given (8000 by default), all alike
servers = [ThreadingHTTPServer(("0.0.0.0", int(port)), Handler) for port in (sys.argv[1:] or ["8000"])]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
