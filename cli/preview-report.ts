// A pull-request report of `pulumi preview`, from the Automation API's event stream (policy results
// reach only that stream, not `pulumi preview --json`).
//   npm run preview:report -- --stack <name> [--cwd <dir>] [--out <dir>] [--json] [--allow-stateful-changes]
//                             [--policy-pack policies [--policy-pack-config policies/config.deployed.json]]
//                             [--config-file <file>] [--record-events <file.jsonl>]
//   npm run preview:report -- --events <file.jsonl> [--stack <name>] [--secrets-from-config <file>]
//                             [--secrets-from-state <file>] ...     (render a recorded stream, no Pulumi)
// Exit codes: 0 no changes, 2 changes, 3 blocked (mandatory policy violation, or a stateful
// replace/delete without --allow-stateful-changes), 1 errors (including a secret found in the output,
// in which case nothing is written).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
    ConfigEntries,
    EXIT,
    SecretValue,
    assertNoSecrets,
    buildReport,
    readEventsFile,
    secretConfigKeys,
    secretsFromConfig,
    secretsFromDeployment,
    toJsonl,
} from "../apps/report";
import { isDebugDiagnostic } from "../apps/report/jsonl";

const OUTPUT_FILES = ["report.md", "report.full.md", "report.json", "labels.json"];

const USAGE = `usage: npm run preview:report -- --stack <name> [--cwd <dir>] [--out <dir>] [--json]
         [--allow-stateful-changes] [--policy-pack <dir>]... [--policy-pack-config <file.json>]...
         [--config-file <file>] [--record-events <file.jsonl>]
       npm run preview:report -- --events <file.jsonl> [--stack <name>] [--out <dir>] [--json]
         [--secrets-from-config <pulumi config --show-secrets --json>] [--secrets-from-state <pulumi stack export --show-secrets>]`;

export interface CliOptions {
    stack?: string;
    cwd: string;
    out?: string;
    json: boolean;
    allowStatefulChanges: boolean;
    policyPacks: string[];
    /** One per pack, in the same order (the CLI's --policy-pack-config); without it, the pack's defaults. */
    policyPackConfigs: string[];
    configFile?: string;
    events?: string;
    recordEvents?: string;
    secretsFromConfig?: string;
    secretsFromState?: string;
    limit?: number;
}

export function parseCli(argv: string[]): CliOptions {
    const { values } = parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
            stack: { type: "string" },
            cwd: { type: "string" },
            out: { type: "string" },
            json: { type: "boolean", default: false },
            "allow-stateful-changes": { type: "boolean", default: false },
            "policy-pack": { type: "string", multiple: true },
            "policy-pack-config": { type: "string", multiple: true },
            "config-file": { type: "string" },
            events: { type: "string" },
            "record-events": { type: "string" },
            "secrets-from-config": { type: "string" },
            "secrets-from-state": { type: "string" },
            limit: { type: "string" },
            help: { type: "boolean", default: false },
        },
    });
    if (values.help) throw new UsageError("");
    if (!values.events && !values.stack)
        throw new UsageError("--stack is required (or --events to render a recording)");
    if (values.events && values["record-events"])
        throw new UsageError("--record-events records a live preview, not --events");
    const packConfigs = values["policy-pack-config"] ?? [];
    if (packConfigs.length > 0 && packConfigs.length !== (values["policy-pack"] ?? []).length)
        throw new UsageError("give one --policy-pack-config per --policy-pack, in the same order, or none");
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(limit > 0)) throw new UsageError("--limit must be a positive number");
    return {
        stack: values.stack,
        cwd: path.resolve(values.cwd ?? path.join(__dirname, "..")),
        out: values.out,
        json: values.json ?? false,
        allowStatefulChanges: values["allow-stateful-changes"] ?? false,
        policyPacks: (values["policy-pack"] ?? []).map((p) => path.resolve(p)),
        policyPackConfigs: packConfigs.map((p) => path.resolve(p)),
        configFile: values["config-file"] && path.resolve(values["config-file"]),
        events: values.events,
        recordEvents: values["record-events"],
        secretsFromConfig: values["secrets-from-config"],
        secretsFromState: values["secrets-from-state"],
        limit,
    };
}

class UsageError extends Error {}

interface Collected {
    events: EngineEvent[];
    secrets: SecretValue[];
    secretKeys: string[];
    previewFailed?: string;
    warnings: string[];
}

function readJson(file: string): unknown {
    return JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
}

function fromRecording(o: CliOptions): Collected {
    const c: Collected = { events: readEventsFile(o.events as string), secrets: [], secretKeys: [], warnings: [] };
    if (o.secretsFromConfig) {
        const config = readJson(o.secretsFromConfig) as ConfigEntries;
        c.secrets.push(...secretsFromConfig(config));
        c.secretKeys = secretConfigKeys(config);
    }
    if (o.secretsFromState) c.secrets.push(...secretsFromDeployment(readJson(o.secretsFromState)).secrets);
    if (c.secrets.length === 0) c.warnings.push("no secret values given: the secret scan has nothing to look for");
    return c;
}

