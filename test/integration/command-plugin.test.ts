// The command plugin (scripts/toolchain/go/command) behind the unmodified @pulumi/command 1.2.1 SDK,
// driven by the real CLI against the local SSH test host: create, no-op preview, update, replacement
// on a trigger, delete, and a wrong hostKey refused before anything runs. The SSH test host is this
// machine's own sshd, so the test reads the "remote" files directly.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
    changesOf,
    createEphemeralStack,
    disposeEphemeralStack,
    EphemeralStack,
    plaintextLeaks,
    eventLeaks,
} from "../support/automation";
import { envSettings, sshUp } from "../../localenv";
import { pulumiHome, readVersions, repoRoot as root, requireToolchain } from "../../toolchain/index";

const versions = readVersions();

/** The SSH host's ed25519 key as "ssh-ed25519 AAAA...", read the way a user would: ssh-keyscan. */
function scanHostKey(host: string, port: number): string {
    const out = execFileSync("ssh-keyscan", ["-t", "ed25519", "-p", String(port), host], { stdio: "pipe" }).toString();
    const line = out.split("\n").find((l) => l.includes("ssh-ed25519"));
    assert.ok(line, `ssh-keyscan found no ed25519 key: ${out}`);
    return line.split(/\s+/).slice(1, 3).join(" ");
}

