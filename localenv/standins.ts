// Stand-ins for the images the program's compose file names, built here because no container
// registry can be reached: a Debian base made with debootstrap and `docker import`, then one small
// image per name (Dockerfiles in images/<dir>/) whose Debian packages arrive as one ADDed layer made
// on the host by images/rootfs.sh, so image builds run with --network none.
//
// Caches, keyed by digests of their inputs: the base rootfs tarball and the package layers live in
// ~/.cache/cytomine-fallback/docker/ (machine-wide, so a fresh clone does not debootstrap again);
// each image carries its digest as the label cytomine-env.digest and is rebuilt when it changes.
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { atRelease, CONTRACTS, RELEASE_TAGS } from "../components/model/release";
import { DEFAULT_IMPORT_IMAGE, PYTHON_CLIENT_VERSION } from "../components/model/datasets";
import { DEFAULT_IMAGES } from "../components/model/settings";
import { EnvError, engineGet, tail } from "./proc";
import { EnvSettings } from "./settings";

export const IMAGES_DIR = path.join(__dirname, "images");
export const BASE_TAG = "cytomine-env/debian:bookworm";
export const DIGEST_LABEL = "cytomine-env.digest";
/** Debian's mirror, as the host's apt uses it (/etc/apt/sources.list.d/debian.sources). */
export const BASE = { suite: "bookworm", variant: "minbase", mirror: "http://deb.debian.org/debian" } as const;
/** The base's python3 (bookworm's): the host's /usr/bin/python3 must be the same for pythonPackages. */
export const BASE_PYTHON = "3.11";

export interface StandinSpec {
    /** Folder under images/ with the Dockerfile; images/common/ is added to every build context as common/. */
    dir: string;
    /** The exact names of the images it stands in for. */
    tags: string[];
    /** Debian packages of its layer (installed with --no-install-recommends). */
    packages: string[];
    /** Shell run in the chroot before apt-get: accounts with the upstream image's uid, package settings. */
    preinstall: string;
    /** Whether the build context gets the Keycloak distribution as keycloak.tar.gz. */
    keycloak?: boolean;
    /**
     * Programs the toolchain built (scripts/toolchain.sh), copied from the folder FROM into the build
     * context's bin/; their content is part of the image's digest, so a rebuilt program rebuilds it.
     */
    binaries?: { from: string; files: string[] };
    /**
     * The release service it stands in for: its build context gets CONTRACTS[contract] as contract.json
     * (components/model/release.ts), which common/cytomine-standin.py enforces at start.
     */
    contract?: string;
    /**
     * PyPI requirements for the image's python3. Builds have no network, so pip installs them on the
     * host, in a venv of /usr/bin/python3 (which must be BASE_PYTHON, so the wheels fit the image's);
     * the venv's site-packages without pip, setuptools and bytecode (it would name the venv's paths)
     * is the build context's site-packages.tar, for the Dockerfile to ADD to
     * /usr/local/lib/python3.11/dist-packages/. Cached machine-wide per list: what pip resolved stays
     * until the list changes.
     */
    pythonPackages?: string[];
}

/** A release service's contract as its stand-in reads it (functions, such as value checks, drop out). */
export function contractJson(component: string): string {
    const contract = CONTRACTS[component];
    if (!contract) throw new Error(`no contract for ${component} in components/model/release.ts`);
    return JSON.stringify(contract, null, 2);
}

/** Debian packages of the release stand-ins (one shared layer): Python, JWT/RSA, PostgreSQL client, YAML (task descriptors). */
export const RELEASE_STANDIN_PACKAGES = [
    "python3",
    "python3-cryptography",
    "python3-jwt",
    "python3-psycopg2",
    "python3-yaml",
];

/**
 * A stand-in for a release service, tagged with exactly the release's image name, for every release
 * the stack describes: they share the contract (components/model/release.ts, EARLIER_RELEASES).
 */
