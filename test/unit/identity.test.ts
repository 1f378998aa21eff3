import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    endpointDifferences,
    endpointsFromDiscovery,
    keycloakRealmEndpoints,
    LSAAI_ENDPOINTS,
} from "../../components/identity/endpoints";
import {
    admissionClaims,
    admissionWarnings,
    lsaaiIdentityProviderArgs,
    LsAaiBroker,
} from "../../components/identity/lsaai";
import { brokerRedirectUri, coreClientUrls, orthancServiceUris, sslRequired } from "../../components/identity/names";
import { OrthancShare } from "../../components/identity/orthanc";
import { CytomineRealm } from "../../components/identity/realm";
import { keycloakNamingInputs } from "../../policies/rules";
import { allRegistered, recordResources, valueOf } from "../support/mocks";

// The LS-AAI discovery document's endpoint fields (https://login.aai.lifescience-ri.eu/oidc/.well-known/openid-configuration).
const discovery = {
    issuer: "https://login.aai.lifescience-ri.eu/oidc/",
    authorization_endpoint: "https://login.aai.lifescience-ri.eu/oidc/authorize",
    token_endpoint: "https://login.aai.lifescience-ri.eu/oidc/token",
    userinfo_endpoint: "https://login.aai.lifescience-ri.eu/oidc/userinfo",
    jwks_uri: "https://login.aai.lifescience-ri.eu/oidc/jwk",
    end_session_endpoint: "https://login.aai.lifescience-ri.eu/oidc/endsession",
};

const brokerArgs = {
    realm: "cytomine",
    realmName: "cytomine",
    keycloakBaseUrl: "https://c.org/iam",
    alias: "oidc",
    clientId: "id",
    clientSecret: "s",
    endpoints: LSAAI_ENDPOINTS,
    scopes: "openid profile email",
};

describe("identity names and settings", () => {
    it("derives the LS Login redirect URI, the core client's URLs and the Orthanc service URIs", () => {
        assert.equal(
            brokerRedirectUri("https://c.org/iam", "cytomine", "oidc"),
            "https://c.org/iam/realms/cytomine/broker/oidc/endpoint",
        );
        assert.deepEqual(coreClientUrls("https://c.org"), {
            rootUrl: "https://c.org/",
            baseUrl: "https://c.org/",
            validRedirectUris: ["https://c.org/*"],
            validPostLogoutRedirectUris: ["https://c.org/*"],
            webOrigins: ["https://c.org"],
        });
        assert.deepEqual(orthancServiceUris("https://c.org/iam", "orthanc"), {
            keycloakUri: "https://c.org/iam/realms/orthanc/",
            keycloakAdminUri: "https://c.org/iam/admin/realms/orthanc/",
        });
        assert.equal(sslRequired(false), "external");
        assert.equal(sslRequired(true), "none");
    });

    it("pins exactly the endpoints LS-AAI's discovery document announces", () => {
        assert.deepEqual(endpointsFromDiscovery(discovery), LSAAI_ENDPOINTS);
        assert.deepEqual(endpointDifferences(LSAAI_ENDPOINTS, endpointsFromDiscovery(discovery)), []);
        const moved = endpointsFromDiscovery({ ...discovery, token_endpoint: "https://x/token" });
        assert.deepEqual(endpointDifferences(LSAAI_ENDPOINTS, moved), [
            "tokenUrl: pinned https://login.aai.lifescience-ri.eu/oidc/token, discovery says https://x/token",
        ]);
        assert.equal(
            keycloakRealmEndpoints("http://h/iam/realms/x/").jwksUrl,
            "http://h/iam/realms/x/protocol/openid-connect/certs",
        );
    });

    it("configures the broker as the seed's steps say", () => {
        const a = lsaaiIdentityProviderArgs(brokerArgs);
        assert.equal(a.displayName, "LS_AAI");
        assert.equal(a.backchannelSupported, true);
        assert.equal(a.validateSignature, true);
        assert.deepEqual(a.extraConfig, { clientAuthMethod: "client_secret_basic" });
        assert.equal(a.jwksUrl, LSAAI_ENDPOINTS.jwksUrl);
        assert.equal(a.logoutUrl, LSAAI_ENDPOINTS.logoutUrl);
    });

    it("sends the client secret again when secretsRevision changes, and adds nothing while it is 0", () => {
        const at = (secretsRevision: number) =>
            lsaaiIdentityProviderArgs({ ...brokerArgs, secretsRevision }).extraConfig;
        assert.deepEqual(at(0), { clientAuthMethod: "client_secret_basic" });
        assert.deepEqual(at(2), { clientAuthMethod: "client_secret_basic", secretsRevision: "2" });
        assert.notDeepEqual(at(2), at(3));
    });
});

