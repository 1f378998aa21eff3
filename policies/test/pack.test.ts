import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { CONFIG_SCHEMAS } from "../config";
import { policies } from "../rules";
import { TYPES, TypeKey } from "../types";
import { SDK, T } from "./sdk";

const dir = path.join(__dirname, "..");

describe("type tokens", () => {
    it("every token the pack matches is the SDK class's own", () => {
        for (const key of Object.keys(TYPES) as TypeKey[]) {
            assert.equal(TYPES[key], T[key], key);
            assert.ok(SDK[key].isInstance({ __pulumiType: TYPES[key] }), key);
        }
    });

    it("the pack does not load provider SDKs at run time", () => {
        for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
            const text = fs.readFileSync(path.join(dir, file), "utf8");
            assert.doesNotMatch(text, /from "@pulumi\/(aws|kubernetes|keycloak|command|random)/, file);
        }
    });
});

describe("the pack", () => {
    it("has uniquely named policies, each with a level and a description of what it sees at preview", () => {
        const names = policies.map((p) => p.name);
        assert.equal(new Set(names).size, names.length);
        for (const p of policies) {
            assert.match(p.name, /^[a-z0-9-]+$/);
            assert.ok(p.enforcementLevel, p.name);
            assert.match(p.description, /preview/, p.name);
        }
    });

    it("declares a default and a description for every config property", () => {
        for (const p of policies) {
            for (const [key, schema] of Object.entries(p.configSchema?.properties ?? {})) {
                assert.notEqual(schema.default, undefined, `${p.name}.${key}`);
                assert.ok(schema.description, `${p.name}.${key}`);
            }
        }
    });

    it("README lists every policy with its level", () => {
        const readme = fs.readFileSync(path.join(dir, "README.md"), "utf8");
        const rows = new Map(
            [...readme.matchAll(/^\| `([a-z0-9-]+)` +\| (\w+)/gm)].map((m) => [m[1], m[2]] as [string, string]),
        );
        assert.deepEqual(
            [...rows.keys()].filter((k) => policies.some((p) => p.name === k)),
            policies.map((p) => p.name),
        );
        for (const p of policies) assert.equal(rows.get(p.name), p.enforcementLevel, p.name);
    });

    for (const file of ["config.local.json", "config.deployed.json"]) {
        it(`${file} names only policies and properties the pack declares, with values of their types`, () => {
            const config = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as Record<string, object>;
            for (const [name, settings] of Object.entries(config)) {
                const policy = policies.find((p) => p.name === name);
                assert.ok(policy, `${file}: no policy ${name}`);
                for (const [key, value] of Object.entries(settings)) {
                    if (key === "enforcementLevel") continue;
                    const schema: PolicyConfigJSONSchema | undefined = policy.configSchema?.properties[key];
                    assert.ok(schema, `${file}: ${name} has no setting ${key}`);
                    assert.equal(
                        Array.isArray(value) ? "array" : typeof value,
                        schema.type === "integer" ? "number" : schema.type,
                        `${name}.${key}`,
                    );
                }
            }
        });
    }

    it("config.local.json marks the local stack for every policy that reads localStack", () => {
        const local = JSON.parse(fs.readFileSync(path.join(dir, "config.local.json"), "utf8"));
        const readers = policies.filter((p) => p.configSchema?.properties.localStack === CONFIG_SCHEMAS.localStack);
        assert.ok(readers.length > 0);
        for (const p of readers) assert.equal(local[p.name]?.localStack, true, p.name);
    });
});
