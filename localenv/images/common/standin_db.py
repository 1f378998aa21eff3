"""The PostGIS database core and repository share: connection (waiting as Spring's pool would; the
app engine connects to its own database the same way),
the contract's extensions, the few tables the stand-ins use, and ImageServer1's seed.

Upstream both services run the same Liquibase changelog on the same database
(core/src/main/resources/application.yml:60-62; repository/src/main/resources/application.yml:20-23);
the tables here are a small subset of its columns, created IF NOT EXISTS by whichever starts first.
"""
import re
import threading
import time
import uuid

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from standin_common import log

# Whichever of core and repository gets here first creates the tables; the other waits for it.
SCHEMA_LOCK = 0x43595430  # "CYT0"

SCHEMA = """
CREATE TABLE IF NOT EXISTS sec_user (
    id serial PRIMARY KEY,
    username text NOT NULL UNIQUE,
    reference text UNIQUE,
    name text,
    firstname text,
    lastname text,
    email text,
    language text NOT NULL DEFAULT 'ENGLISH',
    is_developer boolean NOT NULL DEFAULT false,
    enabled boolean NOT NULL DEFAULT true,
    public_key text UNIQUE,
    private_key text,
    roles text[] NOT NULL DEFAULT '{}',
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz
);
CREATE TABLE IF NOT EXISTS storage (
    id serial PRIMARY KEY,
    name text NOT NULL,
    user_id integer NOT NULL REFERENCES sec_user (id),
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS project (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    user_id integer NOT NULL REFERENCES sec_user (id),
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS uploaded_file (
    id serial PRIMARY KEY,
    storage_id integer NOT NULL REFERENCES storage (id),
    user_id integer NOT NULL REFERENCES sec_user (id),
    original_filename text NOT NULL,
    filename text NOT NULL,
    content_type text,
    size bigint NOT NULL DEFAULT 0,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS abstract_image (
    id serial PRIMARY KEY,
    uploaded_file_id integer NOT NULL REFERENCES uploaded_file (id),
    original_filename text NOT NULL,
    width integer,
    height integer,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS image_instance (
    id serial PRIMARY KEY,
    base_image_id integer NOT NULL REFERENCES abstract_image (id),
    project_id integer NOT NULL REFERENCES project (id),
    user_id integer NOT NULL REFERENCES sec_user (id),
    created timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, base_image_id)
);
CREATE TABLE IF NOT EXISTS task_run (
    id serial PRIMARY KEY,
    project_id integer NOT NULL REFERENCES project (id),
    user_id integer NOT NULL REFERENCES sec_user (id),
    image_id integer NOT NULL REFERENCES image_instance (id),
    task_run_id uuid NOT NULL UNIQUE,
    created timestamptz NOT NULL DEFAULT now()
);
"""

# As common/src/main/resources/config/liquibase/changelog/2026-07-20-seed-imageserver-user.sql
# (prod context): the image server's user with random keys, its roles, and its storage.
SEED = """
INSERT INTO sec_user (username, name, reference, public_key, private_key, roles)
SELECT 'ImageServer1', 'Image Server', md5('ImageServer1'), %s, %s, '{ROLE_USER,ROLE_ADMIN,ROLE_SUPER_ADMIN}'
WHERE NOT EXISTS (SELECT 1 FROM sec_user WHERE username = 'ImageServer1');
INSERT INTO storage (name, user_id)
SELECT 'ImageServer1 storage', u.id FROM sec_user u
WHERE u.username = 'ImageServer1' AND NOT EXISTS (SELECT 1 FROM storage WHERE name = 'ImageServer1 storage');
"""

# psycopg2's messages while the server cannot take connections yet (not started, starting, DNS).
WAITING = re.compile(
    r"Connection refused|could not connect|starting up|shutting down|recovery mode|"
    r"could not translate host name|Name or service not known|No route to host|timeout expired",
    re.I,
)


# The variables a service's database settings are read from, by psycopg2 parameter: core's and the
# repository's (core/src/main/resources/application.yml:43-45); the app engine names its own
# (app-engine/src/main/resources/application.yml:12-15). The port defaults to PostgreSQL's.
POSTGIS_VARIABLES = {
    "host": "POSTGIS_HOST",
    "port": "POSTGIS_PORT",
    "dbname": "POSTGIS_DB_NAME",
    "user": "POSTGIS_USER",
    "password": "POSTGIS_PASS",
}


def _params(ctx, variables):
    return {
        "host": ctx.get(variables["host"]),
        "port": int(ctx.get(variables["port"], "5432")),
        "dbname": ctx.get(variables["dbname"]),
        "user": ctx.get(variables["user"]),
        "password": ctx.get(variables["password"]),
        "connect_timeout": 5,
        "application_name": f"cytomine-standin-{ctx.component}",
    }


def _connect_once(ctx, variables=POSTGIS_VARIABLES):
    conn = psycopg2.connect(**_params(ctx, variables))
    conn.autocommit = True
    return conn


