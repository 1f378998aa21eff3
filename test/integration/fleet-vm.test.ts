// Tenants from the vm template, through the tenant CLI: each tenant's compose project on the SSH test
// host runs its own real Keycloak (quay.io/keycloak/keycloak:26.4.7, docs/developing.md "Stand-in images"), so the
// isolation the fleet promises can be shown where a KWOK pod serves none (fleet.test.ts, whose
// Kubernetes tenants share the local Keycloak): two tenants up in parallel, each with its own
// Keycloak and generated admin password, and neither password opens the other's Keycloak.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { keycloakAdmin } from "../support/clients";
import { Fleet } from "../../apps/fleet";
import { Environment, useEnvironment } from "../../localenv";
import { freePort } from "../support/project-config";
import { readEnvFile } from "../support/env-file";
import { reportOf, show, tenantCli, vmTenantArgs } from "../support/tenant-cli";

/** The status of a password grant for the master realm's admin-cli, as an operator's login would get. */
async function adminLogin(keycloakUrl: string, user: string, password: string): Promise<number> {
    const res = await fetch(`${keycloakUrl}/realms/master/protocol/openid-connect/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "password", client_id: "admin-cli", username: user, password }),
    });
    await res.arrayBuffer();
    return res.status;
}

describe("fleet: tenants from the vm template, each with its own Keycloak", { timeout: 2_400_000 }, () => {
    let env: Environment;
    let dir: string;
    const id = crypto.randomBytes(2).toString("hex");
    const tenants = ["a", "b"].map((x) => `fv${id}-${x}`);
    const configRoot = "/opt/cytomine-fallback-fleet-test";
    const dataRoot = "/var/lib/cytomine-fallback-fleet-test";
    const ports: Record<string, number> = {};
    const keycloakUrl = (t: string) => `http://127.0.0.1:${ports[t]}/iam`;
    const cli = (args: string[], timeoutMs?: number) => tenantCli([...args, "--fleet-dir", dir], {}, timeoutMs);
    /** The tenant's Keycloak master admin as core's env file on the host holds it (root only, 0600). */
    const adminOf = (t: string) => {
        const vars = readEnvFile(`${configRoot}/${t}/env/core.env`);
        return { user: vars.KEYCLOAK_ADMIN, password: vars.KEYCLOAK_ADMIN_PASSWORD };
    };
    const containers = (t: string) =>
        execFileSync("docker", ["ps", "-q", "--filter", `label=com.docker.compose.project=cytomine-${t}`], {
            encoding: "utf8",
            env: { ...process.env, DOCKER_HOST: env.docker.host },
        })
            .split("\n")
            .filter(Boolean);

    before(async () => {
        env = await useEnvironment();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-vm-it-"));
    });
    after(async () => {
        if (!dir) return;
        const left = new Fleet({ dir }).ctx.tenantNames();
        if (left.length) {
            const run = await cli(["destroy", ...left, "--yes", "--with-data", "--parallel", "2"]);
            assert.equal(run.code, 0, show(run));
        }
        for (const t of tenants) {
            fs.rmSync(`${configRoot}/${t}`, { recursive: true, force: true });
            fs.rmSync(`${dataRoot}/${t}`, { recursive: true, force: true });
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("new and up --all --parallel 2: each tenant's realm is served by the Keycloak in its own project", async () => {
        for (const t of tenants) {
            ports[t] = await freePort();
            const run = await tenantCli(
                vmTenantArgs(env, { tenant: t, fleetDir: dir, configRoot, dataRoot, port: ports[t] }),
                { LSAAI_CLIENT_SECRET: `lsaai-${crypto.randomBytes(12).toString("hex")}` },
            );
            assert.equal(run.code, 0, show(run));
            assert.match(run.stdout, new RegExp(`${keycloakUrl(t)}/realms/cytomine/broker/oidc/endpoint`));
        }

        const up = await cli(["up", "--all", "--parallel", "2"], 1_200_000);
        assert.equal(up.code, 0, show(up));
        const report = reportOf(up);
        assert.equal(report.parallel, 2);
        for (const t of report.tenants) assert.equal(t.result, "ok", `${t.tenant}: ${t.error}`);

        for (const t of tenants) {
            const res = await fetch(`${keycloakUrl(t)}/realms/cytomine/.well-known/openid-configuration`);
            assert.equal(res.status, 200, t);
            assert.equal(((await res.json()) as { issuer: string }).issuer, `${keycloakUrl(t)}/realms/cytomine`);
        }
    });

    it("distinct Keycloaks: each tenant's generated admin password opens its own Keycloak and not the other's", async () => {
        const [a, b] = tenants;
        const admins = { [a]: adminOf(a), [b]: adminOf(b) };
        assert.notEqual(admins[a].password, admins[b].password, "the tenants share an admin password");
        for (const [self, other] of [
            [a, b],
            [b, a],
        ]) {
            const { user, password } = admins[self];
            assert.ok(password && password.length >= 24, `${self}: no generated admin password in core.env`);
            assert.equal(await adminLogin(keycloakUrl(self), user, password), 200, `${self} on its own Keycloak`);
            assert.equal(await adminLogin(keycloakUrl(other), user, password), 401, `${self}'s admin on ${other}'s`);
        }
        // Two Keycloaks, not one behind two proxies: a user made in a's realm is not in b's.
        const kcA = await keycloakAdmin({
            url: keycloakUrl(a),
            adminUser: admins[a].user,
            adminPassword: admins[a].password,
        });
        const kcB = await keycloakAdmin({
            url: keycloakUrl(b),
            adminUser: admins[b].user,
            adminPassword: admins[b].password,
        });
        const marker = `only-in-${a}`;
        await kcA.users.create({ realm: "cytomine", username: marker, enabled: true });
        assert.equal((await kcA.users.find({ realm: "cytomine", username: marker, exact: true })).length, 1);
        assert.deepEqual(await kcB.users.find({ realm: "cytomine", username: marker, exact: true }), []);
        assert.ok(containers(a).length > 0 && containers(b).length > 0);
        assert.deepEqual(
            containers(a).filter((c) => containers(b).includes(c)),
            [],
        );
    });

    it("destroy --all --yes --with-data removes both projects and their data", async () => {
        const run = await cli(["destroy", "--all", "--yes", "--with-data", "--parallel", "2"]);
        assert.equal(run.code, 0, show(run));
        for (const t of tenants) {
            assert.deepEqual(containers(t), [], `${t}'s containers are left`);
            assert.equal(fs.existsSync(`${configRoot}/${t}`), false, `${t}'s configuration is left`);
            assert.equal(fs.existsSync(`${dataRoot}/${t}`), false, `${t}'s data is left`);
        }
        for (const t of tenants) {
            const removed = await cli(["remove", t, "--yes"]);
            assert.equal(removed.code, 0, show(removed));
        }
    });
});
