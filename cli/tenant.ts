// npm run tenant -- <command>: tenants from templates, and operations over the fleet.
//
//   new <tenant> --template <t> [--set key=value]… [--lsaai-client-secret-file f] …
//   list [--json]
//   preview | up | refresh | drift | destroy [<tenant>… | --all] [--parallel N] [--retry-failed] [--yes] [--with-data]
//   backups <tenant> [--json] | restore <tenant> [--at <id or time>] [--from <tenant>] [--force] [--rollback]
//   locks | unlock <tenant> [--yes] | reap [--yes] | remove <tenant> --yes | templates
//
// Exit codes: 0 done (no changes), 2 changes found (preview, drift), 1 errors.
import * as readline from "node:readline/promises";
import { parseArgs } from "node:util";
import {
    errorLines,
    failedTenants,
    Fleet,
    FleetInputError,
    type FleetSecretKey,
    loadTemplate,
    OPERATIONS,
    Operation,
    PROGRAMS_MODES,
    type ProgramsMode,
    ProgressEvent,
    readLastReport,
    readSecrets,
    RunReport,
    SECRET_SOURCES,
    Secrets,
    templateNames,
    TenantResult,
} from "../apps/fleet";

const HELP = `usage: npm run tenant -- <command> [options]

  new <tenant> --template <t> [--set key=value]…   create a tenant (a stack) from templates/<t>.yaml
        --set key=value      a program config key (Pulumi.yaml); nested keys dotted (images.core=…);
                             lists as JSON or comma-separated; {tenant} is replaced by the name
${(Object.entries(SECRET_SOURCES) as [FleetSecretKey, (typeof SECRET_SOURCES)[FleetSecretKey]][])
    .map(([, s]) => `        ${`${s.flag} <file>`.padEnd(40)}or $${s.env}: ${s.what}`)
    .join("\n")}
  list [--json]                                    tenants: target, URL, last operation, resources, age
  preview|up|refresh|drift|destroy [<tenant>…|--all]
        --parallel N         tenants at once (default 2)
        --retry-failed       only the tenants that failed in the last run of this operation
        --yes                destroy without asking
        --with-data          destroy the protected data too (realms, volumes); default: kept. The
                             backups stay, their key moved into the tenant's config (restore --from)
        --purge-backups      with --with-data: delete the tenant's backups too
  backups <tenant> [--json]                        the tenant's backups: last success, size, age, failures,
                                                   and the repository's snapshots
  restore <tenant> [--at <id or time>]             restore a backup (default: the newest) into the tenant:
        --from <tenant>      another tenant's backup (e.g. one destroyed with its data)
        --force              replace the data the tenant holds (refused otherwise, naming it)
        --rollback           go back to the release (and Keycloak) the backup was taken with (an
                             upgrade's backup): data restored, versions set back, then up starts them
  locks                                            locks of a file:// backend: owner, age, stale or not;
                                                   processes a killed CLI left running
  unlock <tenant> --yes                            remove a tenant's stale lock
  reap --yes                                       stop what a killed CLI of the fleet left running
                                                   (language host, program, plugins)
  remove <tenant> --yes                            remove a tenant that holds no resources
  templates                                        the templates

  --programs inline|process
                       where the tenants' programs run: in this process (inline, the default: faster,
                       lighter workers) or each in its own Node.js process (as \`pulumi up\` does)
  --fleet-dir <dir>    the fleet (default $CYTOMINE_FLEET_DIR or .local/fleet); backend: $PULUMI_BACKEND_URL
                       or file://<dir>/state; passphrase: $PULUMI_CONFIG_PASSPHRASE(_FILE) or <dir>/passphrase

Exit codes: 0 done and no changes, 2 changes found (preview, drift), 1 errors.`;

const OPTIONS = {
    template: { type: "string" },
    set: { type: "string", multiple: true },
    "fleet-dir": { type: "string" },
    programs: { type: "string" },
    parallel: { type: "string" },
    all: { type: "boolean" },
    "retry-failed": { type: "boolean" },
    yes: { type: "boolean" },
    "with-data": { type: "boolean" },
    "purge-backups": { type: "boolean" },
    json: { type: "boolean" },
    at: { type: "string" },
    from: { type: "string" },
    force: { type: "boolean" },
    rollback: { type: "boolean" },
    help: { type: "boolean", short: "h" },
    ...Object.fromEntries(Object.values(SECRET_SOURCES).map((s) => [s.flag.slice(2), { type: "string" }])),
} as const;

