// vm: the SSH target's first `pulumi up` and no-op `pulumi preview` (the local SSH test host and its
// Docker engine, with the stand-in images; so this family uses the dev environment, `npm run env:up`'s).
//   - measured: the project's program with `target: ssh` (Keycloak in the compose project, both
//     realms applied to it), a fresh tenant each round; then a no-op preview of that stack;
//   - floor (up): the same work by hand: the same files (rendered by components/vm/cytomine.ts's
//     hostLayout and compose.ts's envFile, with generated values) and directories written, the
//     project started by the same compose script waiting on the same URLs, all in ONE SSH session,
//     then both realms created from representations in one Admin REST request each (realms.ts);
//   - floor (preview): a no-op preview of bench/fixtures/providers (providers only) configured
//     against the tenant's Keycloak.
// Each round's projects are brought down and their directories removed afterwards (not timed).
import * as crypto from "node:crypto";
import * as path from "node:path";
import { SECRET_VALUES, secretKeysOf } from "../../components/model/secrets";
import { SECRET_NAME } from "../../components/model/services";
import { RELEASE } from "../../components/model/release";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { envFile, envFileOf } from "../../components/vm/compose";
import { hostLayout } from "../../components/vm/cytomine";
import {
    composeDownScript,
    composeUpScript,
    directoriesScript,
    shellQuote,
    removeScript,
} from "../../components/vm/scripts";
import { createEphemeralStack, disposeEphemeralStack } from "../../test/support/automation";
import { keycloakAdmin } from "../../test/support/clients";
import { ensureEnvironment } from "../../localenv";
import { ConfigValue, freePort, sshTargetConfig } from "../../test/support/project-config";
import { repoRoot } from "../../toolchain/index";
import { breakdown, ResourceTimer, runLine, timedUp } from "../support/engine";
import { overSsh } from "../support/ssh";
import { Row, time } from "../support/stats";
import { floorRealms } from "./realms";
import { alternate, Family, roundName, WARMUP } from "./types";

const CONFIG_ROOT = "/opt/cytomine-fallback-bench";
const DATA_ROOT = "/var/lib/cytomine-fallback-bench";

/** A value of the kind the stack generates for KEY (components/model/secrets.ts). */
function generated(key: string): string {
    const kind = SECRET_VALUES[key];
    if (kind === "uuid") return crypto.randomUUID();
    return crypto
        .randomBytes(kind === "jwt" ? 256 : 32)
        .toString("base64url")
        .slice(0, kind === "jwt" ? 256 : 32);
}

/** The floor's script: directories, every file (env files with generated values), compose up and the waits. */
function handScript(tenant: string, url: string, httpPort: number, adminUser: string) {
    const layout = hostLayout({
        tenant,
        configDir: CONFIG_ROOT,
        dataDir: DATA_ROOT,
        release: RELEASE.tag,
        images: DEFAULT_IMAGES,
        publicUrl: url,
        keycloak: { mode: "namespace", origin: url, adminUser },
        bindAddress: "127.0.0.1",
        httpPort,
    });
    const values = Object.fromEntries(secretKeysOf(layout.services, SECRET_NAME).map((k) => [k, generated(k)]));
    const files = [
        ...layout.plainFiles,
        ...layout.services.map((s) => ({ path: envFileOf(s.component), mode: "0600", content: envFile(s, values) })),
    ];
    const write = files.flatMap((f) => {
        const target = shellQuote(`${layout.configDir}/${f.path}`);
        const b64 = Buffer.from(f.content).toString("base64");
        return [`base64 -d > ${target} <<'B64'`, b64, "B64", `chmod ${f.mode} ${target}`];
    });
    const script = [
        directoriesScript(
            [
                { path: layout.dataDir, owner: "0:0", mode: "0755" },
                ...layout.volumeDirs,
                { path: layout.configDir, owner: "0:0", mode: "0755" },
                { path: `${layout.configDir}/env`, owner: "0:0", mode: "0700" },
            ],
            "",
        ),
        ...write,
        composeUpScript(
            {
                dir: layout.configDir,
                project: layout.project,
                digest: "by-hand",
                waitFor: layout.readinessUrls,
                timeoutSeconds: 900,
                // Keycloak's image, built on the host like the stack's (once per host: both sides share it).
                builds: layout.builds,
            },
            "",
        ),
    ].join("\n");
    const teardown = [
        composeDownScript(layout.configDir, layout.project, ""),
        removeScript(layout.configDir, ""),
        removeScript(layout.dataDir, ""),
    ].join("\n");
    return { script, teardown, keycloakAdminPassword: values["keycloak-admin-password"] };
}

