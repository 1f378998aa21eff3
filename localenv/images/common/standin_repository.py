"""repository (Cytomine's data service behind core) as far as sign-in goes.

Real: it shares core's PostGIS database and tables, writes IMAGE_SERVER_PUBLIC_KEY/PRIVATE_KEY onto
the ImageServer1 user at start (repository/src/main/java/org/cytomine/repository/RepositoryApp.java:
44-61), answers GET /ping with "pong" (http/HealthController.java:10-16) and GET /users/search/{name}
with the user or 404 (common/.../repository/http/UserHttpContract.java:42-43). Stand-in: every other
route (ontologies, storages, commands, ...) answers 404.
"""
import re
import urllib.parse

import standin_db
from standin_common import Response, json_response, log

IMAGE_SERVER = "ImageServer1"


def start(ctx):
    conn = standin_db.connect(ctx)
    standin_db.ensure_extensions(ctx, conn)
    standin_db.ensure_schema(conn)
    db = standin_db.Db(ctx, conn)
    public, private = ctx.get("IMAGE_SERVER_PUBLIC_KEY"), ctx.get("IMAGE_SERVER_PRIVATE_KEY")
    if public and private and db.set_keys(IMAGE_SERVER, public, private):
        log(f"repository stand-in: Assigned image server keys to user {IMAGE_SERVER}")

    def handle(req):
        get = req.method in ("GET", "HEAD")
        if req.path == "/ping" and get:
            return Response(200, "pong", "text/plain;charset=UTF-8")
        m = re.match(r"^/users/search/([^/]+)$", req.path)
        if m and get:
            row = db.user_by("username", urllib.parse.unquote(m[1]))
            return json_response(200, standin_db.user_json(row)) if row else Response(404)
        return json_response(404, {"status": 404, "error": "Not Found", "path": req.path})

    return handle
