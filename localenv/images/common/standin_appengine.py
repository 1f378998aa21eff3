"""app-engine (Cytomine's task runner): start, task bundles, runs, and their pods in cluster mode.

Real (paths under app-engine/src/main/ at the pinned commit):
- Start: Spring Boot connects to jdbc:postgresql://${DB_HOST}:${DB_PORT:5432}/${DB_NAME}
  (resources/application.yml:12-15). It builds a fabric8 client from the in-cluster configuration
  (KUBERNETES_SERVICE_HOST/PORT and the service account's token, or KUBERNETES_MASTER and
  KUBERNETES_AUTH_TOKEN, which fabric8's Config reads first; certificates trusted as given:
  java/.../config/KubernetesConfig.java:12-21) and informs pods of SCHEDULER_TASKS_NAMESPACE
  (handlers/scheduler/impl/KubernetesScheduler.java:319-330): a failing list (no cluster, 401, 403)
  fails the bean, and the application exits 1.
- GET /ping (controllers/ServerController.java:13-16).
- POST ${API_PREFIX}v1/tasks, a multipart zip of descriptor.yml and the image as `docker save`
  wrote it, named <namespace>-<version>.tar: the descriptor is validated, the image pushed to
  REGISTRY_URL as <namespace with / for .>:<version> (services/TaskService.java:106-280;
  handlers/registry/impl/DockerRegistryHandler.java).
- Runs (controllers/TaskRunController.java; services/TaskProvisioningService.java): created from a
  task, inputs provisioned (PUT input-provisions, then PROVISIONED), run (state-actions RUNNING: one
  pod of KubernetesScheduler.schedule's shape, then QUEUING), inputs.zip served to the pod's
  provisioning container, outputs.zip posted back with the run's secret (FINISHED, or FAILED when an
  output is missing), the pod's phase followed (PodInformer: Succeeded FINISHED, Failed/Unknown
  FAILED), GET the run and its outputs.
Stand-in: integer parameters only; its tables are its own (the real ones are Liquibase's, migrations/init.sql), in the same database.
"""
import gzip
import hashlib
import io
import json
import os
import re
import ssl
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile

import yaml

