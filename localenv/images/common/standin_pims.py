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
as upstream's does (pims/pims/api/operations.py:58-93; pims/pims/importer/dataset.py:100-205):
  1. MeiliSearch's index settings first (dataset.py:106-108): an unreachable MeiliSearch or a wrong
     key ends the task before anything else;
  2. every direct subdirectory of DATASET_PATH (a link to a directory counts) is a bucket
     (dataset.py:111);
  3. PIMS signs in to core with its own keys (GET /server/ping, then /api/user/current.json, as the
     client does: "PIMS authentication to Cytomine failed."), fetches the caller's private key
     (`userkey/{pub}/keys.json`) and checks the caller's signature of "METHOD\nMD5\nTYPE\nDATE"
     from the request's headers (cytomine_auth.py:10-43: "Authentication to Cytomine failed"), then
     goes on as the caller: its storage (`storage/{id}.json`, "Storage N not found");
  4. per bucket (BucketParser, dataset.py:44-98): METADATA/dataset.xml's first DATASET alias; with a
     COMPLEMENTS_DATASET_REF, the complemented alias is the parent and this dataset its child. The
     parent names the project (saved on every run; core answers 409 after the first: utils.py:12-13).
     Every IMAGE_REF alias names `<bucket>/IMAGES/<alias>`, linked through WRITING_PATH into
     ROOT/upload-<uuid>/ (the link's target is the path through the DATASET_PATH entry, as upstream
     builds it: image.py:34,52-53); an image some ROOT/*/* link already resolves to is skipped
     ("Already imported", image.py:44-50,100-111). Only the children's ontology and annotations are
     read, at `<bucket>/<child>/METADATA/{ontology,annotation,dataset}.xml` (dataset.py:159-174):
     a dataset's own METADATA/annotation.xml is not read. Annotations are created again on every
     run (annotation.py:80-86: no deduplication). A bucket's failure is logged and the next goes on
     (dataset.py:203-205). A bucket without METADATA/ (the import view's served entries: a directory
     holding only a link IMAGES) logs "does not exist or is not a directory ... Skipping discovery"
     (dataset.py:60-65), then its parent raises (StopIteration upstream, dataset.py:50-52) and the
     bucket is skipped: nothing recorded, while the links made for its images earlier still resolve
     through `<entry>/IMAGES/`.
Each image PIMS links is saved in core as upstream's listener saves it: an uploaded file, an abstract
image and its instance in the project (listeners.py:177,424,470). Each bucket's outcome, with the
ontologies and annotations it would create (core's stand-in keeps neither), is recorded, one entry
per bucket, in ROOT/.stand-in-imports.json.
Not done: no format detection (a linked image is "imported" whatever its files), no MeiliSearch
documents (upstream indexes the BP metadata after the images, logging any failure). Failures after
"running" are only logged, as upstream's.
"""
import json
import os
import shutil
import socket
import threading
import uuid
import xml.etree.ElementTree as ET
from time import gmtime, strftime
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request as UrlRequest, urlopen

from standin_common import cytomine_signature, json_response, log

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


class Core:
    """Calls to core signed with a key pair, as the Python client does."""

    def __init__(self, base, public_key, private_key):
        self.base = base.rstrip("/")
        self.public_key = public_key
        self.private_key = private_key

    def request(self, url, body=None):
        """As cytomine-python-client 4.3.0 sends it (cytomine/cytomine.py: _headers, CytomineAuth):
        no content type on a GET, so the signed token is "GET\\n\\n\\n<date>"; a POST is JSON."""
        date = strftime("%a, %d %b %Y %H:%M:%S +0000", gmtime())
        method, content_type = ("GET", "") if body is None else ("POST", "application/json")
        sig = cytomine_signature(self.private_key, method, content_type, date)
        headers = {
            "accept": "application/json, */*",
            "date": date,
            "X-Requested-With": "XMLHTTPRequest",
            "authorization": f"CYTOMINE {self.public_key}:{sig}",
        }
        if body is not None:
            headers["content-type"] = content_type
        data = None if body is None else json.dumps(body).encode()
        with urlopen(UrlRequest(url, data=data, method=method, headers=headers), timeout=30) as res:
            return json.loads(res.read() or b"null")

    def get(self, path):
        return self.request(f"{self.base}/api/{path}")

    def save(self, path, kind, model):
        """Model.save (cytomine.py: post_model): the saved object, read under its lower-case class
        name, or None when core refuses (the client returns False)."""
        try:
            return self.request(f"{self.base}/api/{path}", model)[kind]
        except HTTPError as e:
            log(f"pims stand-in: POST {path}: {e.code} {e.read().decode(errors='replace')}")
            return None

    def ping(self):
        """Cytomine() waits for `GET /server/ping` first (cytomine.py: wait_to_accept_connection, 120 s)."""
        return self.request(f"{self.base}/server/ping")


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


