// The preview report: golden files from event streams (test/fixtures/report/*.events.jsonl: real
// previews of this project's program recorded by record.ts, plus two synthetic streams for what no
// recording shows, from synthetic.ts), the size limit, the secret scan, exit codes, marker and
// labels, and the CLI on recorded streams.
//   UPDATE_GOLDEN=1 npm run test:unit   rewrites the *.golden files after an intended change
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
    COMMENT_LIMIT,
    LABELS,
    MIN_SECRET_LENGTH,
    SECRET_SIG,
    SIG_KEY,
    SecretLeakError,
    blind,
    buildReport,
    collectPreview,
    findSecrets,
    marker,
    parseEventLines,
    parseUrn,
    readEventsFile,
    secretConfigKeys,
    secretsFromConfig,
    secretsFromDeployment,
    stripColors,
    toJsonl,
} from "../../apps/report";
import { LEAKED_PASSWORD, SECRET_CONFIG, large, urnOf } from "../fixtures/report/synthetic";
import { DEFAULT_IMAGES } from "../../components/model/settings";

const FIXTURES = path.join(__dirname, "../fixtures/report");
const ROOT = path.join(__dirname, "../..");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const secrets = secretsFromConfig(SECRET_CONFIG);
const secretKeys = secretConfigKeys(SECRET_CONFIG);

function stream(name: string): EngineEvent[] {
    return readEventsFile(path.join(FIXTURES, `${name}.events.jsonl`));
}

function golden(file: string, actual: string): void {
    const p = path.join(FIXTURES, file);
    if (UPDATE) {
        fs.writeFileSync(p, actual);
        return;
    }
    assert.ok(fs.existsSync(p), `${file} is missing: run UPDATE_GOLDEN=1 npm run test:unit`);
    assert.equal(actual, fs.readFileSync(p, "utf8"), `${file} differs: if intended, run UPDATE_GOLDEN=1`);
}

function report(name: string, allowStatefulChanges = false) {
    return buildReport(stream(name), { secrets, secretConfigKeys: secretKeys, allowStatefulChanges });
}

const DEMO = "urn:pulumi:demo::cytomine-fallback::";

describe("preview report: golden files", () => {
    for (const name of [
        // Real previews of the project's program (stack demo, render mode, the local Keycloak).
        "create-only",
        "no-changes",
        "update",
        "replace-realm",
        "replace-protected-realm",
        "delete-claim",
        "policy-failure",
        // A real preview of a toy program (random resources in a cytomine:test:Thing component, a
        // local policy pack): protect errors, a mandatory violation and replacements in one stream.
        "recorded-random",
        // Synthetic: a replacement without any reason, deleted first, beside a protected claim.
        "replace-without-reason",
    ]) {
        it(`renders ${name}`, () => {
            const r = report(name);
            golden(`${name}.md.golden`, r.markdown);
            golden(`${name}.json.golden`, r.jsonText);
        });
    }
});