describe("login restriction", () => {
    it("warns about an unrestricted broker only outside the local stack", () => {
        assert.match(admissionWarnings(false, undefined)[0], /every LS-AAI user can log in and becomes ADMIN/);
        assert.deepEqual(admissionWarnings(true, undefined), []);
        assert.deepEqual(admissionWarnings(false, { entitlements: ["e"], subjects: [] }), []);
    });

    it("admits by entitlement or by subject, one claim each", () => {
        assert.deepEqual(admissionClaims({ entitlements: ["urn:a", "urn:b"], subjects: ["s1"] }), [
            { key: "eduperson_entitlement", value: "urn:a" },
            { key: "eduperson_entitlement", value: "urn:b" },
            { key: "sub", value: "s1" },
        ]);
    });
});

describe("identity components (mocks)", () => {
    it("name every Keycloak object explicitly and their children after the component", async () => {
        const recorded = recordResources();
        const realm = new CytomineRealm("cytomine", {
            realm: "cytomine",
            publicUrl: "https://c.org",
            localStack: false,
            protect: true,
        });
        new LsAaiBroker("lsaai", { ...brokerArgs, realm: realm.realmId });
        const orthanc = new OrthancShare("orthanc", {
            realm: "orthanc",
            keycloakBaseUrl: "https://c.org/iam",
            redirectUris: ["https://c.org/*"],
            localStack: false,
            protect: true,
        });
        assert.equal(await valueOf(orthanc.keycloakUri), "https://c.org/iam/realms/orthanc/");
        await allRegistered();

        const keycloakObjects = recorded.filter((r) => r.type.startsWith("keycloak:"));
        assert.ok(keycloakObjects.length >= 25, `only ${keycloakObjects.length} keycloak objects registered`);
        for (const r of keycloakObjects) {
            const prop = keycloakNamingInputs[r.type];
            if (prop)
                assert.ok(
                    typeof r.inputs[prop] === "string" && r.inputs[prop].length > 0,
                    `${r.type} ${r.name} has no ${prop}`,
                );
            assert.match(r.name, /^(cytomine|lsaai|orthanc)-/, `${r.name} is not named after its component`);
        }
        const mapper = recorded.find((r) => r.type.endsWith("HardcodedRoleIdentityMapper"));
        assert.deepEqual(
            { name: mapper?.inputs.name, role: mapper?.inputs.role, extra: mapper?.inputs.extraConfig },
            { name: "AdminMapper", role: "core.ADMIN", extra: { syncMode: "INHERIT" } },
        );
        const adminCli = recorded.find(
            (r) => r.type === "keycloak:openid/client:Client" && r.inputs.clientId === "admin-cli",
        );
        assert.equal(adminCli?.inputs.import, true);
        assert.equal(adminCli?.inputs.accessType, "CONFIDENTIAL");
        // The stack owns admin-cli's secret (so that refresh can compare it): a generated password.
        const adminCliSecret = recorded.find((r) => r.name === "orthanc-admin-cli-secret");
        assert.equal(adminCliSecret?.type, "random:index/randomPassword:RandomPassword");
        assert.ok(adminCli?.inputs.clientSecret, "admin-cli has no declared clientSecret");
        const apiKey = recorded.find((r) => r.name === "orthanc-external-api-key");
        assert.ok((apiKey?.inputs.length ?? 0) >= 40);
    });
});
