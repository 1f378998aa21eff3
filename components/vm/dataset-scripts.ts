// The shell scripts of the VM's dataset steps (components/vm/datasets.ts), in the style of
// components/vm/scripts.ts: idempotent, `set -euo pipefail`, no secret on a command line (the sdafs
// credentials and the image-server keys come through stdin), and a failure says what is missing and the fix.
import { shellQuote, script } from "./scripts";
import { SDAFS_MODULE } from "../model/datasets";

const fail = (message: string) => `{ echo ${shellQuote(`cytomine-fallback: ${message}`)} >&2; exit 3; }`;

/** Where the pinned sdafs binary lives on the host. */
export const sdafsBinary = (version: string) => `/usr/local/lib/cytomine-fallback/sdafs-${version}/sdafs`;

/**
 * Checks what sdafs needs on the host and installs what it can: systemd (the mounts are units), FUSE
 * (`/dev/fuse`, `fusermount3`), the binary at the pinned version (built with `go install` where the
 * host has Go and its module proxy serves sdafs), `user_allow_other` in /etc/fuse.conf (for `--open`,
 * so that the containers' users can read the mount). Every missing piece is listed with its fix, and
 * the step fails: nothing is mounted, so no import can start.
 */
export function sdafsPrerequisitesScript(host: string, version: string, sudo: string): string {
    const bin = sdafsBinary(version);
    const dir = bin.slice(0, bin.lastIndexOf("/"));
    const pkg = `${SDAFS_MODULE}/cmd/sdafs@${version}`;
    return script([
        `missing=()`,
        `[ -d /run/systemd/system ] || missing+=(${shellQuote(`systemd is not running as PID 1 on ${host}, and each sdafs mount is a systemd unit: use a host booted with systemd (a full VM, not a container)`)})`,
        `[ -c /dev/fuse ] || missing+=(${shellQuote(`no /dev/fuse on ${host}: load the fuse module (modprobe fuse) or give the machine FUSE`)})`,
        `command -v fusermount3 >/dev/null || missing+=(${shellQuote(`fusermount3 is missing on ${host}: apt-get install fuse3`)})`,
        `if [ ! -x ${shellQuote(bin)} ]; then`,
        `  why="Go is not installed on ${host}"`,
        `  if command -v go >/dev/null; then`,
        `    if out=$(${sudo}env GOBIN=${shellQuote(dir)} GOPATH=/tmp/cytomine-fallback-go GOFLAGS=-modcacherw "$(command -v go)" install ${shellQuote(pkg)} 2>&1); then why=""; else why="go install ${pkg} failed: $(printf '%s' "$out" | tail -n 2 | tr '\\n' ' ')"; fi`,
        `  fi`,
        `  [ -z "$why" ] || missing+=("sdafs ${version} is not installed at ${bin} ($why): build it where the Go module proxy serves ${SDAFS_MODULE} (go install ${pkg}), copy the binary to ${bin} (root, 0755) and run pulumi up again")`,
        `fi`,
        `if [ \${#missing[@]} -gt 0 ]; then`,
        `  echo ${shellQuote(`cytomine-fallback: sdafs cannot mount Bigpicture datasets on ${host}; no dataset was mounted or imported:`)} >&2`,
        `  printf '  - %s\\n' "\${missing[@]}" >&2`,
        `  exit 3`,
        `fi`,
        `${sudo}touch /etc/fuse.conf`,
        `grep -qx user_allow_other /etc/fuse.conf || echo user_allow_other | ${sudo}tee -a /etc/fuse.conf >/dev/null`,
        `echo "sdafs ${version}: ${bin}; user_allow_other set in /etc/fuse.conf"`,
    ]);
}

export interface SdafsUnit {
    unit: string;
    mountPoint: string;
    credentialsFile: string;
    binary: string;
    rootUrl: string;
    datasets: string[];
    /** UID/GID the mount's files appear to belong to (PIMS's user). */
    owner: number;
    description: string;
}