import standin_db
from standin_common import iso_instant, json_response, log, multipart_parts, Response

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
K8S_SOURCE = (
    "app-engine/src/main/java/be/cytomine/appengine/config/KubernetesConfig.java:12-21; "
    "app-engine/src/main/java/be/cytomine/appengine/handlers/scheduler/impl/KubernetesScheduler.java:319-330"
)

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
);
CREATE TABLE IF NOT EXISTS standin_task (
    identifier uuid PRIMARY KEY REFERENCES public.task (identifier),
    descriptor jsonb NOT NULL,
    image_name text NOT NULL
);
CREATE TABLE IF NOT EXISTS standin_run (
    id uuid PRIMARY KEY,
    task uuid NOT NULL REFERENCES public.task (identifier),
    secret uuid NOT NULL,
    state text NOT NULL,
    inputs jsonb NOT NULL DEFAULT '{}',
    outputs jsonb NOT NULL DEFAULT '{}',
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
"""

# Its own PostgreSQL (app-engine/src/main/resources/application.yml:12-15).
DB_VARIABLES = {"host": "DB_HOST", "port": "DB_PORT", "dbname": "DB_NAME", "user": "DB_USERNAME", "password": "DB_PASSWORD"}

# application.yml:48-54: a task's default resources, and the helper containers' (upstream's 1 CPU and
# 1Gi each; Spring's relaxed binding reads SCHEDULER_HELPERCONTAINERSRESOURCES_CPU/_RAM).
TASK_DEFAULTS = {"cpus": 1, "ram": "4Gi"}
HELPER_DEFAULTS = {"cpu": "1", "ram": "1Gi"}

# The descriptor's required keys (resources/schemas/tasks/task.v0.json, "required").
REQUIRED = ("name", "namespace", "version", "authors", "configuration", "inputs", "outputs")

# ErrorDefinitions.java: the codes and messages of the errors the stand-in gives.
ERRORS = {
    "INTERNAL_INVALID_TASK_RUN_STATE": ("APPE-internal-task-run-state-error", "run is in invalid state", 403),
    "INTERNAL_MISSING_OUTPUTS": ("APPE-internal-task-run-missing-outputs", "some outputs are missing in the archive", 400),
    "INTERNAL_NOT_PROVISIONED": ("APPE-internal-task-run-provisions-not-found", "not provisioned", 403),
    "INTERNAL_PARAMETER_DOES_NOT_EXIST": ("APPE-internal-parameter-not-found", "parameter not found", 400),
    "INTERNAL_PARAMETER_TYPE_ERROR": ("APPE-internal-request-validation-error", "invalid parameter type", 400),
    "INTERNAL_TASK_EXISTS": ("APPE-internal-task-exists", "Task already exists.", 400),
    "INTERNAL_TASK_NOT_FOUND": ("APPE-internal-task-not-found", "Task not found.", 404),
    "RUN_NOT_FOUND": ("APPE-internal-run-not-found-error", "Run not found.", 404),
    "REGISTRY_PUSHING_TASK_IMAGE_FAILED": ("APPE-registry-push-failed", "pushing task image to registry failed in registry", 500),
    "SCHEDULER_UNAUTHENTICATED_OUTPUT_PROVISIONING": (
        "APPE-scheduler-unauthenticated-output-provisioning",
        "unauthenticated task failed to provision outputs for this run",
        403,
    ),
    "UNKNOWN_STATE": ("APPE-internal-task-run-state-error", "unknown state in transition request", 400),
    "INTERNAL_DOCKER_IMAGE_TAR_NOT_FOUND": (
        "APPE-internal-bundle-validation-error",
        "image not found in configured place in descriptor and not in the root directory",
        400,
    ),
    "INTERNAL_DOCKER_IMAGE_MANIFEST_MISSING": ("APPE-internal-bundle-image-validation-error", "image is not invalid manifest is missing", 400),
    "INTERNAL_INVALID_DESCRIPTOR": ("APPE-internal-bundle-validation-error", "invalid descriptor", 400),
}

# The states the scheduler manages, in which outputs may be posted (TaskProvisioningService.java:826-829).
SCHEDULER_STATES = ("RUNNING", "PENDING", "QUEUED", "QUEUING")
FINAL_STATES = ("FINISHED", "FAILED")
# How long one watch of the task pods lasts before it is made again (the API server ends it then).
WATCH_SECONDS = 300
# PodInformer.java: the phase a finished pod maps to.
PHASES = {"Succeeded": "FINISHED", "Failed": "FAILED", "Unknown": "FAILED"}


class AppEngineError(Exception):
    def __init__(self, code, detail=None):
        super().__init__(code)
        self.code, self.detail = code, detail

    def response(self):
        error_code, message, status = ERRORS[self.code]
        details = {"message": self.detail} if self.detail else {}
        return json_response(status, {"error_code": error_code, "message": message, "details": details})


class Cluster:
    """The API as fabric8's Config finds it: KUBERNETES_MASTER and KUBERNETES_AUTH_TOKEN when set (the VM's
    task-pods), else the in-cluster service account; certificates trusted as given either way."""

    def __init__(self, ctx):
        self.namespace = ctx.get("SCHEDULER_TASKS_NAMESPACE")
        self.master, self.env_token = ctx.get("KUBERNETES_MASTER"), ctx.get("KUBERNETES_AUTH_TOKEN")
        host, port = ctx.get("KUBERNETES_SERVICE_HOST"), ctx.get("KUBERNETES_SERVICE_PORT")
        self.base = (self.master or (f"https://{host}:{port}" if host and port else "")).rstrip("/")
        self.token_file = ctx.path(os.path.join(SERVICE_ACCOUNT, "token"))
        self.source = "KUBERNETES_MASTER" if self.master else "in-cluster configuration"
        self.tls = ssl.create_default_context()
        self.tls.check_hostname, self.tls.verify_mode = False, ssl.CERT_NONE  # withTrustCerts(true): KubernetesConfig.java:15
        self.timeout = max(ctx.wait, 1)

    def missing(self):
        if self.master:
            return [] if self.env_token else ["KUBERNETES_AUTH_TOKEN"]
        names = [n for n in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT") if not self.base]
        return names + ([os.path.join(SERVICE_ACCOUNT, "token")] if not os.path.isfile(self.token_file) else [])

    def url(self, suffix=""):
        return f"{self.base}/api/v1/namespaces/{self.namespace}/pods{suffix}"

    def token(self):
        if self.env_token:  # the variable wins over the service account (Config.configFromSysPropsOrEnvVars)
            return self.env_token
        with open(self.token_file, encoding="utf-8") as f:  # re-read: the kubelet rotates projected tokens
            return f.read().strip()

    def watch(self, url):
        """The events of a watch, one JSON object per line, until the server ends it."""
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token()}", "Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=WATCH_SECONDS + 30, context=self.tls) as res:
            for line in res:
                if line.strip():
                    yield json.loads(line)

    def call(self, method, url, body=None):
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=self.timeout, context=self.tls) as res:
            return json.load(res)


def fabric8_failure(e, url):
    """fabric8's KubernetesClientException text for a failed call (and the API server's own message)."""
    if isinstance(e, urllib.error.HTTPError):
        text = {
            401: "Unauthorized! Token may have expired! Please log-in again.",
            403: "Forbidden!Configured service account doesn't have access. Service account may have been revoked.",
        }.get(e.code, e.reason)
        body = e.read().decode("utf-8", "replace")
        try:
            body = json.loads(body).get("message", body)
        except ValueError:
            pass
        return f"Failure executing: GET at: {url}. Message: {text} {body}", f"HTTP {e.code}"
    return f"An error has occurred. {getattr(e, 'reason', e)}", str(e)


def check_cluster(ctx, cluster):
    """The informer's first list of pods, with the in-cluster configuration fabric8 would find."""
    name = f"kubernetes ({cluster.source})"
    missing = cluster.missing()
    if missing:
        # Outside a pod fabric8 falls back to https://kubernetes.default.svc, which does not resolve.
        ctx.refuse(
            "io.fabric8.kubernetes.client.KubernetesClientException: Operation: [list] for kind: [Pod] with name: [null] "
            f"in namespace: [{cluster.namespace}] failed.",
            name,
            K8S_SOURCE,
            f"no {cluster.source}: {', '.join(missing)} missing"
            + ("" if cluster.master else " (the pod needs its service account)"),
        )
    try:
        pods = cluster.call("GET", cluster.url()).get("items", [])
    except (OSError, ValueError) as e:
        failure, detail = fabric8_failure(e, cluster.url())
        ctx.refuse(
            f"io.fabric8.kubernetes.client.KubernetesClientException: {failure}",
            name,
            K8S_SOURCE,
            f"{detail}: the service account may not list pods in {cluster.namespace}",
        )
    log(f"app-engine stand-in: Monitor: informer added ({len(pods)} pod(s) in {cluster.namespace})")


