// The preview's reads of the cluster (program/preflight/cluster.ts), against a local HTTP server in
// place of the API server: the tenant's namespace is read once per run, however many checks ask.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { loadClusterApis } from "../../program/preflight/cluster";

describe("the preview's cluster reads", () => {
    const asked: string[] = [];
    let server: http.Server;
    let kubeconfig: string;

    before(async () => {
        server = http.createServer((req, res) => {
            asked.push(`${req.method} ${req.url}`);
            const found = req.url === "/api/v1/namespaces/lab-a";
            res.writeHead(found ? 200 : 404, { "Content-Type": "application/json" });
            res.end(
                JSON.stringify(
                    found
                        ? { apiVersion: "v1", kind: "Namespace", metadata: { name: "lab-a" } }
                        : { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 },
                ),
            );
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const { port } = server.address() as { port: number };
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-"));
        kubeconfig = path.join(dir, "config");
        fs.writeFileSync(
            kubeconfig,
            stringify({
                apiVersion: "v1",
                kind: "Config",
                clusters: [
                    { name: "c", cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } },
                ],
                users: [{ name: "u", user: { token: "t" } }],
                contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
                "current-context": "x",
            }),
        );
    });

    after(() => server.close());

    it("reads a namespace once however often it is asked, and a missing one as undefined", async () => {
        const apis = await loadClusterApis({ KUBECONFIG: kubeconfig });
        const [a, b] = await Promise.all([apis.namespace("lab-a"), apis.namespace("lab-a")]);
        assert.equal(a?.metadata?.name, "lab-a");
        assert.equal(b, a);
        assert.equal(await apis.namespace("lab-b"), undefined);
        assert.equal(await apis.namespace("lab-b"), undefined);
        assert.deepEqual(asked, ["GET /api/v1/namespaces/lab-a", "GET /api/v1/namespaces/lab-b"]);
    });
});
