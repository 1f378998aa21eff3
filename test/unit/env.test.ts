import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { adminPassword } from "../../lib/localenv/keycloak";
import { kwokctlConfig } from "../../lib/localenv/kube";
import { EnvError, livePid, requireFreePort } from "../../lib/localenv/proc";
import { envSettings } from "../../lib/localenv/settings";
import { sshdConfig } from "../../lib/localenv/ssh";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "env-test-"));

describe("local environment building blocks", () => {
    it("a port held by another program is reported with the port, the piece and the fix", async () => {
        const server = net.createServer().listen(0, "127.0.0.1");
        await new Promise((r) => server.once("listening", r));
        const port = (server.address() as net.AddressInfo).port;
        try {
            await assert.rejects(requireFreePort(port, "Keycloak", "CYTOMINE_ENV_KEYCLOAK_PORT"), (e: Error) => {
                assert.ok(e instanceof EnvError);
                assert.match(
                    e.message,
                    new RegExp(`port ${port} on 127\\.0\\.0\\.1, needed by Keycloak, is already in use`),
                );
                assert.match(e.message, /fix: .*CYTOMINE_ENV_KEYCLOAK_PORT=<port>/);
                return true;
            });
        } finally {
            server.close();
        }
    });

    it("a stale pid file (dead process, or a pid reused by another program) is removed", () => {
        const dir = tmp();
        const file = path.join(dir, "x.pid");
        const dead = spawnSync("true").pid;
        fs.writeFileSync(file, String(dead));
        assert.equal(livePid(file, "keycloak"), undefined);
        assert.equal(fs.existsSync(file), false);

        fs.writeFileSync(file, String(process.pid)); // alive, but it is node, not keycloak
        assert.equal(livePid(file, "keycloak"), undefined);
        fs.writeFileSync(file, String(process.pid));
        assert.equal(livePid(file, "node"), process.pid);
    });

    it("the Keycloak admin password is generated once, 0600, and read back", () => {
        const file = path.join(tmp(), "keycloak", "admin-password");
        const first = adminPassword(file);
        assert.ok(first.length >= 32);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.equal(adminPassword(file), first);
    });

    it("every piece binds to loopback only", () => {
        const s = envSettings({ CYTOMINE_ENV_DIR: tmp() });
        const kwok = kwokctlConfig(s) as { options: Record<string, unknown> };
        assert.equal(kwok.options.bindAddress, "127.0.0.1");
        assert.equal(kwok.options.kubeAdmission, true);
        assert.match(sshdConfig(s), /^ListenAddress 127\.0\.0\.1$/m);
        assert.match(sshdConfig(s), /^PasswordAuthentication no$/m);
    });

    it("rejects a port setting that is not a port", () => {
        assert.throws(
            () => envSettings({ CYTOMINE_ENV_KUBE_PORT: "80" }),
            /CYTOMINE_ENV_KUBE_PORT=80 is not a port number/,
        );
    });
});