def multipart_file(req, field=None):
    """The first file part of a multipart/form-data body (commons-fileupload's first item), or None."""
    for name, filename, data in multipart_parts(req):
        if filename is not None and (field is None or name == field):
            return data
    return None


class Registry:
    """Pushes a `docker save` archive through the Distribution API (https://distribution.github.io/distribution/spec/api/)."""

    def __init__(self, base):
        self.base = base.rstrip("/")

    def _call(self, method, url, data=None, headers=None):
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, res.headers, res.read()

    def blob(self, repo, data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            self._call("HEAD", f"{self.base}/v2/{repo}/blobs/{digest}")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            _, headers, _ = self._call("POST", f"{self.base}/v2/{repo}/blobs/uploads/")
            location = urllib.parse.urljoin(f"{self.base}/", headers["Location"])
            sep = "&" if "?" in location else "?"
            self._call("PUT", f"{location}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
        return {"mediaType": media_type, "size": len(data), "digest": digest}

    def push(self, archive, name):
        """ARCHIVE: the bytes of `docker save`; NAME: repository:tag. Layers go up gzipped, as docker push sends them."""
        repo, tag = name.rsplit(":", 1)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            try:
                manifest = json.load(tar.extractfile("manifest.json"))[0]
            except (KeyError, IndexError, ValueError):
                raise AppEngineError("INTERNAL_DOCKER_IMAGE_MANIFEST_MISSING")
            config = tar.extractfile(manifest["Config"]).read()
            layers = [
                self.blob(repo, gzip.compress(tar.extractfile(p).read(), mtime=0), "application/vnd.docker.image.rootfs.diff.tar.gzip")
                for p in manifest["Layers"]
            ]
        body = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": self.blob(repo, config, "application/vnd.docker.container.image.v1+json"),
            "layers": layers,
        }
        self._call("PUT", f"{self.base}/v2/{repo}/manifests/{tag}", json.dumps(body).encode(), {"Content-Type": body["mediaType"]})


def image_name(entry):
    """<namespace>-<version>.tar -> namespace with / for . : version (TaskService.java:159-165)."""
    full = entry[: -len(".tar")]
    namespace, version = full.split("-", 1)
    return namespace.replace(".", "/") + ":" + version


def read_bundle(data):
    """(descriptor, image entry name, image bytes) from a task bundle, or AppEngineError."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise AppEngineError("INTERNAL_INVALID_DESCRIPTOR", "the upload is not a zip archive")
    names = bundle.namelist()
    descriptors = [n for n in names if re.fullmatch(r"descriptor\.(yml|yaml)", n.lower())]
    if not descriptors:
        raise AppEngineError("INTERNAL_INVALID_DESCRIPTOR", "descriptor.yml missing from the bundle")
    try:
        descriptor = yaml.safe_load(bundle.read(descriptors[0]))
    except yaml.YAMLError as e:
        raise AppEngineError("INTERNAL_INVALID_DESCRIPTOR", f"descriptor.yml: {e}")
    missing = [k for k in REQUIRED if not isinstance(descriptor, dict) or k not in descriptor]
    if missing:
        raise AppEngineError("INTERNAL_INVALID_DESCRIPTOR", f"descriptor.yml lacks {', '.join(missing)}")
    config = descriptor["configuration"]
    for key in ("input_folder", "output_folder"):
        if not isinstance(config, dict) or not isinstance(config.get(key), str):
            raise AppEngineError("INTERNAL_INVALID_DESCRIPTOR", f"descriptor.yml lacks configuration.{key}")
    tars = [n for n in names if n.endswith(".tar")]
    if not tars:
        raise AppEngineError("INTERNAL_DOCKER_IMAGE_TAR_NOT_FOUND")
    return descriptor, tars[0], bundle.read(tars[0])


def is_uuid(text):
    try:
        uuid.UUID(str(text))
        return True
    except ValueError:
        return False


def integer(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(value)
    return value


class AppEngine:
    def __init__(self, ctx, conn, cluster):
        self.ctx, self.conn, self.cluster = ctx, conn, cluster
        self.lock = threading.Lock()  # one connection, shared by the request threads and the informer
        self.registry = Registry(ctx.get("REGISTRY_URL"))
        prefix = f"{ctx.get('API_PREFIX', '/api/')}v1"
        self.prefix = prefix
        self.base_url = f"{ctx.get('SCHEDULER_ADVERTISED_URL', '').rstrip('/')}{prefix}/task-runs/"

    def query(self, sql, args=(), one=False):
        with self.lock, self.conn.cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall() if cur.description else []
        return (rows[0] if rows else None) if one else rows

    # Tasks.
    def description(self, identifier):
        row = self.query(
            "SELECT t.identifier, t.name, t.name_short, t.namespace, t.version, t.description FROM public.task t WHERE identifier = %s",
            (str(identifier),),
            one=True,
        )
        return {"id": str(row[0]), "name": row[1], "name_short": row[2], "namespace": row[3], "version": row[4], "description": row[5], "authors": []}

    def upload(self, req):
        data = multipart_file(req)
        if data is None:
            raise AppEngineError("INTERNAL_INVALID_DESCRIPTOR", "not a multipart request with a file part")
        descriptor, entry, archive = read_bundle(data)
        namespace, version = descriptor["namespace"], descriptor["version"]
        if self.query("SELECT 1 FROM public.task WHERE namespace = %s AND version = %s", (namespace, version), one=True):
            raise AppEngineError("INTERNAL_TASK_EXISTS")
        name = image_name(entry)
        try:
            self.registry.push(archive, name)
        except (OSError, KeyError, tarfile.TarError) as e:
            log(f"app-engine stand-in: Failed to push image: {name}: {e}")
            raise AppEngineError("REGISTRY_PUSHING_TASK_IMAGE_FAILED", str(e))
        identifier = uuid.uuid4()
        self.query(
            "INSERT INTO public.task (identifier, created_date, last_modified_date, description, descriptor_file, name, name_short, "
            "namespace, storage_reference, version) VALUES (%s, now(), now(), %s, %s, %s, %s, %s, %s, %s)",
            (str(identifier), descriptor.get("description"), namespace, descriptor["name"], descriptor.get("name_short"),
             namespace, f"task-{identifier}-def", version),
        )
        self.query(
            "INSERT INTO standin_task (identifier, descriptor, image_name) VALUES (%s, %s, %s)",
            (str(identifier), json.dumps(descriptor), name),
        )
        log(f"app-engine stand-in: UploadTask: {namespace} {version} saved, image {name} pushed")
        return self.description(identifier)

    def task_outputs(self, identifier):
        """TaskService.makeTaskOutputs: the descriptor's outputs as TaskOutput records (camelCase, as
        dto/inputs/task/TaskOutput.java serialises them)."""
        row = self.query("SELECT descriptor FROM standin_task WHERE identifier = %s", (str(identifier),), one=True)
        outputs = row[0].get("outputs") or {}
        return [
            {
                "id": None,
                "name": name,
                "displayName": (o or {}).get("display_name", name),
                "description": (o or {}).get("description"),
                "optional": False,
                "type": {"id": (o or {}).get("type", "integer")},
                "derivedFrom": (o or {}).get("dependencies", {}).get("derived_from"),
            }
            for name, o in outputs.items()
        ]

    def task_of(self, namespace, version):
        row = self.query("SELECT identifier FROM public.task WHERE namespace = %s AND version = %s", (namespace, version), one=True)
        if not row:
            raise AppEngineError("INTERNAL_TASK_NOT_FOUND")
        return row[0]

    # Runs.
    def run_row(self, run_id):
        if not is_uuid(run_id):
            raise AppEngineError("RUN_NOT_FOUND")
        row = self.query(
            "SELECT r.id, r.task, r.secret, r.state, r.inputs, r.outputs, r.created, r.updated, s.descriptor, s.image_name "
            "FROM standin_run r JOIN standin_task s ON s.identifier = r.task WHERE r.id = %s",
            (run_id,),
            one=True,
        )
        if not row:
            raise AppEngineError("RUN_NOT_FOUND")
        keys = ("id", "task", "secret", "state", "inputs", "outputs", "created", "updated", "descriptor", "image")
        return dict(zip(keys, row))

    def run_json(self, run):
        return {
            "id": str(run["id"]),
            "task": self.description(run["task"]),
            "state": run["state"],
            "created_at": run["created"].isoformat(),
            "updated_at": run["updated"].isoformat(),
        }

    def set_state(self, run_id, state, outputs=None):
        self.query(
            "UPDATE standin_run SET state = %s, outputs = COALESCE(%s, outputs), updated = now() WHERE id = %s",
            (state, json.dumps(outputs) if outputs is not None else None, str(run_id)),
        )
        log(f"app-engine stand-in: Run {run_id} -> {state}")

    def create_run(self, task):
        run_id = uuid.uuid4()
        self.query(
            "INSERT INTO standin_run (id, task, secret, state) VALUES (%s, %s, %s, 'CREATED')",
            (str(run_id), str(task), str(uuid.uuid4())),
        )
        return self.run_json(self.run_row(str(run_id)))

    def provision_one(self, run_id, name, provision):
        """provisionJson (TaskRunController.java: PUT task-runs/{run}/input-provisions/{name}): one
        parameter, named by the path; the answer is that provision alone."""
        value = provision.get("value") if isinstance(provision, dict) else None
        done = self.provision(run_id, [{"parameterName": name, "value": value}])
        return next(p for p in done if p["parameterName"] == name)

    def provision(self, run_id, provisions):
        run = self.run_row(run_id)
        if run["state"] not in ("CREATED", "PROVISIONED"):
            raise AppEngineError("INTERNAL_INVALID_TASK_RUN_STATE")
        declared = run["descriptor"]["inputs"]
        inputs = dict(run["inputs"])
        for p in provisions if isinstance(provisions, list) else []:
            name = p.get("parameterName") if isinstance(p, dict) else None
            if name not in declared:
                raise AppEngineError("INTERNAL_PARAMETER_DOES_NOT_EXIST", str(name))
            try:
                inputs[name] = integer(p.get("value"))
            except ValueError:
                raise AppEngineError("INTERNAL_PARAMETER_TYPE_ERROR", f"{name}: integer expected")
        state = "PROVISIONED" if set(declared) <= set(inputs) else "CREATED"
        self.query("UPDATE standin_run SET inputs = %s, state = %s, updated = now() WHERE id = %s", (json.dumps(inputs), state, run_id))
        return [{"parameterName": k, "value": v, "taskRunId": run_id} for k, v in inputs.items()]

    def inputs_zip(self, run_id):
        run = self.run_row(run_id)
        if run["state"] == "CREATED":
            raise AppEngineError("INTERNAL_INVALID_TASK_RUN_STATE")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name, value in run["inputs"].items():
                z.writestr(name, str(value))
        return Response(200, out.getvalue(), "application/zip")

    def pod(self, run):
        """The task pod of KubernetesScheduler.schedule (KubernetesScheduler.java:113-301) in cluster mode."""
        descriptor, run_id, secret = run["descriptor"], str(run["id"]), str(run["secret"])
        config = descriptor["configuration"]
        resources = config.get("resources") or {}
        cpus, ram = str(resources.get("cpus", TASK_DEFAULTS["cpus"])), str(resources.get("ram", TASK_DEFAULTS["ram"]))
        helper_cpu = self.ctx.get("SCHEDULER_HELPERCONTAINERSRESOURCES_CPU", HELPER_DEFAULTS["cpu"])
        helper_ram = self.ctx.get("SCHEDULER_HELPERCONTAINERSRESOURCES_RAM", HELPER_DEFAULTS["ram"])
        helper = {"requests": {"cpu": helper_cpu, "memory": helper_ram}, "limits": {"cpu": helper_cpu, "memory": helper_ram}}
        task_res = {"requests": {"cpu": cpus, "memory": ram}, "limits": {"cpu": cpus, "memory": ram}}
        inputs, outputs = config["input_folder"], config["output_folder"]
        url = self.base_url + run_id
        runner = self.ctx.get("SCHEDULER_TASKS_RUNNER_IMAGE", "cytomine/app-engine-tasks-runner")
        wait = (
            "export TOKEN=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token); "
            'while ! curl -vk -H "Authorization: Bearer $TOKEN" '
            f"https://${{KUBERNETES_SERVICE_HOST}}:${{KUBERNETES_SERVICE_PORT_HTTPS}}/api/v1/namespaces/{self.cluster.namespace}"
            "/pods/${POD_NAME}/status "
            "| jq '.status | .containerStatuses[] | select(.name == \"task\") | .state "
            "| keys[0]' | grep -q -F \"terminated\"; do sleep 2; done"
        )
        send = f"cd {outputs} && zip -0 -r outputs.zip . && curl -X POST -F 'outputs=@outputs.zip' {url}/{secret}/outputs.zip"

        def helper_container(name, command, mounts, env=None):
            c = {"name": name, "image": runner, "imagePullPolicy": "IfNotPresent", "command": ["/bin/sh", "-c", command],
                 "resources": helper, "volumeMounts": [{"name": n, "mountPath": p} for n, p in mounts]}
            return {**c, "env": env} if env else c

        name = re.sub(r"[^a-zA-Z0-9]", "", descriptor["name"].lower()) + "-" + run_id
        pod_name_env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.cluster.namespace, "labels": {"runId": run_id, "app": "task"}},
            "spec": {
                "hostNetwork": self.ctx.get("SCHEDULER_USE_HOST_NETWORK", "false").lower() == "true",
                "serviceAccountName": "app-engine",
                "restartPolicy": "Never",
                "initContainers": [
                    helper_container("permissions", f"chmod -R 777 {inputs} {outputs}", [("inputs", inputs), ("outputs", outputs)]),
                    helper_container(
                        "inputs-provisioning",
                        f"curl -L -o inputs.zip {url}/inputs.zip && time unzip -o inputs.zip -d {inputs}",
                        [("inputs", inputs)],
                    ),
                ],
                "containers": [
                    {
                        "name": "task",
                        "image": f"{self.ctx.get('SCHEDULER_REGISTRY_ADVERTISED_URL')}/{run['image']}",
                        "imagePullPolicy": "IfNotPresent",
                        "resources": task_res,
                        "volumeMounts": [{"name": "inputs", "mountPath": inputs}, {"name": "outputs", "mountPath": outputs}],
                    },
                    helper_container("outputs-sending", f"{wait} && {send}", [("outputs", outputs)], pod_name_env),
                ],
                "volumes": [
                    {"name": "inputs", "hostPath": {"path": f"/tmp/app-engine/task-run-inputs-{run_id}"}},
                    {"name": "outputs", "hostPath": {"path": f"/tmp/app-engine/task-run-outputs-{run_id}"}},
                    {"name": "images-datasets", "hostPath": {"path": self.ctx.get("REF_STORAGE_BASE_PATH", "/data/datasets")}},
                ],
            },
        }

    def update_state(self, run_id, desired):
        run = self.run_row(run_id)
        if desired != "RUNNING":
            raise AppEngineError("UNKNOWN_STATE", f"desired {desired}: only RUNNING is the stand-in's")
        if run["state"] == "CREATED":
            raise AppEngineError("INTERNAL_NOT_PROVISIONED")
        if run["state"] != "PROVISIONED":
            raise AppEngineError("INTERNAL_INVALID_TASK_RUN_STATE")
        try:
            self.cluster.call("POST", self.cluster.url(), self.pod(run))
        except (OSError, ValueError) as e:
            failure, _ = fabric8_failure(e, self.cluster.url())
            log(f"app-engine stand-in: io.fabric8.kubernetes.client.KubernetesClientException: {failure}")
            # SchedulingException("Task Pod failed to be scheduled on the cluster"), KubernetesScheduler.java:293-297.
            return json_response(500, {"error_code": "APPE-scheduler-schedule-error", "message": "Task Pod failed to be scheduled on the cluster", "details": {"message": failure}})
        self.set_state(run_id, "QUEUING")
        return json_response(200, {"status": "success", "resource": self.run_json(self.run_row(run_id))})

    def post_outputs(self, run_id, secret, req):
        run = self.run_row(run_id)
        if secret != str(run["secret"]):
            raise AppEngineError("SCHEDULER_UNAUTHENTICATED_OUTPUT_PROVISIONING")
        if run["state"] not in SCHEDULER_STATES:
            raise AppEngineError("INTERNAL_INVALID_TASK_RUN_STATE")
        data = multipart_file(req, "outputs") or b""
        outputs = {}
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                files = {n.lstrip("./"): n for n in z.namelist()}
                for name in run["descriptor"]["outputs"]:
                    if name not in files:
                        self.set_state(run_id, "FAILED")
                        raise AppEngineError("INTERNAL_MISSING_OUTPUTS", name)
                    outputs[name] = int(z.read(files[name]).decode().strip())
        except (zipfile.BadZipFile, ValueError) as e:
            self.set_state(run_id, "FAILED")
            raise AppEngineError("INTERNAL_MISSING_OUTPUTS", str(e))
        self.set_state(run_id, "FINISHED", outputs)
        return [{"parameterName": k, "taskRunId": run_id, "type": "INTEGER", "value": v} for k, v in outputs.items()]

    def outputs(self, run_id):
        run = self.run_row(run_id)
        if run["state"] != "FINISHED":
            raise AppEngineError("INTERNAL_INVALID_TASK_RUN_STATE")
        return [{"parameterName": k, "taskRunId": run_id, "type": "INTEGER", "value": v} for k, v in run["outputs"].items()]

    def on_pod(self, pod):
        """PodInformer.onUpdate: a run's pod past Running sets the run's final state."""
        run_id, phase = pod["metadata"].get("labels", {}).get("runId"), pod.get("status", {}).get("phase")
        if phase in ("Pending", "Running", None) or not is_uuid(run_id):  # not a run's pod: getRun finds none
            return
        row = self.query("SELECT state FROM standin_run WHERE id = %s", (run_id,), one=True)
        if row and row[0] not in FINAL_STATES:
            self.set_state(run_id, PHASES.get(phase, "FAILED"))

    def follow_pods(self):
        """fabric8's informer: the pods listed, then watched from the list's version; the watch made
        again when the server ends it, the list again after an error (a 410 Expired, say)."""
        selector = "?labelSelector=app%3Dtask"
        version = None
        while True:
            try:
                if version is None:
                    listed = self.cluster.call("GET", self.cluster.url(selector))
                    for pod in listed.get("items", []):
                        self.on_pod(pod)
                    version = listed.get("metadata", {}).get("resourceVersion") or "0"
                watch = f"{selector}&watch=true&resourceVersion={version}&timeoutSeconds={WATCH_SECONDS}"
                for event in self.cluster.watch(self.cluster.url(watch)):
                    if event.get("type") == "ERROR":
                        version = None
                        break
                    pod = event.get("object") or {}
                    version = pod.get("metadata", {}).get("resourceVersion") or version
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self.on_pod(pod)
            except Exception as e:  # the informer logs and starts again, as fabric8's reconnecting watch does
                log(f"app-engine stand-in: Pod Informer: {type(e).__name__}: {e}")
                version = None
                time.sleep(2)

    def handle(self, req):
        p, m = req.path, req.method
        if p == "/ping" and m == "GET":
            return json_response(200, {"status": "UP", "timestamp": iso_instant(time.time()), "service": "app-engine"})
        if not p.startswith(self.prefix + "/"):
            return None
        # Tomcat maps a path with its repeated slashes merged (CoyoteAdapter.normalize): core builds
        # "/app-engine/v1/" + "/tasks/..." (AppEngineService.buildFullUrl; TaskRunService.addTaskRun),
        # and upstream's app engine logs such runs as "tasks/{namespace}/{version}/runs POST"
        # (github.com/cytomine/cytomine/issues/526).
        parts = re.sub(r"/{2,}", "/", p[len(self.prefix) + 1 :]).lstrip("/").split("/")
        try:
            if parts == ["tasks"] and m == "GET":
                rows = self.query("SELECT identifier FROM public.task ORDER BY created_date")
                return json_response(200, [self.description(r[0]) for r in rows])
            if parts == ["tasks"] and m == "POST":
                return json_response(200, self.upload(req))
            if len(parts) == 3 and parts[0] == "tasks" and m == "GET":  # TaskController.java:85-102
                return json_response(200, self.description(self.task_of(parts[1], parts[2])))
            if len(parts) == 4 and parts[0] == "tasks" and parts[3] == "outputs" and m == "GET":  # TaskController.java:173-190
                return json_response(200, self.task_outputs(self.task_of(parts[1], parts[2])))
            if len(parts) == 4 and parts[0] == "tasks" and parts[3] == "runs" and m == "POST":
                return json_response(200, self.create_run(self.task_of(parts[1], parts[2])))
            if parts[0] == "task-runs" and len(parts) >= 2:
                run_id, rest = parts[1], parts[2:]
                if rest == [] and m == "GET":
                    return json_response(200, self.run_json(self.run_row(run_id)))
                if rest == ["input-provisions"] and m == "PUT":
                    return json_response(200, self.provision(run_id, req.json()))
                if len(rest) == 2 and rest[0] == "input-provisions" and m == "PUT":
                    return json_response(200, self.provision_one(run_id, rest[1], req.json()))
                if rest == ["inputs.zip"] and m == "GET":
                    return self.inputs_zip(run_id)
                if rest == ["state-actions"] and m == "POST":
                    return self.update_state(run_id, (req.json() or {}).get("desired"))
                if rest == ["outputs"] and m == "GET":
                    return json_response(200, self.outputs(run_id))
                if len(rest) == 2 and rest[1] == "outputs.zip" and m == "POST":
                    return json_response(200, self.post_outputs(run_id, rest[0], req))
        except AppEngineError as e:
            return e.response()
        return None


def start(ctx):
    conn = standin_db.connect(ctx, DB_VARIABLES)
    with conn.cursor() as cur:
        cur.execute(SCHEMA)
    cluster = Cluster(ctx)
    check_cluster(ctx, cluster)
    engine = AppEngine(ctx, conn, cluster)
    threading.Thread(target=engine.follow_pods, name="pod-informer", daemon=True).start()

    def handle(req):
        res = engine.handle(req)
        # Spring Boot's error body for an unmapped path.
        return res or json_response(404, {"timestamp": iso_instant(time.time()), "status": 404, "error": "Not Found", "path": req.path})

    return handle