def _first_alias(root, tag):
    """lxml's `root.find(".//TAG").get("alias")`: the first such element's alias, or None."""
    el = root.find(f".//{tag}")
    return None if el is None else el.get("alias")


def _already_imported(root_dir, image_path):
    """Any ROOT/*/* symbolic link resolving to the image (image.py:100-111): every directory of ROOT
    (is_dir follows links), every symbolic link in it."""
    target = os.path.realpath(image_path)
    for upload in os.listdir(root_dir):
        d = os.path.join(root_dir, upload)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if os.path.islink(p) and os.path.realpath(p) == target:
                return True
    return False


class BucketParser:
    """dataset.py:44-98: METADATA/dataset.xml's first DATASET alias is a dataset of the bucket; with a
    COMPLEMENTS_DATASET_REF, the complemented alias is the parent (the project) and this dataset its
    child, whose ontology and annotations are read from `<bucket>/<child>/METADATA/`."""

    def __init__(self, bucket_dir):
        self.root = bucket_dir
        self.datasets = []
        self.dependency = {}

    def discover(self):
        meta_dir = os.path.join(self.root, "METADATA")
        meta = os.path.join(meta_dir, "dataset.xml")
        if not os.path.isdir(meta_dir):
            log(f"pims stand-in: '{meta_dir}' does not exist or is not a directory for dataset '{os.path.basename(self.root)}'. Skipping discovery for this bucket.")
            return
        if not os.path.isfile(meta):
            log(f"pims stand-in: '{meta}' does not exist or is not a file for dataset '{os.path.basename(self.root)}'. Skipping discovery for this bucket.")
            return
        try:
            root = ET.parse(meta).getroot()
        except ET.ParseError as e:
            log(f"pims stand-in: Error parsing XML file '{meta}': {e}")
            return
        ds = root.find(".//DATASET")
        if ds is None:
            log(f"pims stand-in: No <DATASET> tag found in '{meta}'. Skipping discovery for this bucket.")
            return
        name = ds.get("alias")
        if not name:
            log(f"pims stand-in: No 'alias' attribute found for <DATASET> in '{meta}'. Skipping discovery for this bucket.")
            return
        self.datasets.append(name)
        complement = _first_alias(root, "COMPLEMENTS_DATASET_REF")
        if complement:
            self.dependency.setdefault(complement, []).append(name)

    @property
    def parent(self):
        # `next(iter(dependency)) or next(iter(datasets))`: StopIteration when nothing was discovered,
        # which the bucket loop logs as a failure of the bucket (dataset.py:52-54,203-205).
        if self.dependency:
            return next(iter(self.dependency))
        if not self.datasets:
            raise RuntimeError("StopIteration (no dataset discovered)")
        return self.datasets[0]

    @property
    def children(self):
        return self.dependency.get(self.parent, [])


