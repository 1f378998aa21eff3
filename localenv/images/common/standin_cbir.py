"""cbir (content-based image retrieval) as far as the contract and core's calls go.

Real: settings from the environment (cbir/cbir/config.py:10-26: API_BASE_PATH, DATA_PATH /data, HOST,
PORT, DB, EXTRACTOR, WEIGHTS). The lifespan loads the extractor (cbir/cbir/app.py:15-27): resnet, with
WEIGHTS when that file exists (else untrained!), or hoptim, downloaded from the Hugging Face hub; any
other name raises "Model <name> not found." (cbir/cbir/models/utils.py:15-41); a lifespan error makes
uvicorn exit 3. GET /health answers {"status": "ok"} (app.py:45-48). Storages are folders under
DATA_PATH (cbir/cbir/api/storages.py:15-136); an image's label lives in Redis under
"<storage>:<index>:<filename>" (cbir/cbir/retrieval/store.py:28,40), read before indexing (409) and
removing (404) (cbir/cbir/api/images.py:49-50,98-99). Core creates and deletes storages, indexes and
removes annotation crops and searches (core/.../service/search/RetrievalService.java:51-200).
Stand-in: stricter at start than the real image -- only resnet, the WEIGHTS file must be there and
non-empty, and Redis must answer PING now (redis-py would connect at the first image request; the
stand-in makes a wrong HOST or PORT visible at start). No features: a request that gets past every
check upstream makes before computing them answers 500 and says why.
"""
import os
import shutil
import socket
import time
from urllib.parse import unquote

import standin_fastapi as fa
from standin_common import json_response, log


class RedisError(Exception):
    pass


class Redis:
    """A RESP client for the three commands the routes need (GET, SELECT, PING)."""

    def __init__(self, host, port, db, timeout=5.0):
        self.host, self.port, self.db, self.timeout = host, port, db, timeout

    def command(self, *args):
        wire = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
        )
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as s:
            if self.db:
                s.sendall(b"*2\r\n$6\r\nSELECT\r\n" + f"${len(str(self.db))}\r\n{self.db}\r\n".encode())
                self._reply(s.makefile("rb"))
            s.sendall(wire)
            return self._reply(s.makefile("rb"))

    @staticmethod
    def _reply(f):
        line = f.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("Connection closed by server.")
        kind, rest = line[:1], line[1:-2].decode()
        if kind == b"-":
            raise RedisError(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:-2]
        return rest  # + and : replies


def connection_error(host, port, e):
    """redis-py's ConnectionError text (redis/connection.py: _error_message)."""
    if isinstance(e, OSError) and e.errno:
        return f"redis.exceptions.ConnectionError: Error {e.errno} connecting to {host}:{port}. {e.strerror}."
    if isinstance(e, TimeoutError):
        return "redis.exceptions.TimeoutError: Timeout connecting to server"
    return f"redis.exceptions.ConnectionError: Error connecting to {host}:{port}. {e}."


def check_redis(ctx, redis):
    """PING until ctx.wait runs out (the stack may start Redis at the same time)."""
    deadline = time.monotonic() + ctx.wait
    while True:
        try:
            if redis.command("PING") == "PONG":
                return
            error = "redis.exceptions.ResponseError: unexpected answer to PING"
        except RedisError as e:
            # NOAUTH, a wrong DB index: Redis answered, waiting changes nothing.
            error = f"redis.exceptions.ResponseError: {e}"
            deadline = 0
        except OSError as e:
            error = connection_error(redis.host, redis.port, e)
        if time.monotonic() >= deadline:
            ctx.refuse(error, "HOST", ctx.env_item("HOST")["source"], f"PING to {redis.host}:{redis.port} db {redis.db} (after up to {ctx.wait:g} s)")
        time.sleep(0.5)