def connect(ctx, variables=POSTGIS_VARIABLES):
    """Connects, retrying for up to ctx.wait seconds while the server does not accept connections;
    refuses with PgJDBC's message, naming the variable it points at."""
    p = _params(ctx, variables)
    deadline = time.monotonic() + ctx.wait
    announced = 0.0
    while True:
        try:
            return _connect_once(ctx, variables)
        except psycopg2.OperationalError as e:
            msg = " ".join(str(e).split())
            if WAITING.search(msg) and time.monotonic() < deadline:
                if time.monotonic() - announced > 10:
                    log(f"{ctx.component} stand-in: waiting for PostgreSQL at {p['host']}:{p['port']}: {msg}")
                    announced = time.monotonic()
                time.sleep(1)
                continue
            if "FATAL:" in msg:
                # PgJDBC reports the server's own message.
                failure = "org.postgresql.util.PSQLException: " + msg[msg.index("FATAL:") :]
                name = variables[
                    "password"
                    if "password" in msg
                    else "dbname"
                    if "database" in msg and "does not exist" in msg
                    else "user"
                ]
            else:
                failure = (
                    f"org.postgresql.util.PSQLException: Connection to {p['host']}:{p['port']} refused. Check that "
                    "the hostname and port are correct and that the postmaster is accepting TCP/IP connections."
                )
                name = variables["host"]
            ctx.refuse(failure, name, ctx.env_item(name)["source"], f"psycopg2 (after up to {ctx.wait:g} s): {msg}")


def ensure_extensions(ctx, conn):
    """The contract's extensions: those the database image makes must be there, the others are created."""
    db = ctx.get("POSTGIS_DB_NAME")
    with conn.cursor() as cur:
        for ext in ctx.contract.get("extensions") or []:
            if ext["createdBy"] == "image":
                cur.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (ext["name"],))
                if cur.fetchone() is None:
                    ctx.refuse(
                        ext["failure"],
                        ext["name"],
                        ext["source"],
                        f'extension "{ext["name"]}" is not installed in database "{db}" (its database image makes it)',
                    )
            else:
                try:
                    cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext["name"])))
                except psycopg2.Error as e:
                    ctx.refuse(
                        ext["failure"],
                        ext["name"],
                        ext["source"],
                        f"CREATE EXTENSION IF NOT EXISTS {ext['name']}: {' '.join(str(e).split())}",
                    )


def ensure_schema(conn):
    with conn:  # one transaction, serialised with the other service's by an advisory lock
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            cur.execute(SCHEMA)
            cur.execute(SEED, (str(uuid.uuid4()), str(uuid.uuid4())))
    conn.autocommit = True


class Db:
    """One connection, used by one request at a time (enough for a stand-in); reconnects when lost."""

    def __init__(self, ctx, conn):
        self.ctx = ctx
        self.conn = conn
        self.lock = threading.Lock()

    def run(self, fn):
        with self.lock:
            if self.conn.closed:
                self.conn = _connect_once(self.ctx)
            try:
                with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    return fn(cur)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.conn.close()
                raise

    def one(self, query, args=()):
        def q(cur):
            cur.execute(query, args)
            return cur.fetchone()

        return self.run(q)

    def all(self, query, args=()):
        def q(cur):
            cur.execute(query, args)
            return cur.fetchall()

        return self.run(q)

    def user_by(self, column, value):
        assert column in ("username", "reference", "public_key", "id")
        return self.one(f"SELECT * FROM sec_user WHERE {column} = %s", (value,))

    def storages_of(self, user_id):
        return self.all("SELECT id, name, user_id FROM storage WHERE user_id = %s ORDER BY id", (user_id,))

    def set_keys(self, username, public_key, private_key):
        return self.one(
            "UPDATE sec_user SET public_key = %s, private_key = %s, updated = now() WHERE username = %s RETURNING id",
            (public_key, private_key, username),
        )

    def provision(self, username, sub, claims, role):
        """AuthenticationSuccessListener.saveUserOfToken (core/src/main/java/be/cytomine/utils/
        AuthenticationSuccessListener.java:77-128): link by username, create, or refresh the role."""
        text = lambda k: str(claims[k]) if claims.get(k) is not None else ""  # noqa: E731

        def q(cur):
            cur.execute("SELECT * FROM sec_user WHERE reference = %s", (sub,))
            by_ref = cur.fetchone()
            cur.execute("SELECT * FROM sec_user WHERE username = %s", (username,))
            by_name = cur.fetchone()
            if by_name and not by_ref:
                cur.execute(
                    "UPDATE sec_user SET reference = %s, firstname = %s, lastname = %s, email = %s, roles = %s, "
                    "updated = now() WHERE id = %s",
                    (sub, text("given_name"), text("family_name"), text("email"), [role], by_name["id"]),
                )
            elif not by_ref:
                if claims.get("name") is None:
                    raise NullPointerException(
                        'Cannot invoke "Object.toString()" because the return value of '
                        '"java.util.Map.get(Object)" is null (claim "name" of a new user)'
                    )
                cur.execute(
                    "INSERT INTO sec_user (username, reference, name, firstname, lastname, email, public_key, "
                    "private_key, roles) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        username,
                        sub,
                        str(claims["name"]),
                        text("given_name"),
                        text("family_name"),
                        text("email"),
                        str(uuid.uuid4()),
                        str(uuid.uuid4()),
                        [role],
                    ),
                )
                new_id = cur.fetchone()["id"]
                cur.execute("INSERT INTO storage (name, user_id) VALUES (%s, %s)", (f"{username} storage", new_id))
            else:
                cur.execute("UPDATE sec_user SET roles = %s WHERE id = %s", ([role], by_ref["id"]))

        return self.run(q)


class NullPointerException(Exception):
    pass


def millis(ts):
    return None if ts is None else str(int(ts.timestamp() * 1000))


def user_json(row):
    """A user as the repository service returns it (and core's /api/user/current.json reads)."""
    return {
        "id": row["id"],
        "username": row["username"],
        "name": row["name"],
        "firstname": row["firstname"],
        "lastname": row["lastname"],
        "email": row["email"],
        "language": row["language"],
        "isDeveloper": row["is_developer"],
        "reference": row["reference"],
        "enabled": row["enabled"],
        "created": millis(row["created"]),
        "updated": millis(row["updated"]),
        "roles": [{"authority": r} for r in row["roles"]],
    }
