"""PIMS of the pinned release (pims/ of cytomine/cytomine): its start checks and its HTTP API.

Start, as the real image fails (cites are paths of cytomine/cytomine at the pinned commit):
  - LOG_CONFIG_FILE must name a file that exists: gunicorn reads it as its logging config and exits
    when it is missing (pims/docker/gunicorn_conf.py:10-20; the image has only /app/logging.yml,
    pims/Dockerfile:81);
  - API_BASE_PATH must start with '/' and not end with one (FastAPI's router prefix assertion,
    pims/pims/api/server.py:7);
  - with the cache on (CACHE_ENABLED, default true), Redis at CACHE_URL must answer PING within 10 s
    (pims/pims/application.py:77-93; pims/pims/cache/redis.py:131).

API under API_BASE_PATH:
  GET  /ping, /info, /disk-usage                 (pims/pims/api/server.py:15-25, housekeeping.py:63-117)
  POST /import?storage_id=<int>                  (pims/pims/api/operations.py:58-93)
The import answers at once with {"status": "running", "path", "content"} and runs in the background,
as upstream's does (dataset.py): MeiliSearch's index settings first (an unreachable MeiliSearch or a
wrong key ends the task), then PIMS signs in to core with its own keys, fetches the caller's private
key from core (`userkey/{pub}/keys.json`) and checks the caller's signature, checks the storage, and
imports each bucket of DATASET_PATH: METADATA/dataset.xml's DATASET alias names the project,
IMAGE_REF aliases name images under IMAGES/, linked into ROOT/upload-<uuid>/ through WRITING_PATH
(an image already linked under ROOT is skipped: image.py:44-50,100-111), and the annotations of the
children's METADATA/annotation.xml are created again on every run (annotation.py:80-86: upstream
does not deduplicate them). What it would create in core (projects, images, annotations) is recorded
in ROOT/.stand-in-imports.json instead: the stand-in core keeps no image model. Failures after
"running" are only logged, as upstream's.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import threading
import uuid
import xml.etree.ElementTree as ET
from email.utils import formatdate
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request as UrlRequest, urlopen

from standin_common import json_response, log

INDEX = "imageMetadataIndex"
FORMATS = [("OPENSLIDE_SVS", "Aperio SVS"), ("WSIDICOM", "WSI DICOM"), ("CZI", "Zeiss CZI")]
RECORD = ".stand-in-imports.json"


def _truthy(value, default=True):
    if value is None or value == "":
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on", "t", "y"):
        return True
    if v in ("0", "false", "no", "off", "f", "n"):
        return False
    raise ValueError(value)


def check_start(ctx):
    log_file = ctx.get("LOG_CONFIG_FILE")
    if not os.path.isfile(ctx.path(log_file)):
        ctx.refuse(
            "Failed to read config file: /app/gunicorn_conf.py\n"
            f"FileNotFoundError: [Errno 2] No such file or directory: '{log_file}'",
            "LOG_CONFIG_FILE",
            ctx.env_item("LOG_CONFIG_FILE")["source"],
        )
    base = ctx.get("API_BASE_PATH")
    if not base.startswith("/") or base.endswith("/"):
        message = (
            "AssertionError: A path prefix must start with '/'"
            if not base.startswith("/")
            else "AssertionError: A path prefix must not end with '/', as the routes will start with '/'"
        )
        ctx.refuse(message, "API_BASE_PATH", ctx.env_item("API_BASE_PATH")["source"])
    try:
        cache = _truthy(ctx.get("CACHE_ENABLED"))
    except ValueError:
        ctx.refuse(
            "1 validation error for Settings\ncache_enabled\n  Input should be a valid boolean, unable to interpret input [type=bool_parsing]",
            "CACHE_ENABLED",
            ctx.env_item("CACHE_ENABLED")["source"],
        )
    if cache:
        url = ctx.get("CACHE_URL")
        parts = urlsplit(url)
        try:
            with socket.create_connection((parts.hostname, parts.port or 6379), timeout=10) as s:
                s.sendall(b"PING\r\n")
                s.settimeout(10)
                if not s.recv(64).startswith(b"+PONG"):
                    raise OSError("no PONG")
        except (OSError, TypeError) as e:
            ctx.refuse(
                f'Impossible to connect to cache "{url}" while cache is enabled by configuration.',
                "CACHE_URL",
                ctx.env_item("CACHE_URL")["source"],
                str(e),
            )


def signature(private_key, method, content_type, date, md5=""):
    """Cytomine's request signature: base64(HMAC-SHA1(private key, METHOD\\nMD5\\nTYPE\\nDATE)) (cytomine_auth.py:21-46)."""
    token = f"{method}\n{md5}\n{content_type}\n{date}"
    return base64.b64encode(hmac.new(private_key.encode(), token.encode(), hashlib.sha1).digest()).decode()


