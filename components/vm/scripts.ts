// The shell scripts the VM steps run over SSH. Each is idempotent (checks before it changes, so a
// step that failed halfway completes on the next run), starts with `set -euo pipefail`, and holds no
// secret: secret contents travel through stdin, never on a command line.
import { Prebuilt, RUNNING_IMAGE_FORMAT, tasksNetworkOf } from "./compose";

/** Quotes a value for a POSIX shell. */
export const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** A script run by bash on the host; `sudo` prefixes privileged commands ("" when run as root). */
export function script(lines: string[]): string {
    return ["set -euo pipefail", ...lines].join("\n");
}

export const fail = (message: string) => `{ echo ${shellQuote(`cytomine-fallback: ${message}`)} >&2; exit 3; }`;

/** The fix when the login user cannot sudo (the preview's host check says it too: program/preflight/host-check.ts). */
export const noSudo = (user: string, host: string) =>
    `user ${user} on ${host} cannot run sudo without a password: allow it (e.g. '${user} ALL=(ALL) NOPASSWD:ALL' in /etc/sudoers.d/${user}), or connect as root and set vm.sudo to false`;

/** The fix when the host has no container engine. */
export const noEngine = (host: string) =>
    `no container engine on ${host}: install Docker Engine and Compose (Debian: apt-get install docker.io docker-compose), then run pulumi up again`;

/**
 * Runs Compose v2 (`docker compose`) where present, else Debian's Compose v1 (`docker-compose`); with
 * `dockerConfig`, reading registry credentials from that directory (both read DOCKER_CONFIG).
 */
export const composeFn = (sudo: string, dockerConfig?: string) => {
    const run = withDockerConfig(sudo, dockerConfig);
    return `compose() { if ${run}docker compose version >/dev/null 2>&1; then ${run}docker compose "$@"; else ${run}docker-compose "$@"; fi; }`;
};

const withDockerConfig = (sudo: string, dockerConfig?: string) =>
    `${sudo}${dockerConfig ? `env DOCKER_CONFIG=${shellQuote(dockerConfig)} ` : ""}`;

/**
 * Checks what the later steps need, each failure with the fix. A host the stack just created is first
 * given the time cloud-init needs to install the engine (`waitForCloudInit`).
 */
export function preflightScript(host: string, user: string, sudo: string, waitForCloudInit = false): string {
    return script([
        ...(waitForCloudInit
            ? [
                  `${sudo}cloud-init status --wait >/dev/null || ${fail(`cloud-init did not finish cleanly on ${host}: read /var/log/cloud-init-output.log there, fix, and run pulumi up again`)}`,
              ]
            : []),
        ...(sudo ? [`sudo -n true 2>/dev/null || ${fail(noSudo(user, host))}`] : []),
        `command -v docker >/dev/null || ${fail(noEngine(host))}`,
        `${sudo}docker info >/dev/null 2>&1 || ${fail(`the Docker engine on ${host} does not answer: start it (systemctl start docker) and run pulumi up again`)}`,
        `${composeFn(sudo)}`,
        `compose version >/dev/null 2>&1 || ${fail(`no Docker Compose on ${host}: install it (Debian: apt-get install docker-compose), then run pulumi up again`)}`,
        `command -v curl >/dev/null || ${fail(`curl is missing on ${host} (the readiness wait uses it): apt-get install curl`)}`,
    ]);
}

/** Creates directories with owner and mode (uid:gid per directory, for the containers' users). */
export function directoriesScript(dirs: { path: string; owner: string; mode: string }[], sudo: string): string {
    return script(
        dirs.map(
            (d) =>
                `${sudo}install -d -o ${d.owner.split(":")[0]} -g ${d.owner.split(":")[1]} -m ${d.mode} ${shellQuote(d.path)}`,
        ),
    );
}

/**
 * Writes stdin to `path` with owner root and `mode`, atomically (a reader never sees half a file).
 * The file is created 0600 before any byte is written, so a secret is never readable by others, and
 * read with `cat`: `install /dev/stdin` cannot open stdin when sshd hands it over as a socket.
 */
export function writeFileScript(path: string, mode: string, sudo: string): string {
    const tmp = `${path}.cytomine-new`;
    return script([
        // mkdir -p leaves an existing directory's mode alone (env/ is 0700).
        `${sudo}mkdir -p ${shellQuote(path.slice(0, path.lastIndexOf("/")))}`,
        `${sudo}sh -c 'umask 077 && cat > "$1"' sh ${shellQuote(tmp)}`,
        `${sudo}chown root:root ${shellQuote(tmp)}`,
        `${sudo}chmod ${mode} ${shellQuote(tmp)}`,
        `${sudo}mv -f ${shellQuote(tmp)} ${shellQuote(path)}`,
    ]);
}