const release = (component: string, dir = component): StandinSpec => ({
    dir,
    tags: [...new Set(RELEASE_TAGS.map((t) => atRelease(CONTRACTS[component].image, t)))],
    packages: RELEASE_STANDIN_PACKAGES,
    preinstall: "",
    contract: component,
});

/** A system account with a fixed uid/gid, created before a package's postinst would pick one. */
function account(user: string, id: number, home: string, shell = "/usr/sbin/nologin"): string {
    return [
        `groupadd --system --gid ${id} ${user}`,
        `useradd --system --uid ${id} --gid ${user} --home-dir ${home} --no-create-home --shell ${shell} ${user}`,
    ].join("\n");
}

// The official postgres image's postgres user (docker-library/postgres) and no cluster from the
// package: the entrypoint makes it in PGDATA (postgresql-common's createcluster.conf(5)).
const postgresPre = [
    account("postgres", 999, "/var/lib/postgresql", "/bin/bash"),
    "mkdir -p /etc/postgresql-common/createcluster.d",
    "echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/cytomine-env.conf",
].join("\n");

export function standinSpecs(s: EnvSettings): StandinSpec[] {
    return [
        release("core"),
        release("repository"),
        release("web-ui"),
        release("meilisearch"),
        release("pims"),
        release("app-engine"),
        release("sam"),
        release("cbir"),
        { dir: "mongo", tags: ["mongo:5.0-focal"], packages: ["python3"], preinstall: "" },
        {
            dir: "redis",
            tags: ["redis:7.2"],
            packages: ["redis-server"],
            preinstall: account("redis", 999, "/var/lib/redis"),
        },
        {
            dir: "postgres",
            tags: ["postgres:15"],
            packages: ["postgresql-15", "libnss-wrapper"],
            preinstall: postgresPre,
        },
        {
            dir: "postgis",
            tags: ["postgis/postgis:15-3.5"],
            packages: ["postgresql-15", "postgresql-15-postgis-3", "libnss-wrapper"],
            preinstall: postgresPre,
        },
        {
            dir: "keycloak",
            tags: [`quay.io/keycloak/keycloak:${s.docker.keycloakVersion}`],
            packages: ["openjdk-17-jre-headless"],
            // Upstream's user: uid 1000 in group 0 (keycloak/keycloak quarkus/container/Dockerfile).
            preinstall:
                "useradd --uid 1000 --gid 0 --home-dir /opt/keycloak --no-create-home --shell /sbin/nologin keycloak",
            keycloak: true,
        },
        {
            dir: "nginx",
            tags: ["nginx:1.27.5"],
            packages: ["nginx", "gettext-base"],
            // The official image's nginx user (nginxinc/docker-nginx).
            preinstall: account("nginx", 101, "/nonexistent", "/bin/false"),
        },
        {
            // Not a stand-in: the app engine's task pods' helper containers, per release: curl, jq and
            // zip, and the unzip and time that alpine's busybox brings (KubernetesScheduler.java:172-173).
            dir: "app-engine-tasks-runner",
            tags: [...new Set(RELEASE_TAGS.map((t) => atRelease(DEFAULT_IMAGES.tasksRunner, t)))],
            packages: ["curl", "jq", "zip", "unzip", "time", "ca-certificates"],
            preinstall: "",
        },
        // Not a stand-in: Debian's restic 0.14.0, for the Kubernetes target's backup pods.
        { dir: "restic", tags: [DEFAULT_IMAGES.restic], packages: ["restic", "ca-certificates"], preinstall: "" },
        {
            // Not a stand-in: distribution's real registry program under upstream's name, as the
            // toolchain builds it (v3.0.0: v2.8.3's dependencies are not served); both serve the
            // Distribution HTTP API V2 (/v2/) the app engine pushes task images through.
            dir: "registry",
            tags: [DEFAULT_IMAGES.registry],
            packages: ["ca-certificates"],
            preinstall: "",
            binaries: { from: s.docker.registryBinDir, files: ["registry"] },
        },
        {
            // Not a stand-in: the VM target's own pods API for task runs (components/vm/task-pods),
            // a static program alone in its image.
            dir: "task-pods",
            tags: [DEFAULT_IMAGES.taskPods],
            packages: [],
            preinstall: "",
            binaries: { from: s.docker.taskPodsBinDir, files: ["task-pods"] },
        },
        {
            // Not a stand-in: the release's real Python client, for the Kubernetes dataset import Job.
            dir: "python-client",
            tags: [DEFAULT_IMPORT_IMAGE],
            packages: ["python3", "python-is-python3"],
            preinstall: "",
            // Its dependencies pinned at what pip resolved for 4.3.0 on 2026-12-06, so that every
            // machine builds the same image.
            pythonPackages: [
                `cytomine-python-client==${PYTHON_CLIENT_VERSION}`,
                "cachecontrol==0.14.2",
                "certifi==2026.10.19.post1",
                "charset-normalizer==3.5.3",
                "idna==3.21",
                "msgpack==1.2.4",
                "numpy==2.4.6",
                "requests==2.33.0",
                "requests-toolbelt==1.0.0",
                "shapely==2.0.7",
                "urllib3==2.7.0",
            ],
        },
    ];
}

