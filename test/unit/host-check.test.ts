// The program's SSH host check (program/preflight/host-check.ts) without a host: fingerprints as ssh-keygen
// prints them, the pinned key's algorithms, and the message of each failure naming its config key.
// test/integration/bad-input.test.ts runs it against the local SSH test host.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { fileMark, markPathOf } from "../../components/vm/cytomine";
import { inspectFilesScript } from "../../components/vm/scripts";
import {
    connectionProblem,
    fingerprint,
    inspectHost,
    parseInspection,
    pinOf,
    type HostAccess,
} from "../../program/preflight/host-check";

const access: HostAccess = { host: "192.0.2.10", port: 2200, user: "admin", privateKey: "", sudo: true };
const seen = { keyFp: "SHA256:client" };
const failure = (props: { level?: string; code?: string }, message = "failed") =>
    Object.assign(new Error(message), props);

describe("host check", () => {
    it("fingerprints a key as ssh-keygen -l does", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-check-"));
        try {
            const file = path.join(dir, "key");
            execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
            const pub = fs.readFileSync(`${file}.pub`, "utf8").trim();
            const printed = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], {
                encoding: "utf8",
            });
            const expected = printed.split(" ")[1];
            assert.equal(fingerprint(pub.split(" ")[1]), expected);
            assert.deepEqual(pinOf(pub), { fingerprint: expected, algorithms: ["ssh-ed25519"] });
            assert.deepEqual(pinOf(`${expected}=`), { fingerprint: expected });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("asks an RSA host for its SHA-2 signatures too", () => {
        assert.deepEqual(pinOf("ssh-rsa AAAAB3NzaC1yc2E=").algorithms, ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
    });

    it("names the key that fixes each failure", () => {
        const cases: [Error & { level?: string; code?: string }, typeof seen & { presented?: string }, RegExp][] = [
            [
                failure({ code: "ECONNREFUSED" }),
                seen,
                /at 192\.0\.2\.10:2200 \(ECONNREFUSED\): check cytomine-fallback:vm\.host and cytomine-fallback:vm\.port/,
            ],
            [failure({ code: "ENOTFOUND" }), seen, /cytomine-fallback:vm\.host = "192\.0\.2\.10" does not resolve/],
            [
                failure({ level: "client-timeout" }),
                seen,
                /cytomine-fallback:vm\.host: no SSH answer from 192\.0\.2\.10:2200/,
            ],
            [
                failure({ level: "client-authentication" }),
                seen,
                /cytomine-fallback:vmPrivateKey is refused by admin@192\.0\.2\.10:2200 \(key SHA256:client\).*vm\.user/,
            ],
            [
                failure({ level: "client-verification" }),
                { ...seen, presented: "SHA256:other" },
                /cytomine-fallback:vm\.hostKey does not match: 192\.0\.2\.10:2200 presented the key SHA256:other/,
            ],
        ];
        for (const [err, s, expected] of cases)
            assert.match(
                connectionProblem({ ...access, hostKey: "SHA256:pinned" }, err, s),
                expected,
                `${err.code ?? err.level}`,
            );
    });

    it("refuses a private key SSH cannot use without connecting anywhere", async () => {
        const { problems } = await inspectHost({ ...access, privateKey: "not a key" }, [], 1_000);
        assert.equal(problems.length, 1);
        assert.match(problems[0], /cytomine-fallback:vmPrivateKey is not a private key SSH can use/);
    });
});

describe("configuration files on the host", () => {
    it("the inspection script reports digest, mode and mark, and a missing file", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-files-"));
        try {
            const file = path.join(dir, "nginx.conf");
            fs.writeFileSync(file, "server {}\n", { mode: 0o640 });
            fs.writeFileSync(file + ".weights", "large", { mode: 0o644 });
            const markPath = markPathOf(dir, "env/core.env");
            fs.mkdirSync(path.dirname(markPath));
            fs.writeFileSync(markPath, "rewrite-0123\n");
            const out = execFileSync(
                "bash",
                [
                    "-c",
                    inspectFilesScript([
                        { path: file, markPath },
                        { path: path.join(dir, "missing.yaml"), markPath: path.join(dir, ".marks", "missing.yaml") },
                        { path: file + ".weights", markPath: "/dev/null", presenceOnly: true },
                    ]),
                ],
                { encoding: "utf8" },
            );
            const sha = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
            assert.deepEqual(parseInspection(out), {
                files: {
                    [file]: { sha256: sha, mode: "640", mark: "rewrite-0123" },
                    [path.join(dir, "missing.yaml")]: null,
                    // Asked for its presence only: not read.
                    [file + ".weights"]: { sha256: "present", mode: "644" },
                },
                missingImages: [],
            });
            // Images the host must hold: a `docker` on the PATH that has one, lacks one and is refused
            // for the third; only the one the engine says it lacks is missing.
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            fs.writeFileSync(
                path.join(bin, "docker"),
                [
                    "#!/bin/sh",
                    'case "$5" in',
                    "  own/held:1) echo sha256:abc ;;",
                    "  own/gone:1) echo 'Error response from daemon: No such image: own/gone:1' >&2; exit 1 ;;",
                    "  *) echo 'permission denied while trying to connect to the Docker daemon socket' >&2; exit 1 ;;",
                    "esac",
                ].join("\n"),
                { mode: 0o755 },
            );
            const images = execFileSync(
                "bash",
                ["-c", inspectFilesScript([], undefined, ["own/held:1", "own/gone:1", "own/x:1"])],
                {
                    encoding: "utf8",
                    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
                },
            );
            assert.equal(images, "image\town/held:1\tpresent\nimage\town/gone:1\tmissing\nimage\town/x:1\t?\n");
            assert.deepEqual(parseInspection(images).missingImages, ["own/gone:1"]);
            // The running core's and Keycloak's images, when the project is asked for: "-" is none.
            assert.deepEqual(
                parseInspection("running\tcore\tregistry.cytomine.org/cytomine/core:0165ef7\nrunning\tiam\t-\n")
                    .running,
                { core: "registry.cytomine.org/cytomine/core:0165ef7" },
            );
            assert.equal(parseInspection("running\tcore\t-\nrunning\tiam\t-\n").running, undefined);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a file as the stack wrote it keeps its mark; an edit, a mode or a missing file gets a new one", () => {
        const expected = { sha256: "aa", mode: "0644" };
        assert.equal(fileMark(expected, undefined), "unchecked");
        assert.equal(fileMark(expected, { sha256: "aa", mode: "644", mark: "rewrite-1" }), "rewrite-1");
        assert.equal(fileMark(expected, { sha256: "aa", mode: "644" }), "in-place");
        const edited = fileMark(expected, { sha256: "bb", mode: "644", mark: "rewrite-1" });
        const mode = fileMark(expected, { sha256: "aa", mode: "666", mark: "rewrite-1" });
        const missing = fileMark(expected, null);
        for (const m of [edited, mode, missing]) assert.match(m, /^rewrite-[0-9a-f]{16}$/);
        assert.equal(new Set([edited, mode, missing, "rewrite-1"]).size, 4);
        // The same edit seen twice (preview, then up) gives the same mark.
        assert.equal(fileMark(expected, { sha256: "bb", mode: "644" }), edited);
    });
});