def start(ctx):
    extractor = ctx.get("EXTRACTOR", "resnet")
    if extractor != "resnet":
        item = ctx.env_item("EXTRACTOR")
        # An unknown name is upstream's ValueError; hoptim would start, downloading from the hub.
        failure = (
            f"ValueError: Model {extractor} not found."
            if extractor != "hoptim"
            else f'EXTRACTOR="{extractor}": only resnet runs from mounted weights (hoptim downloads H-optimus-0 from the Hugging Face hub at start)'
        )
        ctx.refuse(failure, "EXTRACTOR", item["source"], "set EXTRACTOR=resnet and mount its weights at WEIGHTS")
    weights = ctx.get("WEIGHTS", "/app/weights/resnet")
    if not os.path.isfile(ctx.path(weights)) or os.path.getsize(ctx.path(weights)) == 0:
        ctx.refuse_env("WEIGHTS", f"{weights}: no such file, or empty: mount the operator's resnet weights there")
    redis = Redis(ctx.get("HOST", "localhost"), int(ctx.get("PORT", "6379")), int(ctx.get("DB", "0")))
    check_redis(ctx, redis)
    log(f"cbir stand-in: Redis at {redis.host}:{redis.port} db {redis.db} answers; weights {weights}")
    prefix = ctx.get("API_BASE_PATH", "/api").rstrip("/")
    data = ctx.path(ctx.get("DATA_PATH", "/data"))

    def storages(req, name):
        if name is None and req.method == "GET":
            if not os.path.isdir(data):
                return fa.detail(404, "Base path not found or is not a directory")
            return json_response(200, sorted(e.name for e in os.scandir(data) if e.is_dir()))
        if name is None and req.method == "POST":
            body, err = fa.json_body(req)
            if err is None and not isinstance(body, dict):
                err = {"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": body}
            elif err is None and "name" not in body:
                err = fa.missing("body", "name") | {"input": body}
            elif err is None and not isinstance(body["name"], str):
                err = {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string", "input": body["name"]}
            if err:
                return fa.unprocessable([err])
            path = os.path.join(data, body["name"])
            if os.path.exists(path):
                return fa.detail(409, f"Storage with name '{body['name']}' already exists.")
            try:
                os.mkdir(path)
            except OSError as e:
                return fa.detail(500, f"Failed to create storage: {e}")
            return json_response(200, {"message": f"Created storage with name: {body['name']}"})
        if name is not None and req.method in ("GET", "DELETE"):
            path = os.path.join(data, name)
            if not os.path.isdir(path):
                return fa.detail(404, f"Storage with name '{name}' not found.")
            if req.method == "GET":
                return json_response(200, {"name": name})
            try:
                shutil.rmtree(path)
            except OSError as e:
                return fa.detail(500, f"Failed to delete storage: {e}")
            return json_response(200, {"message": f"Deleted storage with name: {name}"})
        return json_response(405, fa.METHOD_NOT_ALLOWED)

    def no_features(what):
        log(f"cbir stand-in: {what}: no feature extractor in the stand-in (torch is not installed): 500")
        return json_response(500, {"detail": f"stand-in: {what} needs the resnet features, which the stand-in cannot compute"})

    def images(req, filename):
        index = req.query.get("index", "index")
        storage = req.query.get("storage")
        errors = [] if storage is not None else [fa.missing("query", "storage")]
        if filename is None:  # POST /images (images.py:22-75)
            image, err = fa.file_field(fa.form(req), "image")
            errors = ([err] if err else []) + errors
            if errors:
                return fa.unprocessable(errors)
            if redis.command("GET", f"{storage}:{index}:{image.filename}") is not None:
                return fa.detail(409, "Image filename already exist!")
            if not storage:
                return fa.detail(404, "Storage is required")
            if not os.path.isdir(os.path.join(data, storage)):
                return fa.detail(404, f"Storage '{storage}' not found.")
            return no_features("indexing an image")
        if errors:  # DELETE /images/{filename} (images.py:78-109)
            return fa.unprocessable(errors)
        if redis.command("GET", f"{storage}:{index}:{filename}") is None:
            return fa.detail(404, f"{filename} not found")
        return no_features("removing an image from the index")

    def search(req):  # POST /search (searches.py:19-63)
        image, err = fa.file_field(fa.form(req), "image")
        errors = [err] if err else []
        if "nrt_neigh" not in req.query:
            errors.append(fa.missing("query", "nrt_neigh"))
        else:
            _, err = fa.int_field("query", "nrt_neigh", req.query["nrt_neigh"])
            errors += [err] if err else []
        if "storage" not in req.query:
            errors.append(fa.missing("query", "storage"))
        if errors:
            return fa.unprocessable(errors)
        return no_features("searching similar images")

    def handle(req):
        path, method = req.path, req.method
        if path == "/health":
            return json_response(200, {"status": "ok"}) if method == "GET" else json_response(405, fa.METHOD_NOT_ALLOWED)
        if path.startswith(prefix + "/"):
            parts = unquote(path)[len(prefix) + 1 :].split("/")  # starlette routes the decoded path
            try:
                if parts == ["storages"] or len(parts) == 2 and parts[0] == "storages":
                    return storages(req, parts[1] if len(parts) == 2 else None)
                if parts == ["images"] and method == "POST" or len(parts) == 2 and parts[0] == "images" and method == "DELETE":
                    return images(req, parts[1] if len(parts) == 2 else None)
                if parts == ["search"] and method == "POST":
                    return search(req)
                if parts in (["images"], ["search"]) or len(parts) == 2 and parts[0] == "images":
                    return json_response(405, fa.METHOD_NOT_ALLOWED)
            except (OSError, RedisError) as e:  # redis-py's errors are unhandled upstream: a 500
                log(f"cbir stand-in: {connection_error(redis.host, redis.port, e) if isinstance(e, OSError) else e}")
                return fa.server_error()
        return json_response(404, fa.NOT_FOUND)

    return handle
