// Where a fleet lives and how its CLI runs. The fleet directory holds what operators look at:
//
//   Pulumi.<tenant>.yaml   each tenant's config (secrets encrypted with the fleet's passphrase)
//   Pulumi.yaml            generated from the project's Pulumi.yaml, its `main` pointing at the program
//   passphrase             generated on first use (0600) unless PULUMI_CONFIG_PASSPHRASE(_FILE) is set
//   state/                 the file:// backend, unless PULUMI_BACKEND_URL names another
//   tenants/<tenant>.json  when and from which template the tenant was created
//   logs/<tenant>/         one log per operation
//   reports/               one JSON report per run, and last-<operation>.json
//
// Nothing is written until an operation needs it: refusing bad input leaves the directory untouched.
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, PulumiFn } from "@pulumi/pulumi/automation";
import YAML from "yaml";
import { PROJECT } from "../../program/config";
import { processAlive } from "../../toolchain/processes";
import { fileBackendUrl, pulumiCommand, pulumiEnv, repoRoot } from "../../toolchain/index";
import { inlineRun } from "./inline";
import { TEMPLATES_DIR } from "./templates";

export const DEFAULT_FLEET_DIR = path.join(repoRoot, ".local", "fleet");

export interface FleetOptions {
    /** The fleet directory (default: $CYTOMINE_FLEET_DIR or .local/fleet). */
    dir?: string;
    /** The backend (default: $PULUMI_BACKEND_URL or file://<dir>/state). */
    backendUrl?: string;
    /** Extra environment for the CLI and the program (e.g. KUBECONFIG); overrides the process's. */
    env?: Record<string, string>;
    templatesDir?: string;
    /**
     * Where the tenants' programs run (default "inline"):
     * - "inline": in this process, as the Automation API's inline programs, each with its CLI's
     *   environment. The program's modules are loaded once for every tenant of the process, which
     *   makes a fleet preview faster (docs/measurements.md) and a worker lighter by the program's Node.js
     *   process. Each run keeps its own config and state (the SDK holds them per run); a failing
     *   program fails its own run only (apps/fleet/inline.ts), but an unhandled rejection from
     *   elsewhere fails every program running at that moment. Stack traces in this process are no
     *   longer source-mapped once the program is loaded (see `inlineProgram`).
     * - "process": each CLI starts a language host and a Node.js process for its tenant's program,
     *   as `pulumi up` in a terminal does.
     */
    programs?: ProgramsMode;
}

export const PROGRAMS_MODES = ["inline", "process"] as const;
export type ProgramsMode = (typeof PROGRAMS_MODES)[number];

export class FleetContext {
    readonly dir: string;
    readonly backendUrl: string;
    readonly templatesDir: string;
    readonly programs: ProgramsMode;
    private readonly extraEnv: Record<string, string>;
    private prepared?: Promise<{ command: PulumiCommand; env: Record<string, string> }>;

    constructor(opts: FleetOptions = {}) {
        const ambient = { ...process.env, ...opts.env };
        this.dir = path.resolve(opts.dir ?? ambient.CYTOMINE_FLEET_DIR ?? DEFAULT_FLEET_DIR);
        this.backendUrl = opts.backendUrl ?? ambient.PULUMI_BACKEND_URL ?? fileBackendUrl(path.join(this.dir, "state"));
        this.templatesDir = opts.templatesDir ?? TEMPLATES_DIR;
        this.programs = opts.programs ?? "inline";
        this.extraEnv = { ...opts.env };
    }

    /** The environment the tenants' programs see: this process's, with the fleet's own on top (KUBECONFIG). */
    ambientEnv(): NodeJS.ProcessEnv {
        return { ...process.env, ...this.extraEnv };
    }

    configFile(tenant: string): string {
        return path.join(this.dir, `Pulumi.${tenant}.yaml`);
    }
    recordFile(tenant: string): string {
        return path.join(this.dir, "tenants", `${tenant}.json`);
    }
    logsDir(tenant: string): string {
        return path.join(this.dir, "logs", tenant);
    }
    get reportsDir(): string {
        return path.join(this.dir, "reports");
    }
    get projectFile(): string {
        return path.join(this.dir, "Pulumi.yaml");
    }

