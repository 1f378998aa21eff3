// Pieces of a local environment of a case's own (its state folder and ports), for a case that stops,
// kills or restarts one: the shared environment stays with the suites beside it, so the case need not
// wait to hold it alone (withEnvironmentAlone) and nothing beside it waits for the case.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    EnvSettings,
    PieceInfos,
    PieceKey,
    ensurePieces,
    envSettings,
    freePort,
    stopEnvironment,
} from "../../localenv";

export interface OwnPieces<K extends PieceKey> {
    s: EnvSettings;
    info: Pick<PieceInfos, K>;
    /** Stops them and removes their state folder. */
    dispose(): Promise<void>;
}

export async function ownPieces<K extends PieceKey>(prefix: string, keys: readonly K[]): Promise<OwnPieces<K>> {
    const ports = async (...names: string[]) => {
        const taken = new Set<number>();
        while (taken.size < names.length) taken.add(await freePort());
        const distinct = [...taken];
        return Object.fromEntries(names.map((n, i) => [n, String(distinct[i])]));
    };
    const s = envSettings({
        ...process.env,
        CYTOMINE_ENV_DIR: fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`)),
        CYTOMINE_ENV_REAL_NODE: "0",
        ...(await ports(
            "CYTOMINE_ENV_KEYCLOAK_PORT",
            "CYTOMINE_ENV_KEYCLOAK_MANAGEMENT_PORT",
            "CYTOMINE_ENV_KUBE_PORT",
            "CYTOMINE_ENV_SSH_PORT",
            "CYTOMINE_ENV_S3_PORT",
        )),
    });
    const dispose = async () => {
        try {
            await stopEnvironment(s, true);
        } finally {
            fs.rmSync(s.stateDir, { recursive: true, force: true });
        }
    };
    try {
        return { s, info: await ensurePieces(keys, s), dispose };
    } catch (e) {
        await dispose();
        throw e;
    }
}