class Core:
    """Calls to core signed with a key pair, as the Python client does."""

    def __init__(self, base, public_key, private_key):
        self.base = base.rstrip("/")
        self.public_key = public_key
        self.private_key = private_key

    def get(self, path):
        date = formatdate(usegmt=True)
        content_type = "application/json"
        sig = signature(self.private_key, "GET", content_type, date)
        req = UrlRequest(
            f"{self.base}/api/{path}",
            headers={
                "Date": date,
                "Content-Type": content_type,
                "Accept": "application/json",
                "Authorization": f"CYTOMINE {self.public_key}:{sig}",
            },
        )
        with urlopen(req, timeout=30) as res:
            return json.loads(res.read() or b"null")


def meili_settings(ctx):
    """Index settings before anything else (dataset.py:106-108,377-435): raises on any failure."""
    url = f"{ctx.get('MEILISEARCH_URL').rstrip('/')}/indexes/{INDEX}/settings"
    body = json.dumps({"filterableAttributes": ["image_id", "project_id"], "searchableAttributes": ["*"]}).encode()
    req = UrlRequest(
        url,
        data=body,
        method="PATCH",
        headers={"Authorization": f"Bearer {ctx.get('MEILISEARCH_KEY')}", "Content-Type": "application/json"},
    )
    try:
        with urlopen(req, timeout=30) as res:
            return json.loads(res.read() or b"null")
    except HTTPError as e:
        raise RuntimeError(f"MeilisearchApiError. Error code: {e.code}. {e.read().decode(errors='replace')}") from e
    except URLError as e:
        raise RuntimeError(f"MeilisearchCommunicationError, {e.reason}") from e


def _aliases(root, tag):
    return [el.get("alias") for el in root.iter(tag) if el.get("alias")]


def _already_imported(root_dir, image_path):
    """Any ROOT/*/* symbolic link resolving to the image (image.py:100-111)."""
    target = os.path.realpath(image_path)
    for upload in os.listdir(root_dir):
        d = os.path.join(root_dir, upload)
        if not os.path.isdir(d) or os.path.islink(d):
            continue
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if os.path.islink(p) and os.path.realpath(p) == target:
                return True
    return False


def _annotations(bucket_dir, child):
    """GeoJSON features of a child dataset's annotations (dataset.py:163-174; annotation.py:37-98)."""
    meta = os.path.join(bucket_dir, child, "METADATA", "annotation.xml")
    if not os.path.isfile(meta):
        return []
    features = []
    for el in ET.parse(meta).getroot().iter():
        filename = el.get("filename") or (el.text or "").strip()
        if not filename.endswith((".geojson", ".json")):
            continue
        path = os.path.join(bucket_dir, child, filename)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            features += doc.get("features", []) if isinstance(doc, dict) else []
    return features


