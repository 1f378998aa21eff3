"""What every release stand-in shares: the contract's start checks, Cytomine's request signature and a small HTTP server."""
import base64
import email.parser
import email.policy
import hashlib
import hmac
import json
import os
import signal
import sys
import tempfile
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Context:
    def __init__(self, component, contract, env, root, wait):
        self.component = component
        self.contract = contract
        self.env = env
        self.root = root
        self.wait = wait

    def path(self, p):
        """A path of the contract (absolute, as in the container) under --root."""
        return os.path.join(self.root, p.lstrip("/")) if self.root not in ("", "/") else p

    def get(self, name, default=None):
        value = self.env.get(name)
        return value if value else default

    def env_item(self, name):
        return next(i for i in self.contract["env"] if i["name"] == name)

    def refuse(self, failure, name, source, detail=None):
        """Stops as the real image does: its message, then what the stand-in checked, then the exit code."""
        lines = [failure, f"stand-in: {self.component}: {name} ({source})"]
        if detail:
            lines.append(f"stand-in: {self.component}: {detail}")
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(self.contract["exitCode"])

    def refuse_env(self, name, detail=None):
        item = self.env_item(name)
        self.refuse(item.get("failure") or f"{name} is not set", name, item["source"], detail)


def log(message):
    print(message, flush=True)


def check_env(ctx):
    for item in ctx.contract["env"]:
        if item["required"] and not ctx.env.get(item["name"]):
            ctx.refuse(
                item.get("failure") or f"{item['name']} is not set",
                item["name"],
                item["source"],
                "required environment variable missing or empty",
            )


def check_writable(ctx):
    for item in ctx.contract["writable"]:
        where = ctx.path(item["path"])
        try:
            fd, probe = tempfile.mkstemp(dir=where, prefix=".stand-in-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            ctx.refuse(item["failure"], item["path"], item["source"], f"not writable for uid {os.getuid()}: {e}")


def check_files(ctx):
    for item in ctx.contract["files"]:
        if not os.path.exists(ctx.path(item["path"])):
            ctx.refuse(
                f"{item['path']}: No such file or directory",
                item["path"],
                item["source"],
                f"{item['why']} (from the {item['from']})",
            )


def cytomine_signature(private_key, method, content_type, date, md5=""):
    """Cytomine's request signature: base64(HMAC-SHA1(private key, METHOD\\nMD5\\nTYPE\\nDATE)), as core
    checks it (core/src/main/java/be/cytomine/config/security/ApiKeyFilter.java:70-124) and PIMS and the
    Python client make it (pims/pims/api/utils/cytomine_auth.py:21-46)."""
    token = f"{method}\n{md5}\n{content_type}\n{date}"
    return base64.b64encode(hmac.new(private_key.encode(), token.encode(), hashlib.sha1).digest()).decode()


def iso_instant(seconds):
    """java.time.Instant.toString() of whole or fractional seconds."""
    dt = datetime.fromtimestamp(seconds, timezone.utc)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += (".%06d" % dt.microsecond).rstrip("0")
    return text + "Z"


class Request:
    def __init__(self, handler, body):
        parts = urlsplit(handler.path)
        self.method = handler.command
        self.path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = handler.headers
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body or b"null")


class Response:
    def __init__(self, status, body=b"", content_type=None, headers=None):
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":"))
            content_type = content_type or "application/json"
        if isinstance(body, str):
            body = body.encode()
        self.body = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers["Content-Type"] = content_type


def multipart_parts(req):
    """The parts of a multipart/form-data body, as (name, filename or None, bytes); none for another type."""
    ctype = req.header("Content-Type") or ""
    if not ctype.startswith("multipart/form-data"):
        return []
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.body)
    return [
        (part.get_param("name", header="content-disposition"), part.get_filename(), part.get_payload(decode=True) or b"")
        for part in (msg.iter_parts() if msg.is_multipart() else [])
    ]


def json_response(status, value, headers=None):
    return Response(status, value, "application/json", headers)


def serve(ctx, port, app):
    """Serves APP (Request -> Response) on PORT, logging each request like an access log."""
    name = f"{ctx.component} stand-in"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"cytomine-standin/{ctx.component}"

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            t0 = time.monotonic()
            try:
                res = app(Request(self, body))
            except Exception as e:  # the real servers answer 500 on an unexpected error
                log(f"{name}: {type(e).__name__}: {e}")
                res = Response(500, {"message": f"{type(e).__name__}: {e}"})
            self.send_response(res.status)
            for k, v in res.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(res.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(res.body)
            log(
                f'{self.client_address[0]} "{self.command} {self.path}" {res.status} {len(res.body)} '
                f"{int((time.monotonic() - t0) * 1000)}ms"
            )

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

        def log_message(self, format, *args):  # the access line above replaces http.server's own
            pass

    # As PID 1 in a container, SIGTERM has no default action: stop on it as the real servers do.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    except OSError as e:
        ctx.refuse(f"cannot listen on 0.0.0.0:{port}: {e}", "port", ctx.contract["portSource"])
    server.daemon_threads = True
    log(f"{name}: listening on :{port} (contract of {ctx.contract['image']})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
