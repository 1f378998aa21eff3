// identity: the first `pulumi up` of the identity part against Keycloak's own floor.
//   - measured: the project's program in render mode (the Kubernetes part only written to files)
//     against the local Keycloak; a fresh stack each round, destroyed afterwards (not timed);
//   - floor: the same two realms (cytomine, orthanc) created from full realm representations with ONE
//     Admin REST API request each (POST /admin/realms, both at once, as the engine may), then deleted
//     (not timed). The admin login happens before the clock starts.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createEphemeralStack, disposeEphemeralStack } from "../../test/support/automation";
import { keycloakAdmin } from "../../test/support/clients";
import { projectConfig } from "../../test/support/project-config";
import { repoRoot } from "../../toolchain/index";
import { breakdown, ResourceTimer, runLine, timedUp } from "../support/engine";
import { Row, time } from "../support/stats";
import { floorRealms } from "./realms";
import { asEnvironment, engineEnvironment } from "./localenv";
import { alternate, Family, roundName, WARMUP } from "./types";

const PUBLIC_URL = "http://127.0.0.1:8080";

export const identity: Family = {
    name: "identity",
    summary: "first `pulumi up` of the identity part (render mode) vs one POST /admin/realms per realm",
    async run({ rounds, log }) {
        const env = await engineEnvironment();
        const up: Row = {
            key: "up",
            what: "first `pulumi up`, identity part (program in render mode, fresh stack)",
            unit: "s",
            samples: [],
            floor: "realms",
        };
        const cli: Row = {
            key: "up-cli",
            what: "  of which the CLI run (until its last line; then the Automation API reads outputs and history)",
            unit: "s",
            samples: [],
            floor: "realms",
        };
        const floor: Row = {
            key: "realms",
            what: "floor: POST /admin/realms × 2 (cytomine + orthanc, full representations)",
            unit: "s",
            samples: [],
        };
        const timers: ResourceTimer[] = [];
        let resources = 0;

        const measureUp = async (round: number) => {
            const renderDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-identity-render-"));
            const { id, config } = projectConfig(asEnvironment(env), "bi", {
                "cytomine-fallback:renderDir": renderDir,
            });
            const e = await createEphemeralStack({
                workDir: repoRoot,
                config,
                env: { KUBECONFIG: env.kube.kubeconfig },
            });
            try {
                const { seconds, cliSeconds, created, timer } = await timedUp(e.stack, (n) => n.replaceAll(id, "<id>"));
                resources = created;
                if (round !== WARMUP) {
                    up.samples.push(seconds);
                    cli.samples.push(cliSeconds);
                    timers.push(timer);
                }
                log(
                    `identity ${roundName(round)}: up ${seconds.toFixed(1)} s, ${resources} created (${runLine(timer)})`,
                );
            } finally {
                await disposeEphemeralStack(e);
                fs.rmSync(renderDir, { recursive: true, force: true });
            }
        };

        const measureFloor = async (round: number) => {
            const id = `bf-${crypto.randomBytes(3).toString("hex")}`;
            const reps = floorRealms(id, PUBLIC_URL);
            const kc = await keycloakAdmin(env.keycloak);
            try {
                const seconds = await time(() =>
                    Promise.all([kc.realms.create(reps.cytomine), kc.realms.create(reps.orthanc)]),
                );
                if (round !== WARMUP) floor.samples.push(seconds);
                log(`identity ${roundName(round)}: floor ${seconds.toFixed(2)} s`);
            } finally {
                const again = await keycloakAdmin(env.keycloak);
                for (const realm of [reps.cytomine.realm, reps.orthanc.realm] as string[]) {
                    await again.realms.del({ realm }).catch(() => undefined);
                }
            }
        };

        await alternate(rounds, measureUp, measureFloor);
        up.what = `first \`pulumi up\`, identity part (program in render mode, ${resources} resources)`;
        return {
            family: "identity",
            rows: [up, cli, floor],
            breakdown: { "first up, identity part": breakdown(timers) },
            notes: [
                "The floor puts the `projects` claim on the core client (the stack adds it to the realm's profile scope).",
            ],
        };
    },
};