def _child_annotations(child_dir, images, ontologies):
    """OntologyImporter and AnnotationImporter on `<bucket>/<child>` (ontology.py:18-38;
    annotation.py:37-98): the ontology of METADATA/ontology.xml (reused by name), then for each
    ANNOTATION_REF of the child's METADATA/dataset.xml, the ANNOTATION of METADATA/annotation.xml:
    every feature of its FILE becomes an annotation of its IMAGE_REF's image in the project, created
    again on every run. A missing ontology.xml or annotation.xml raises (the bucket fails)."""
    meta = os.path.join(child_dir, "METADATA")
    root = ET.parse(os.path.join(meta, "ontology.xml")).getroot()
    ontology = _first_alias(root, "ONTOLOGY")
    ontologies.add(ontology)
    refs = _aliases(ET.parse(os.path.join(meta, "dataset.xml")).getroot(), "ANNOTATION_REF")
    annotations = {a.get("alias"): a for a in ET.parse(os.path.join(meta, "annotation.xml")).getroot().findall("ANNOTATION")}
    results = []
    for alias in refs:
        a = annotations[alias]
        image = _first_alias(a, "IMAGE_REF")
        if image not in images:
            results.append({"annotation": alias, "status": f"Image {image} does not exist"})
            continue
        if _first_alias(a, "ONTOLOGY_REF") not in ontologies:
            results.append({"annotation": alias, "status": f"Ontology {_first_alias(a, 'ONTOLOGY_REF')} does not exist"})
            continue
        created = 0
        try:
            with open(os.path.join(child_dir, a.find(".//FILE").get("filename")), encoding="utf-8") as f:
                doc = json.load(f)
            kind = doc.get("type")
            created = len(doc.get("features", [])) if kind == "FeatureCollection" else 1
        except (ValueError, FileNotFoundError):
            pass  # "is not a valid geometry": no annotation (annotation.py:46-53)
        results.append({"annotation": alias, "image": image, "created": created})
    return results


