"""Core's projects, images and task runs: what PIMS's dataset import saves in core, and what a task run
started through core needs. Paths are of github.com/cytomine/cytomine at the contract's release.

Real:
- POST/GET /api/project.json, GET /api/project/{id}.json (RestProjectController): a name taken is
  409 "Project <name> already exist!" (ProjectService.checkDoNotAlreadyExist), which PIMS's import
  meets on every run after the first (pims/pims/importer/utils.py:12-13).
- The three saves of PIMS's import per image (pims/pims/importer/listeners.py:177,424,470):
  POST /api/uploadedfile.json (into a storage of the caller's), /api/abstractimage.json (of an
  uploaded file), /api/imageinstance.json (an abstract image in a project: 409 "Image <file> already
  map with project <name>", ImageInstanceService.java:1180-1191); GET /api/imageinstance/{id}.json
  and /api/project/{id}/imageinstance.json (ImageInstanceCollection.fetch_with_filter("project")).
  Answers of a save are ResponseService.createResponseMessage's: message, callback, printMessage and
  the object under its lower-case class name, which the Python client reads.
- /api/app-engine/project/{project}/... (controller/appengine/TaskRunController.java, through
  service/appengine/TaskRunService.java): a run is created at the app engine first, then the image
  is looked up and the TaskRun saved (addTaskRun, in that order, so a wrong image leaves a run at
  the app engine); provisions go one by one to the app engine, each with its `type` removed (a
  provision without `type` fails as upstream's NullPointerException does); every later call checks
  that the run belongs to the project (checkTaskRun: "TaskRun <id> not found"): the run, its
  state actions and its outputs. GET /api/project/{id}/task-runs lists them (TaskRunDetail).
- ACL (SecurityACLService): a project is its creator's; an admin (ROLE_ADMIN) reads and writes any.
  A guest may not start runs (checkUser: "You must be user!").
Stand-in: no deletion of runs, no inputs, logs or files of a run, no project members, ontologies, annotations or annotation layers (geometry outputs are not
turned into annotations), no slices; `image` and `annotation` provisions (which core downloads from
PIMS) fail with 500; read-only projects do not exist.
"""
import json
import re
import uuid

from standin_common import Response, json_response

JSON = "application/json"


class CoreError(Exception):
    """A CytomineException: its status, answered {"success": false, "message", "errors"} (ApiExceptionHandler)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status

    def response(self):
        return json_response(self.status, {"success": False, "message": str(self), "errors": str(self)})


class Relayed(Exception):
    """An answer of the app engine that core passes on as its own (AppEngineException)."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def answered(handler):
    """HANDLER's answer, core's exceptions answered as its exception handlers answer them."""
    try:
        return handler()
    except CoreError as e:
        return e.response()
    except Relayed as e:
        return e.response


def not_found(kind, key):
    return CoreError(404, f"{kind} {key} not found")  # ObjectNotFoundException(type, id)


def collection(items):
    return {"collection": items, "offset": 0, "perPage": len(items), "size": len(items), "totalPages": 1}


def saved(kind, row, message):
    """ResponseService.createResponseMessage for an AddCommand."""
    return json_response(
        200,
        {
            "message": message,
            "callback": {"method": f"be.cytomine.Add{kind}Command", f"{kind.lower()}ID": str(row["id"])},
            "printMessage": True,
            kind.lower(): row,
        },
    )


def is_admin(user):
    return bool({r["authority"] for r in user.get("roles") or []} & {"ROLE_ADMIN", "ROLE_SUPER_ADMIN"})


