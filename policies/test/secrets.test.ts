import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { noDefaultPasswords, noPlaintextSecrets } from "../rules";
import { isSecretName } from "../secrets";
import { checkResource, Fake, messages, secret, unknown } from "../harness";
import { T } from "./sdk";

const KEY = [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAA",
    "-----END OPENSSH PRIVATE KEY-----",
].join("\n");

const pod = (env: object[]) => ({
    spec: { template: { spec: { containers: [{ name: "app", image: "app:1.0", env }] } } },
});

describe("secret-bearing inputs", () => {
    it("are recognised by name, ignoring case and separators", () => {
        for (const name of [
            "clientSecret",
            "initialPassword",
            "api-key",
            "PGPASSWORD",
            "jwtSigningKey",
            "private_key",
        ]) {
            assert.ok(isSecretName(name), name);
        }
        for (const name of ["passwordPolicy", "tokenUrl", "secretName", "accessKey", "httpTokens", "username"]) {
            assert.ok(!isSecretName(name), name);
        }
    });
});

describe("no-plaintext-secrets (remediate level: sees secret markers, reports as mandatory)", () => {
    const check = (fake: Fake, config = {}) => checkResource(noPlaintextSecrets, fake, config);
    const user = (password: unknown, apiKey: unknown): Fake => ({
        type: T.user,
        props: {
            realmId: "r",
            username: "admin",
            initialPassword: { value: password, temporary: false },
            attributes: { "api-key": apiKey },
        },
    });

    it("accepts secrets that are Pulumi secrets, at any depth", async () => {
        assert.deepEqual(await check(user(secret("generated-1"), secret("generated-2"))), []);
        const wholeObject = {
            ...user(undefined, undefined),
            props: { username: "u", initialPassword: secret({ value: "x" }) },
        };
        assert.deepEqual(await check(wholeObject), []);
        const idp: Fake = { type: T.oidcIdentityProvider, props: { alias: "oidc", clientSecret: secret("s") } };
        assert.deepEqual(await check(idp), []);
        const k8s: Fake = { type: T.secret, props: { stringData: secret({ "admin-password": "generated" }) } };
        assert.deepEqual(await check(k8s), []);
    });

    it("reports plain-text passwords, api-key attributes and client secrets, without their values", async () => {
        const found = await check(user("hunter2-but-long", "abcdef"));
        assert.deepEqual(
            found.map((d) => [d.level, d.message.replace(/:.*/, "")]),
            [
                ["mandatory", "initialPassword.value (named like a secret) is not a Pulumi secret"],
                ["mandatory", 'attributes["api-key"] (named like a secret) is not a Pulumi secret'],
            ],
        );
        assert.ok(!messages(found).join().includes("hunter2"));
        const idp: Fake = { type: T.oidcIdentityProvider, props: { alias: "oidc", clientSecret: "plain" } };
        assert.match(messages(await check(idp))[0], /^clientSecret/);
    });

    it("reports command stdin or environment carrying secrets, and private keys anywhere", async () => {
        const command: Fake = {
            type: T.remoteCommand,
            props: { create: "psql", stdin: "PGHOST=db\nPGPASSWORD=x", environment: { PGPASSWORD: "x", PGHOST: "db" } },
        };
        assert.deepEqual(
            messages(await check(command)).map((m) => m.replace(/ is not.*/, "")),
            ["stdin (command stdin carrying a secret)", "environment.PGPASSWORD (named like a secret)"],
        );
        // Stdin without secret content, or naming a variable, is no secret; a secret environment is fine.
        const plain: Fake = {
            type: T.remoteCommand,
            props: { create: "cat", stdin: "sent on stdin\nTOKEN=$TOKEN\n", environment: { TOKEN: secret("t") } },
        };
        assert.deepEqual(await check(plain), []);
        const local: Fake = { type: T.localCommand, props: { create: "ssh-add -", stdin: secret(KEY) } };
        assert.deepEqual(await check(local), []);
        const script: Fake = { type: T.remoteCommand, props: { create: `cat > id <<EOF\n${KEY}\nEOF` } };
        assert.match(messages(await check(script))[0], /^create \(private key material\)/);
    });

    it("reports secrets Kubernetes or EC2 keep in clear, whatever their Pulumi secretness", async () => {
        const literal = await check({ type: T.deployment, props: pod([{ name: "DB_PASSWORD", value: secret("x") }]) });
        assert.match(messages(literal).join("\n"), /env DB_PASSWORD has a literal value.*secretKeyRef/);
        const fromSecret = pod([{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }]);
        assert.deepEqual(await check({ type: T.deployment, props: fromSecret }), []);
        const configMap = await check({ type: T.configMap, props: { data: { "db-password": "x", host: "db" } } });
        assert.match(messages(configMap)[0], /ConfigMap data.db-password .*use a Secret/);
        const userData = Buffer.from(`#!/bin/sh\necho '${KEY}' > /root/.ssh/id`).toString("base64");
        const template = await check({ type: T.ec2LaunchTemplate, props: { userData: secret(userData) } });
        assert.match(messages(template)[0], /userData holds a private key/);
    });

    it("does not judge values unknown at preview", async () => {
        assert.deepEqual(await check(user(unknown.string, secret(unknown.string))), []);
        const unknownEnv = { type: T.deployment, props: pod([{ name: "DB_PASSWORD", value: unknown.string }]) };
        assert.deepEqual(await check(unknownEnv), []);
        assert.deepEqual(await check({ type: T.configMap, props: { data: unknown.object } }), []);
    });

    it("cannot see secret markers when configured at another level: then only clear-text destinations count", async () => {
        assert.deepEqual(await check(user("plain", "plain"), { enforcementLevel: "mandatory" }), []);
        const found = await check(
            { type: T.configMap, props: { data: { token: "x" } } },
            { enforcementLevel: "mandatory" },
        );
        assert.equal(found.length, 1);
    });
});