    /** The backend's directory when it is a file:// backend (where its locks are). */
    get backendDir(): string | undefined {
        if (!this.backendUrl.startsWith("file://")) return undefined;
        const p = this.backendUrl.slice("file://".length).replace(/\?.*$/, "");
        return p.startsWith("~") ? path.join(os.homedir(), p.slice(1)) : path.resolve(p);
    }

    /** Tenants: the names of the Pulumi.<tenant>.yaml files in the fleet directory. */
    tenantNames(): string[] {
        if (!fs.existsSync(this.dir)) return [];
        return fs
            .readdirSync(this.dir)
            .map((f) => /^Pulumi\.([a-z][-a-z0-9]*)\.yaml$/.exec(f)?.[1])
            .filter((n): n is string => n !== undefined)
            .sort();
    }

    /** A tenant's stored config values (without the project prefix; secrets as `{ secure }`). */
    storedConfig(tenant: string): Record<string, unknown> {
        const doc = (YAML.parse(fs.readFileSync(this.configFile(tenant), "utf8")) ?? {}) as {
            config?: Record<string, unknown>;
        };
        const prefix = `${PROJECT}:`;
        return Object.fromEntries(
            Object.entries(doc.config ?? {})
                .filter(([k]) => k.startsWith(prefix))
                .map(([k, v]) => [k.slice(prefix.length), v]),
        );
    }

    /**
     * Makes the fleet directory usable (once): the project file, the passphrase, the backend
     * directory; returns the CLI and its environment.
     */
    prepare(): Promise<{ command: PulumiCommand; env: Record<string, string> }> {
        this.prepared ??= (async () => {
            fs.mkdirSync(this.dir, { recursive: true });
            writeProjectFile(this.projectFile);
            const env = pulumiEnv({ PULUMI_BACKEND_URL: this.backendUrl, ...this.passphraseEnv(), ...this.extraEnv });
            if (this.backendDir) fs.mkdirSync(this.backendDir, { recursive: true });
            return { command: await pulumiCommand(), env };
        })();
        return this.prepared;
    }

    private passphraseEnv(): Record<string, string> {
        const ambient = { ...process.env, ...this.extraEnv };
        if (ambient.PULUMI_CONFIG_PASSPHRASE !== undefined || ambient.PULUMI_CONFIG_PASSPHRASE_FILE) return {};
        const file = path.join(this.dir, "passphrase");
        if (!fs.existsSync(file) || fs.statSync(file).size === 0)
            fs.writeFileSync(file, crypto.randomBytes(32).toString("base64url"), { mode: 0o600 });
        return { PULUMI_CONFIG_PASSPHRASE_FILE: file };
    }

    /**
     * A workspace of its own for one worker. It never runs `stack select`: the selection is global
     * state in PULUMI_HOME/workspaces, which parallel selects corrupt (pulumi/pulumi#8186); every
     * command of the Automation API names its stack with --stack instead. Its operations run
     * `program` inline when given, else the project's main in a process of their own; operations
     * that run the program go through `withWorkspace`, which picks the fleet's way.
     */
    async workspace(program?: PulumiFn): Promise<LocalWorkspace> {
        const { command, env } = await this.prepare();
        const ws = await LocalWorkspace.create({
            workDir: this.dir,
            envVars: env,
            pulumiHome: env.PULUMI_HOME,
            pulumiCommand: command,
            ...(program ? { program } : {}),
        });
        ws.selectStack = async () => undefined;
        return ws;
    }

    /**
     * Runs `fn` with a workspace of its own whose operations run the tenant's program where this
     * fleet's programs run (inline: in this process, its runs released when `fn` ends).
     */
    async withWorkspace<T>(fn: (ws: LocalWorkspace) => Promise<T>): Promise<T> {
        if (this.programs === "process") return fn(await this.workspace());
        const run = inlineRun(await this.inlineProgram());
        try {
            return await fn(await this.workspace(run.program));
        } finally {
            run.release();
        }
    }

