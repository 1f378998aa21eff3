"""web-ui (Cytomine's Vue single-page app behind nginx), with a small page in place of the app.

Real: the entrypoint's step (web-ui/docker-entrypoint.sh:9-10): /app/configuration.json.template
rendered with envsubst into /tmp/configuration.json (an unset variable becomes ""), which fails when
/tmp cannot be written; nginx's routes (web-ui/nginx.conf:20-27): /configuration.json from /tmp,
every other GET path the app's index.html. Stand-in: index.html is a small page that signs in as the
real app does with keycloak-js and shows the current user (images/web-ui/index.html), not the app.
"""
import os
import re

from standin_common import Response, log

# The variables the template names (web-ui/scripts/configuration.json:10-15).
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def envsubst(text, env):
    """GNU envsubst without a variable list: every $VAR and ${VAR}, unset ones as ""."""
    return VARIABLE.sub(lambda m: env.get(m[1] or m[2], ""), text)


def start(ctx):
    app = ctx.path("/app")
    target = ctx.path("/tmp/configuration.json")
    tmp_item = next(w for w in ctx.contract["writable"] if w["path"] == "/tmp")
    with open(os.path.join(app, "configuration.json.template"), encoding="utf-8") as f:
        rendered = envsubst(f.read(), ctx.env)
    try:
        with open(target, "w", encoding="utf-8") as f:
            f.write(rendered)
    except OSError as e:
        ctx.refuse(tmp_item["failure"], tmp_item["path"], tmp_item["source"], f"{target}: {e}")
    log(f"web-ui stand-in: wrote {target}")
    with open(os.path.join(app, "index.html"), "rb") as f:
        index = f.read()

    def handle(req):
        if req.method not in ("GET", "HEAD"):
            return Response(405, "<html><body><h1>405 Not Allowed</h1></body></html>", "text/html")
        if req.path == "/configuration.json":
            try:
                with open(target, "rb") as f:
                    return Response(200, f.read(), "application/json", {"Cache-Control": "no-store"})
            except OSError:
                return Response(404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        return Response(200, index, "text/html", {"Cache-Control": "no-store"})

    return handle