class Importer:
    def __init__(self, ctx):
        self.ctx = ctx
        self.lock = threading.Lock()
        self.root = ctx.path(ctx.get("ROOT"))
        self.writing = ctx.path(ctx.get("WRITING_PATH"))
        self.record_path = os.path.join(self.root, RECORD)

    def record(self, entry):
        with self.lock:
            try:
                with open(self.record_path, encoding="utf-8") as f:
                    runs = json.load(f)
            except FileNotFoundError:
                runs = []
            runs.append(entry)
            tmp = f"{self.record_path}.new"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(runs, f, indent=2)
            os.replace(tmp, self.record_path)

    def run(self, storage_id, caller_public, caller_signature, request_headers, dataset_path):
        ctx = self.ctx
        try:
            meili_settings(ctx)
            own = Core(ctx.get("INTERNAL_URL_CORE"), ctx.get("CYTOMINE_PUBLIC_KEY"), ctx.get("CYTOMINE_PRIVATE_KEY"))
            try:
                own.get("user/current.json")
            except (HTTPError, URLError) as e:
                raise RuntimeError(f"PIMS authentication to Cytomine failed. ({e})") from e
            keys = own.get(f"userkey/{caller_public}/keys.json")
            expected = signature(
                keys["privateKey"],
                "POST",
                request_headers.get("content-type-full") or request_headers.get("Content-Type") or "",
                request_headers.get("dateFull") or request_headers.get("date") or "",
                request_headers.get("content-MD5") or "",
            )
            if not hmac.compare_digest(expected, caller_signature):
                raise RuntimeError("Authentication to Cytomine failed")
            caller = Core(ctx.get("INTERNAL_URL_CORE"), caller_public, keys["privateKey"])
            storages = caller.get("storage.json").get("collection", [])
            if not any(s.get("id") == storage_id for s in storages):
                raise RuntimeError(f"Storage {storage_id} not found")
            for bucket in sorted(os.listdir(dataset_path)):
                self.bucket(os.path.join(dataset_path, bucket), storage_id)
        except Exception as e:  # upstream logs and drops the task's failures (dataset.py:203-205)
            log(f"pims stand-in: import failed: {e}")
            self.record({"storage": storage_id, "error": str(e)})

    def bucket(self, bucket_dir, storage_id):
        meta = os.path.join(bucket_dir, "METADATA", "dataset.xml")
        if not os.path.isfile(meta):
            log(f"pims stand-in: {bucket_dir}: no METADATA/dataset.xml, skipped")
            return
        root = ET.parse(meta).getroot()
        datasets = _aliases(root, "DATASET")
        if not datasets:
            log(f"pims stand-in: {meta}: no DATASET alias, skipped")
            return
        results = []
        for alias in _aliases(root, "IMAGE_REF"):
            image = os.path.join(bucket_dir, "IMAGES", alias)
            if not os.path.exists(image):
                results.append({"image": alias, "status": "Image does not exist"})
            elif _already_imported(self.root, image):
                results.append({"image": alias, "status": "Already imported"})
            else:
                os.makedirs(self.writing, exist_ok=True)
                pending = os.path.join(self.writing, alias)
                os.symlink(image, pending)
                upload = os.path.join(self.root, f"upload-{uuid.uuid4()}")
                os.makedirs(upload)
                shutil.move(pending, os.path.join(upload, alias))
                results.append({"image": alias, "status": "imported"})
        children = _aliases(root, "COMPLEMENTS_DATASET_REF")
        annotations = sum(len(_annotations(bucket_dir, c)) for c in [*children, *datasets])
        self.record(
            {
                "storage": storage_id,
                "bucket": os.path.basename(bucket_dir),
                "project": datasets[0],
                "images": results,
                "annotations": annotations,
            }
        )


def start(ctx):
    check_start(ctx)
    base = ctx.get("API_BASE_PATH")
    importer = Importer(ctx)
    settings = {
        "root": ctx.get("ROOT"),
        "dataset_path": ctx.get("DATASET_PATH", "/dataset"),
        "writing_path": ctx.get("WRITING_PATH"),
        "internal_url_core": ctx.get("INTERNAL_URL_CORE"),
        "cache_enabled": ctx.get("CACHE_ENABLED", "true"),
        "meilisearch_url": ctx.get("MEILISEARCH_URL"),
    }

    def app(req):
        if not req.path.startswith(f"{base}/"):
            return json_response(404, {"detail": "Not Found"})
        path = req.path[len(base) :]
        if path == "/ping" and req.method == "GET":
            return json_response(200, {"ping": "pong"})
        if path == "/formats" and req.method == "GET":
            # The formats of the plugins the image enables (pims/scripts/plugin-list.csv:2-4), as
            # pims/pims/api/formats.py lists them: a collection of {id, name}.
            items = [{"id": i, "name": n} for i, n in FORMATS]
            return json_response(200, {"items": items, "size": len(items)})
        if path == "/info" and req.method == "GET":
            return json_response(200, {"version": "1.4.0", "settings": settings})
        if path == "/disk-usage" and req.method == "GET":
            usage = shutil.disk_usage(ctx.path(ctx.get("ROOT")))
            return json_response(
                200,
                {"used": usage.used, "available": usage.free, "usage": usage.used / usage.total, "size": usage.total},
            )
        if path == "/import" and req.method == "POST":
            storage = req.query.get("storage_id")
            if storage is None or not storage.lstrip("-").isdigit():
                return json_response(
                    422,
                    {"detail": [{"loc": ["query", "storage_id"], "msg": "field required", "type": "value_error.missing"}]},
                )
            os.makedirs(ctx.path(ctx.get("WRITING_PATH")), exist_ok=True)
            authorization = req.header("Authorization") or ""
            if not authorization.startswith("CYTOMINE ") or ":" not in authorization:
                return json_response(401, {"title": "Auth failed", "details": None})
            public, _, sig = authorization[len("CYTOMINE ") :].partition(":")
            dataset_path = ctx.path(ctx.get("DATASET_PATH", "/dataset"))
            content = sorted(os.listdir(dataset_path))
            headers = {k: req.header(k) for k in ("content-type-full", "Content-Type", "dateFull", "date", "content-MD5")}
            threading.Thread(
                target=importer.run, args=(int(storage), public, sig, headers, dataset_path), daemon=True
            ).start()
            return json_response(200, {"status": "running", "path": ctx.get("DATASET_PATH", "/dataset"), "content": content})
        return json_response(404, {"detail": "Not Found"})

    return app
