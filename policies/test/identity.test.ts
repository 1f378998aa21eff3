import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    keycloakExplicitNames,
    keycloakRealmName,
    keycloakSslRequired,
    lsaaiAdminMapper,
    lsaaiIdentityProvider,
    lsaaiLoginRestriction,
} from "../rules";
import { checkResource, checkStack, Fake, messages, unknown } from "../harness";
import { T } from "./sdk";

const LS = "https://login.aai.lifescience-ri.eu/oidc";

/** The LS-AAI broker as components/identity/lsaai.ts declares it. */
const broker = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    realm: "cytomine",
    alias: "oidc",
    displayName: "LS_AAI",
    providerId: "oidc",
    clientId: "client",
    issuer: `${LS}/`,
    authorizationUrl: `${LS}/authorize`,
    tokenUrl: `${LS}/token`,
    userInfoUrl: `${LS}/userinfo`,
    jwksUrl: `${LS}/jwk`,
    logoutUrl: `${LS}/endsession`,
    validateSignature: true,
    backchannelSupported: true,
    extraConfig: { clientAuthMethod: "client_secret_basic" },
    ...overrides,
});

const idp = (props: Record<string, unknown>, name = "lsaai-idp"): Fake => ({
    type: T.oidcIdentityProvider,
    name,
    props,
});

describe("lsaai-identity-provider", () => {
    const check = (props: Record<string, unknown>, config = {}) =>
        checkResource(lsaaiIdentityProvider, idp(props), config).then(messages);

    it("accepts the broker as the program declares it", async () => {
        assert.deepEqual(await check(broker()), []);
    });

    it("rejects post auth, no backchannel logout, no signature validation, no JWKS and http endpoints", async () => {
        const found = await check(
            broker({
                extraConfig: { clientAuthMethod: "client_secret_post" },
                backchannelSupported: false,
                validateSignature: undefined,
                jwksUrl: undefined,
                tokenUrl: "http://login.aai.lifescience-ri.eu/oidc/token",
            }),
        );
        assert.equal(found.length, 5, found.join("\n"));
        assert.match(found.join("\n"), /clientAuthMethod.*client_secret_basic/);
        assert.match(found.join("\n"), /tokenUrl http:\/\/.* is not https/);
    });

    it("recognises LS-AAI by an endpoint host as well as by display name, and ignores other providers", async () => {
        assert.equal((await check(broker({ displayName: "Login", backchannelSupported: false }))).length, 1);
        const other = broker({ displayName: "Other", issuer: "https://idp.example.org/", backchannelSupported: false });
        for (const k of ["authorizationUrl", "tokenUrl", "userInfoUrl", "jwksUrl", "logoutUrl"]) {
            other[k] = `https://idp.example.org/${k}`;
        }
        assert.deepEqual(await check(other), []);
    });

    it("allows http endpoints on the local stack only", async () => {
        const local = broker({ tokenUrl: "http://127.0.0.1:8081/token" });
        assert.equal((await check(local)).length, 1);
        assert.deepEqual(await check(local, { localStack: true }), []);
    });

    it("does not judge settings unknown at preview", async () => {
        const found = await checkResource(
            lsaaiIdentityProvider,
            idp(broker({ extraConfig: unknown.object, validateSignature: unknown.boolean, jwksUrl: unknown.string })),
        );
        assert.deepEqual(found, []);
        // Whether it is LS-AAI at all is unknown: nothing to judge, no "can't run" advisory either.
        const anonymous = Object.fromEntries(
            ["displayName", "issuer", "authorizationUrl", "tokenUrl", "userInfoUrl", "jwksUrl", "logoutUrl"].map(
                (k) => [k, unknown.string],
            ),
        );
        assert.deepEqual(
            await checkResource(lsaaiIdentityProvider, idp({ ...anonymous, backchannelSupported: false })),
            [],
        );
    });
});

/** The AdminMapper as components/identity/lsaai.ts declares it. */
const mapper = (props: Record<string, unknown> = {}, deps = true): Fake => ({
    type: T.hardcodedRoleMapper,
    name: "lsaai-admin-mapper",
    props: {
        realm: "cytomine",
        identityProviderAlias: "oidc",
        name: "AdminMapper",
        role: "core.ADMIN",
        extraConfig: { syncMode: "INHERIT" },
        ...props,
    },
    propertyDependencies: deps ? { identityProviderAlias: ["lsaai-idp"] } : {},
});

