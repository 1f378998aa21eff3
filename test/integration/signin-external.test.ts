// Sign-in to Cytomine end to end on the VM target with an external Keycloak (keycloakMode external):
// a local Keycloak of the case's own (ownPieces, started as the environment's is) holds the tenant's
// realm and a stand-in LS Login realm; the tenant's containers reach it at another address than the
// browser does (keycloakInternalUrl: a relay on the Docker bridge's host address to Keycloak's
// loopback port), as a Keycloak behind split-horizon DNS is. The realm must be `cytomine` (the web
// UI's), which a Keycloak holds for one stack at a time: in a Keycloak of its own, the dev stack's or
// another suite's `cytomine` is no clash.
import assert from "node:assert/strict";
import * as net from "node:net";
import { describe, it } from "node:test";
import { bridgeAddress, useEnvironment } from "../../localenv";
import { createEphemeralStack } from "../support/automation";
import { keycloakAdmin } from "../support/clients";
import { freePort, sshTargetConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";
import { createStandInLsAai } from "../support/lsaai-standin";
import { disposeVmTenant } from "../support/vm-stack";
import { ownPieces } from "../support/own-pieces";
import { atLogin, launchChromium, shown, signInThroughLsAai } from "../support/signin";

/** A TCP relay from HOST (an address containers reach) to a loopback port, until closed. */
function relay(host: string, target: number): Promise<net.Server> {
    const server = net.createServer((socket) => {
        const upstream = net.connect(target, "127.0.0.1");
        socket.pipe(upstream).pipe(socket);
        const end = () => (socket.destroy(), upstream.destroy());
        socket.on("error", end);
        upstream.on("error", end);
    });
    return new Promise((resolve, reject) => server.once("error", reject).listen(0, host, () => resolve(server)));
}

describe(
    "sign-in to Cytomine through an external Keycloak and LS-AAI, on the VM target",
    { timeout: 1_800_000 },
    () => {
        it("the researcher signs in, core validates the token with keys fetched at the internal address, sign-out ends the session", async () => {
            const own = await ownPieces("signin-ext", ["keycloak"]);
            const env = { ...(await useEnvironment()), keycloak: own.info.keycloak };
            try {
                const kc = await keycloakAdmin(env.keycloak);
                const keycloak = new URL(env.keycloak.url);
                const bridgeHost = bridgeAddress(env.docker.subnet).split("/")[0];
                const server = await relay(bridgeHost, Number(keycloak.port));
                const relayPort = (server.address() as net.AddressInfo).port;
                const dataRoot = "/var/lib/cytomine-fallback-test";
                const httpPort = await freePort();
                const target = sshTargetConfig(env, "signin-ext", {
                    httpPort,
                    configDir: "/opt/cytomine-fallback-test",
                    dataDir: dataRoot,
                    extra: {
                        "cytomine-fallback:keycloakMode": "external",
                        "cytomine-fallback:keycloakUrl": env.keycloak.url,
                        "cytomine-fallback:keycloakInternalUrl": `http://${bridgeHost}:${relayPort}${keycloak.pathname}`,
                        "cytomine-fallback:keycloakAdminUser": env.keycloak.adminUser,
                    },
                });
                // sshTargetConfig drops it (a Keycloak of the tenant's own generates its own): the environment's.
                target.config["cytomine-fallback:keycloakAdminPassword"] = {
                    value: env.keycloak.adminPassword,
                    secret: true,
                };
                const lsaai = await createStandInLsAai(
                    kc,
                    env,
                    "cytomine",
                    target.config["cytomine-fallback:lsaaiClientId"] as string,
                );
                const e = await createEphemeralStack({
                    workDir: repoRoot,
                    config: { ...target.config, ...lsaai.config },
                });
                const chromium = await launchChromium();
                try {
                    const up = await e.stack.up({ color: "never" });
                    assert.equal(up.summary.result, "succeeded");

                    const page = await (await chromium.newContext()).newPage();
                    const realmUrl = `${env.keycloak.url}/realms/cytomine`;
                    await signInThroughLsAai(page, {
                        cytomineUrl: target.url,
                        realmUrl,
                        upstreamUrl: `${env.keycloak.url}/realms/${lsaai.upstream}`,
                        password: lsaai.password,
                    });
                    const { error, user, roles, session } = await shown(page);
                    assert.equal(error, "", "no error on the page");
                    assert.equal(user.username, "researcher");
                    assert.match(roles, /\bADMIN\b/);
                    assert.equal(session.adminByNow, true);

                    const [researcher] = await kc.users.find({
                        realm: "cytomine",
                        username: "researcher",
                        exact: true,
                    });
                    assert.equal((await kc.users.listSessions({ realm: "cytomine", id: researcher.id! })).length, 1);
                    await page.click("#sign-out");
                    await atLogin(page, realmUrl);
                    assert.equal((await kc.users.listSessions({ realm: "cytomine", id: researcher.id! })).length, 0);
                } finally {
                    await chromium.close();
                    await disposeVmTenant(env, e, `cytomine-${target.id}`, `${dataRoot}/${target.id}`);
                    await lsaai.remove();
                    server.close();
                }
            } finally {
                await own.dispose();
            }
        });
    },
);