type Values = Record<string, string | boolean | string[] | undefined>;

async function main(argv: string[]): Promise<number> {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    const v = values as Values;
    const [command, ...args] = positionals;
    if (v.help || !command) {
        console.log(HELP);
        return command || v.help ? 0 : 1;
    }
    const programs = v.programs as string | undefined;
    if (programs !== undefined && !(PROGRAMS_MODES as readonly string[]).includes(programs))
        throw new FleetInputError(undefined, [`--programs ${programs}: use one of ${PROGRAMS_MODES.join(", ")}`]);
    const fleet = new Fleet({ dir: v["fleet-dir"] as string | undefined, programs: programs as ProgramsMode });
    switch (command) {
        case "new":
            return create(fleet, args, v);
        case "list":
            return list(fleet, v);
        case "backups":
            return backups(fleet, args, v);
        case "restore":
            return restore(fleet, args, v);
        case "locks":
            return locks(fleet);
        case "unlock":
            return unlock(fleet, args, v);
        case "reap":
            return reap(fleet, v);
        case "remove":
            return remove(fleet, args, v);
        case "templates":
            for (const name of templateNames(fleet.ctx.templatesDir))
                console.log(`${name.padEnd(14)} ${loadTemplate(name, fleet.ctx.templatesDir).description}`);
            return 0;
        default:
            if ((OPERATIONS as readonly string[]).includes(command))
                return operate(fleet, command as Operation, args, v);
            throw new FleetInputError(undefined, [`unknown command ${command}: run with --help`]);
    }
}

async function create(fleet: Fleet, args: string[], v: Values): Promise<number> {
    if (args.length !== 1)
        throw new FleetInputError(undefined, ["new takes one tenant name: new <tenant> --template <t>"]);
    if (!v.template)
        throw new FleetInputError(args[0], [
            `--template is required: one of ${templateNames(fleet.ctx.templatesDir).join(", ")}`,
        ]);
    const files = Object.fromEntries(
        (Object.entries(SECRET_SOURCES) as [FleetSecretKey, { flag: string }][])
            .map(([key, s]) => [key, v[s.flag.slice(2)]])
            .filter(([, f]) => f),
    ) as Secrets;
    const created = await fleet.createTenant({
        name: args[0],
        template: v.template as string,
        set: (v.set as string[] | undefined) ?? [],
        secrets: readSecrets(files),
    });
    console.log(`created tenant ${created.tenant} from template ${created.plan.template}: ${created.configFile}`);
    console.log("next:");
    created.next.forEach((step, i) => console.log(`  ${i + 1}. ${step}`));
    return 0;
}

async function list(fleet: Fleet, v: Values): Promise<number> {
    const tenants = await fleet.listTenants();
    if (v.json) {
        console.log(JSON.stringify(tenants, null, 2));
        return 0;
    }
    if (tenants.length === 0) {
        console.log(`no tenants in ${fleet.ctx.dir} (create one with: npm run tenant -- new <tenant> --template <t>)`);
        return 0;
    }
    printTable(
        ["tenant", "target", "url", "last operation", "resources", "age"],
        tenants.map((t) => [
            t.tenant,
            t.target ?? "?",
            t.url ?? "?",
            t.lastOperation
                ? `${t.lastOperation.kind} ${t.lastOperation.result}${t.lastOperation.endTime ? ` ${ago(Date.parse(t.lastOperation.endTime))}` : ""}`
                : "none",
            t.resources === undefined ? "?" : String(t.resources),
            t.ageMs === undefined ? "?" : duration(t.ageMs),
        ]),
    );
    for (const t of tenants.filter((t) => t.problem)) console.log(`  ${t.tenant}: ${t.problem}`);
    return 0;
}

const oneTenant = (command: string, args: string[]) => {
    if (args.length !== 1)
        throw new FleetInputError(undefined, [`${command} takes one tenant name: ${command} <tenant>`]);
    return args[0];
};