describe("no-default-passwords", () => {
    const check = (fake: Fake, config = {}) => checkResource(noDefaultPasswords, fake, config).then(messages);

    it("rejects a change-me placeholder in any input, even one that is not a secret", async () => {
        const found = await check({
            type: T.configMap,
            props: { data: { note: "URL: https://CHANGE-ME.example.org" } },
        });
        assert.match(found[0], /data.note contains the placeholder "change-me"/);
        const encoded = Buffer.from("changeme").toString("base64");
        assert.equal((await check({ type: T.secret, props: { data: secret({ token: encoded }) } })).length, 1);
    });

    it("rejects well-known default passwords in secret-bearing inputs only", async () => {
        const user = (password: unknown) => ({
            type: T.user,
            props: { username: "admin", initialPassword: { value: secret(password) } },
        });
        assert.match((await check(user("Admin")))[0], /initialPassword.value is a well-known default password/);
        assert.deepEqual(await check(user("x7Qp2mLr9vTz")), []); // and username "admin" is no password
        const env = { type: T.statefulSet, props: pod([{ name: "POSTGRES_PASSWORD", value: "postgres" }]) };
        assert.equal((await check(env)).length, 1);
        const data = {
            type: T.secret,
            props: { data: secret({ password: Buffer.from("password").toString("base64") }) },
        };
        assert.equal((await check(data)).length, 1);
        const stdin = { type: T.remoteCommand, props: { create: "chpasswd", stdin: secret("letmein") } };
        assert.equal((await check(stdin)).length, 1);
        const envFile = { type: T.remoteCommand, props: { stdin: secret("HOST=db\nADMIN_PASSWORD='admin'\n") } };
        assert.equal((await check(envFile)).length, 1);
        assert.deepEqual(await check({ type: T.remoteCommand, props: { stdin: "admin-tools\n" } }), []);
    });

    it("takes its lists from config", async () => {
        const fake = { type: T.user, props: { initialPassword: { value: "cytomine2025" } } };
        assert.deepEqual(await check(fake), []);
        assert.equal((await check(fake, { defaultPasswords: ["cytomine2025"] })).length, 1);
    });

    it("does not judge generated values unknown at preview", async () => {
        assert.deepEqual(
            await check({ type: T.user, props: { initialPassword: { value: secret(unknown.string) } } }),
            [],
        );
        assert.deepEqual(await check({ type: T.configMap, props: { data: unknown.object } }), []);
    });
});