const sha256 = (data: crypto.BinaryLike) => crypto.createHash("sha256").update(data).digest("hex");
// A copy as a plain Uint8Array: @types/node 20.9's Buffer does not type-check as BinaryLike under TS 5.9.
const fileSha256 = (file: string) => sha256(new Uint8Array(fs.readFileSync(file)));

/** A digest of named inputs, independent of key order. */
export function digestOf(parts: Record<string, unknown>): string {
    const canonical = (v: unknown): unknown =>
        v && typeof v === "object" && !Array.isArray(v)
            ? Object.fromEntries(
                  Object.keys(v as object)
                      .sort()
                      .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
              )
            : Array.isArray(v)
              ? v.map(canonical)
              : v;
    return sha256(JSON.stringify(canonical(parts))).slice(0, 16);
}

/** Every file under DIR as "relative path, mode, content digest", sorted: a build context's identity. */
export function treeFingerprint(dir: string): string[] {
    const out: string[] = [];
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else
                out.push(
                    `${path.relative(dir, p)} ${(fs.statSync(p).mode & 0o111) !== 0 ? "x" : "-"} ${fileSha256(p)}`,
                );
        }
    };
    walk(dir);
    return out.sort();
}

/** The base rootfs: debootstrap's inputs and the scripts that shape it. */
export function baseDigest(imagesDir = IMAGES_DIR): string {
    return digestOf({
        ...BASE,
        setup: fileSha256(path.join(imagesDir, "base", "setup.sh")),
        rootfs: fileSha256(path.join(imagesDir, "rootfs.sh")),
    });
}

/** A package layer: what it is installed on, what is installed, and how. */
export function layerDigest(base: string, spec: Pick<StandinSpec, "packages" | "preinstall">): string {
    return digestOf({ base, packages: [...spec.packages].sort(), preinstall: spec.preinstall });
}

/** A site-packages.tar: the PyPI requirements (in any order) and the Python they are installed for. */
export function pythonDigest(packages: string[]): string {
    return digestOf({ python: BASE_PYTHON, packages: [...packages].sort() });
}

/**
 * An image: its layer, its build context (its folder and common/), the Keycloak version it embeds and
 * the digests of the contract.json, site-packages.tar and programs it gets (absent for images without
 * them, so their digests stay put).
 */
export function imageDigest(inputs: {
    base: string;
    layer: string;
    context: string[];
    tags: string[];
    keycloak?: string;
    contract?: string;
    python?: string;
    binaries?: string[];
}): string {
    const { contract, python, binaries, ...rest } = inputs;
    return digestOf({
        ...rest,
        keycloak: inputs.keycloak ?? null,
        ...(contract === undefined ? {} : { contract }),
        ...(python === undefined ? {} : { python }),
        ...(binaries === undefined ? {} : { binaries }),
    });
}