async function backups(fleet: Fleet, args: string[], v: Values): Promise<number> {
    const listing = await fleet.backups(oneTenant("backups", args));
    if (v.json) {
        console.log(JSON.stringify(listing, null, 2));
        return 0;
    }
    const last = listing.lastSuccess;
    console.log(`repository: ${listing.repository}`);
    console.log(
        last
            ? `last success: ${last.snapshot.slice(0, 8)}, ${bytes(last.bytes)}, ${ago(Date.parse(last.time))} (${last.time}, release ${last.release}, ${last.seconds} s)`
            : "last success: none yet",
    );
    const failed = listing.runs.filter((r) => r.status === "failed" && (!last || r.time > last.time));
    for (const r of failed) console.log(`failed since: ${r.time} ${r.kind}: ${r.message}`);
    if (listing.snapshots.length)
        printTable(
            ["snapshot", "time", "release"],
            listing.snapshots.map((s) => [
                s.short_id,
                s.time.replace(/\.\d+/, ""),
                s.tags?.find((t) => t.startsWith("release="))?.slice("release=".length) ?? "?",
            ]),
        );
    return failed.length > 0 ? 1 : 0;
}

async function restore(fleet: Fleet, args: string[], v: Values): Promise<number> {
    const tenant = oneTenant("restore", args);
    const rollback = v.rollback === true;
    const chosen = await fleet.restore(tenant, {
        at: v.at as string | undefined,
        from: v.from as string | undefined,
        force: v.force === true,
        rollback,
    });
    console.log(
        `restored ${tenant} from backup ${chosen.short_id} of ${chosen.time}${v.from ? ` (tenant ${v.from})` : ""}`,
    );
    if (!rollback) return 0;
    // The data is back with the services stopped and the versions set back: up starts them on it.
    const versions = (chosen.tags ?? []).filter((t) => /^(release|keycloak)=/.test(t)).join(", ");
    console.log(`set back to ${versions}: up starts them on the restored data`);
    return operate(fleet, "up", [tenant], {});
}

const bytes = (n: number) =>
    n >= 1 << 30
        ? `${(n / (1 << 30)).toFixed(1)} GiB`
        : n >= 1 << 20
          ? `${(n / (1 << 20)).toFixed(1)} MiB`
          : `${(n / 1024).toFixed(1)} KiB`;

function locks(fleet: Fleet): number {
    const all = fleet.ctx.backendDir ? fleet.locks() : [];
    if (!fleet.ctx.backendDir)
        console.log(`the backend ${fleet.ctx.backendUrl} is not a file:// backend: its service manages locks`);
    else if (all.length === 0) console.log(`no locks in ${fleet.ctx.backendDir}`);
    else
        printTable(
            ["tenant", "owner", "age", "state", "file"],
            all.map((l) => [
                l.tenant,
                l.pid ? `${l.username}@${l.hostname} pid ${l.pid}` : "(unreadable)",
                l.ageMs === undefined ? "?" : duration(l.ageMs),
                l.alive === true
                    ? "held (process running)"
                    : l.alive === false
                      ? "stale (process gone)"
                      : "unknown (another host)",
                l.file,
            ]),
        );
    if (all.some((l) => l.alive !== true))
        console.log(`remove a stale lock with: npm run tenant -- unlock <tenant> --yes`);
    const left = fleet.leftovers();
    if (left.length)
        console.log(
            `${left.length} process(es) left running by a killed CLI (${left.map((p) => `${p.pid} ${p.name}`).join(", ")}): stop them with: npm run tenant -- reap --yes`,
        );
    return 0;
}

async function reap(fleet: Fleet, v: Values): Promise<number> {
    const stopped = await fleet.reap(v.yes === true);
    if (stopped.length === 0) console.log("no process left running by a killed CLI of this fleet");
    for (const p of stopped) console.log(`stopped ${p.pid} ${p.name}`);
    return 0;
}

function unlock(fleet: Fleet, args: string[], v: Values): number {
    if (args.length !== 1) throw new FleetInputError(undefined, ["unlock takes one tenant: unlock <tenant> --yes"]);
    const removed = fleet.unlock(args[0], v.yes === true);
    if (removed.length === 0) console.log(`tenant ${args[0]} holds no lock`);
    for (const l of removed) console.log(`removed ${l.file} (${l.username}@${l.hostname} pid ${l.pid})`);
    return 0;
}