class Importer:
    def __init__(self, ctx):
        self.ctx = ctx
        self.lock = threading.Lock()
        self.root = ctx.path(ctx.get("ROOT"))
        self.writing = ctx.path(ctx.get("WRITING_PATH"))
        self.record_path = os.path.join(self.root, RECORD)

    def runs(self):
        try:
            with open(self.record_path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return []

    def record(self, entry):
        with self.lock:
            runs = self.runs()
            runs.append(entry)
            tmp = f"{self.record_path}.new"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(runs, f, indent=2)
            os.replace(tmp, self.record_path)

    def run(self, storage_id, caller_public, caller_signature, token, dataset_path):
        ctx = self.ctx
        try:
            meili_settings(ctx)
            # Every direct subdirectory (links to directories included) is a bucket (dataset.py:111).
            buckets = [e.path for e in os.scandir(dataset_path) if e.is_dir()]
            own = Core(ctx.get("INTERNAL_URL_CORE"), ctx.get("CYTOMINE_PUBLIC_KEY"), ctx.get("CYTOMINE_PRIVATE_KEY"))
            try:
                own.ping()
                own.get("user/current.json")
            except (HTTPError, URLError) as e:
                raise RuntimeError(f"PIMS authentication to Cytomine failed. ({e})") from e
            try:
                keys = own.get(f"userkey/{caller_public}/keys.json")
            except HTTPError as e:  # c.get answers False, then False["privateKey"] (dataset.py:116-117)
                raise RuntimeError(f"TypeError: 'bool' object is not subscriptable (userkey: HTTP {e.code})") from e
            if cytomine_signature(keys["privateKey"], **token) != caller_signature:
                raise RuntimeError("Authentication to Cytomine failed")
            # c.set_credentials(caller): the rest runs as the caller (dataset.py:122-129).
            caller = Core(ctx.get("INTERNAL_URL_CORE"), caller_public, keys["privateKey"])
            caller.get("user/current.json")
            try:
                caller.get(f"storage/{storage_id}.json")
            except HTTPError as e:
                raise RuntimeError(f"Storage {storage_id} not found") from e
            # ProjectCollection().fetch(): the projects core lists for the caller (dataset.py:128-129).
            projects = {p["name"]: p for p in caller.get("project.json")["collection"]}
            ontologies = {o for r in self.runs() for o in r.get("ontologies", [])}
            for bucket in buckets:
                try:
                    self.bucket(caller, bucket, storage_id, projects, ontologies)
                except Exception as e:  # dataset.py:203-205: logged, the next bucket goes on
                    log(f"pims stand-in: Failed to process bucket {bucket}: {e}")
        except Exception as e:  # upstream's background task ends; nothing is returned to anyone
            log(f"pims stand-in: import failed: {e}")
            self.record({"storage": storage_id, "error": str(e)})

    @staticmethod
    def save_image(core, storage_id, project, alias, filename):
        """CytomineListener's saves for one image (listeners.py:177,424,470): its uploaded file in the
        caller's storage, the abstract image, then its instance in the import's project. The
        instance's id, or None when core refused a save (logged)."""
        uploaded = core.save(
            "uploadedfile.json",
            "uploadedfile",
            {"originalFilename": alias, "filename": filename, "storage": storage_id, "size": 0},
        )
        image = uploaded and core.save("abstractimage.json", "abstractimage", {"uploadedFile": uploaded["id"], "originalFilename": alias})
        instance = image and core.save("imageinstance.json", "imageinstance", {"baseImage": image["id"], "project": project["id"]})
        return instance and instance["id"]

    def bucket(self, core, bucket_dir, storage_id, projects, ontologies):
        parser = BucketParser(bucket_dir)
        parser.discover()
        parent = parser.parent
        # get_project: Project(name).save() on every run; core refuses a second with 409, and the
        # listed project is kept (utils.py:12-13).
        saved = core.save("project.json", "project", {"name": parent})
        project = projects.setdefault(parent, saved)
        if project is None:
            raise RuntimeError(f"'bool' object has no attribute 'id' (project {parent} neither listed nor saved)")
        created = saved is not None
        root = ET.parse(os.path.join(bucket_dir, "METADATA", "dataset.xml")).getroot()
        results = []
        for alias in [el.get("alias") for el in root.iter("IMAGE_REF")]:
            # The path as PIMS builds it, through the DATASET_PATH entry (image.py:34,52-53): the link
            # under ROOT names the import view's entry, not the dataset's own mount.
            image = os.path.join(bucket_dir, "IMAGES", alias)
            if not os.path.exists(image):
                results.append({"image": alias, "status": "Image does not exist"})
            elif _already_imported(self.root, image):
                results.append({"image": alias, "status": "Already imported"})
            else:
                pending = os.path.join(self.writing, alias)
                os.symlink(image, pending)
                upload = os.path.join(self.root, f"upload-{uuid.uuid4()}")
                os.makedirs(upload)
                shutil.move(pending, os.path.join(upload, alias))
                instance = self.save_image(core, storage_id, project, alias, os.path.join(os.path.basename(upload), alias))
                results.append(
                    {"image": alias, "status": "imported", "upload": os.path.basename(upload), "imageInstance": instance}
                )
        images = {r["image"] for r in results if r["status"] != "Image does not exist"}
        known = set(ontologies)
        annotations = {c: _child_annotations(os.path.join(bucket_dir, c), images, ontologies) for c in parser.children}
        self.record(
            {
                "storage": storage_id,
                "bucket": os.path.basename(bucket_dir),
                "project": parent,
                "projectId": project["id"],
                "projectCreated": created,
                "images": results,
                "children": parser.children,
                "annotations": annotations,
                "ontologies": sorted(ontologies - known),
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
            # parse_authorization_header and parse_request_token (pims/pims/api/utils/cytomine_auth.py:10-33).
            public = authorization[authorization.index(" ") + 1 : authorization.index(":")]
            sig = authorization[authorization.index(":") + 1 :]
            md5 = req.header("content-MD5") or ""
            date = req.header("date") if req.header("date") is not None else req.header("dateFull") or ""
            content_type = req.header("content-type-full")
            if content_type is None:
                content_type = req.header("Content-Type") or ""
            content_type = "" if content_type == "null" else content_type
            # The signed request's parts (parse_request_token), checked once the caller's key is known.
            token = {"method": req.method, "md5": md5, "content_type": content_type, "date": date}
            dataset_path = ctx.path(ctx.get("DATASET_PATH", "/dataset"))
            content = os.listdir(dataset_path)
            threading.Thread(
                target=importer.run, args=(int(storage), public, sig, token, dataset_path), daemon=True
            ).start()
            return json_response(200, {"status": "running", "path": ctx.get("DATASET_PATH", "/dataset"), "content": content})
        return json_response(404, {"detail": "Not Found"})

    return app