/**
 * "file sha256" of each of a spec's programs; "file missing" when the toolchain has not built it, so
 * the image counts as outdated and its build fails with the fix.
 */
export function binariesFingerprint(binaries: { from: string; files: string[] }): string[] {
    return binaries.files.map((f) => {
        const file = path.join(binaries.from, f);
        return `${f} ${fs.existsSync(file) ? fileSha256(file) : "missing"}`;
    });
}

function imageInputs(s: EnvSettings, spec: StandinSpec, base: string) {
    const layer = layerDigest(base, spec);
    const context = [
        ...treeFingerprint(path.join(IMAGES_DIR, spec.dir)),
        ...treeFingerprint(path.join(IMAGES_DIR, "common")).map((l) => `common/${l}`),
    ];
    const keycloak = spec.keycloak ? `keycloak-quarkus-dist:${s.docker.keycloakVersion}` : undefined;
    const contract = spec.contract ? sha256(contractJson(spec.contract)) : undefined;
    const python = spec.pythonPackages ? pythonDigest(spec.pythonPackages) : undefined;
    const binaries = spec.binaries ? binariesFingerprint(spec.binaries) : undefined;
    return {
        layer,
        digest: imageDigest({ base, layer, context, tags: spec.tags, keycloak, contract, python, binaries }),
    };
}

/** Tag -> digest label of every image the daemon has that carries one. */
async function labelledImages(socket: string): Promise<Map<string, string>> {
    const filters = encodeURIComponent(JSON.stringify({ label: [DIGEST_LABEL] }));
    const body = await engineGet(socket, `/images/json?filters=${filters}`, 10_000);
    if (body === undefined) throw new EnvError("dockerd did not list its images", "run 'npm run env:status'");
    const out = new Map<string, string>();
    for (const img of JSON.parse(body) as { RepoTags?: string[] | null; Labels?: Record<string, string> | null }[]) {
        for (const tag of img.RepoTags ?? []) out.set(tag, img.Labels?.[DIGEST_LABEL] ?? "");
    }
    return out;
}