describe("lsaai-admin-mapper", () => {
    const check = (fakes: Fake[]) => checkStack(lsaaiAdminMapper, fakes);

    it("accepts a provider with its core.ADMIN INHERIT mapper, linked by dependency even when values are unknown", async () => {
        assert.deepEqual(await check([idp(broker()), mapper()]), []);
        const preview = [
            idp(broker({ realm: unknown.string })),
            mapper({ realm: unknown.string, identityProviderAlias: unknown.string }),
        ];
        assert.deepEqual(await check(preview), []);
        // Without a dependency, alias and realm values match it.
        assert.deepEqual(await check([idp(broker()), mapper({}, false)]), []);
    });

    it("reports a provider without the mapper, or whose mapper gives another role or sync mode", async () => {
        const [missing] = await check([idp(broker()), mapper({ realm: "other" }, false)]);
        assert.match(missing.message, /oidc has no hardcoded role mapper giving core.ADMIN/);
        assert.equal(missing.urn, "urn:pulumi:test::cytomine-fallback::" + T.oidcIdentityProvider + "::lsaai-idp");
        assert.equal(missing.level, "mandatory");
        const [wrong] = await check([idp(broker()), mapper({ role: "core.USER", extraConfig: { syncMode: "FORCE" } })]);
        assert.match(wrong.message, /give core.USER \(sync FORCE\)/);
    });

    it("does not judge while a mapper's role or link is unknown", async () => {
        assert.deepEqual(await check([idp(broker()), mapper({ role: unknown.string })]), []);
        assert.deepEqual(await check([idp(broker()), mapper({ identityProviderAlias: unknown.string }, false)]), []);
    });
});

describe("lsaai-login-restriction (advisory)", () => {
    const flow: Fake = { type: T.flow, name: "lsaai-admission-flow", props: { alias: "oidc-admission" } };
    const check = (props: Record<string, unknown>, config = {}, deps: Record<string, string[]> = {}) =>
        checkStack(lsaaiLoginRestriction, [flow, { ...idp(props), propertyDependencies: deps }], config);

    it("advises a broker without a post-broker login flow, outside the local stack", async () => {
        const [d] = await check(broker());
        assert.equal(d.level, "advisory");
        assert.match(d.message, /admits every LS-AAI user/);
        assert.deepEqual(await check(broker(), { localStack: true }), []);
    });

    it("accepts a post-broker login flow, also one still unknown at preview", async () => {
        assert.deepEqual(await check(broker({ postBrokerLoginFlowAlias: "oidc-admission" })), []);
        assert.deepEqual(await check(broker({ postBrokerLoginFlowAlias: unknown.string })), []);
        assert.deepEqual(await check(broker(), {}, { postBrokerLoginFlowAlias: ["lsaai-admission-flow"] }), []);
    });
});

describe("keycloak-explicit-names", () => {
    const check = (type: string, props: object) => checkResource(keycloakExplicitNames, { type, props }).then(messages);

    it("requires the naming input of each Keycloak object", async () => {
        assert.deepEqual(await check(T.openidClient, { clientId: "core" }), []);
        assert.match((await check(T.openidClient, { name: "core" }))[0], /clientId is not set/);
        assert.match((await check(T.role, { name: " " }))[0], /name is not set/);
        assert.deepEqual(await check(T.namespace, {}), []);
    });

    it("does not judge a name unknown at preview", async () => {
        assert.deepEqual(
            await checkResource(keycloakExplicitNames, { type: T.user, props: { username: unknown.string } }),
            [],
        );
    });
});

describe("keycloak-realm-name", () => {
    const check = (realm: unknown) => checkResource(keycloakRealmName, { type: T.realm, props: { realm } });

    it("accepts 36 characters and rejects 37", async () => {
        assert.deepEqual(await check("x".repeat(36)), []);
        assert.match(messages(await check("x".repeat(37)))[0], /37 characters/);
    });

    it("does not judge a name unknown at preview", async () => {
        assert.deepEqual(await check(unknown.string), []);
    });
});

describe("keycloak-ssl-required", () => {
    const check = (sslRequired: unknown, config = {}) =>
        checkResource(keycloakSslRequired, { type: T.realm, props: { realm: "r", sslRequired } }, config);

    it("rejects none outside the local stack, accepts external, unset and none on the local stack", async () => {
        assert.deepEqual(await check("external"), []);
        assert.deepEqual(await check(undefined), []);
        assert.match(messages(await check("none"))[0], /sslRequired is "none"/);
        assert.deepEqual(await check("none", { localStack: true }), []);
    });

    it("does not judge a value unknown at preview", async () => {
        assert.deepEqual(await check(unknown.string), []);
    });
});