/** Some other ed25519 public key, in the same format. */
function otherHostKey(dir: string): string {
    const file = path.join(dir, "other_host_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file], { stdio: "pipe" });
    return read(`${file}.pub`).split(/\s+/).slice(0, 2).join(" ");
}

function read(p: string): string {
    return fs.readFileSync(p, "utf8");
}

describe("command plugin end to end (fixture program)", { timeout: 600_000 }, () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "command-check-"));
    const localDir = path.join(work, "local");
    const payloadDir = path.join(work, "payload");
    // Created on the host by the remote user (not by this process), so it must not exist yet.
    const remoteDir = path.join("/tmp", `command-check-remote-${crypto.randomBytes(4).toString("hex")}`);
    const copiedDir = path.join(remoteDir, "copy", "payload");
    const token = `tok-${crypto.randomBytes(6).toString("hex")}`;
    let e: EphemeralStack;
    let remoteUid: number;
    let privateKey: string;
    const upEvents: EngineEvent[] = [];

    before(async () => {
        requireToolchain();
        const plugin = path.join(
            pulumiHome,
            "plugins",
            `resource-command-v${versions.COMMAND_PROVIDER_VERSION}`,
            "pulumi-resource-command",
        );
        assert.ok(fs.existsSync(plugin), `no command plugin at ${plugin}: run 'bash scripts/toolchain.sh command'`);
        const ssh = await sshUp(envSettings());
        privateKey = read(ssh.privateKeyPath);
        remoteUid = Number(execFileSync("id", ["-u", ssh.user]).toString().trim());
        fs.mkdirSync(localDir);
        fs.mkdirSync(path.join(payloadDir, "sub"), { recursive: true });
        fs.writeFileSync(path.join(payloadDir, "a.txt"), "a v1\n");
        fs.writeFileSync(path.join(payloadDir, "sub", "deep.txt"), "deep\n");
        e = await createEphemeralStack({
            workDir: path.join(root, "test/fixtures/command"),
            config: {
                "command-check:host": ssh.host,
                "command-check:port": String(ssh.port),
                "command-check:user": ssh.user,
                "command-check:privateKey": { value: privateKey, secret: true },
                "command-check:hostKey": scanHostKey(ssh.host, ssh.port),
                "command-check:token": { value: token, secret: true },
                "command-check:remoteDir": remoteDir,
                "command-check:localDir": localDir,
                "command-check:payloadDir": payloadDir,
                "command-check:version": "v1",
                "command-check:trigger": "t1",
            },
        });
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        fs.rmSync(work, { recursive: true, force: true });
        fs.rmSync(remoteDir, { recursive: true, force: true });
    });

    it("previews, then up creates each resource type with real effects on the host", async () => {
        const preview = await e.stack.preview({ color: "never" });
        assert.ok((preview.changeSummary.create ?? 0) >= 5, JSON.stringify(preview.changeSummary));

        const up = await e.stack.up({ color: "never", onEvent: (ev) => upEvents.push(ev) });
        assert.equal(up.summary.result, "succeeded");
        // remote.Command: environment and stdin reached the script, which ran as the SSH user.
        assert.equal(read(path.join(remoteDir, "greeting")), "hello from the plugin\n");
        assert.equal(read(path.join(remoteDir, "stdin")), "sent on stdin\n");
        assert.equal(read(path.join(remoteDir, "log")), "create v1\n");
        assert.equal(fs.statSync(path.join(remoteDir, "greeting")).uid, remoteUid);
        assert.equal(up.outputs.mainStdout.value, "created v1");
        assert.equal(up.outputs.mainStdout.secret, false);
        // Streamed to the engine's log (default logging: stdout and stderr); "none" logs nothing.
        assert.match(up.stdout, /created v1/);
        assert.ok(!up.stdout.includes(token), up.stdout);
        // CopyToRemote: a directory ("payload" lands under remotePath) and a string asset.
        assert.equal(read(path.join(copiedDir, "a.txt")), "a v1\n");
        assert.equal(read(path.join(copiedDir, "sub", "deep.txt")), "deep\n");
        assert.equal(read(path.join(remoteDir, "conf", "app.conf")), "version=v1\n");
        // local.Command: dir, interpreter, environment, stdin.
        assert.equal(read(path.join(localDir, "created.txt")), "local stdin");
        assert.equal(up.outputs.localStdout.value, `local v1 in ${localDir}`);
    });

    it("keeps outputs of secret inputs secret, in outputs and on disk", async () => {
        const outputs = await e.stack.outputs();
        assert.equal(outputs.secretStdout.secret, true);
        assert.equal(outputs.secretStdout.value, `token=${token}`);
        const keyLine = privateKey.split("\n")[1];
        assert.deepEqual(plaintextLeaks(e, { token, "private key": keyLine }), []);
        assert.deepEqual(eventLeaks(upEvents, { token, "private key": keyLine }), []);
    });

    it("a second preview reports no changes", async () => {
        const preview = await e.stack.preview({ color: "never" });
        assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
    });

    it("changed inputs update in place: the update script runs, the directory copy is refreshed", async () => {
        await e.stack.setConfig("command-check:version", { value: "v2" });
        fs.writeFileSync(path.join(payloadDir, "a.txt"), "a v2\n");
        fs.writeFileSync(path.join(payloadDir, "sub", "added.txt"), "added\n");

        const preview = await e.stack.preview({ color: "never" });
        const changes = changesOf(preview.changeSummary);
        assert.equal(changes.replace, undefined, preview.stdout);
        assert.equal(changes.update, 4, preview.stdout); // main, copyDir, copyText, local

        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        assert.equal(read(path.join(remoteDir, "log")), "create v1\nupdate v2 prev=[created v1]\n");
        assert.equal(up.outputs.mainStdout.value, "updated v2");
        assert.equal(read(path.join(copiedDir, "a.txt")), "a v2\n");
        assert.equal(read(path.join(copiedDir, "sub", "added.txt")), "added\n");
        assert.ok(!fs.existsSync(path.join(copiedDir, "payload")), "the update copied into the copy");
        assert.equal(read(path.join(remoteDir, "conf", "app.conf")), "version=v2\n");
        assert.equal(read(path.join(localDir, "updated.txt")), `updated after [local v1 in ${localDir}]\n`);
        assert.equal(up.outputs.localStdout.value, "local update v2");
    });

    it("a changed trigger replaces the command, deleting the old one before creating the new one", async () => {
        await e.stack.setConfig("command-check:trigger", { value: "t2" });
        const preview = await e.stack.preview({ color: "never" });
        assert.deepEqual(changesOf(preview.changeSummary), { replace: 1 }, preview.stdout);

        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        assert.equal(
            read(path.join(remoteDir, "log")),
            "create v1\nupdate v2 prev=[created v1]\ndelete prev=[updated v2]\ncreate v2\n",
        );
        // The replacement's create ran last, so its effect stands.
        assert.equal(read(path.join(remoteDir, "greeting")), "hello from the plugin\n");
        assert.equal(up.outputs.mainStdout.value, "created v2");
    });

    it("a wrong hostKey is refused before any command runs", async () => {
        await e.stack.setConfig("command-check:badHostKey", { value: otherHostKey(work) });
        try {
            await assert.rejects(e.stack.up({ color: "never" }), (err: Error) =>
                /host key verification failed/.test(err.message),
            );
            assert.ok(!fs.existsSync(path.join(remoteDir, "guarded-ran")), "the guarded command ran");
        } finally {
            await e.stack.removeConfig("command-check:badHostKey");
        }
        const preview = await e.stack.preview({ color: "never" });
        assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
    });

    it("destroy runs the delete scripts", async () => {
        const destroy = await e.stack.destroy({ color: "never" });
        assert.equal(destroy.summary.result, "succeeded");
        assert.match(read(path.join(remoteDir, "log")), /create v2\ndelete prev=\[created v2\]\n$/);
        assert.ok(!fs.existsSync(path.join(remoteDir, "greeting")));
        assert.ok(!fs.existsSync(path.join(localDir, "created.txt")));
        assert.ok(!fs.existsSync(path.join(localDir, "updated.txt")));
    });
});