class Projects:
    """The routes below /api/ this module answers; `engine(method, uri, body, content_type)` calls the
    app engine as AppEngineService does and returns core's Response."""

    def __init__(self, db, engine):
        self.db = db
        self.engine = engine

    # -- the model ----------------------------------------------------------------------------

    def project(self, project_id, user):
        row = self.db.one("SELECT id, name, user_id, created FROM project WHERE id = %s", (project_id,))
        if row is None:
            raise not_found("Project", project_id)
        if not is_admin(user) and row["user_id"] != user["id"]:
            raise CoreError(
                403,
                "You don't have the right to read or modify this resource! class be.cytomine.domain.project.Project "
                f"{project_id}",
            )
        return row

    @staticmethod
    def project_json(row):
        return {
            "class": "be.cytomine.domain.project.Project",
            "id": row["id"],
            "name": row["name"],
            "user": row["user_id"],
            "created": str(int(row["created"].timestamp() * 1000)),
            "ontology": None,
        }

    def image(self, image_id):
        row = self.db.one(
            "SELECT i.id, i.project_id, i.base_image_id, i.user_id, a.original_filename, a.width, a.height "
            "FROM image_instance i JOIN abstract_image a ON a.id = i.base_image_id WHERE i.id = %s",
            (image_id,),
        )
        if row is None:
            raise not_found("ImageInstance", image_id)
        return row

    @staticmethod
    def image_json(row):
        return {
            "class": "be.cytomine.domain.image.ImageInstance",
            "id": row["id"],
            "baseImage": row["base_image_id"],
            "project": row["project_id"],
            "user": row["user_id"],
            "instanceFilename": row["original_filename"],
            "originalFilename": row["original_filename"],
            "width": row["width"],
            "height": row["height"],
        }

    # -- routes -------------------------------------------------------------------------------

    def route(self, req, me, rest):
        """The answer for /api/<rest>, or None when no route of this module matches. `me()` gives the
        current user; it is asked only once a route matched, as core's controllers ask it."""
        return dispatch(self, ROUTES, req, me, rest)

    def app_engine(self, req, me, rest):
        """TaskRunController's routes below /api/app-engine/, or None."""
        return dispatch(self, APP_ENGINE_ROUTES, req, me, rest)

    def list_projects(self, req, user):
        rows = self.db.all("SELECT id, name, user_id, created FROM project ORDER BY id")
        return json_response(
            200, collection([self.project_json(r) for r in rows if is_admin(user) or r["user_id"] == user["id"]])
        )

    def show_project(self, req, user, project_id):
        return json_response(200, self.project_json(self.project(int(project_id), user)))

    def project_images(self, req, user, project_id):
        project = self.project(int(project_id), user)
        ids = self.db.all("SELECT id FROM image_instance WHERE project_id = %s ORDER BY id", (project["id"],))
        return json_response(200, collection([self.image_json(self.image(r["id"])) for r in ids]))

    def show_image(self, req, user, image_id):
        row = self.image(int(image_id))
        self.project(row["project_id"], user)
        return json_response(200, self.image_json(row))

    def project_runs(self, req, user, project_id):
        """RestProjectController.getTaskRuns -> TaskRunService.getTaskRuns."""
        project = self.project(int(project_id), user)
        rows = self.db.all(
            "SELECT r.project_id, r.image_id, r.task_run_id, r.created, u.id AS uid, u.username, u.name "
            "FROM task_run r JOIN sec_user u ON u.id = r.user_id WHERE r.project_id = %s ORDER BY r.id",
            (project["id"],),
        )
        return json_response(
            200,
            [
                {
                    "project": r["project_id"],
                    "user": {"id": r["uid"], "username": r["username"], "name": r["name"]},
                    "image": r["image_id"],
                    "taskRunId": str(r["task_run_id"]),
                    "createdAt": int(r["created"].timestamp() * 1000),
                }
                for r in rows
            ],
        )

    def show_run(self, req, user, project_id, run):
        return self.call("GET", f"task-runs/{self.run_in(project_id, run, user)}")

    def provision_all(self, req, user, project_id, run):
        run = self.run_in(project_id, run, user)
        provisions = body_of(req)
        if not isinstance(provisions, list):
            raise CoreError(400, "JSON parse error: a list of provisions expected")
        answers = []
        for p in provisions:
            name = p.get("parameterName") if isinstance(p, dict) else None
            answers.append(json.loads(self.provision(run, str(name), p).body))
        return json_response(200, answers)

    def provision_one(self, req, user, project_id, run, name):
        return self.provision(self.run_in(project_id, run, user), name, body_of(req))

    def state_action(self, req, user, project_id, run):
        run = self.run_in(project_id, run, user)
        return self.call("POST", f"task-runs/{run}/state-actions", json.dumps(body_of(req), separators=(",", ":")).encode(), JSON)

    def run_outputs(self, req, user, project_id, run):
        return self.call("GET", f"task-runs/{self.run_in(project_id, run, user)}/outputs")

    # -- saves --------------------------------------------------------------------------------

    def add_project(self, req, user):
        body = body_of(req)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise CoreError(400, "Project.name cannot be null")
        row = self.db.one(
            "INSERT INTO project (name, user_id) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING "
            "RETURNING id, name, user_id, created",
            (name, user["id"]),
        )
        if row is None:
            raise CoreError(409, f"Project {name} already exist!")
        return saved("Project", self.project_json(row), f"Project {row['id']} ({name}) added")

    def add_uploaded_file(self, req, user):
        body = body_of(req)
        body = body if isinstance(body, dict) else {}
        storage = body.get("storage")
        if not any(s["id"] == storage for s in self.db.storages_of(user["id"])) and not is_admin(user):
            raise CoreError(403, f"You don't have the right to read or modify this resource! class be.cytomine.domain.image.server.Storage {storage}")
        if not self.db.one("SELECT id FROM storage WHERE id = %s", (storage,)):
            raise not_found("Storage", storage)
        if not body.get("originalFilename") or not body.get("filename"):
            raise CoreError(400, "UploadedFile.originalFilename and filename cannot be null")
        row = self.db.one(
            "INSERT INTO uploaded_file (storage_id, user_id, original_filename, filename, content_type, size) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, storage_id AS storage, original_filename AS \"originalFilename\", "
            "filename, content_type AS \"contentType\", size",
            (storage, user["id"], body["originalFilename"], body["filename"], body.get("contentType"), int(body.get("size") or 0)),
        )
        return saved("UploadedFile", dict(row, user=user["id"]), f"Uploaded file {row['id']} ({row['originalFilename']}) added")

    def add_abstract_image(self, req, user):
        body = body_of(req)
        body = body if isinstance(body, dict) else {}
        uploaded = self.db.one(
            "SELECT f.id, f.original_filename, f.storage_id, f.user_id FROM uploaded_file f WHERE f.id = %s",
            (body.get("uploadedFile"),),
        )
        if uploaded is None:
            raise not_found("UploadedFile", body.get("uploadedFile"))
        if uploaded["user_id"] != user["id"] and not is_admin(user):
            raise CoreError(403, f"You don't have the right to read or modify this resource! class be.cytomine.domain.image.UploadedFile {uploaded['id']}")
        row = self.db.one(
            "INSERT INTO abstract_image (uploaded_file_id, original_filename, width, height) VALUES (%s, %s, %s, %s) "
            "RETURNING id, uploaded_file_id AS \"uploadedFile\", original_filename AS \"originalFilename\", width, height",
            (uploaded["id"], body.get("originalFilename") or uploaded["original_filename"], body.get("width"), body.get("height")),
        )
        return saved("AbstractImage", dict(row), f"Image {row['id']} ({row['originalFilename']}) added")

    def add_image(self, req, user):
        body = body_of(req)
        body = body if isinstance(body, dict) else {}
        project = self.project(body.get("project"), user)
        base = self.db.one("SELECT id, original_filename FROM abstract_image WHERE id = %s", (body.get("baseImage"),))
        if base is None:
            raise not_found("AbstractImage", body.get("baseImage"))
        row = self.db.one(
            "INSERT INTO image_instance (base_image_id, project_id, user_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (project_id, base_image_id) DO NOTHING RETURNING id",
            (base["id"], project["id"], user["id"]),
        )
        if row is None:
            raise CoreError(409, f"Image {base['original_filename']} already map with project {project['name']}")
        image = self.image_json(self.image(row["id"]))
        return saved("ImageInstance", image, f"Image {image['id']} ({base['original_filename']}) added to project {project['name']}")

    # -- task runs ----------------------------------------------------------------------------

    def call(self, method, uri, body=None, content_type=None):
        """AppEngineService: a refused POST/PUT comes back as core's answer (Relayed)."""
        res = self.engine(method, uri, body, content_type)
        if res.status >= 300:
            raise Relayed(res)
        return res

    def add_run(self, req, user, project_id, task):
        # @PathVariable UUID task: the id's canonical form; else namespace/version.
        task = task if "/" in task else str(uuid.UUID(task))
        body = body_of(req)
        project = self.project(int(project_id), user)
        roles = {r["authority"] for r in user.get("roles") or []}
        if not roles & {"ROLE_USER", "ROLE_ADMIN", "ROLE_SUPER_ADMIN"}:
            raise CoreError(403, "You don't have the right to perform this action! You must be user!")
        created = json.loads(self.call("POST", f"/tasks/{task}/runs").body)
        image_id = body.get("image") if isinstance(body, dict) else None
        if image_id is None:  # body.get("image").asLong() on a missing node
            raise CoreError(500, 'Cannot invoke "com.fasterxml.jackson.databind.JsonNode.asLong()" because the return value of "com.fasterxml.jackson.databind.JsonNode.get(String)" is null')
        # JsonNode.asLong(): 0 for what is not a number.
        image = self.image(int(image_id) if str(image_id).isdigit() else 0)
        self.db.one(
            "INSERT INTO task_run (project_id, user_id, image_id, task_run_id) VALUES (%s, %s, %s, %s) RETURNING id",
            (project["id"], user["id"], image["id"], created["id"]),
        )
        # addTaskRun then reads the task's outputs for geometry layers; this stand-in keeps none.
        self.call("GET", f"/tasks/{task}/outputs")
        return json_response(200, created)

    def run_in(self, project_id, run, user):
        """checkTaskRun: the run (its canonical id) if it belongs to the project and the user may read it."""
        try:
            run = str(uuid.UUID(run))
        except ValueError:  # @PathVariable UUID: Spring's type mismatch
            raise CoreError(400, f"Failed to convert value of type 'java.lang.String' to required type 'java.util.UUID'; Invalid UUID string: {run}")
        if not self.db.one("SELECT id FROM task_run WHERE project_id = %s AND task_run_id = %s", (int(project_id), run)):
            raise not_found("TaskRun", run)
        self.project(int(project_id), user)
        return run

    def provision(self, run, name, provision):
        """provisionTaskRun: `type` decides; integers and the like go on as JSON without it."""
        kind = provision.get("type") if isinstance(provision, dict) else None
        if not isinstance(kind, dict) or "id" not in kind:
            raise CoreError(500, 'Cannot invoke "com.fasterxml.jackson.databind.JsonNode.isObject()" because the return value of "com.fasterxml.jackson.databind.JsonNode.get(String)" is null')
        if kind["id"] in ("image", "array", "geometry"):
            raise CoreError(500, f"the stand-in core does not provision {kind['id']} parameters")
        body = {k: v for k, v in provision.items() if k != "type"}
        return self.call("PUT", f"task-runs/{run}/input-provisions/{name}", json.dumps(body, separators=(",", ":")).encode(), JSON)