export const vm: Family = {
    name: "vm",
    summary: "SSH target: first `pulumi up` and no-op preview vs the same files + compose up + realms by hand",
    async run({ rounds, log }) {
        const env = await ensureEnvironment();
        const up: Row = { key: "up", what: "first `pulumi up`, target ssh", unit: "s", samples: [], floor: "by-hand" };
        const byHand: Row = {
            key: "by-hand",
            what: "floor: same files + compose up + same waits in one SSH session, then both realms (REST)",
            unit: "s",
            samples: [],
        };
        const preview: Row = {
            key: "preview",
            what: "no-op preview, target ssh",
            unit: "s",
            samples: [],
            floor: "providers",
        };
        const providers: Row = {
            key: "providers",
            what: "floor: no-op preview, providers only (fixture)",
            unit: "s",
            samples: [],
        };
        const timers: ResourceTimer[] = [];
        let resources = 0;

        const measureUp = async (round: number) => {
            const target = sshTargetConfig(env, "bv", {
                httpPort: await freePort(),
                configDir: CONFIG_ROOT,
                dataDir: DATA_ROOT,
            });
            const e = await createEphemeralStack({ workDir: repoRoot, config: target.config });
            const kc: Record<string, ConfigValue> = {
                "bench-providers:keycloakUrl": `${target.url}/iam`,
                "bench-providers:keycloakAdminUser": env.keycloak.adminUser,
            };
            try {
                const { seconds, created, timer } = await timedUp(e.stack, (n) => n.replaceAll(target.id, "<tenant>"));
                resources = created;
                const noop = await time(() => e.stack.preview({ color: "never" }));
                // The providers-only floor, against the Keycloak in this tenant's project (whose admin
                // password the stack keeps in the host's env files only).
                const envFilePath = `${CONFIG_ROOT}/${target.id}/${envFileOf("core")}`;
                const password = await overSsh(
                    env,
                    `sed -n 's/^KEYCLOAK_ADMIN_PASSWORD=//p' ${shellQuote(envFilePath)}`,
                );
                kc["bench-providers:keycloakAdminPassword"] = { value: password.trim(), secret: true };
                const f = await createEphemeralStack({
                    workDir: path.join(repoRoot, "bench", "fixtures", "providers"),
                    config: kc,
                });
                const floorPreview = await time(() => f.stack.preview({ color: "never" })).finally(() =>
                    disposeEphemeralStack(f),
                );
                if (round !== WARMUP) {
                    up.samples.push(seconds);
                    preview.samples.push(noop);
                    providers.samples.push(floorPreview);
                    timers.push(timer);
                }
                log(
                    `vm ${roundName(round)}: up ${seconds.toFixed(1)} s, preview ${noop.toFixed(1)} s (${runLine(timer)})`,
                );
            } finally {
                await disposeEphemeralStack(e);
            }
        };

        const measureByHand = async (round: number) => {
            const tenant = `bh-${crypto.randomBytes(3).toString("hex")}`;
            const httpPort = await freePort();
            const url = `http://127.0.0.1:${httpPort}`;
            const hand = handScript(tenant, url, httpPort, env.keycloak.adminUser);
            try {
                const seconds = await time(async () => {
                    await overSsh(env, hand.script);
                    const kc = await keycloakAdmin({
                        url: `${url}/iam`,
                        adminUser: env.keycloak.adminUser,
                        adminPassword: hand.keycloakAdminPassword,
                    });
                    const reps = floorRealms(tenant, url);
                    await Promise.all([kc.realms.create(reps.cytomine), kc.realms.create(reps.orthanc)]);
                });
                if (round !== WARMUP) byHand.samples.push(seconds);
                log(`vm ${roundName(round)}: by hand ${seconds.toFixed(1)} s`);
            } finally {
                await overSsh(env, hand.teardown).catch((err: unknown) => log(`vm: teardown ${String(err)}`));
            }
        };

        await alternate(rounds, measureUp, measureByHand);
        up.what = `first \`pulumi up\`, target ssh (${resources} resources)`;
        return {
            family: "vm",
            rows: [up, byHand, preview, providers],
            breakdown: { "first up, target ssh": breakdown(timers) },
            notes: ["Both sides wait for Keycloak in the compose project to boot (the larger share of either figure)."],
        };
    },
};
