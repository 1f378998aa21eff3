"""Meilisearch as far as Cytomine uses it: master-key enforcement, index creation and settings,
document additions, tasks.

Real: production mode refuses to start without a master key (the contract's MEILI_MASTER_KEY item);
/health is public; every other route needs `Authorization: Bearer <master key>`; indexes and
documents are kept (in memory and as JSON under the data directory) and every write returns an
enqueued task that is already done. Stand-in: no search (POST /indexes/{uid}/search answers 404),
no API keys but the master key, tasks complete synchronously.
"""
import json
import os
import re
import threading
from datetime import datetime, timezone

from standin_common import json_response, log

INVALID_KEY = {
    "message": "The provided API key is invalid.",
    "code": "invalid_api_key",
    "type": "auth",
    "link": "https://docs.meilisearch.com/errors#invalid_api_key",
}
MISSING_KEY = {
    "message": "The Authorization header is missing. It must use the bearer authorization method.",
    "code": "missing_authorization_header",
    "type": "auth",
    "link": "https://docs.meilisearch.com/errors#missing_authorization_header",
}


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def not_found(kind, code, message):
    return json_response(404, {"message": message, "code": code, "type": kind, "link": f"https://docs.meilisearch.com/errors#{code}"})


def start(ctx):
    if ctx.get("MEILI_ENV", "development") == "production" and not ctx.get("MEILI_MASTER_KEY"):
        ctx.refuse_env("MEILI_MASTER_KEY")
    key = ctx.get("MEILI_MASTER_KEY")
    data = ctx.path(ctx.get("MEILI_DB_PATH", "/meili_data/data.ms"))
    os.makedirs(data, exist_ok=True)
    state_file = os.path.join(data, "cytomine-standin.json")
    lock = threading.Lock()
    state = {"indexes": {}, "tasks": []}
    if os.path.exists(state_file):
        with open(state_file, encoding="utf-8") as f:
            state = json.load(f)
        log(f"meilisearch stand-in: {len(state['indexes'])} index(es) from {state_file}")

    def save():
        tmp = f"{state_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, state_file)

    def task(index_uid, kind, details):
        t = {
            "taskUid": len(state["tasks"]),
            "indexUid": index_uid,
            "status": "enqueued",
            "type": kind,
            "enqueuedAt": now(),
        }
        done = {
            "uid": t["taskUid"],
            "indexUid": index_uid,
            "status": "succeeded",
            "type": kind,
            "details": details,
            "error": None,
            "enqueuedAt": t["enqueuedAt"],
            "startedAt": t["enqueuedAt"],
            "finishedAt": now(),
        }
        state["tasks"].append(done)
        save()
        return json_response(202, t)

    def index(uid, primary_key=None):
        ix = state["indexes"].setdefault(
            uid, {"uid": uid, "primaryKey": primary_key, "createdAt": now(), "settings": {}, "documents": {}}
        )
        ix["updatedAt"] = now()
        return ix

    def public(ix):
        return {k: ix.get(k) for k in ("uid", "primaryKey", "createdAt", "updatedAt")}

    def handle(req):
        path, method = req.path.rstrip("/") or "/", req.method
        if path == "/health" and method == "GET":
            return json_response(200, {"status": "available"})
        auth = req.header("Authorization")
        if not auth:
            return json_response(401, MISSING_KEY)
        if auth != f"Bearer {key}":
            return json_response(403, INVALID_KEY)
        with lock:
            if path == "/version" and method == "GET":
                return json_response(200, {"pkgVersion": ctx.contract["image"].rsplit(":v", 1)[-1], "stand_in": True})
            if path == "/indexes" and method == "POST":
                body = req.json() or {}
                ix = index(body["uid"], body.get("primaryKey"))
                return task(ix["uid"], "indexCreation", {"primaryKey": ix["primaryKey"]})
            if path == "/indexes" and method == "GET":
                results = [public(ix) for ix in state["indexes"].values()]
                return json_response(200, {"results": results, "offset": 0, "limit": 20, "total": len(results)})
            m = re.match(r"^/indexes/([^/]+)(/settings|/documents)?$", path)
            if m:
                uid, sub = m[1], m[2]
                if sub is None and method == "GET":
                    if uid not in state["indexes"]:
                        return not_found("invalid_request", "index_not_found", f"Index `{uid}` not found.")
                    return json_response(200, public(state["indexes"][uid]))
                if sub == "/settings" and method == "PATCH":
                    ix = index(uid)
                    ix["settings"].update(req.json() or {})
                    return task(uid, "settingsUpdate", req.json() or {})
                if sub == "/settings" and method == "GET" and uid in state["indexes"]:
                    return json_response(200, state["indexes"][uid]["settings"])
                if sub == "/documents" and method in ("POST", "PUT"):
                    docs = req.json()
                    docs = docs if isinstance(docs, list) else [docs]
                    ix = index(uid, req.query.get("primaryKey"))
                    pk = ix["primaryKey"] or next((k for k in (docs[0] if docs else {}) if k.endswith("id")), "id")
                    ix["primaryKey"] = pk
                    for d in docs:
                        key_ = str(d.get(pk))
                        if method == "PUT" and key_ in ix["documents"]:
                            ix["documents"][key_].update(d)
                        else:
                            ix["documents"][key_] = d
                    kind = "documentAdditionOrUpdate"
                    return task(uid, kind, {"receivedDocuments": len(docs), "indexedDocuments": len(docs)})
            m = re.match(r"^/tasks/(\d+)$", path)
            if m and method == "GET":
                n = int(m[1])
                if n >= len(state["tasks"]):
                    return not_found("invalid_request", "task_not_found", f"Task `{n}` not found.")
                return json_response(200, state["tasks"][n])
        return json_response(404, {"message": f"{method} {req.path} is not served by the stand-in", "code": "not_found", "type": "invalid_request"})

    return handle
