// The release stand-ins (localenv/images/common/cytomine-standin.py) enforce their contract
// (components/model/release.ts) at start: for every required environment variable, writable path
// and file of the contract, taking it away makes the stand-in exit with the contract's exit code and
// print that item's failure (the real image's message), then a line naming the item and its source.
// With everything present, web-ui and meilisearch start and answer their health path; core and
// repository go on to their database (test/integration/standins.test.ts runs them against PostgreSQL);
// pims goes on to its cache (test/integration/pims-import.test.ts runs it against Redis).
// The program runs here with Debian's python3, as in the image, against a temporary root.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, describe, it } from "node:test";
import { CONTRACTS, ServiceContract } from "../../components/model/release";
import { removeStandinRoots, runStandin, standinRoot, startStandin } from "../../localenv/standin-run";
import { contractJson, standinSpecs } from "../../localenv/standins";
import { envSettings } from "../../localenv/settings";
import { logged } from "../support/standin-log";

after(removeStandinRoots);

const RELEASE_STANDINS = Object.keys(CONTRACTS);

/** A value for every required variable: URLs, ports, the production mode, else a word. */
function fullEnv(c: ServiceContract): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of c.env) {
        if (!e.required) continue;
        env[e.name] = e.name.endsWith("_URL")
            ? "http://127.0.0.1:9/"
            : e.name.endsWith("_PORT")
              ? "9"
              : e.name === "MEILI_ENV"
                ? "production"
                : `value-of-${e.name.toLowerCase()}`;
    }
    return env;
}

/** Asserts a refusal: the exit code, the item's failure first, then the stand-in's line naming it. */
function assertRefused(
    r: { status: number | null; stderr: string },
    c: ServiceContract,
    failure: string,
    name: string,
    source: string,
) {
    assert.equal(r.status, c.exitCode, `exit code; stderr:\n${r.stderr}`);
    const expected = `${failure}\nstand-in: ${c.component}: ${name} (${source})\n`;
    assert.ok(r.stderr.startsWith(expected), `stderr should start with:\n${expected}\nbut is:\n${r.stderr}`);
}

describe("release stand-ins: built from the release's contracts", () => {
    it("each release image is built with its contract as contract.json, under exactly the release's name", () => {
        const specs = standinSpecs(envSettings({ CYTOMINE_ENV_DIR: "/srv/x" }));
        for (const component of RELEASE_STANDINS) {
            const spec = specs.find((s) => s.tags.includes(CONTRACTS[component].image));
            assert.ok(spec, `no stand-in is tagged ${CONTRACTS[component].image}`);
            if (component !== "pims") assert.equal(spec.contract, component);
        }
        for (const old of ["cytomine/core:5.1.0", "cytomine/web-ui:3.1.0", "cytomine/pims-ce-package:ce-1.0.0"]) {
            assert.ok(!specs.some((s) => s.tags.includes(old)), `${old} is still built`);
        }
        const json = JSON.parse(contractJson("pims")) as Record<string, unknown>;
        assert.equal(json.image, CONTRACTS.pims.image);
    });
});

for (const component of RELEASE_STANDINS) {
    const contract = CONTRACTS[component] as ServiceContract;
    describe(`${component} stand-in refuses to start as the real image does`, () => {
        for (const item of contract.env.filter((e) => e.required)) {
            it(`without ${item.name}`, () => {
                for (const value of [undefined, ""]) {
                    const root = standinRoot(component);
                    const env = fullEnv(contract);
                    if (value === undefined) delete env[item.name];
                    else env[item.name] = value;
                    const r = runStandin(component, { root, env, wait: 0 });
                    assertRefused(r, contract, item.failure ?? `${item.name} is not set`, item.name, item.source);
                }
            });
        }
        for (const item of contract.writable) {
            it(`when ${item.path} cannot be written`, () => {
                const root = standinRoot(component);
                fs.rmSync(root.at(item.path), { recursive: true, force: true });
                const r = runStandin(component, { root, env: fullEnv(contract), wait: 0 });
                assertRefused(r, contract, item.failure, item.path, item.source);
            });
        }
        for (const item of contract.files) {
            it(`without ${item.path}`, () => {
                const root = standinRoot(component);
                fs.rmSync(root.at(item.path), { force: true });
                const r = runStandin(component, { root, env: fullEnv(contract), wait: 0 });
                assertRefused(r, contract, `${item.path}: No such file or directory`, item.path, item.source);
            });
        }
    });
}

describe("with everything the contract asks for", () => {
    for (const component of ["web-ui", "meilisearch"]) {
        it(`${component} starts and answers its health paths`, async () => {
            const contract = CONTRACTS[component] as ServiceContract;
            const s = await startStandin(component, { root: standinRoot(component), env: fullEnv(contract) });
            try {
                for (const h of contract.health) {
                    const res = await fetch(`${s.url}${h.path}`);
                    assert.equal(res.status, 200, `${h.path}`);
                    await res.arrayBuffer();
                }
                await logged(s, /"GET \S+" 200/, "requests are logged");
            } finally {
                await s.stop();
            }
        });
    }

    for (const component of ["core", "repository"]) {
        it(`${component} passes the contract's checks and goes on to its database (none here: refused)`, () => {
            const contract = CONTRACTS[component] as ServiceContract;
            const env = { ...fullEnv(contract), POSTGIS_HOST: "127.0.0.1", POSTGIS_PORT: "9" };
            const r = runStandin(component, { root: standinRoot(component), env, wait: 0 });
            const item = contract.env.find((e) => e.name === "POSTGIS_HOST")!;
            assertRefused(
                r,
                contract,
                "org.postgresql.util.PSQLException: Connection to 127.0.0.1:9 refused. Check that the hostname and " +
                    "port are correct and that the postmaster is accepting TCP/IP connections.",
                "POSTGIS_HOST",
                item.source,
            );
        });
    }

    it("meilisearch answers 404, not success, on a route it does not implement", async () => {
        const contract = CONTRACTS.meilisearch;
        const env = fullEnv(contract);
        const s = await startStandin("meilisearch", { root: standinRoot("meilisearch"), env });
        try {
            const res = await fetch(`${s.url}/indexes/x/search`, {
                method: "POST",
                headers: { Authorization: `Bearer ${env.MEILI_MASTER_KEY}` },
                body: "{}",
            });
            assert.equal(res.status, 404);
            await res.arrayBuffer();
        } finally {
            await s.stop();
        }
    });
});