async function remove(fleet: Fleet, args: string[], v: Values): Promise<number> {
    if (args.length !== 1 || v.yes !== true)
        throw new FleetInputError(undefined, ["remove takes one tenant and --yes: remove <tenant> --yes"]);
    await fleet.removeTenant(args[0]);
    console.log(`removed tenant ${args[0]} (stack, config and record)`);
    return 0;
}

async function operate(fleet: Fleet, operation: Operation, args: string[], v: Values): Promise<number> {
    let tenants: string[];
    if (v["retry-failed"]) {
        const last = readLastReport(fleet.ctx.reportsDir, operation);
        if (!last)
            throw new FleetInputError(undefined, [`no earlier ${operation} run to retry (${fleet.ctx.reportsDir})`]);
        tenants = failedTenants(last).filter((t) => args.length === 0 || args.includes(t));
        if (tenants.length === 0) {
            console.log(`no tenant failed in the last ${operation} (${last.runId}): nothing to retry`);
            return 0;
        }
    } else if (v.all) {
        if (args.length) throw new FleetInputError(undefined, ["give tenant names or --all, not both"]);
        tenants = fleet.ctx.tenantNames();
    } else {
        tenants = args;
    }
    if (tenants.length === 0)
        throw new FleetInputError(undefined, [`${operation} needs tenant names, --all or --retry-failed`]);
    const parallel = v.parallel === undefined ? 2 : Number(v.parallel);
    if (!Number.isInteger(parallel) || parallel < 1)
        throw new FleetInputError(undefined, [`--parallel ${String(v.parallel)}: a whole number of at least 1`]);
    if (v["purge-backups"] && !(operation === "destroy" && v["with-data"]))
        throw new FleetInputError(undefined, [
            "--purge-backups goes with destroy --with-data: the backups go with the data or not at all",
        ]);
    if (operation === "destroy" && !(await confirmDestroy(tenants, v))) {
        console.error("not confirmed: nothing destroyed");
        return 1;
    }

    const display = process.stdout.isTTY ? new LiveDisplay(tenants, operation) : new PlainDisplay();
    // Ctrl-C reaches the running CLIs from the terminal too (they cancel gracefully): the first one
    // only stops starting tenants; a second one tells the running ones to stop; a third quits.
    const stop = new AbortController();
    const abort = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
        interrupts++;
        if (interrupts === 1) {
            console.error("\ninterrupted: no new tenant starts (again to stop the running ones)");
            stop.abort();
        } else if (interrupts === 2) {
            console.error("\nstopping the running tenants (again to quit now)");
            abort.abort();
        } else process.exit(130);
    };
    process.on("SIGINT", onSigint);
    let report: RunReport & { reportFile: string };
    try {
        report = await fleet.runOperation(operation, tenants, {
            parallel,
            onEvent: (e) => display.update(e),
            signal: stop.signal,
            abortRunning: abort.signal,
            withData: v["with-data"] === true,
            purgeBackups: v["purge-backups"] === true,
        });
    } finally {
        display.stop();
        process.off("SIGINT", onSigint);
    }
    printSummary(report);
    console.log(`report: ${report.reportFile}`);
    console.log(`logs: ${fleet.ctx.dir}/logs/<tenant>/${report.runId}.log`);
    if (report.tenants.some((t) => t.result === "failed"))
        console.log(`retry the failed ones with: npm run tenant -- ${operation} --retry-failed`);
    return report.exitCode;
}

async function confirmDestroy(tenants: string[], v: Values): Promise<boolean> {
    const what = v["with-data"]
        ? `INCLUDING their data (realms, volumes)${v["purge-backups"] ? " AND their backups" : ", keeping their backups"}`
        : "keeping their protected data (realms, volumes)";
    if (v.yes) return true;
    if (!process.stdin.isTTY)
        throw new FleetInputError(undefined, ["destroy asks for confirmation: run it from a terminal, or add --yes"]);
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    try {
        const answer = await rl.question(`destroy ${tenants.join(", ")}, ${what}? type "yes" to confirm: `);
        return answer.trim() === "yes";
    } finally {
        rl.close();
    }
}