    private inline?: Promise<PulumiFn>;

    /**
     * The program, loaded once, reading the environment its CLI gets (the fleet's over this process's).
     * Loading it turns off source-mapped stack traces in this process: the SDK formats a stack trace
     * for every promise it makes for a resource's properties (runtime/debuggable.js), and mapping
     * each through the source maps that tsx turned on cost CPU in every tenant's preview
     * (bench/fleet.ts). Errors keep their messages; an unexpected error's stack then points into the
     * transpiled code (`--programs process` keeps the mapped one).
     */
    private inlineProgram(): Promise<PulumiFn> {
        this.inline ??= (async () => {
            const { env } = await this.prepare();
            process.setSourceMapsEnabled(false);
            const { cytomineProgram } = await import("../../program/main");
            return cytomineProgram({ ...process.env, ...env });
        })();
        return this.inline;
    }

    /** Runs the CLI in the fleet directory; `input` goes to its stdin (secret values never reach its arguments). */
    async cli(args: string[], input?: string, timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
        const { command, env } = await this.prepare();
        return new Promise((resolve, reject) => {
            const child = spawn(command.command, [...args, "--non-interactive"], {
                cwd: this.dir,
                env: { ...process.env, ...env },
                stdio: ["pipe", "pipe", "pipe"],
            });
            let stdout = "";
            let stderr = "";
            const timer = setTimeout(() => child.kill("SIGINT"), timeoutMs);
            child.stdout.on("data", (d) => (stdout += d));
            child.stderr.on("data", (d) => (stderr += d));
            child.on("error", reject);
            child.on("close", (code) => {
                clearTimeout(timer);
                if (code === 0) resolve({ stdout, stderr });
                else
                    reject(
                        new Error(
                            `pulumi ${args.slice(0, 2).join(" ")} failed (${code}): ${stderr.trim() || stdout.trim()}`,
                        ),
                    );
            });
            child.stdin.end(input ?? "");
        });
    }
}

/**
 * The fleet's Pulumi.yaml: the project's own (same name, runtime and declared config keys, so the
 * program reads the same defaults), with `main` pointing at the program. Regenerated from the
 * project file whenever it differs, so it cannot drift.
 */
export function writeProjectFile(file: string, project = path.join(repoRoot, "Pulumi.yaml")): void {
    const doc = YAML.parse(fs.readFileSync(project, "utf8")) as {
        main?: string;
        runtime: { options?: Record<string, unknown> };
    };
    doc.main = path.resolve(path.dirname(project), doc.main ?? ".");
    const options = doc.runtime.options ?? {};
    if (typeof options.tsconfig === "string") options.tsconfig = path.resolve(path.dirname(project), options.tsconfig);
    const text =
        `# Generated from ${project} by apps/fleet: the same project, its program at \`main\`. Edits are overwritten.\n` +
        YAML.stringify(doc, { lineWidth: 0 });
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return;
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(3).toString("hex")}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
}

/**
 * A lock file held while `fn` runs (stack creation is serialised across processes: the CLI and a web
 * page may create tenants at once). A lock whose process is gone is taken over.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    for (;;) {
        try {
            fs.writeFileSync(file, String(process.pid), { flag: "wx", mode: 0o600 });
            break;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
            const holder = Number(fs.readFileSync(file, "utf8").trim());
            if (!Number.isInteger(holder) || holder <= 0 || !processAlive(holder)) {
                fs.rmSync(file, { force: true });
                continue;
            }
            if (Date.now() > deadline)
                throw new Error(
                    `${file} is held by process ${holder}: wait for it to finish, or remove the file if it is gone`,
                );
            await new Promise((r) => setTimeout(r, 200));
        }
    }
    try {
        return await fn();
    } finally {
        fs.rmSync(file, { force: true });
    }
}