/**
 * Records `mark` at `markPath` (see `fileMark` in host.ts): what the file step last wrote, so the
 * program's next look at the host tells a hand edit from the stack's own file.
 */
export function markScript(markPath: string, mark: string, sudo: string): string {
    return [
        `${sudo}mkdir -p -m 0700 ${shellQuote(markPath.slice(0, markPath.lastIndexOf("/")))}`,
        `printf '%s\\n' ${shellQuote(mark)} | ${sudo}tee ${shellQuote(markPath)} >/dev/null`,
    ].join("\n");
}

/**
 * Prints one line per file: path, sha256 of its content, mode (octal) and its mark, tab-separated;
 * "-" for a file that is missing. With `project`, a last line `release<TAB><image>` gives the image of
 * the project's running core ("-": none runs), which tells an upgrade. Reads only; run as root (the
 * env files are 0600): the program runs it when it starts (program/preflight/host-check.ts).
 */
/** The services whose image's change is an upgrade: core (the Cytomine release) and iam (Keycloak). */
export const UPGRADED = ["core", "iam"] as const;
export type Upgraded = (typeof UPGRADED)[number];

export function inspectFilesScript(
    files: { path: string; markPath: string; presenceOnly?: boolean }[],
    project?: string,
    images: string[] = [],
): string {
    return script([
        ...files.map((f) => {
            // A large file asked about only for its presence (the model weights) is not read: "present" for its digest.
            const digest = f.presenceOnly ? "present" : `$(sha256sum ${shellQuote(f.path)} | cut -d' ' -f1)`;
            return `if [ -f ${shellQuote(f.path)} ]; then printf '%s\\t%s\\t%s\\t%s\\n' ${shellQuote(f.path)} "${digest}" "$(stat -c %a ${shellQuote(f.path)})" "$(cat ${shellQuote(f.markPath)} 2>/dev/null || true)"; else printf '%s\\t-\\n' ${shellQuote(f.path)}; fi`;
        }),
        ...(project
            ? [
                  `for service in ${UPGRADED.join(" ")}; do`,
                  `  c=$(docker ps -q --filter label=com.docker.compose.project=${shellQuote(project)} --filter "label=com.docker.compose.service=$service" 2>/dev/null | head -n 1 || true)`,
                  `  image=$([ -z "$c" ] || docker inspect --format ${shellQuote(RUNNING_IMAGE_FORMAT)} "$c" 2>/dev/null || true)`,
                  `  printf 'running\\t%s\\t%s\\n' "$service" "\${image:--}"`,
                  `done`,
              ]
            : []),
        // Images the host must hold already: present, missing (the engine said so), or "?" (no answer).
        ...images.map(
            (ref) =>
                `if out=$(docker image inspect --format '{{.Id}}' ${shellQuote(ref)} 2>&1); then state=present; ` +
                `elif printf '%s' "$out" | grep -qi 'no such image'; then state=missing; else state='?'; fi; ` +
                `printf 'image\t%s\t%s\n' ${shellQuote(ref)} "$state"`,
        ),
    ]);
}

export function removeScript(path: string, sudo: string): string {
    return script([`${sudo}rm -rf -- ${shellQuote(path)}`]);
}

export interface ComposeUpOptions {
    dir: string;
    project: string;
    /** Digest of every file the project reads: a change re-runs `up` (Compose recreates what changed). */
    digest: string;
    /** URLs on the host that must answer 2xx/3xx before the step succeeds. */
    waitFor: string[];
    timeoutSeconds: number;
    /** The directory `docker login` stored the registry's credentials in (registryLoginScript); unset: none. */
    dockerConfig?: string;
    /** Said when the services do not answer in time: how to go back (an upgrade's backup). */
    rollback?: string;
    /**
     * The backup a rollback restored for this release (the step before it said so): part of the script,
     * so the project starts on that data even where nothing else of the step changed.
     */
    restored?: string;
    /** Whether the project runs task-pods; unset or false: task containers an earlier up left go, with their network. */
    tasks?: boolean;
    /** Images built on the host from Dockerfiles in `dir` before `up`, each once (compose.ts prebuiltOf). */
    builds?: Prebuilt[];
}

/** The fix when an image derived on the host does not build. */
export const buildFailed = (b: Prebuilt) =>
    `the build of ${b.tag} from ${b.base} (${b.path}) failed, docker's message above: the host must hold ${b.base} or reach its registry; fix, then run pulumi up again`;