RUN = r"project/(\d+)/task-runs/([^/]+)"
# (method, path below /api/, handler): RestProjectController, ImageInstanceController and the rest.
ROUTES = [
    ("GET", r"project\.json", Projects.list_projects),
    ("POST", r"project\.json", Projects.add_project),
    ("GET", r"project/(\d+)\.json", Projects.show_project),
    ("GET", r"project/(\d+)/imageinstance\.json", Projects.project_images),
    ("GET", r"imageinstance/(\d+)\.json", Projects.show_image),
    ("POST", r"uploadedfile\.json", Projects.add_uploaded_file),
    ("POST", r"abstractimage\.json", Projects.add_abstract_image),
    ("POST", r"imageinstance\.json", Projects.add_image),
    ("GET", r"project/(\d+)/task-runs", Projects.project_runs),
]
# Below /api/app-engine/: TaskRunController.
APP_ENGINE_ROUTES = [
    ("POST", r"project/(\d+)/tasks/([^/]+/[^/]+|[0-9a-fA-F-]{36})/runs", Projects.add_run),
    ("GET", RUN, Projects.show_run),
    ("PUT", RUN + "/input-provisions", Projects.provision_all),
    ("PUT", RUN + r"/input-provisions/([^/]+)", Projects.provision_one),
    ("POST", RUN + "/state-actions", Projects.state_action),
    ("GET", RUN + "/outputs", Projects.run_outputs),
]


def dispatch(projects, table, req, me, rest):
    """The first route of TABLE matching the request, answered (None when none does); the user is
    asked for only then."""
    method = "GET" if req.method == "HEAD" else req.method
    for verb, pattern, handler in table:
        m = re.fullmatch(pattern, rest)
        if m and verb == method:
            return answered(lambda: handler(projects, req, me(), *m.groups()))
    return None


def body_of(req):
    try:
        return req.json()
    except ValueError:
        raise CoreError(400, "JSON parse error")
