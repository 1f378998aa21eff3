// The dev stack file's git filter: what git stores is the tracked settings, byte for byte, whatever
// secrets and salt the CLI wrote into the working file; a checkout puts this machine's back.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { cleanStackFile, smudgeStackFile } from "../../cli/dev-config";
import { repoRoot } from "../../toolchain";

// What git stores (the working file holds this machine's secrets once `npm run main` ran).
const tracked = execFileSync("git", ["show", "HEAD:Pulumi.dev.yaml"], { cwd: repoRoot, encoding: "utf8" });

// As the Pulumi CLI 3.188 writes them: secure entries sorted among the keys, the salt at the end.
const withSecrets = tracked
    .replace(
        "  cytomine-fallback:keycloakUrl:",
        "  cytomine-fallback:keycloakAdminPassword:\n    secure: v1:AAAA:BBBB\n  cytomine-fallback:keycloakUrl:",
    )
    .replace(/\n$/, "\n  cytomine-fallback:lsaaiClientSecret:\n    secure: v1:CCCC:DDDD\nencryptionsalt: v1:SALT\n");

describe("dev stack file: git filter", () => {
    it("clean gives back the tracked bytes from a file the CLI wrote secrets and a salt into", () => {
        assert.notEqual(withSecrets, tracked);
        assert.equal(cleanStackFile(withSecrets), tracked);
        assert.equal(cleanStackFile(tracked), tracked);
    });

    it("smudge adds this machine's secrets and salt, which clean removes again", () => {
        const smudged = smudgeStackFile(tracked, withSecrets);
        for (const s of ["secure: v1:AAAA:BBBB", "secure: v1:CCCC:DDDD", "encryptionsalt: v1:SALT"])
            assert.ok(smudged.includes(s), s);
        assert.equal(cleanStackFile(smudged), tracked);
        assert.equal(smudgeStackFile(tracked, tracked), tracked, "nothing to add: unchanged");
    });

    it("smudge leaves the file alone where config is not the last top-level key", () => {
        const other = "config:\n  p:a: x\nother: 1\n";
        assert.equal(smudgeStackFile(other, withSecrets), other);
    });

    it("clean keeps a plain value that merely looks like a key", () => {
        const text = "config:\n  p:list:\n    - a\n  p:b: c\n";
        assert.equal(cleanStackFile(text), text);
    });
});
