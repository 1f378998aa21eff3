"""app-engine (Cytomine's task runner) as far as starting and core's first calls go.

Real: Spring Boot connects to jdbc:postgresql://${DB_HOST}:${DB_PORT:5432}/${DB_NAME}
(app-engine/src/main/resources/application.yml:12-15) and Liquibase creates its tables, task among
them (app-engine/src/main/resources/migrations/init.sql:108-119). It builds a fabric8 client from the
auto-detected configuration, in a pod the service account's (KUBERNETES_SERVICE_HOST/PORT and
/var/run/secrets/kubernetes.io/serviceaccount/token; certificates trusted as given:
app-engine/src/main/java/be/cytomine/appengine/config/KubernetesConfig.java:12-21), and at start
informs pods of SCHEDULER_TASKS_NAMESPACE (handlers/scheduler/impl/KubernetesScheduler.java:319-330):
a failing list (no cluster, 401, 403) fails the bean, and the application exits 1. GET /ping answers
{"status": "UP", "timestamp", "service": "app-engine"} (controllers/ServerController.java:13-16;
dto/responses/PingResponse.java), GET ${API_PREFIX}v1/tasks the task descriptions
(controllers/TaskController.java:45,64-70; dto/inputs/task/TaskDescription.java).
Stand-in: only the task table; no bundles, runs or scheduling (404). The pod list is one GET, not a
watch.
"""
import json
import os
import ssl
import time
import urllib.error
import urllib.request

import standin_db
from standin_common import iso_instant, json_response, log

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
K8S_SOURCE = (
    "app-engine/src/main/java/be/cytomine/appengine/config/KubernetesConfig.java:12-21; "
    "app-engine/src/main/java/be/cytomine/appengine/handlers/scheduler/impl/KubernetesScheduler.java:319-330"
)

# As init.sql:108-119 (the rest of its schema is not the stand-in's).
SCHEMA = """
CREATE TABLE IF NOT EXISTS public.task (
    identifier uuid NOT NULL PRIMARY KEY,
    created_date timestamp(6) without time zone,
    last_modified_date timestamp(6) without time zone,
    description character varying(255),
    descriptor_file character varying(255),
    name character varying(255),
    name_short character varying(255),
    namespace character varying(255),
    storage_reference character varying(255),
    version character varying(255)
)
"""

# Its own PostgreSQL (app-engine/src/main/resources/application.yml:12-15).
DB_VARIABLES = {"host": "DB_HOST", "port": "DB_PORT", "dbname": "DB_NAME", "user": "DB_USERNAME", "password": "DB_PASSWORD"}


def check_cluster(ctx):
    """The informer's first list of pods, with the in-cluster configuration fabric8 would find."""
    namespace = ctx.get("SCHEDULER_TASKS_NAMESPACE")
    host, port = ctx.get("KUBERNETES_SERVICE_HOST"), ctx.get("KUBERNETES_SERVICE_PORT")
    token_file = os.path.join(SERVICE_ACCOUNT, "token")
    name = "kubernetes (in-cluster configuration)"
    missing = [n for n, v in (("KUBERNETES_SERVICE_HOST", host), ("KUBERNETES_SERVICE_PORT", port)) if not v]
    if not os.path.isfile(ctx.path(token_file)):
        missing.append(token_file)
    if missing:
        # Outside a pod fabric8 falls back to https://kubernetes.default.svc, which does not resolve.
        ctx.refuse(
            "io.fabric8.kubernetes.client.KubernetesClientException: Operation: [list] for kind: [Pod] with name: [null] "
            f"in namespace: [{namespace}] failed.",
            name,
            K8S_SOURCE,
            f"no in-cluster configuration: {', '.join(missing)} missing (the pod needs its service account)",
        )
    with open(ctx.path(token_file), encoding="utf-8") as f:
        token = f.read().strip()
    url = f"https://{host}:{port}/api/v1/namespaces/{namespace}/pods"
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # withTrustCerts(true): KubernetesConfig.java:15
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=max(ctx.wait, 1), context=tls) as res:
            pods = json.load(res).get("items", [])
    except urllib.error.HTTPError as e:
        text = {
            401: "Unauthorized! Token may have expired! Please log-in again.",
            403: "Forbidden!Configured service account doesn't have access. Service account may have been revoked.",
        }.get(e.code, e.reason)
        body = e.read().decode("utf-8", "replace")
        try:
            body = json.loads(body).get("message", body)
        except ValueError:
            pass
        ctx.refuse(
            f"io.fabric8.kubernetes.client.KubernetesClientException: Failure executing: GET at: {url}. Message: {text} {body}",
            name,
            K8S_SOURCE,
            f"HTTP {e.code}: the service account may not list pods in {namespace}",
        )
    except (OSError, ValueError) as e:
        ctx.refuse(
            f"io.fabric8.kubernetes.client.KubernetesClientException: An error has occurred. {getattr(e, 'reason', e)}",
            name,
            K8S_SOURCE,
            f"GET {url}: {e}",
        )
    log(f"app-engine stand-in: Monitor: informer added ({len(pods)} pod(s) in {namespace})")


def start(ctx):
    conn = standin_db.connect(ctx, DB_VARIABLES)
    with conn.cursor() as cur:
        cur.execute(SCHEMA)
    check_cluster(ctx)
    tasks = f"{ctx.get('API_PREFIX', '/api/')}v1/tasks"

    def task_json(row):
        identifier, name, namespace, version, description = row
        return {"id": str(identifier), "name": name, "namespace": namespace, "version": version, "description": description, "authors": []}

    def handle(req):
        if req.path == "/ping" and req.method == "GET":
            return json_response(200, {"status": "UP", "timestamp": iso_instant(time.time()), "service": "app-engine"})
        if req.path == tasks and req.method == "GET":
            with conn.cursor() as cur:
                cur.execute("SELECT identifier, name, namespace, version, description FROM public.task ORDER BY created_date")
                return json_response(200, [task_json(r) for r in cur.fetchall()])
        # Spring Boot's error body for an unmapped path.
        return json_response(404, {"timestamp": iso_instant(time.time()), "status": 404, "error": "Not Found", "path": req.path})

    return handle