const socketOf = (host: string) => host.replace(/^unix:\/\//, "");

/** Which stand-ins the daemon at HOST has up to date, and which are missing or outdated. */
export async function standinsStatus(s: EnvSettings, host: string): Promise<{ present: string[]; missing: string[] }> {
    const have = await labelledImages(socketOf(host));
    const base = baseDigest();
    const present: string[] = [];
    const missing: string[] = [];
    for (const spec of standinSpecs(s)) {
        const { digest } = imageInputs(s, spec, base);
        for (const tag of spec.tags) (have.get(tag) === digest ? present : missing).push(tag);
    }
    return { present, missing };
}

/** Runs CMD, appending its output to LOG; throws with the log's tail when it fails. */
function logged(cmd: string, args: string[], log: string, what: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
    return new Promise((resolve, reject) => {
        const out = fs.openSync(log, "a");
        fs.writeSync(out, `\n$ ${cmd} ${args.join(" ")}\n`);
        const child = spawn(cmd, args, { stdio: ["ignore", out, out], env: { ...process.env, ...env } });
        fs.closeSync(out);
        const t0 = Date.now();
        child.on("exit", () => fs.appendFileSync(log, `(${Math.round((Date.now() - t0) / 1000)} s)\n`));
        child.on("error", (e) => reject(new EnvError(`${what}: ${e.message}`, `check that ${cmd} is installed`)));
        child.on("exit", (code) =>
            code === 0
                ? resolve()
                : reject(
                      new EnvError(
                          `${what} failed (exit ${code}). Last lines of ${log}:\n${tail(log, 25)}`,
                          "read the log; a mirror that cannot be reached shows as 'Temporary failure resolving' or 'Could not connect'",
                      ),
                  ),
        );
    });
}

function cachePaths(s: EnvSettings, base: string) {
    const dir = s.docker.cacheDir;
    return {
        dir,
        baseTar: path.join(dir, `debian-${BASE.suite}-${BASE.variant}-${base}.tar`),
        baseRoot: path.join(dir, `debian-${BASE.suite}-${BASE.variant}-${base}.rootfs`),
        layer: (digest: string) => path.join(dir, "layers", `${digest}.tar`),
    };
}

async function ensureBaseTar(s: EnvSettings, base: string, log: string): Promise<string> {
    const c = cachePaths(s, base);
    if (fs.existsSync(c.baseTar)) return c.baseTar;
    for (const tool of ["/usr/sbin/debootstrap", "/usr/bin/unshare"]) {
        if (!fs.existsSync(tool)) {
            throw new EnvError(`${tool} not found`, "run 'npm run setup' or 'apt-get install debootstrap'");
        }
    }
    fs.mkdirSync(c.dir, { recursive: true });
    await logged(
        "sh",
        [
            path.join(IMAGES_DIR, "rootfs.sh"),
            "base",
            c.baseTar,
            BASE.suite,
            BASE.mirror,
            path.join(IMAGES_DIR, "base", "setup.sh"),
        ],
        log,
        `debootstrap --variant=${BASE.variant} ${BASE.suite}`,
    );
    return c.baseTar;
}

/** The base rootfs unpacked, as the lower layer of the package installs (made once, read-only use). */
async function ensureBaseRoot(s: EnvSettings, base: string, log: string): Promise<string> {
    const c = cachePaths(s, base);
    if (fs.existsSync(path.join(c.baseRoot, ".complete"))) return c.baseRoot;
    const tar = await ensureBaseTar(s, base, log);
    fs.rmSync(c.baseRoot, { recursive: true, force: true });
    const tmp = fs.mkdtempSync(path.join(c.dir, ".rootfs-"));
    await logged("tar", ["--numeric-owner", "-xf", tar, "-C", tmp], log, "unpacking the base rootfs");
    fs.writeFileSync(path.join(tmp, ".complete"), "");
    fs.renameSync(tmp, c.baseRoot);
    return c.baseRoot;
}

async function ensureLayer(
    s: EnvSettings,
    base: string,
    spec: StandinSpec,
    digest: string,
    log: string,
): Promise<string> {
    const c = cachePaths(s, base);
    const out = c.layer(digest);
    if (fs.existsSync(out)) return out;
    const lower = await ensureBaseRoot(s, base, log);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const pre = path.join(path.dirname(out), `${digest}.preinstall.sh`);
    fs.writeFileSync(pre, `set -eu\n${spec.preinstall}\n`);
    try {
        await logged(
            "sh",
            [path.join(IMAGES_DIR, "rootfs.sh"), "layer", out, lower, pre, ...spec.packages],
            log,
            `apt-get install ${spec.packages.join(" ")} (layer for ${spec.tags.join(", ")})`,
        );
    } finally {
        fs.rmSync(pre, { force: true });
    }
    return out;
}

/** Maven's copy of the distribution the toolchain fetched; else a tarball of the toolchain's unpacked one. */
async function keycloakTarball(s: EnvSettings, log: string): Promise<string> {
    const v = s.docker.keycloakVersion;
    const m2 = path.join(os.homedir(), ".m2", "repository", "org", "keycloak", "keycloak-quarkus-dist", v);
    const fromMaven = path.join(m2, `keycloak-quarkus-dist-${v}.tar.gz`);
    if (fs.existsSync(fromMaven)) return fromMaven;
    if (!fs.existsSync(path.join(s.keycloak.home, "bin", "kc.sh"))) {
        throw new EnvError(
            `the Keycloak ${v} distribution is neither in ${m2} nor at ${s.keycloak.home}`,
            "run 'npm run setup' (scripts/toolchain.sh env fetches it from Maven Central)",
        );
    }
    const out = path.join(s.docker.cacheDir, `keycloak-${v}.tar.gz`);
    if (!fs.existsSync(out)) {
        const tmp = `${out}.${process.pid}.tmp`;
        // data/ and lib/quarkus/ are written by the local Keycloak's own runs, not part of the release.
        await logged(
            "tar",
            [
                "-czf",
                tmp,
                "--exclude=./data",
                "--exclude=./lib/quarkus",
                "--transform",
                `s,^\\.,keycloak-${v},`,
                "-C",
                s.keycloak.home,
                ".",
            ],
            log,
            "packing the Keycloak distribution",
        );
        fs.renameSync(tmp, out);
    }
    return out;
}

// pip's and setuptools' own files in a fresh venv: tools of the install, not of the image.
const VENV_TOOLING = /^(pip|setuptools|_distutils_hack|pkg_resources)($|-.*\.dist-info$)|^distutils-precedence\.pth$/;

/** PACKAGES installed by pip for the host's python3, as a tarball of site-packages (once per list). */
async function sitePackagesTarball(s: EnvSettings, packages: string[], log: string): Promise<string> {
    const out = path.join(s.docker.cacheDir, "python", `${pythonDigest(packages)}.tar`);
    if (fs.existsSync(out)) return out;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const venv = fs.mkdtempSync(path.join(path.dirname(out), ".venv-"));
    try {
        await logged("/usr/bin/python3", ["-m", "venv", venv], log, "python3 -m venv (for the image's PyPI packages)");
        const site = path.join(venv, "lib", `python${BASE_PYTHON}`, "site-packages");
        if (!fs.existsSync(site)) {
            throw new EnvError(
                `the host's /usr/bin/python3 is not Python ${BASE_PYTHON}, the image's (Debian ${BASE.suite}'s)`,
                `install Debian ${BASE.suite}'s python3 on the host, or change BASE_PYTHON with the base`,
            );
        }
        await logged(
            path.join(venv, "bin", "pip"),
            ["install", "--disable-pip-version-check", "--quiet", ...packages],
            log,
            `pip install ${packages.join(" ")}`,
        );
        for (const e of fs.readdirSync(site)) {
            if (VENV_TOOLING.test(e)) fs.rmSync(path.join(site, e), { recursive: true, force: true });
        }
        const tmp = `${out}.${process.pid}.tmp`;
        // Owned by root and readable by all whatever the umask: the image runs as any uid.
        await logged(
            "tar",
            [
                "-cf",
                tmp,
                "--exclude=__pycache__",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--mode=go-w,a+rX",
                "-C",
                site,
                ".",
            ],
            log,
            "packing site-packages",
        );
        fs.renameSync(tmp, out);
    } finally {
        fs.rmSync(venv, { recursive: true, force: true });
    }
    return out;
}

/** The docker client: Debian's (the daemon's own version) when installed, else whatever is on PATH. */
function dockerCli(): string {
    return fs.existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
}

async function buildImage(
    s: EnvSettings,
    host: string,
    spec: StandinSpec,
    digest: string,
    layerTar: string | undefined,
    log: string,
): Promise<void> {
    const ctx = fs.mkdtempSync(path.join(s.docker.cacheDir, ".context-"));
    try {
        fs.cpSync(path.join(IMAGES_DIR, spec.dir), ctx, { recursive: true });
        fs.cpSync(path.join(IMAGES_DIR, "common"), path.join(ctx, "common"), { recursive: true });
        // Hard links: the context is read, never written, and layers are hundreds of MB.
        if (layerTar) fs.linkSync(layerTar, path.join(ctx, "packages.tar"));
        if (spec.keycloak) fs.copyFileSync(await keycloakTarball(s, log), path.join(ctx, "keycloak.tar.gz"));
        if (spec.contract) fs.writeFileSync(path.join(ctx, "contract.json"), contractJson(spec.contract));
        if (spec.pythonPackages) {
            fs.linkSync(await sitePackagesTarball(s, spec.pythonPackages, log), path.join(ctx, "site-packages.tar"));
        }
        if (spec.binaries) {
            fs.mkdirSync(path.join(ctx, "bin"));
            for (const f of spec.binaries.files) {
                const file = path.join(spec.binaries.from, f);
                if (!fs.existsSync(file)) {
                    throw new EnvError(
                        `${file} not found (the ${spec.tags.join(", ")} image is made from it)`,
                        "run 'npm run setup' (scripts/toolchain.sh env builds it)",
                    );
                }
                // A copy keeps the mode (the executable bit); the tool cache may be another file system.
                fs.copyFileSync(file, path.join(ctx, "bin", f));
            }
        }
        await logged(
            dockerCli(),
            [
                "build",
                "--network=none",
                "--label",
                `${DIGEST_LABEL}=${digest}`,
                ...spec.tags.flatMap((t) => ["--tag", t]),
                ctx,
            ],
            log,
            `docker build of ${spec.tags.join(", ")}`,
            // The legacy builder: the daemon's own, with no buildx plugin needed.
            { DOCKER_HOST: host, DOCKER_BUILDKIT: "0" },
        );
    } finally {
        fs.rmSync(ctx, { recursive: true, force: true });
    }
}

/**
 * Makes sure the daemon at HOST has every stand-in image, built from the current inputs; builds
 * what is missing or outdated (the first time on a machine: debootstrap and package layers, a few
 * minutes; with the machine's cache: imports and builds only). Returns the tags.
 */
export async function ensureStandins(s: EnvSettings, host: string, log: string): Promise<string[]> {
    const socket = socketOf(host);
    const base = baseDigest();
    const specs = standinSpecs(s);
    const have = await labelledImages(socket);
    const todo = specs
        .map((spec) => ({ spec, ...imageInputs(s, spec, base) }))
        .filter(({ spec, digest }) => spec.tags.some((t) => have.get(t) !== digest));
    const baseOk = have.get(BASE_TAG) === base;
    if (todo.length === 0 && baseOk) return specs.flatMap((x) => x.tags);

    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.mkdirSync(s.docker.cacheDir, { recursive: true });
    fs.appendFileSync(log, `\n== ${new Date().toISOString()} building ${todo.map((t) => t.spec.tags[0]).join(", ")}\n`);
    const t0 = Date.now();
    process.stderr.write(`docker: building ${todo.length} stand-in image(s) (log: ${log})\n`);
    if (!baseOk) {
        const tar = await ensureBaseTar(s, base, log);
        await logged(
            dockerCli(),
            [
                "import",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                'CMD ["bash"]',
                "--change",
                `LABEL ${DIGEST_LABEL}=${base}`,
                tar,
                BASE_TAG,
            ],
            log,
            "docker import of the base rootfs",
            { DOCKER_HOST: host },
        );
    }
    // One image that cannot be built (say, Keycloak's distribution not fetched yet) does not keep
    // the others from being built; every failure is reported at the end.
    const failures: string[] = [];
    for (const { spec, layer, digest } of todo) {
        try {
            // An image of binaries alone (task-pods, FROM scratch) has no package layer.
            const layerTar = spec.packages.length > 0 ? await ensureLayer(s, base, spec, layer, log) : undefined;
            await buildImage(s, host, spec, digest, layerTar, log);
        } catch (e) {
            failures.push(`${spec.tags.join(", ")}: ${e instanceof Error ? e.message : String(e)}`);
        }
    }
    if (failures.length > 0) {
        throw new EnvError(`stand-in images could not be built:\n${failures.join("\n")}`, `read ${log}`);
    }
    // Images replaced by a rebuild keep their label but lose their tags: nothing uses them.
    await logged(
        dockerCli(),
        ["image", "prune", "--force", "--filter", `label=${DIGEST_LABEL}`],
        log,
        "docker image prune",
        {
            DOCKER_HOST: host,
        },
    );
    process.stderr.write(`docker: stand-in images built in ${Math.round((Date.now() - t0) / 1000)} s\n`);
    return specs.flatMap((x) => x.tags);
}
