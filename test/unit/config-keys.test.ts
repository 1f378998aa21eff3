// Pulumi.yaml's `config:` block documents the keys the schema declares: same names, types and
// defaults, so that a key is defined once (program/config) and documented once (Pulumi.yaml).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { z } from "zod";
import { CONFIG_KEYS, keyKind, keyOptional, readKeys, SECRET_KEYS } from "../../program/config";
import { repoRoot } from "../../toolchain/index";

interface Declared {
    type: string;
    default?: unknown;
    items?: { type: string };
}

const declared = (
    parse(fs.readFileSync(path.join(repoRoot, "Pulumi.yaml"), "utf8")) as { config: Record<string, Declared> }
).config;
const schemas = Object.entries(CONFIG_KEYS) as [string, z.ZodType][];

/** The kind of an array key's items (lists of strings, or of objects such as tolerations). */
function itemKind(schema: z.ZodType): string {
    const def = (schema as unknown as { _zod: { def: { innerType?: z.ZodType; element?: z.ZodType } } })._zod.def;
    if (def.innerType) return itemKind(def.innerType);
    return keyKind(def.element as z.ZodType);
}

describe("config keys: schema and Pulumi.yaml", () => {
    it("name the same keys, and declare no secret (secrets are set with --secret only)", () => {
        assert.deepEqual(Object.keys(declared).sort(), Object.keys(CONFIG_KEYS).sort());
        for (const secret of SECRET_KEYS) assert.equal(declared[secret], undefined, secret);
    });

    it("agree on each key's type", () => {
        for (const [key, schema] of schemas) {
            assert.equal(declared[key].type, keyKind(schema), key);
            if (declared[key].type === "array") assert.deepEqual(declared[key].items, { type: itemKind(schema) }, key);
        }
    });

    it("agree on defaults: Pulumi.yaml's default reads as the schema's, none for a required key", () => {
        for (const [key, schema] of schemas) {
            const d = declared[key];
            if (!keyOptional(schema)) {
                assert.equal(d.default, undefined, `${key} is required: Pulumi.yaml must give it no default`);
                continue;
            }
            assert.notEqual(d.default, undefined, `${key} is optional: Pulumi.yaml must give it a default`);
            const given = typeof d.default === "string" ? d.default : JSON.stringify(d.default);
            const read = readKeys((k) => (k === key ? given : undefined))[key];
            assert.deepEqual(schema.parse(read), schema.parse(undefined), key);
        }
    });
});

describe("readKeys", () => {
    const values: Record<string, string> = {
        tenant: "lab-a",
        localStack: "true",
        images: '{"core":"cytomine/core:5.1.1"}',
        lsaaiAllowedSubjects: '["a@lifescience-ri.eu"]',
        keycloakUrl: "",
        lsaaiEndpoints: "{}",
        orthanc: "yes",
        storage: "{not json",
    };
    const raw = readKeys((k) => values[k]);

    it("decodes booleans and structured values, and treats an optional key's empty default as unset", () => {
        assert.equal(raw.localStack, true);
        assert.deepEqual(raw.images, { core: "cytomine/core:5.1.1" });
        assert.deepEqual(raw.lsaaiAllowedSubjects, ["a@lifescience-ri.eu"]);
        assert.equal("keycloakUrl" in raw, false);
        assert.equal("lsaaiEndpoints" in raw, false);
    });

    it("passes an undecodable value on as given, for the schema to name the key", () => {
        assert.equal(raw.orthanc, "yes");
        assert.equal(raw.storage, "{not json");
    });

    it("reads only declared keys", () => {
        const seen: string[] = [];
        readKeys((k) => {
            seen.push(k);
            return undefined;
        });
        assert.deepEqual(seen.sort(), Object.keys(CONFIG_KEYS).sort());
    });
});