/** The most telling line of a failed CLI run: its last "error:" line, else its exit code. */
function failureLine(e: unknown): string {
    const text = e instanceof Error ? e.message : String(e);
    const errors = text.split("\n").filter((l) => /^\s*error:/.test(l));
    const line =
        errors.length > 0 ? errors[errors.length - 1] : (text.match(/code: -?\d+/)?.[0] ?? text.split("\n")[0]);
    return line
        .replace(/^\s*error:\s*/, "")
        .trim()
        .slice(0, 300);
}

async function fromPreview(o: CliOptions): Promise<Collected> {
    // Loaded here so that rendering a recording needs neither the Automation API nor a toolchain.
    const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
    const { pulumiCommand, pulumiEnv, requireToolchain } = await import("../toolchain/index");
    const pulumi = await pulumiCommand();
    const env = pulumiEnv();
    const stack = await LocalWorkspace.selectStack(
        { stackName: o.stack as string, workDir: o.cwd },
        { pulumiCommand: pulumi, envVars: env, pulumiHome: env.PULUMI_HOME },
    );

    // Config first: a wrong passphrase fails here, before a long preview.
    let config: ConfigEntries;
    if (o.configFile) {
        // getAllConfig() has no --config-file in this SDK; the same command, run directly.
        const args = ["config", "--show-secrets", "--json", "--stack", stack.name, "--config-file", o.configFile];
        config = JSON.parse(
            execFileSync(requireToolchain(), args, { cwd: o.cwd, env: { ...process.env, ...env }, encoding: "utf8" }),
        ) as ConfigEntries;
    } else {
        config = (await stack.getAllConfig()) as ConfigEntries;
    }

    const events: EngineEvent[] = [];
    let previewFailed: string | undefined;
    try {
        await stack.preview({
            // Kept events may be recorded to a file (--record-events): never the SDK's debug ones.
            onEvent: (e) => (isDebugDiagnostic(e) ? undefined : events.push(e)),
            policyPacks: o.policyPacks,
            ...(o.policyPackConfigs.length > 0 ? { policyPackConfigs: o.policyPackConfigs } : {}),
            diff: true,
            color: "never",
            ...(o.configFile ? { configFile: o.configFile } : {}),
        });
    } catch (e) {
        // A failed preview (mandatory policy, protected resource, provider error) is still reported.
        previewFailed = failureLine(e);
    }

    // `stack export --show-secrets` (what exportStack runs) gives state secrets as plaintext.
    const state = secretsFromDeployment(await stack.exportStack());
    const warnings: string[] = [];
    if (state.undecrypted > 0) warnings.push(`${state.undecrypted} secret(s) in the state could not be decrypted`);
    return {
        events,
        secrets: [...secretsFromConfig(config), ...state.secrets],
        secretKeys: secretConfigKeys(config),
        previewFailed,
        warnings,
    };
}

/** Runs the tool; returns the exit code. Writes nothing when the output would reveal a secret. */
export async function run(argv: string[]): Promise<number> {
    let o: CliOptions;
    try {
        o = parseCli(argv);
    } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (msg) console.error(`error: ${msg}`);
        console.error(USAGE);
        return msg ? EXIT.error : 0;
    }
    try {
        // A stale report from an earlier run must not be posted when this one fails.
        if (o.out) for (const f of OUTPUT_FILES) fs.rmSync(path.join(o.out, f), { force: true });

        const c = o.events ? fromRecording(o) : await fromPreview(o);
        for (const w of c.warnings) console.error(`warning: ${w}`);
        const report = buildReport(c.events, {
            stack: o.stack,
            allowStatefulChanges: o.allowStatefulChanges,
            previewFailed: c.previewFailed,
            secrets: c.secrets,
            secretConfigKeys: c.secretKeys,
            limit: o.limit,
        });
        // Debug diagnostics are left out: they are the SDK's RPC log, with resource outputs decrypted.
        const recording = o.recordEvents
            ? toJsonl(c.events.filter((e) => (e.diagnosticEvent?.severity as string | undefined) !== "debug"))
            : undefined;
        // Recordings become test fixtures: they pass the same scan.
        if (recording !== undefined) assertNoSecrets([{ name: o.recordEvents as string, text: recording }], c.secrets);

        if (o.out) {
            fs.mkdirSync(o.out, { recursive: true });
            fs.writeFileSync(path.join(o.out, "report.md"), report.markdown);
            fs.writeFileSync(path.join(o.out, "report.full.md"), report.full);
            fs.writeFileSync(path.join(o.out, "report.json"), report.jsonText);
            fs.writeFileSync(path.join(o.out, "labels.json"), report.labelsText);
        }
        if (o.recordEvents && recording !== undefined) fs.writeFileSync(o.recordEvents, recording);
        process.stdout.write(o.json ? report.jsonText : report.markdown);
        if (c.previewFailed) console.error(`pulumi preview failed (${c.previewFailed}); the report says why`);
        return report.exitCode;
    } catch (e) {
        console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
        return EXIT.error;
    }
}

if (require.main === module) {
    run(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (e: unknown) => {
            console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
            process.exitCode = EXIT.error;
        },
    );
}
