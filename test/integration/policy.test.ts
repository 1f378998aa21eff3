// Issue "guard rails reviewers can trust": the policy pack on the project's own program, through the
// real engine and the CLI's policy analyzer. Render mode (manifests to a temporary directory, no
// cluster writes), identity against the local Keycloak; a fresh stack, so two previews and no `up`.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineEvent, PolicyEvent } from "@pulumi/pulumi/automation";
import { changesOf, createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";
import { useEnvironment } from "../../localenv";
import { projectConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";

interface Checked {
    events: EngineEvent[];
    policies: PolicyEvent[];
    /** The Automation API's error when the preview failed. */
    error?: Error;
    summary?: Record<string, number | undefined>;
}

describe("the policy pack on the project's program", { timeout: 600_000 }, () => {
    let e: EphemeralStack;
    let renderDir: string;
    let tenant: string;

    before(async () => {
        const env = await useEnvironment();
        renderDir = fs.mkdtempSync(path.join(os.tmpdir(), "cytomine-policy-"));
        // projectConfig: the local stack (localStack true, so sslRequired none) with
        // allowRealmReplacement and allowVolumeDeletion true, so realms and claims are unprotected.
        const project = projectConfig(env, "pol", { "cytomine-fallback:renderDir": renderDir });
        tenant = project.id;
        e = await createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        if (renderDir) fs.rmSync(renderDir, { recursive: true, force: true });
    });

    async function previewWith(packConfig: string): Promise<Checked> {
        const events: EngineEvent[] = [];
        const out: Checked = { events, policies: [] };
        try {
            const r = await e.stack.preview({
                color: "never",
                policyPacks: [path.join(repoRoot, "policies")],
                policyPackConfigs: [path.join(repoRoot, "policies", packConfig)],
                onEvent: (ev) => events.push(ev),
            });
            out.summary = r.changeSummary;
        } catch (err) {
            out.error = err as Error;
        }
        out.policies = events.flatMap((ev) => (ev.policyEvent ? [ev.policyEvent] : []));
        return out;
    }

    /** `policy level resource-name` of every violation, sorted. */
    const violations = (c: Checked) =>
        c.policies.map((p) => `${p.policyName} ${p.enforcementLevel} ${p.resourceUrn?.split("::").pop()}`).sort();

    /** The packs the engine ran, from the summary event (so that "no violation" means the pack ran). */
    const packsRan = (c: Checked) => {
        const s = c.events.find((ev) => ev.summaryEvent)?.summaryEvent as unknown as
            { PolicyPacks?: Record<string, string> } | undefined;
        return Object.keys(s?.PolicyPacks ?? {}).map((k) => k.split("|")[0]);
    };

    it("previews clean under the local pack config", async () => {
        const c = await previewWith("config.local.json");
        assert.equal(c.error, undefined, c.error?.message);
        assert.deepEqual(packsRan(c), ["cytomine-fallback"]);
        assert.deepEqual(violations(c), []);
        // A fresh stack: everything is created (and only that), so every resource went through the pack.
        assert.deepEqual(Object.keys(changesOf(c.summary ?? {})), ["create"]);
        assert.ok((c.summary?.create ?? 0) >= 60, JSON.stringify(c.summary));
    });

    it("the same stack under the deployed pack config fails with the expected violations", async () => {
        const c = await previewWith("config.deployed.json");
        assert.ok(c.error, "the preview failed");
        assert.deepEqual(packsRan(c), ["cytomine-fallback"]);
        assert.deepEqual(
            violations(c),
            [
                // sslRequired none is for the local stack only.
                "keycloak-ssl-required mandatory cytomine-realm",
                "keycloak-ssl-required mandatory orthanc-realm",
                // Without lsaaiRestrict every LS-AAI user logs in as ADMIN: a warning, not a block.
                "lsaai-login-restriction advisory lsaai-idp",
                // allowRealmReplacement and allowVolumeDeletion true: nothing protected.
                "stateful-resources-protected mandatory cytomine-realm",
                `stateful-resources-protected mandatory ${tenant}-meilisearch-data`,
                `stateful-resources-protected mandatory ${tenant}-mongo-data`,
                `stateful-resources-protected mandatory ${tenant}-pims-images`,
                `stateful-resources-protected mandatory ${tenant}-postgis-data`,
                "stateful-resources-protected mandatory orthanc-realm",
            ].sort(),
        );
        // The engine's own diagnostics: one error without a resource, closing the failed preview.
        const errors = c.events.flatMap((ev) => (ev.diagnosticEvent?.severity === "error" ? [ev.diagnosticEvent] : []));
        assert.deepEqual(
            errors.map((d) => [d.urn ?? "", d.message.trim()]),
            [["", "preview failed"]],
        );
    });
});
