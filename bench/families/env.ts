// env: the local environment's start (localenv), each round on an empty state folder of its own
// and its own ports, so that a running dev environment is left alone: cold (empty state; Keycloak's
// distribution already augmented), after env:down (stopped cluster), and already running. No floor.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ensureEnvironment, stopEnvironment, envSettings } from "../../localenv";
import { Row, time } from "../support/stats";
import { Family } from "./types";

export const env: Family = {
    name: "env",
    summary: "local environment start: cold, after env:down, already running",
    async run({ rounds, log }) {
        const cold: Row = { key: "cold", what: "environment start, cold (empty state)", unit: "s", samples: [] };
        const restart: Row = { key: "restart", what: "environment start, after env:down", unit: "s", samples: [] };
        const warm: Row = { key: "warm", what: "environment start, already running", unit: "s", samples: [] };
        for (let r = 0; r < rounds; r++) {
            const s = envSettings({
                CYTOMINE_ENV_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "bench-env-")),
                CYTOMINE_ENV_KEYCLOAK_PORT: "28080",
                CYTOMINE_ENV_KEYCLOAK_MANAGEMENT_PORT: "29000",
                CYTOMINE_ENV_KUBE_PORT: "26443",
                CYTOMINE_ENV_SSH_PORT: "22222",
                CYTOMINE_ENV_S3_PORT: "28900",
            });
            try {
                cold.samples.push(await time(() => ensureEnvironment(s)));
                warm.samples.push(await time(() => ensureEnvironment(s)));
                await stopEnvironment(s);
                restart.samples.push(await time(() => ensureEnvironment(s)));
                log(`env round ${r + 1}: cold ${cold.samples.at(-1)?.toFixed(1)} s`);
            } finally {
                await stopEnvironment(s, true);
                fs.rmSync(s.stateDir, { recursive: true, force: true });
            }
        }
        return { family: "env", rows: [cold, restart, warm] };
    },
};