/** Removes the task containers task-pods started for the project: they are not compose's, and hold the network. */
const removeTaskContainers = (project: string, sudo: string) =>
    `${sudo}docker ps -aq --filter network=${shellQuote(tasksNetworkOf(project))} | xargs -r ${sudo}docker rm -f >/dev/null`;

/** `compose up -d`, then waits for the URLs with backoff and a clear timeout message. */
export function composeUpScript(o: ComposeUpOptions, sudo: string): string {
    const docker = `${withDockerConfig(sudo, o.dockerConfig)}docker`;
    return script([
        `# configuration digest ${o.digest}`,
        ...(o.restored ? [`# starts on the data of backup ${o.restored}`] : []),
        composeFn(sudo, o.dockerConfig),
        `cd ${shellQuote(o.dir)}`,
        // Built once per host: the tag names the Dockerfile's digest, and tenants with the same one share it.
        ...(o.builds ?? []).map(
            (b) =>
                `${docker} image inspect ${shellQuote(b.tag)} >/dev/null 2>&1 || ${docker} build -t ${shellQuote(b.tag)} - < ${shellQuote(b.path)} || ${fail(buildFailed(b))}`,
        ),
        `compose -p ${shellQuote(o.project)} -f compose.yaml up -d --remove-orphans`,
        ...(o.tasks
            ? []
            : [
                  removeTaskContainers(o.project, sudo),
                  `${sudo}docker network rm ${shellQuote(tasksNetworkOf(o.project))} >/dev/null 2>&1 || true`,
              ]),
        `deadline=$(( $(date +%s) + ${o.timeoutSeconds} ))`,
        `for url in ${o.waitFor.map(shellQuote).join(" ")}; do`,
        `  pause=1`,
        `  until curl -fsS -o /dev/null --max-time 10 "$url"; do`,
        `    if [ "$(date +%s)" -ge "$deadline" ]; then`,
        `      echo "cytomine-fallback: $url did not answer within ${o.timeoutSeconds} s; see 'docker compose -p ${o.project} logs' on the host (in ${o.dir}), fix, and run pulumi up again" >&2`,
        ...(o.rollback ? [`      echo ${shellQuote(`cytomine-fallback: ${o.rollback}`)} >&2`] : []),
        `      compose -p ${shellQuote(o.project)} -f compose.yaml ps >&2 || true`,
        `      exit 4`,
        `    fi`,
        `    sleep "$pause"; pause=$(( pause < 8 ? pause * 2 : 15 ))`,
        `  done`,
        `  echo "ready: $url"`,
        `done`,
    ]);
}

/** Stops and removes the project's containers and networks; data directories stay. */
export function composeDownScript(dir: string, project: string, sudo: string): string {
    return script([
        composeFn(sudo),
        `if [ -f ${shellQuote(`${dir}/compose.yaml`)} ]; then`,
        `  ${removeTaskContainers(project, sudo)}`,
        `  (cd ${shellQuote(dir)} && compose -p ${shellQuote(project)} -f compose.yaml down --remove-orphans)`,
        `fi`,
    ]);
}

export interface RegistryLoginOptions {
    /** host[:port] (config imageRegistry.server). */
    server: string;
    /** Config imageRegistry.username. */
    username: string;
    /** The tenant's own Docker client configuration directory, where the credentials are stored. */
    dockerConfig: string;
}

/** The fix when the registry refuses the login (or cannot be reached). */
export const loginRefused = (server: string, username: string) =>
    `docker login to ${server} as ${username} failed (docker's message above): if the registry refused it, ` +
    `correct imageRegistry.username (pulumi config set --path imageRegistry.username <user>) or the secret ` +
    `imageRegistryPassword (pulumi config set --secret cytomine-fallback:imageRegistryPassword); if it did not ` +
    `answer, correct imageRegistry.server or let the host reach it; then run pulumi up again`;

/**
 * `docker login` with the password on stdin (the step's stdin, never a command line), into the
 * tenant's own DOCKER_CONFIG: tenants sharing a host keep their own credentials, and destroy removes
 * them. Logging in again with the same credentials changes nothing.
 */
export function registryLoginScript(o: RegistryLoginOptions, sudo: string): string {
    return script([
        `${sudo}install -d -o 0 -g 0 -m 0700 ${shellQuote(o.dockerConfig)}`,
        `if ! out=$(${sudo}env DOCKER_CONFIG=${shellQuote(o.dockerConfig)} docker login ${shellQuote(o.server)} --username ${shellQuote(o.username)} --password-stdin 2>&1); then`,
        `  printf '%s\\n' "$out" >&2`,
        `  ${fail(loginRefused(o.server, o.username))}`,
        `fi`,
        `printf '%s\\n' "$out"`,
    ]);
}