function printSummary(report: RunReport) {
    console.log("");
    printTable(
        ["tenant", "result", "changes", "duration"],
        report.tenants.map((t) => [t.tenant, t.result, changesText(t), duration(t.durationMs)]),
    );
    for (const t of report.tenants) {
        if (t.drifted?.length)
            console.log(
                `${t.tenant} drifted: ${t.drifted.map((d) => `${d.name} (${d.type}, ${d.op}${d.properties ? `: ${d.properties.join(", ")}` : ""})`).join("; ")}`,
            );
        for (const w of t.warnings ?? []) console.log(`${t.tenant} warning: ${w}`);
        if (t.error) console.log(`${t.tenant} ${t.result}: ${errorLines(t.error).join("\n    ")}`);
    }
    const counts = report.tenants.reduce<Record<string, number>>(
        (m, t) => ({ ...m, [t.result]: (m[t.result] ?? 0) + 1 }),
        {},
    );
    console.log(
        `${report.operation}: ${Object.entries(counts)
            .map(([k, n]) => `${n} ${k}`)
            .join(", ")} in ${duration(report.durationMs)} (parallel ${report.parallel})`,
    );
}

function changesText(t: TenantResult): string {
    const entries = Object.entries(t.changes);
    const text = entries.length ? entries.map(([op, n]) => `${op} ${n}`).join(", ") : "none";
    return t.operation === "drift" && t.drifted ? `${t.drifted.length} drifted` : text;
}

function printTable(head: string[], rows: string[][]) {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    console.log(line(head));
    console.log(line(widths.map((w) => "-".repeat(w))));
    rows.forEach((r) => console.log(line(r)));
}

function duration(ms: number): string {
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
    return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

const ago = (t: number) => `${duration(Date.now() - t)} ago`;

interface Display {
    update(e: ProgressEvent): void;
    stop(): void;
}

const progressText = (e: ProgressEvent) =>
    `${e.phase.padEnd(9)} ${`${e.done}/${e.total ?? "?"}`.padStart(7)}  ${duration(e.elapsedMs).padStart(6)}`;

/** One line per tenant, redrawn in place. */
class LiveDisplay implements Display {
    private readonly last = new Map<string, ProgressEvent>();
    private readonly started = new Map<string, number>();
    private readonly width: number;
    private drawn = 0;
    private readonly timer: NodeJS.Timeout;

    constructor(
        private readonly tenants: string[],
        private readonly operation: Operation,
    ) {
        this.width = Math.max(...tenants.map((t) => t.length));
        this.timer = setInterval(() => this.draw(), 250);
    }

    update(e: ProgressEvent) {
        if (e.phase === "starting") this.started.set(e.tenant, Date.now() - e.elapsedMs);
        this.last.set(e.tenant, e);
    }

    private draw() {
        const cols = process.stdout.columns || 120;
        const lines = this.tenants.map((t) => {
            const e = this.last.get(t);
            if (!e) return `${t.padEnd(this.width)}  queued`;
            const running = !["done", "changes", "failed", "cancelled", "queued"].includes(e.phase);
            const elapsed = running && this.started.has(t) ? Date.now() - (this.started.get(t) ?? 0) : e.elapsedMs;
            const text = `${t.padEnd(this.width)}  ${progressText({ ...e, elapsedMs: elapsed })}${e.message ? `  ${e.message}` : ""}`;
            return text.slice(0, cols - 1);
        });
        let out = this.drawn ? `\x1b[${this.drawn}A` : `${this.operation}:\n`;
        out += lines.map((l) => `\x1b[2K${l}\n`).join("");
        process.stdout.write(out);
        this.drawn = lines.length;
    }

    stop() {
        clearInterval(this.timer);
        this.draw();
    }
}

/** Plain lines, one per phase change (for logs and CI). */
class PlainDisplay implements Display {
    private readonly phases = new Map<string, string>();
    update(e: ProgressEvent) {
        if (this.phases.get(e.tenant) === e.phase) return;
        this.phases.set(e.tenant, e.phase);
        if (e.phase === "queued") return;
        console.log(`${e.tenant}: ${progressText(e)}${e.message ? `  ${e.message}` : ""}`);
    }
    stop() {}
}

main(process.argv.slice(2)).then(
    (code) => {
        process.exitCode = code;
    },
    (e: unknown) => {
        if (e instanceof FleetInputError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
            console.error(`error: ${(e as Error).message}`);
        } else {
            console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
        }
        process.exitCode = 1;
    },
);
