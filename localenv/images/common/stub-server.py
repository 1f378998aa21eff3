#!/usr/bin/env python3
"""Stand-in for a service whose real image cannot be pulled here (no container registry).

It answers on the real service's port and paths just enough for a deployment to be checked end to
end (health checks, reverse-proxy routes), and logs every request to stdout like a real server.
It implements none of the service's behaviour.

  stub-server.py http --port 8080 --name NAME [--json PATH=BODY]... [--prefix PREFIX]...
                 [--html PATH=FILE]... [--html-fallback FILE]
  stub-server.py tcp --port 27017 --name NAME
"""
import argparse
import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(message):
    print(message, flush=True)


def serve_http(args):
    exact = {}
    for item in args.json:
        path, body = item.split("=", 1)
        exact[path] = ("application/json", json.dumps(json.loads(body), separators=(",", ":")).encode())
    for item in args.html:
        path, file = item.split("=", 1)
        with open(file, "rb") as f:
            exact[path] = ("text/html; charset=utf-8", f.read())
    fallback = None
    if args.html_fallback:
        with open(args.html_fallback, "rb") as f:
            fallback = ("text/html; charset=utf-8", f.read())

    class Handler(BaseHTTPRequestHandler):
        server_version = f"stub/{args.name}"

        def answer(self):
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if path in exact:
                kind, body = exact[path]
            elif any(path.startswith(p) for p in args.prefix):
                kind = "application/json"
                body = json.dumps({"stub": args.name, "method": self.command, "path": path}).encode()
            elif fallback and self.command in ("GET", "HEAD"):
                kind, body = fallback
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = answer

        def log_message(self, fmt, *a):
            log(f"{self.address_string()} {args.name} {fmt % a}")

    server = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    log(f"{args.name}: stand-in HTTP server on port {args.port}")
    server.serve_forever()


def serve_tcp(args):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            log(f"{self.client_address[0]} {args.name} connection opened")
            # Accepts and discards whatever the client sends until it hangs up.
            while self.request.recv(65536):
                pass
            log(f"{self.client_address[0]} {args.name} connection closed")

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    server = Server(("0.0.0.0", args.port), Handler)
    log(f"{args.name}: stand-in TCP listener on port {args.port}")
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["http", "tcp"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--json", action="append", default=[], help="PATH=BODY: exact path, JSON body")
    parser.add_argument("--prefix", action="append", default=[], help="paths under PREFIX answer 200 JSON")
    parser.add_argument("--html", action="append", default=[], help="PATH=FILE: exact path, HTML file")
    parser.add_argument("--html-fallback", help="HTML file for any other GET")
    args = parser.parse_args()
    threading.current_thread().name = args.name
    (serve_http if args.mode == "http" else serve_tcp)(args)


if __name__ == "__main__":
    sys.exit(main())