describe("preview report: what each preview says", () => {
    it("no changes: exit 0, the no-changes label, nothing else", () => {
        const r = report("no-changes");
        assert.equal(r.exitCode, 0);
        assert.deepEqual(r.json.labels.add, [LABELS.noChanges]);
        assert.match(r.markdown, /\*\*No changes\.\*\*/);
        assert.doesNotMatch(r.markdown, /Changes by component/);
    });

    it("creates and updates: exit 2, changed properties by component, unchanged resources left out", () => {
        // images.core and lsaaiScopes changed: the kubernetes and keycloak providers' detailed diffs.
        const r = report("update");
        assert.equal(r.exitCode, 2);
        assert.deepEqual(r.json.labels.add, []);
        assert.deepEqual(
            r.json.changes.map((c) => [c.op, c.name, c.component, c.diffs.map((d) => d.path)]),
            [
                ["update", "lsaai-idp", "cytomine:identity:LsAaiBroker lsaai", ["defaultScopes"]],
                [
                    "update",
                    "demo-core",
                    "cytomine:kubernetes:Cytomine demo",
                    ["spec.template.spec.containers[0].image"],
                ],
            ],
        );
        assert.match(
            r.markdown,
            /\| update \| `demo-core` \| `kubernetes:apps\/v1:Deployment` \| `spec\.template\.spec\.containers\[0\]\.image` \|/,
        );
        assert.match(r.markdown, /\| update \| 2 \|\n\| unchanged \| 68 \|/);
        const created = report("create-only");
        assert.equal(created.exitCode, 2);
        assert.equal(created.json.counts.create, 70);
        assert.doesNotMatch(created.markdown, /\[!CAUTION\]|Replacements and deletions/, "creating a realm is no risk");
    });

    it("a realm replacement is first, in the warning block, with the property that forces it", () => {
        // cytomine-fallback:realm changed with allowRealmReplacement true: the Keycloak provider's
        // detailed diff names `realm` (update-replace); the realm's children follow on realmId.
        const r = report("replace-realm");
        assert.equal(r.exitCode, 3);
        const caution = r.markdown.indexOf("> [!CAUTION]");
        const line = r.markdown.indexOf(
            "> - **replace** `keycloak:index/realm:Realm` **cytomine-realm** in `cytomine:identity:CytomineRealm` `cytomine` — forced by `realm`\n",
        );
        assert.ok(caution > 0 && line > caution, "realm line inside the caution block");
        assert.ok(line < r.markdown.indexOf("#### Replacements and deletions"), "stateful lines come first");
        assert.match(r.markdown, /cytomine-core\*\* in .* — forced by `realmId`/);
        assert.match(r.markdown, /lsaai-idp\*\* in `cytomine:identity:LsAaiBroker` `lsaai` — forced by `realm`/);
        assert.doesNotMatch(r.markdown, /protected: `pulumi up` refuses/);
        // One line per resource, although the engine sends three steps per replacement.
        assert.equal(r.json.changes.filter((c) => c.name === "cytomine-realm").length, 1);
        assert.equal(r.json.changes.filter((c) => c.op === "replace").length, 12);
        assert.deepEqual(r.json.statefulChanges, [
            {
                urn: `${DEMO}cytomine:identity:CytomineRealm$keycloak:index/realm:Realm::cytomine-realm`,
                op: "replace",
                why: "type keycloak:index/realm:Realm",
                allowed: false,
            },
        ]);
        assert.ok(r.json.labels.add.includes(LABELS.replace));
        assert.equal(buildReport(stream("replace-realm"), { allowStatefulChanges: true }).exitCode, 2);
    });

    it("a protected realm's replacement: the engine's refusal is shown, and blocks even when allowed", () => {
        const r = report("replace-protected-realm");
        assert.equal(r.exitCode, 3);
        assert.match(r.markdown, /\*\*cytomine-realm\*\* .* — forced by `realm` \(protected: `pulumi up` refuses/);
        assert.match(
            r.markdown,
            /#### Errors\n\n\*\*error\*\* at `cytomine-realm`[^]*as it is currently marked for protection/,
        );
        assert.deepEqual(r.json.reasons, [
            "1 stateful resource would be replaced or deleted (allowed only with --allow-stateful-changes)",
            "the preview reported an error",
        ]);
        // The engine refuses a protected resource's replacement whatever the tool allows.
        assert.equal(buildReport(stream("replace-protected-realm"), { allowStatefulChanges: true }).exitCode, 1);
    });

    it("volume claim deletions block unless allowed", () => {
        // The tenant renamed: every tenant-named resource is deleted and created under the new name.
        const blocked = report("delete-claim");
        assert.equal(blocked.exitCode, 3);
        const caution = blocked.markdown.slice(
            blocked.markdown.indexOf("> [!CAUTION]"),
            blocked.markdown.indexOf("#### Replacements and deletions"),
        );
        for (const claim of ["demo-mongo-data", "demo-pims-images", "demo-postgis-data"])
            assert.ok(
                caution.includes(
                    `> - **delete** \`kubernetes:core/v1:PersistentVolumeClaim\` **${claim}** in \`cytomine:kubernetes:Cytomine\` \`demo\` — no longer declared by the program\n`,
                ),
                claim,
            );
        assert.deepEqual(blocked.json.labels.add, [LABELS.delete]);
        // A component's own line does not say it is in itself.
        assert.match(
            blocked.markdown,
            /\n- \*\*delete\*\* `cytomine:kubernetes:Cytomine` \*\*demo\*\* — no longer declared/,
        );

        const allowed = report("delete-claim", true);
        assert.equal(allowed.exitCode, 2);
        assert.match(allowed.markdown, /Allowed for this run/);
        assert.ok(allowed.markdown.includes("**demo-postgis-data**"), "still listed when allowed");
    });

    it("a replacement without keys says so, and one deleted first says that", () => {
        const r = report("replace-without-reason");
        assert.match(
            r.markdown,
            /dev-core-service\*\* .* — no reason given by the provider \(deleted before its replacement exists\)/,
        );
        assert.match(r.markdown, /dev-postgis-data\*\* .* \(protected: .*; retainOnDelete: left in place/);
        assert.deepEqual(r.json.labels.add, [LABELS.replace, LABELS.delete]);
    });

    it("policy violations by pack, rule, level and resource; mandatory ones block", () => {
        // The local stack (sslRequired none, realms and claims unprotected) under the deployed profile.
        const r = report("policy-failure");
        assert.equal(r.exitCode, 3);
        assert.deepEqual(r.json.labels.add, [LABELS.policy]);
        assert.deepEqual(
            r.json.policyViolations
                .map((p) => [p.pack, p.policy, p.level, p.urn && parseUrn(p.urn).name].join(" "))
                .sort(),
            [
                "cytomine-fallback keycloak-ssl-required mandatory cytomine-realm",
                "cytomine-fallback keycloak-ssl-required mandatory orthanc-realm",
                "cytomine-fallback lsaai-login-restriction advisory lsaai-idp",
                "cytomine-fallback stateful-resources-protected mandatory cytomine-realm",
                "cytomine-fallback stateful-resources-protected mandatory demo-mongo-data",
                "cytomine-fallback stateful-resources-protected mandatory demo-pims-images",
                "cytomine-fallback stateful-resources-protected mandatory demo-postgis-data",
                "cytomine-fallback stateful-resources-protected mandatory orthanc-realm",
            ],
        );
        assert.match(
            r.markdown,
            /\| \*\*mandatory\*\* \| cytomine-fallback 0\.1\.0 \| `keycloak-ssl-required` \| `cytomine-realm` \(`keycloak:index\/realm:Realm`\) \| sslRequired is "none": use "external" \(or "all"\) outside the local stack \|/,
        );
        assert.doesNotMatch(r.markdown, /<\{%/, "colour directives stripped");
    });

    it("a change of Cytomine's release leads, said as the program warns it, and is not repeated among the warnings", async () => {
        const { upgradeWarnings } = await import("../../program/targets/upgrade");
        const [warning] = upgradeWarnings(
            { core: "registry.cytomine.org/cytomine/core:26e8daf" },
            {
                tenant: "demo",
                release: "0165ef7",
                images: DEFAULT_IMAGES,
                keycloak: { mode: "namespace" },
                backups: { settings: { schedule: "30 2 * * *", keepDaily: 7, keepWeekly: 4, repository: "/b" } },
            },
        );
        assert.ok(warning);
        const events = stream("update").flatMap((e) =>
            e.summaryEvent
                ? [
                      {
                          diagnosticEvent: { message: `${warning}\n`, color: "never", severity: "warning" },
                      } as EngineEvent,
                      {
                          diagnosticEvent: { message: "another warning\n", color: "never", severity: "warning" },
                      } as EngineEvent,
                      e,
                  ]
                : [e],
        );
        const r = buildReport(events, { secrets, secretConfigKeys: secretKeys });
        const lead = r.markdown.indexOf("> [!IMPORTANT]\n> **Cytomine's release or Keycloak's version changes.**");
        assert.ok(lead > 0 && lead < r.markdown.indexOf("<details>"), r.markdown);
        assert.match(
            r.markdown,
            /> upgrade of Cytomine from release 26e8daf to 0165ef7: the images of core, repository, pims, web-ui change/,
        );
        assert.match(r.markdown, /<summary>1 warning<\/summary>/, "only the other warning is in the list");
        assert.equal(r.markdown.split("upgrade of Cytomine").length, 2, "said once");
    });

    it("mandatory violations alone: the engine's closing 'preview failed' error is not a reason of its own", () => {
        const r = report("policy-failure");
        // The engine does send one error diagnostic, without a resource, for the failed preview.
        assert.deepEqual(r.model.diagnostics, [{ severity: "error", urn: undefined, message: "preview failed" }]);
        assert.deepEqual(r.json.reasons, ["7 mandatory policy violations"]);
        assert.doesNotMatch(r.markdown, /#### Errors/);
        // Alone, without a violation or another error, it is the only sign of the failure.
        const bare = stream("no-changes").flatMap((e) =>
            e.summaryEvent
                ? [
                      {
                          diagnosticEvent: { message: "preview failed\n", color: "never", severity: "error" },
                      } as EngineEvent,
                      e,
                  ]
                : [e],
        );
        assert.equal(buildReport(bare).exitCode, 1);
        assert.match(buildReport(bare).markdown, /#### Errors[^]*preview failed/);
    });

    it("a failed preview is exit 1; a stream cut short is not read as 'no changes'", () => {
        const failed = buildReport(stream("secret-leak"));
        assert.equal(failed.exitCode, 1);
        assert.equal(failed.json.verdict, "failed");
        assert.doesNotMatch(failed.markdown, /No changes/);
        assert.ok(!failed.json.labels.add.includes(LABELS.noChanges));

        const cut = stream("no-changes").filter((e) => !e.summaryEvent && !e.cancelEvent);
        assert.equal(buildReport(cut).exitCode, 1);
        const thrown = buildReport(stream("no-changes"), { previewFailed: "code: 255" });
        assert.equal(thrown.exitCode, 1);
        assert.equal(thrown.json.previewFailed, "code: 255");
    });

    it("config and outputs blind secrets", () => {
        const r = report("update");
        assert.match(r.markdown, /\| config \| `cytomine-fallback:keycloakAdminPassword` \| `\[secret\]` \|/);
        assert.match(r.markdown, /\| config \| `cytomine-fallback:lsaaiClientSecret` \| `\[secret\]` \|/);
        assert.match(r.markdown, /\| output \| `cytomineAdminPassword` \| `\[secret\]` \|/);
        assert.match(r.markdown, /\| output \| `orthancAuthService` \| `\[secret\]` \|/);
        assert.match(r.markdown, /\| config \| `cytomine-fallback:namespace` \| \*\(empty\)\* \|/);
        const created = report("create-only").markdown;
        assert.match(created, /\| output \| `cytomineAdminPassword` \| `\(known after apply\)` \|/);
        assert.deepEqual(blind({ a: [{ [SIG_KEY]: SECRET_SIG, ciphertext: "x" }], b: 1 }), { a: ["[secret]"], b: 1 });
    });

    it("the hidden marker names the stack, first line, one comment per stack", () => {
        assert.equal(marker("tenant-a"), "<!-- cytomine-fallback-preview:tenant-a -->");
        const r = buildReport(stream("update"), { stack: "tenant-a" });
        assert.ok(r.markdown.startsWith("<!-- cytomine-fallback-preview:tenant-a -->\n"));
        assert.equal(r.json.marker, marker("tenant-a"));
        assert.ok(report("update").markdown.startsWith(marker("demo")), "stack from the events' URNs");
    });

    it("labels: every managed label is either set or removed", () => {
        for (const name of [
            "create-only",
            "no-changes",
            "replace-realm",
            "replace-protected-realm",
            "delete-claim",
            "policy-failure",
        ]) {
            const { add, remove } = report(name).json.labels;
            assert.deepEqual([...add, ...remove].sort(), Object.values(LABELS).sort(), name);
        }
    });
});

describe("preview report: the event model", () => {
    it("parses URNs, names with '::' included", () => {
        assert.deepEqual(parseUrn("urn:pulumi:dev::p::cytomine:kubernetes:Cytomine$kubernetes:core/v1:Service::a::b"), {
            stack: "dev",
            project: "p",
            type: "kubernetes:core/v1:Service",
            typeChain: ["cytomine:kubernetes:Cytomine", "kubernetes:core/v1:Service"],
            name: "a::b",
        });
    });

    it("strips the engine's colour directives", () => {
        assert.equal(stripColors("<{%fg 12%}>text<{%reset%}>\n"), "text\n");
    });

    it("keeps only changes: no same, read or default-provider steps", () => {
        const meta = (op: string, type: string, name: string) => ({
            resourcePreEvent: {
                metadata: {
                    op,
                    urn: urnOf([type], name),
                    type,
                    old: null,
                    new: null,
                    detailedDiff: null,
                    provider: "",
                },
            },
        });
        const m = collectPreview([
            meta("same", "kubernetes:core/v1:Service", "a"),
            meta("read", "kubernetes:core/v1:Service", "b"),
            meta("create", "pulumi:providers:kubernetes", "default_4_25_0"),
            meta("create", "kubernetes:core/v1:Service", "c"),
        ] as unknown as EngineEvent[]);
        assert.deepEqual(
            m.changes.map((c) => c.name),
            ["c"],
        );
        assert.equal(m.complete, false);
    });

    it("names the component type from the URN when its instance is not in the stream", () => {
        const type = "kubernetes:core/v1:Secret";
        const urn = urnOf(["cytomine:kubernetes:Cytomine", "cytomine:kubernetes:TenantNamespace", type], "s");
        const m = collectPreview([
            {
                resourcePreEvent: {
                    metadata: { op: "create", urn, type, old: null, new: null, detailedDiff: null, provider: "" },
                },
            },
        ] as unknown as EngineEvent[]);
        assert.deepEqual(m.changes[0].component, { type: "cytomine:kubernetes:TenantNamespace" });
    });

    it("JSONL round trip, with the line number of a bad line", () => {
        const events = stream("update");
        assert.deepEqual(parseEventLines(toJsonl(events)), events);
        assert.throws(() => parseEventLines('{"sequence":0}\nnot json\n', "x.jsonl"), /x\.jsonl:2/);
    });
});

describe("preview report: size limit", () => {
    const events = large(5000);
    const replaced = collectPreview(events).changes.filter((c) => c.op === "replace" || c.op === "delete");

    it("5,000 changed resources stay under the limit with the summary and every replace/delete line", () => {
        const r = buildReport(events);
        assert.equal(r.model.changes.length, 5000);
        assert.ok(r.markdown.length <= COMMENT_LIMIT, `comment is ${r.markdown.length} characters`);
        assert.ok(r.json.comment.truncated);
        for (const [op, n] of Object.entries(r.model.counts)) {
            const label = op === "same" ? "unchanged" : op;
            assert.ok(r.markdown.includes(`| ${label} | ${(n ?? 0).toLocaleString("en-US")} |`), `summary row ${op}`);
        }
        assert.ok(replaced.length > 150);
        for (const c of replaced) assert.ok(r.markdown.includes(`**${c.name}**`), `${c.op} ${c.name} is listed`);
        assert.match(
            r.markdown,
            /Left out to stay under 60,000 characters: [\d,]+ configuration and output rows; [\d,]+ rows of created resources/,
        );
        assert.ok(r.markdown.trimEnd().endsWith("cli/preview-report.ts</sub>"), "ends cleanly");
        // Nothing is lost from the full report.
        for (const c of r.model.changes) assert.ok(r.full.includes(`\`${c.name}\``), c.name);
        assert.ok(r.full.length > 5 * COMMENT_LIMIT);
    });

    it("when the replace/delete lines alone overflow, the comment still keeps to the limit", () => {
        for (const limit of [12_000, 3_000, 600]) {
            const r = buildReport(events, { limit });
            assert.ok(r.markdown.length <= limit, `${r.markdown.length} > ${limit}`);
            assert.ok(r.markdown.startsWith(marker("dev")));
            assert.match(r.markdown, /\| operation \| resources \|/, "the summary stays");
        }
    });
});

describe("preview report: secret scan", () => {
    it("refuses a report that echoes a secret, naming the config key but not the value", () => {
        assert.throws(
            () => buildReport(stream("secret-leak"), { secrets, secretConfigKeys: secretKeys }),
            (e: unknown) => {
                assert.ok(e instanceof SecretLeakError);
                assert.match(
                    e.message,
                    /config key cytomine-fallback:keycloakAdminPassword \(in report\.md, report\.full\.md, report\.json\)/,
                );
                assert.ok(!e.message.includes(LEAKED_PASSWORD), "the value itself is never printed");
                return true;
            },
        );
    });

    it("names the resource and property for a secret from the state", () => {
        const urn = urnOf(["cytomine:identity:CytomineRealm", "random:index/randomPassword:RandomPassword"], "pw");
        const exported = {
            version: 3,
            deployment: {
                resources: [
                    {
                        urn,
                        type: "random:index/randomPassword:RandomPassword",
                        outputs: { result: { [SIG_KEY]: SECRET_SIG, plaintext: JSON.stringify(LEAKED_PASSWORD) } },
                    },
                    { urn: "u2", type: "t", inputs: { x: { [SIG_KEY]: SECRET_SIG, ciphertext: "v1:abc" } } },
                ],
            },
        };
        const state = secretsFromDeployment(exported);
        assert.deepEqual(state.secrets, [{ value: LEAKED_PASSWORD, source: `${urn} outputs.result` }]);
        assert.equal(state.undecrypted, 1);
        assert.throws(
            () => buildReport(stream("secret-leak"), { secrets: state.secrets }),
            new RegExp(`${urn.replace(/\$/g, "\\$")} outputs\\.result`),
        );
    });

    it("a structured secret in the state: its leaves count, except those the state holds in plain text", () => {
        // Like the stack output orthancAuthService: URLs that a component also outputs in plain text,
        // bundled with a client secret.
        const sig = { [SIG_KEY]: SECRET_SIG };
        const url = "http://127.0.0.1:18080/iam/admin/realms/demo-orthanc/";
        const exported = {
            deployment: {
                resources: [
                    {
                        urn: "s",
                        type: "pulumi:pulumi:Stack",
                        outputs: { share: { ...sig, plaintext: JSON.stringify({ url, secret: LEAKED_PASSWORD }) } },
                    },
                    { urn: "c", type: "cytomine:identity:OrthancShare", outputs: { keycloakAdminUri: url } },
                    {
                        urn: "p",
                        type: "random:index/randomPassword:RandomPassword",
                        outputs: { result: { ...sig, plaintext: JSON.stringify("admin-cli") } },
                    },
                    { urn: "u", type: "keycloak:openid/client:Client", inputs: { clientId: "admin-cli" } },
                ],
            },
        };
        const found = secretsFromDeployment(exported).secrets;
        assert.deepEqual(found, [
            { value: LEAKED_PASSWORD, source: "s outputs.share" },
            // A secret that is one value always counts, even if it also appears in plain text.
            { value: "admin-cli", source: "p outputs.result" },
        ]);
    });

    it("structured secrets count leaf by leaf; escaped forms are found too", () => {
        const s = secretsFromConfig({
            "p:db": { value: JSON.stringify({ user: "cytomine", password: 'pa"ss|w0rd' }), secret: true },
        });
        assert.ok(s.some((x) => x.value === 'pa"ss|w0rd'));
        assert.deepEqual(findSecrets([{ name: "report.json", text: '"msg": "pa\\"ss|w0rd"' }], s), [
            { source: "config key p:db", foundIn: ["report.json"] },
        ]);
        assert.equal(findSecrets([{ name: "report.md", text: '| pa"ss\\|w0rd |' }], s).length, 1);
    });

    it(`ignores values shorter than ${MIN_SECRET_LENGTH} characters, which any report contains by chance`, () => {
        const s = secretsFromConfig({
            "p:pin": { value: "dev", secret: true },
            "p:key": { value: "abcd", secret: true },
        });
        assert.deepEqual(findSecrets([{ name: "report.md", text: "stack dev" }], s), []);
        assert.equal(findSecrets([{ name: "report.md", text: "xabcdx" }], s).length, 1);
    });

    it("clean streams pass the scan with the stack's secrets", () => {
        for (const name of ["create-only", "replace-realm", "policy-failure"]) assert.doesNotThrow(() => report(name));
    });
});

describe("preview report: the CLI on recorded events", () => {
    const cli = (...args: string[]) =>
        spawnSync(process.execPath, ["--import", "tsx", "cli/preview-report.ts", ...args], {
            cwd: ROOT,
            encoding: "utf8",
        });

    it("writes the comment, full report, JSON and labels, and exits with the verdict", () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "preview-report-"));
        try {
            const r = cli("--events", path.join(FIXTURES, "delete-claim.events.jsonl"), "--out", out, "--json");
            assert.equal(r.status, 3, r.stderr);
            assert.deepEqual(fs.readdirSync(out).sort(), ["labels.json", "report.full.md", "report.json", "report.md"]);
            assert.equal(JSON.parse(r.stdout).verdict, "blocked");
            assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, "labels.json"), "utf8")).add, [LABELS.delete]);
            const allowed = cli(
                "--events",
                path.join(FIXTURES, "delete-claim.events.jsonl"),
                "--allow-stateful-changes",
            );
            assert.equal(allowed.status, 2, allowed.stderr);
            assert.ok(allowed.stdout.startsWith(marker("demo")));
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });

    it("on a secret, fails, names the key, writes nothing and removes an older report", () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "preview-report-"));
        const config = path.join(out, "config.json");
        fs.writeFileSync(config, JSON.stringify(SECRET_CONFIG));
        fs.writeFileSync(path.join(out, "report.md"), "an older report");
        try {
            const r = cli(
                "--events",
                path.join(FIXTURES, "secret-leak.events.jsonl"),
                "--out",
                out,
                "--secrets-from-config",
                config,
            );
            assert.equal(r.status, 1);
            assert.match(r.stderr, /cytomine-fallback:keycloakAdminPassword/);
            assert.ok(!r.stderr.includes(LEAKED_PASSWORD) && !r.stdout.includes(LEAKED_PASSWORD));
            assert.deepEqual(fs.readdirSync(out), ["config.json"]);
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });

    it("rejects bad usage with exit 1", () => {
        assert.equal(cli().status, 1);
        assert.equal(cli("--stack", "dev", "--nope").status, 1);
        const packConfig = cli("--stack", "dev", "--policy-pack-config", "policies/config.local.json");
        assert.equal(packConfig.status, 1);
        assert.match(packConfig.stderr, /one --policy-pack-config per --policy-pack/);
    });
});
