"""core (Cytomine's Spring Boot API server) as far as sign-in goes.

Real: the start checks the contract names (PostgreSQL with postgis, ltree created, MongoDB reachable),
bearer validation as Spring Security's resource server does it (JWKS from IAM_URL, RS256, exact
issuer, exp/nbf with 60 s skew, no audience), the Cytomine HMAC scheme, user provisioning from the
token, the current user looked up through the repository service, the app engine's task catalogue
relayed (RestTaskController); projects, images and task runs as standin_core_projects describes.
Stand-in: everything else (no annotations, ontologies, members); unknown paths answer 404, or 401
where core demands a user first.
Upstream files named below are paths of github.com/cytomine/cytomine at the contract's release.
"""
import base64
import hmac
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from jwt.algorithms import RSAAlgorithm

import standin_db
from standin_core_projects import Projects
from standin_common import Response, cytomine_signature, iso_instant, json_response, log, multipart_parts

DECODE = "An error occurred while attempting to decode the Jwt: {}"  # NimbusJwtDecoder's template
NO_KEY = "Signed JWT rejected: Another algorithm expected, or no matching key(s) found"
BEARER = re.compile(r"^Bearer (?P<token>[a-zA-Z0-9\-._~+/]+=*)$", re.I)  # DefaultBearerTokenResolver
CLOCK_SKEW = 60  # JwtTimestampValidator's default

# SecurityConfiguration.java:67-83: these /api paths are public, the rest of /api/** and the admin
# session paths need a user, everything else is public.
PUBLIC_API = re.compile(
    r"^/api/(abstractimage|meilisearch|imageinstance|userannotation)(/.*)?$|^/api/uploadedfile/[^/]+/download$"
)
SESSION = re.compile(r"^/session/admin/(info|open|close)\.json$")

ERROR_PAGE = {  # CustomErrorController.java:17-35
    401: ("Authorization required", "This page is not publicly available. To access it, please login first or use a valid token."),
    404: ("Resource not found", "The page does not exists."),
}


class InvalidToken(Exception):
    """A token Spring Security rejects: 401 with this description."""


class JwksUnavailable(Exception):
    """The key set cannot be fetched: Spring rethrows it as an AuthenticationServiceException (500)."""


class ServerError(Exception):
    """An error core answers 500 to."""


class NoUser(Exception):
    """A route that needs the current user reached without one: 401."""


def b64url(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Jwks:
    """The realm's keys, fetched on first use and again when a token names a key it lacks."""

    def __init__(self, url):
        self.url = url
        self.keys = None
        self.lock = threading.Lock()

    def fetch(self):
        try:
            with urllib.request.urlopen(self.url, timeout=10) as r:
                keys = json.loads(r.read())["keys"]
        except Exception as e:
            raise JwksUnavailable(DECODE.format(f"Couldn't retrieve remote JWK set: {e}")) from e
        self.keys = keys
        log(f"core stand-in: fetched {len(keys)} key(s) from {self.url}")

    def select(self, kid):
        def matching():
            return [
                k
                for k in self.keys or []
                if k.get("kty") == "RSA"
                and k.get("use") in (None, "sig")
                and k.get("alg") in (None, "RS256")
                and (kid is None or k.get("kid") == kid)
            ]

        with self.lock:
            if self.keys is None:
                self.fetch()
            found = matching()
            if not found:
                self.fetch()
                found = matching()
            return found


class Principal:
    def __init__(self, username, roles, via, row=None):
        self.username = username
        self.roles = set(roles)
        self.via = via
        self.row = row


def error_page(ctx, status):
    subject, message = ERROR_PAGE.get(status, ("Internal Error", ""))
    html = (
        f"<html>\n<head>\n<title>Cytomine error {status}</title>\n</head>\n<body>\n<div class=\"container\">\n"
        f"<h1>{status}</h1>\n<h2>{subject}</h2>\n<p>{message}</p>\n"
        f"<p><a href=\"{ctx.get('SERVER_URL', '')}\">Go back to Cytomine homepage</a></p>\n</div>\n</body>\n</html>\n"
    )
    return Response(status, html, "text/html;charset=UTF-8")


def invalid_token(description):
    # BearerTokenAuthenticationEntryPoint: empty body, the error in WWW-Authenticate.
    return Response(
        401,
        b"",
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}", '
            'error_uri="https://tools.ietf.org/html/rfc6750#section-3.1"'
        },
    )