/** The systemd unit: sdafs in the foreground, `--open` (readable by the containers), read-only by nature. */
export function sdafsUnitFile(u: SdafsUnit): string {
    const exec = [
        u.binary,
        "--foreground",
        "--open",
        `--credentialsfile ${u.credentialsFile}`,
        `--rootURL ${u.rootUrl}`,
        `--datasets ${u.datasets.join(",")}`,
        `--owner ${u.owner}`,
        `--group ${u.owner}`,
        u.mountPoint,
    ].join(" ");
    // The unit file's bytes are in every tenant's state: an edit rewrites the unit and remounts the
    // datasets, so its first line keeps the file name it was written with (now components/vm/datasets.ts).
    return [
        "# Written by Cytomine Fallback (components/datasets/host.ts); changes are overwritten by pulumi up.",
        "[Unit]",
        `Description=${u.description}`,
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        `ExecStart=${exec}`,
        `ExecStop=/bin/fusermount3 -u ${u.mountPoint}`,
        "Restart=on-failure",
        "RestartSec=10",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/** Installs and (re)starts the unit, then waits (bounded) for the mount. */
export function sdafsMountScript(u: SdafsUnit, host: string, sudo: string, timeoutSeconds = 120): string {
    const path = `/etc/systemd/system/${u.unit}`;
    return script([
        `${sudo}install -d -m 0755 ${shellQuote(u.mountPoint)}`,
        `printf '%s' ${shellQuote(sdafsUnitFile(u))} | ${sudo}sh -c 'umask 022 && cat > "$1"' sh ${shellQuote(`${path}.new`)}`,
        `${sudo}mv -f ${shellQuote(`${path}.new`)} ${shellQuote(path)}`,
        `${sudo}systemctl daemon-reload`,
        `${sudo}systemctl enable ${shellQuote(u.unit)} >/dev/null`,
        `${sudo}systemctl restart ${shellQuote(u.unit)}`,
        `deadline=$(( $(date +%s) + ${timeoutSeconds} ))`,
        `until mountpoint -q ${shellQuote(u.mountPoint)}; do`,
        `  [ "$(date +%s)" -lt "$deadline" ] || ${fail(`sdafs did not mount ${u.mountPoint} on ${host} within ${timeoutSeconds} s: read 'journalctl -u ${u.unit}' there (credentials expired? dataset not granted?), fix, and run pulumi up again`)}`,
        `  sleep 2`,
        `done`,
        `echo "mounted ${u.mountPoint}"`,
    ]);
}

export function sdafsUnmountScript(u: SdafsUnit, sudo: string): string {
    const path = `/etc/systemd/system/${u.unit}`;
    return script([
        `${sudo}systemctl disable --now ${shellQuote(u.unit)} 2>/dev/null || true`,
        `${sudo}rm -f ${shellQuote(path)}`,
        `${sudo}systemctl daemon-reload 2>/dev/null || true`,
    ]);
}

/** A virtualenv with the pinned client, made once (and again only when the pin changes). */
export function pythonClientScript(host: string, venv: string, version: string, sudo: string): string {
    const check = `${sudo}${shellQuote(`${venv}/bin/python`)} -c ${shellQuote(`import importlib.metadata as m, sys; sys.exit(m.version("cytomine-python-client") != "${version}")`)}`;
    return script([
        `command -v python3 >/dev/null || ${fail(`python3 is missing on ${host} (the dataset import runs Cytomine's Python client): apt-get install python3 python3-venv`)}`,
        `if ${check} 2>/dev/null; then echo "cytomine-python-client ${version} already in ${venv}"; exit 0; fi`,
        `${sudo}rm -rf ${shellQuote(venv)}`,
        `${sudo}python3 -m venv ${shellQuote(venv)} || ${fail(`python3 on ${host} cannot create a virtualenv: apt-get install python3-venv`)}`,
        `${sudo}${shellQuote(`${venv}/bin/pip`)} install --quiet --disable-pip-version-check ${shellQuote(`cytomine-python-client==${version}`)} || ${fail(`pip could not install cytomine-python-client ${version} on ${host} from its package index: check the host's access to PyPI (or its pip.conf), then run pulumi up again`)}`,
        `${check} || ${fail(`cytomine-python-client ${version} did not install in ${venv}`)}`,
        `echo "cytomine-python-client ${version} installed in ${venv}"`,
    ]);
}

export interface HostImportOptions {
    python: string;
    script: string;
    coreUrl: string;
    pimsUrl: string;
    importUri: string;
    /** The run's input (non-secret): ids, revisions, where each dataset is on the host and in PIMS. */
    datasets: unknown[];
    record: string;
    view: string;
    /** A digest of the import script: a new script re-runs the step (which imports only what is new). */
    scriptDigest: string;
}

/** Runs the import; the image-server keys are this step's stdin, read by the script, never on a command line. */
export function hostImportScript(o: HostImportOptions, sudo: string): string {
    return script([
        `# import script ${o.scriptDigest}`,
        `${sudo}install -d -m 0755 ${shellQuote(o.record.slice(0, o.record.lastIndexOf("/")))}`,
        [
            `${sudo}${shellQuote(o.python)} ${shellQuote(o.script)}`,
            `--core ${shellQuote(o.coreUrl)}`,
            `--pims ${shellQuote(o.pimsUrl)}`,
            `--import-uri ${shellQuote(o.importUri)}`,
            `--record ${shellQuote(o.record)}`,
            `--view ${shellQuote(o.view)}`,
            `--datasets ${shellQuote(JSON.stringify(o.datasets))}`,
        ].join(" "),
    ]);
}