def check_mongo(ctx):
    """MongoLiquibaseConfiguration runs at start (MongoLiquibaseConfiguration.java:34-48): MongoDB must
    answer. The stand-in checks TCP only (the local MongoDB is itself a TCP stand-in)."""
    host, port = ctx.get("MONGO_HOST"), int(ctx.get("MONGO_PORT"))
    deadline = time.monotonic() + ctx.wait
    while True:
        try:
            socket.create_connection((host, port), timeout=3).close()
            return
        except OSError as e:
            if time.monotonic() < deadline:
                time.sleep(1)
                continue
            ctx.refuse_env(
                "MONGO_HOST",
                f"nothing accepts TCP connections at {host}:{port} after {ctx.wait:g} s ({e}); MONGO_HOST and "
                "MONGO_PORT must name the tenant's MongoDB",
            )


def start(ctx):
    conn = standin_db.connect(ctx)
    standin_db.ensure_extensions(ctx, conn)
    standin_db.ensure_schema(conn)
    check_mongo(ctx)
    return Core(ctx, standin_db.Db(ctx, conn)).handle


class Core:
    def __init__(self, ctx, db):
        self.ctx = ctx
        self.db = db
        self.version = ctx.contract["image"].rsplit(":", 1)[1]
        # application.yml:36,38: the issuer and key set under IAM_(EXTERNAL_)URL, realm hard-coded.
        self.issuer = f"{ctx.get('IAM_EXTERNAL_URL')}/iam/realms/cytomine"
        self.jwks = Jwks(f"{ctx.get('IAM_URL')}/iam/realms/cytomine/protocol/openid-connect/certs")
        self.repository = ctx.get("REPOSITORY_URL").rstrip("/")
        # AppEngineService.buildFullUrl: APPENGINE_API_URL + APPENGINE_API_BASE_PATH + the call's uri
        # (application.yml:135-138).
        engine = ctx.get("APPENGINE_API_URL", "http://localhost") + ctx.get("APPENGINE_API_BASE_PATH", "/app-engine/v1/")
        self.projects = Projects(db, lambda method, uri, body=None, ctype=None: self.relay(method, engine + uri, body, ctype))
        self.app_engine_base = engine

    # -- authentication ------------------------------------------------------------------------

    def decode(self, token):
        """NimbusJwtDecoder + JwtValidators.createDefaultWithIssuer: claims, or InvalidToken."""
        parts = token.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not a JWS")
            header = json.loads(b64url(parts[0]))
            claims = json.loads(b64url(parts[1]))
            signature = b64url(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("not JSON objects")
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidToken(DECODE.format("Malformed token")) from e
        alg = header.get("alg")
        if alg in (None, "none"):
            raise InvalidToken(DECODE.format("Unsupported algorithm of none"))
        if alg != "RS256":  # jws-algorithms: RS256 (application.yml:37)
            raise InvalidToken(DECODE.format(NO_KEY))
        keys = self.jwks.select(header.get("kid"))
        if not keys:
            raise InvalidToken(DECODE.format(NO_KEY))
        signed = f"{parts[0]}.{parts[1]}".encode()
        rsa = RSAAlgorithm(RSAAlgorithm.SHA256)
        if not any(rsa.verify(signed, RSAAlgorithm.from_jwk(k), signature) for k in keys):
            raise InvalidToken(DECODE.format("Signed JWT rejected: Invalid signature"))
        now = time.time()
        # The validators in order; the first error is the message (JwtTimestampValidator, JwtIssuerValidator).
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if isinstance(exp, (int, float)) and now - CLOCK_SKEW > exp:
            raise InvalidToken(DECODE.format(f"Jwt expired at {iso_instant(exp)}"))
        if isinstance(nbf, (int, float)) and now + CLOCK_SKEW < nbf:
            raise InvalidToken(DECODE.format(f"Jwt used before {iso_instant(nbf)}"))
        if claims.get("iss") != self.issuer:
            raise InvalidToken(DECODE.format("The iss claim is not valid"))
        return claims

    def from_token(self, claims):
        """JwtAuthConverter (roles of resource_access.core only) and AuthenticationSuccessListener."""
        access = (claims.get("resource_access") or {}).get("core")
        if access is not None and access.get("roles") is None:
            raise ServerError("java.lang.NullPointerException: resource_access.core has no roles (JwtAuthConverter.java:68-69)")
        roles = {f"ROLE_{r}" for r in (access or {}).get("roles") or []}
        username = claims.get("preferred_username")
        try:
            sub = str(uuid.UUID(str(claims.get("sub"))))
        except ValueError as e:
            raise ServerError(
                f"java.lang.IllegalArgumentException: Invalid UUID string: {claims.get('sub')} "
                "(AuthenticationSuccessListener.java:81)"
            ) from e
        role = "ROLE_ADMIN" if "ROLE_ADMIN" in roles else "ROLE_USER" if "ROLE_USER" in roles else "ROLE_GUEST"
        try:
            self.db.provision(username, sub, claims, role)
        except standin_db.NullPointerException as e:
            raise ServerError(f"java.lang.NullPointerException: {e} (AuthenticationSuccessListener.java:102)") from e
        return Principal(username, roles, "bearer")

    def from_hmac(self, req, authorization):
        """ApiKeyFilter.tryAPIAuthentification (ApiKeyFilter.java:70-124): None when it does not authenticate."""
        if not req.header("date") or not req.header("host"):
            return None
        if not authorization.startswith("CYTOMINE") or " " not in authorization or ":" not in authorization:
            return None
        access_key = authorization[authorization.index(" ") + 1 : authorization.index(":")]
        signature = authorization[authorization.index(":") + 1 :]
        user = self.db.user_by("public_key", access_key)
        if user is None or not user["enabled"]:
            log(f"core stand-in: User cannot be extracted with accessKey {access_key}")
            return None
        md5 = req.header("content-MD5") or ""
        for content_type in (req.header("Content-Type") or "", ""):
            expected = cytomine_signature(user["private_key"], req.method, content_type, req.header("date"), md5)
            if hmac.compare_digest(expected, signature):
                return Principal(user["username"], user["roles"], "hmac", user)
        return None

    def authenticate(self, req):
        """The filter chain: TokenFromParameterFilter, ApiKeyFilter, BearerTokenAuthenticationFilter.
        Returns (principal or None, error response or None)."""
        authorization = req.header("Authorization")
        if authorization is None:
            token = req.query.get("auth", "").strip() or req.query.get("Authorization", "").strip()
            if token:
                authorization = token if token.startswith("Bearer") else f"Bearer {token}"
        if not authorization:
            return None, None
        if authorization.startswith("CYTOMINE"):
            principal = self.from_hmac(req, authorization)
            if principal:
                return principal, None
        if not authorization.lower().startswith("bearer"):
            return None, None
        m = BEARER.match(authorization)
        if not m:
            return None, invalid_token("Bearer token is malformed")
        try:
            claims = self.decode(m["token"])
        except InvalidToken as e:
            log(f"core stand-in: bearer token rejected: {e}")
            return None, invalid_token(str(e))
        except JwksUnavailable as e:
            log(f"core stand-in: org.springframework.security.authentication.AuthenticationServiceException: {e}")
            return None, error_page(self.ctx, 500)
        try:
            return self.from_token(claims), None
        except ServerError as e:
            log(f"core stand-in: {e}")
            return None, error_page(self.ctx, 500)

    # -- the current user ----------------------------------------------------------------------

    def current_user(self, principal):
        """CurrentUserService.getCurrentUser: HMAC gives the full user; a token gives a username that
        the repository service resolves (CurrentUserService.java:75-101; UserHttpContract.java:42-43)."""
        if principal.via == "hmac":
            return standin_db.user_json(principal.row)
        url = f"{self.repository}/users/search/{urllib.parse.quote(principal.username, safe='')}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise ServerError(f"Cannot find current user with username {principal.username}") from e
            raise ServerError(f'HttpServerErrorException: {e.code} on GET request for "{url}"') from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerError(
                f'org.springframework.web.client.ResourceAccessException: I/O error on GET request for "{url}": {reason}'
            ) from e

    # -- routes --------------------------------------------------------------------------------

    def handle(self, req):
        """CorsFilter first (SecurityConfiguration.java:42-58: any origin, with credentials), then the rest."""
        origin = req.header("Origin")
        if origin and req.method == "OPTIONS" and req.header("Access-Control-Request-Method"):
            return Response(
                200,
                b"",
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Credentials": "true",
                    "Access-Control-Allow-Methods": "GET,POST,PUT,DELETE,OPTIONS,PATCH",
                    "Access-Control-Allow-Headers": req.header("Access-Control-Request-Headers") or "*",
                    "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
                },
            )
        res = self.secured(req)
        if origin:
            res.headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Credentials": "true",
                    "Access-Control-Expose-Headers": "Content-Disposition",
                    "Vary": "Origin",
                }
            )
        return res

    def secured(self, req):
        principal, rejected = self.authenticate(req)
        if rejected:
            return rejected
        path = req.path
        protected = (path == "/api" or path.startswith("/api/")) and not PUBLIC_API.match(path) or SESSION.match(path)
        if protected and principal is None:
            return error_page(self.ctx, 401)
        try:
            return self.route(req, principal)
        except ServerError as e:
            log(f"core stand-in: {e}")
            return json_response(500, {"success": False, "message": str(e), "errors": str(e)})

    def route(self, req, principal):
        path, get = req.path, req.method in ("GET", "HEAD")
        if path == "/server/ping" and get:
            # ServerController.java:21-30 (version: the image's tag, sed into application.yml at build).
            return json_response(
                200,
                {
                    "alive": True,
                    "version": self.version,
                    "serverURL": self.ctx.get("SERVER_URL"),
                    "serverID": self.ctx.get("SERVER_ID", "default"),
                },
            )
        if path == "/api/user/current.json" and get:
            u = self.current_user(principal)
            first, last = u.get("firstname"), u.get("lastname")
            return json_response(
                200,
                {
                    "id": u.get("id"),
                    "username": u.get("username"),
                    "name": u.get("name"),
                    "email": u.get("email"),
                    "fullName": f"{first or ''} {last or ''}".strip(),
                    "firstname": first,
                    "lastname": last,
                    "language": u.get("language") or "EN",
                    "isDeveloper": bool(u.get("isDeveloper")),
                    "created": u.get("created"),
                    "updated": u.get("updated"),
                },
            )
        if SESSION.match(path) and get:
            # RestGrantRoleController.getCurrentRole; an admin's session opens at sign-in
            # (AuthenticationSuccessListener.java:117-119,146-150), so adminByNow follows the role.
            roles = {r["authority"] for r in self.current_user(principal).get("roles") or []}
            admin = "ROLE_ADMIN" in roles
            user = not admin and "ROLE_USER" in roles
            return json_response(
                200,
                {
                    "admin": admin,
                    "adminByNow": admin or "ROLE_SUPER_ADMIN" in roles,
                    "user": user,
                    "userByNow": "ROLE_USER" in roles,
                    "guest": not admin and not user and "ROLE_GUEST" in roles,
                    "guestByNow": "ROLE_GUEST" in roles,
                },
            )
        m = re.match(r"^/api/userkey/([^/]+)/keys\.json$", path)
        if m and get:
            # RestUserController.keys (RestUserController.java:156-163): the same user, or an admin.
            owner = self.db.user_by("public_key", urllib.parse.unquote(m[1]))
            if owner is None:
                return json_response(
                    404, {"success": False, "message": f"User not found with {{publicKey={m[1]}}}", "errors": ""}
                )
            me = self.current_user(principal)
            my_roles = {r["authority"] for r in me.get("roles") or []}
            if me.get("id") != owner["id"] and not my_roles & {"ROLE_ADMIN", "ROLE_SUPER_ADMIN"}:
                return json_response(403, {"success": False, "message": "You don't have the right to read this resource!"})
            return json_response(200, {"privateKey": owner["private_key"], "publicKey": owner["public_key"]})
        if path == "/api/storage.json" and get:
            me = self.current_user(principal)
            rows = self.db.storages_of(me["id"])
            items = [{"class": "be.cytomine.domain.image.server.Storage", "id": r["id"], "name": r["name"], "user": r["user_id"]} for r in rows]
            return json_response(200, {"collection": items, "offset": 0, "perPage": len(items), "size": len(items), "totalPages": 1})
        m = re.match(r"^/api/storage/(\d+)\.json$", path)
        if m and get:
            # StorageController.show (core/.../controller/repository/StorageController.java:56-62): a
            # storage the current user may read (the stand-in: one of its own), else 404 with its message.
            # PIMS's dataset import fetches it as the caller (pims/pims/importer/dataset.py:122-126).
            me = self.current_user(principal)
            row = next((r for r in self.db.storages_of(me["id"]) if r["id"] == int(m[1])), None)
            if row is None:
                return json_response(
                    404, {"success": False, "message": f"Unable to find storage with id: {m[1]}", "errors": ""}
                )
            return json_response(
                200, {"class": "be.cytomine.domain.image.server.Storage", "id": row["id"], "name": row["name"], "user": row["user_id"]}
            )
        def me():
            # Some of these paths are public in the filter chain (PUBLIC_API), but the controllers'
            # ACL checks need a user.
            if principal is None:
                raise NoUser()
            return self.current_user(principal)

        try:
            # @ConditionalOnExpression("${application.appEngine.enabled: false}"): without it, no such routes.
            if path.startswith("/api/app-engine/") and self.ctx.get("APPENGINE_ENABLED", "true").lower() == "true":
                rest = path[len("/api/app-engine/") :]
                if rest.startswith("project/"):
                    return self.projects.app_engine(req, me, rest) or error_page(self.ctx, 404)
                return self.app_engine(req, rest)
            if path.startswith("/api/"):
                return self.projects.route(req, me, path[len("/api/") :]) or error_page(self.ctx, 404)
        except NoUser:
            return error_page(self.ctx, 401)
        return error_page(self.ctx, 404)

    def app_engine(self, req, rest):
        """RestTaskController (controller/appengine/RestTaskController.java:48-102): the task catalogue,
        relayed to the app engine (AppEngineService.buildFullUrl). Task runs (TaskRunController) are
        standin_core_projects's."""
        base = self.app_engine_base
        if req.method == "GET" and (rest == "tasks" or re.fullmatch(r"tasks/[^/]+/[^/]+", rest)):
            return self.relay("GET", base + rest)
        if req.method == "POST" and rest == "tasks":
            task = next((data for name, filename, data in multipart_parts(req) if name == "task" and filename), None)
            if task is None:  # @RequestParam("task") MultipartFile: Spring's MissingServletRequestPartException
                return json_response(400, {"success": False, "message": "Required part 'task' is not present.", "errors": ""})
            # Written to a temporary file, posted again as the part "task" (RestTaskController.java:93-102).
            boundary = uuid.uuid4().hex
            head = (
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"task\"; filename=\"{uuid.uuid4()}.tmp\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n"
            )
            body = head.encode() + task + f"\r\n--{boundary}--\r\n".encode()
            return self.relay("POST", base + "tasks", body, f"multipart/form-data; boundary={boundary}")
        return error_page(self.ctx, 404)

    def relay(self, method, url, body=None, content_type=None):
        """RestTemplate.exchange: the app engine's answer as core's own. A POST the app engine refuses is
        answered with its status and body (AppEngineException: ApiExceptionHandler.java:202-214); a GET
        refused, or no answer at all, is a 500 (no handler for RestTemplate's exceptions)."""
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers), timeout=120) as res:
                return Response(res.status, res.read(), res.headers.get("Content-Type") or "application/json")
        except urllib.error.HTTPError as e:
            if method != "GET":
                return Response(e.code, e.read(), e.headers.get("Content-Type") or "application/json")
            raise ServerError(f"{e.code} {e.reason} on GET request for \"{url}\"")
        except OSError as e:
            raise ServerError(f"I/O error on {method} request for \"{url}\": {e}")
