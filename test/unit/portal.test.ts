// The user page's plain parts: its config (each error names the key), the authorization decisions,
// CSRF tokens, quota and rate, tenant names, escaping, launch planning; and its Keycloak client
// under mocks (confidential, PKCE, exact redirect URI, a generated secret exported as a secret).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { portalClientUrls } from "../../components/identity/names";
import { OPERATOR_ROLE, PORTAL_CLIENT_ID, PORTAL_ROLES_CLAIM, PortalClient } from "../../components/identity/portal";
import {
    csrfValid,
    decide,
    decideOperator,
    LaunchRefused,
    loadPortalConfig,
    newCsrfToken,
    parsePortalConfig,
    planLaunch,
    PortalConfigError,
    quotaProblem,
    rateProblem,
    tenantNameFor,
    User,
} from "../../apps/portal";
import { settleArgs } from "../../apps/portal/jobs";
import { html, launchPage } from "../../apps/portal/pages";
import { CONFIG_KEYS } from "../../program/config";
import { allRegistered, recordResources, valueOf } from "../support/mocks";

const recorded = recordResources();

const base = {
    publicUrl: "https://portal.example.org",
    oidc: { issuer: "https://c.example.org/iam/realms/cytomine" },
    templates: {
        kubernetes: {
            label: "Kubernetes",
            set: [
                "keycloakMode=external",
                "keycloakUrl=https://kc.example.org/iam",
                "realm={tenant}",
                "lsaaiClientId={tenant}-client",
            ],
            sizes: { small: ["storage.images=10Gi"] },
            datasets: { lung: { source: "path", path: "hostPath:/srv/lung" } },
        },
    },
};
const secretEnv = { PORTAL_CLIENT_SECRET: "s" };
const problems = (doc: unknown, env: NodeJS.ProcessEnv = secretEnv) => {
    try {
        parsePortalConfig(doc, "test.yaml", env);
    } catch (e) {
        assert.ok(e instanceof PortalConfigError, String(e));
        return e.issues.join("\n");
    }
    assert.fail("the config was accepted");
};

describe("portal config", () => {
    it("accepts a minimal config with defaults: loopback, SQLite, quota 1", () => {
        const c = parsePortalConfig(base, "test.yaml", secretEnv);
        assert.equal(c.listen.host, "127.0.0.1");
        assert.equal(c.database.kind, "sqlite");
        assert.equal(c.quota, 1);
        assert.equal(c.fleet.programs, "inline");
        assert.equal(c.oidc.clientSecret, "s");
    });

    it("names the key of each bad value", () => {
        assert.match(problems({ ...base, publicUrl: "ftp://x" }), /^publicUrl: an http\(s\) URL/m);
        assert.match(problems({ ...base, quota: -1 }), /^quota: /m);
        assert.match(problems({ ...base, listen: { port: 70000 } }), /^listen\.port: /m);
        assert.match(problems({ ...base, templates: {} }), /^templates: allow at least one template/m);
        assert.match(
            problems({ ...base, templates: { kubernetes: { ...base.templates.kubernetes, sizes: {} } } }),
            /^templates\.kubernetes\.sizes: give at least one size/m,
        );
        assert.match(
            problems({ ...base, templates: { kubernetes: { ...base.templates.kubernetes, set: ["noequals"] } } }),
            /^templates\.kubernetes\.set\.0: write key=value/m,
        );
        assert.match(problems({ ...base, fleet: { programs: "threads" } }), /^fleet\.programs: .*inline.*process/m);
        assert.match(problems({ ...base, colour: "blue" }), /colour/);
        assert.match(
            problems({ ...base, database: { kind: "postgres", url: "postgres://u:pw@h/db" } }),
            /^database\.url: holds a password: remove it and set PGPASSWORD/m,
        );
    });

    it("refuses http on a non-loopback address, and a missing client secret with where to put it", () => {
        assert.match(
            problems({ ...base, publicUrl: "http://portal.example.org", listen: { host: "0.0.0.0", port: 80 } }),
            /^publicUrl: must be https when listen\.host is not a loopback address/m,
        );
        assert.match(problems(base, {}), /oidc\.clientSecretFile: not set and PORTAL_CLIENT_SECRET is empty/);
    });

    it("reads a file named by --config, and says so when there is none", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portal-config-"));
        try {
            fs.writeFileSync(path.join(dir, "secret"), "from-file\n");
            fs.writeFileSync(
                path.join(dir, "p.yaml"),
                JSON.stringify({ ...base, oidc: { ...base.oidc, clientSecretFile: path.join(dir, "secret") } }),
            );
            assert.equal(loadPortalConfig(path.join(dir, "p.yaml"), {}).oidc.clientSecret, "from-file");
            assert.throws(() => loadPortalConfig(undefined, {}), /pass --config <file> or set PORTAL_CONFIG/);
            assert.throws(() => loadPortalConfig(path.join(dir, "missing.yaml"), {}), /missing\.yaml/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("portal decisions", () => {
    const owner: User = { sub: "a", name: "ann", operator: false };
    const other: User = { sub: "b", name: "bo", operator: false };
    const operator: User = { sub: "c", name: "cy", operator: true };

    it("lets owners see and act, operators only see, others get 404 and anonymous 401", () => {
        assert.deepEqual(decide(owner, "act", "a"), { allow: true });
        assert.deepEqual(decide(operator, "view", "a"), { allow: true });
        assert.equal((decide(operator, "act", "a") as { status: number }).status, 404);
        assert.equal((decide(other, "view", "a") as { status: number }).status, 404);
        assert.equal((decide(other, "view", undefined) as { status: number }).status, 404);
        assert.equal((decide(undefined, "view", "a") as { status: number }).status, 401);
        assert.deepEqual(decideOperator(operator), { allow: true });
        assert.equal((decideOperator(owner) as { status: number }).status, 403);
        assert.equal((decideOperator(undefined) as { status: number }).status, 401);
    });

    it("checks CSRF tokens exactly", () => {
        const token = newCsrfToken();
        assert.ok(token.length >= 32);
        assert.notEqual(newCsrfToken(), token);
        assert.equal(csrfValid(token, token), true);
        assert.equal(csrfValid(token, `${token}x`), false);
        assert.equal(csrfValid(token, token.slice(1)), false);
        assert.equal(csrfValid(token, undefined), false);
        assert.equal(csrfValid(token, [token]), false);
        assert.equal(csrfValid(undefined, "x"), false);
    });

    it("applies the quota and the launch rate", () => {
        assert.equal(quotaProblem(0, 1), undefined);
        assert.match(quotaProblem(1, 1) ?? "", /you have 1 instance\(s\), the limit is 1/);
        assert.match(quotaProblem(0, 0) ?? "", /the limit is 0/);
        assert.equal(rateProblem(2, { max: 3, perMinutes: 60 }), undefined);
        assert.match(rateProblem(3, { max: 3, perMinutes: 60 }) ?? "", /at most 3 launches per 60 minutes/);
    });

    it("derives tenant names that are DNS labels and realm names, distinct per user and instance", () => {
        const a = tenantNameFor({ sub: "s1", name: "Ada.Lovelace@Example.org" }, 1);
        assert.match(a, /^cy-ada-lovelace-[0-9a-f]{4}-1$/);
        assert.ok(a.length <= 36);
        assert.notEqual(tenantNameFor({ sub: "s2", name: "Ada.Lovelace@Example.org" }, 1), a);
        assert.notEqual(tenantNameFor({ sub: "s1", name: "Ada.Lovelace@Example.org" }, 2), a);
        assert.match(tenantNameFor({ sub: "s3", name: "---" }, 1), /^cy-user-[0-9a-f]{4}-1$/);
        assert.ok(CONFIG_KEYS.tenant.safeParse(tenantNameFor({ sub: "x", name: "a".repeat(100) }, 999)).success);
    });

    it("escapes every value put into a page", () => {
        assert.equal(
            html`<p title="${'"><script>'}">${"<b>&'"}</p>`.text,
            '<p title="&quot;&gt;&lt;script&gt;">&lt;b&gt;&amp;&#39;</p>',
        );
    });
});

describe("launch planning", () => {
    const config = parsePortalConfig(base, "test.yaml", secretEnv);
    const env = { LSAAI_CLIENT_SECRET: "lsaai-secret-value", KEYCLOAK_ADMIN_PASSWORD: "kc-admin-value" };
    const choice = { template: "kubernetes", size: "small", datasets: "lung", tenant: "cy-ann-0000-1" };

    it("turns the choices into a tenant the program's schema accepts", () => {
        const { input, plan } = planLaunch(config, choice, "cy-ann-0000-1", { env });
        assert.equal(input.name, "cy-ann-0000-1");
        assert.ok(input.set?.includes("storage.images=10Gi"));
        assert.equal(plan.parsed.realm, "cy-ann-0000-1");
        assert.deepEqual(
            plan.parsed.datasets.list.map((d) => d.id),
            ["lung"],
        );
        // The input is stored in the database: the secrets go to the plan only.
        assert.equal(plan.secrets.lsaaiClientSecret, "lsaai-secret-value");
        assert.ok(!/lsaai-secret-value|kc-admin-value/.test(JSON.stringify(input)));
    });

    it("adds the operator's ml entries when the user ticks machine-learning assistance, and offers the box only then", () => {
        const offering = parsePortalConfig(
            {
                ...base,
                templates: {
                    kubernetes: { ...base.templates.kubernetes, ml: ["ml.enabled=true", 'ml.services=["app-engine"]'] },
                },
            },
            "test.yaml",
            secretEnv,
        );
        const { input, plan, ml } = planLaunch(offering, { ...choice, ml: "on" }, "cy-ann-0000-1", { env });
        assert.equal(ml, true);
        assert.ok(input.set?.includes("ml.enabled=true"));
        assert.deepEqual(plan.parsed.ml?.services, ["app-engine"]);
        assert.equal(planLaunch(offering, choice, "cy-ann-0000-1", { env }).plan.parsed.ml, undefined);
        const page = (offered: boolean) =>
            launchPage(
                [{ name: "kubernetes", label: "K", description: "d", sizes: ["small"], datasets: [], ml: offered }],
                "t",
                "c",
            ).text;
        assert.match(page(true), /name="ml" value="on"/);
        assert.doesNotMatch(page(false), /name="ml"/);
    });

    it("refuses what the operator does not offer and a name that is not the derived one", () => {
        const refused = (c: Record<string, unknown>) => {
            try {
                planLaunch(config, { ...choice, ...c }, "cy-ann-0000-1", { env });
            } catch (e) {
                assert.ok(e instanceof LaunchRefused, String(e));
                return e.issues.join("\n");
            }
            assert.fail("accepted");
        };
        assert.match(refused({ template: "vm" }), /template "vm" is not offered: choose one of kubernetes/);
        assert.match(refused({ template: "__proto__" }), /is not offered/);
        assert.match(refused({ size: "xl" }), /size "xl" is not offered for kubernetes/);
        assert.match(refused({ datasets: ["lung", "other"] }), /dataset "other" is not offered/);
        assert.match(refused({ datasets: ["lung", "lung"] }), /listed twice/);
        assert.match(refused({ tenant: "cy-eve-0000-1" }), /is not the one derived for you \(cy-ann-0000-1\)/);
        assert.match(refused({ ml: "on" }), /machine-learning assistance is not offered for kubernetes: untick it/);
        // The operator's settings missing a secret: the user is told whose fix it is.
        assert.throws(
            () => planLaunch(config, choice, "cy-ann-0000-1", { env: {} }),
            /the operator's settings for kubernetes: .*lsaaiClientSecret is not set/,
        );
    });
});

describe("after a killed run", () => {
    it("imports a realm left pending by its name and drops the other pending creates", () => {
        const realm =
            "urn:pulumi:t::cytomine-fallback::cytomine:identity:CytomineRealm$keycloak:index/realm:Realm::cytomine-realm";
        const sa = "urn:pulumi:t::cytomine-fallback::kubernetes:core/v1:ServiceAccount::t-core-account";
        assert.deepEqual(
            settleArgs("t", [
                {
                    type: "creating",
                    resource: { urn: realm, type: "keycloak:index/realm:Realm", inputs: { realm: "t" } },
                },
                { type: "creating", resource: { urn: sa, type: "kubernetes:core/v1:ServiceAccount", inputs: {} } },
                {
                    type: "updating",
                    resource: { urn: realm, type: "keycloak:index/realm:Realm", inputs: { realm: "t" } },
                },
            ]),
            [
                "refresh",
                "--stack",
                "t",
                "--yes",
                "--skip-preview",
                "--clear-pending-creates",
                "--import-pending-creates",
                realm,
                "--import-pending-creates",
                "t",
            ],
        );
    });
});

describe("the portal's Keycloak client (mocks)", () => {
    it("derives exact URLs from the page's public URL", () => {
        assert.deepEqual(portalClientUrls("https://p.example.org/"), {
            rootUrl: "https://p.example.org/",
            baseUrl: "https://p.example.org/",
            validRedirectUris: ["https://p.example.org/auth/callback"],
            validPostLogoutRedirectUris: ["https://p.example.org/"],
            webOrigins: ["https://p.example.org"],
        });
    });

    it("is confidential with PKCE S256, names every object, and exports its generated secret as a secret", async () => {
        const portal = new PortalClient("portal", { realmId: "realm-id", portalUrl: "https://p.example.org" });
        assert.equal(await pulumi.isSecret(portal.clientSecret), true);
        assert.equal(await valueOf(portal.clientSecret), "portal-client-secret-result");
        await allRegistered();
        const client = recorded.find((r) => r.type === "keycloak:openid/client:Client");
        assert.equal(client?.inputs.clientId, PORTAL_CLIENT_ID);
        assert.equal(client?.inputs.accessType, "CONFIDENTIAL");
        assert.equal(client?.inputs.pkceCodeChallengeMethod, "S256");
        assert.equal(client?.inputs.directAccessGrantsEnabled, false);
        assert.deepEqual(client?.inputs.validRedirectUris, ["https://p.example.org/auth/callback"]);
        const role = recorded.find((r) => r.type === "keycloak:index/role:Role");
        assert.equal(role?.inputs.name, OPERATOR_ROLE);
        assert.equal(role?.inputs.clientId, undefined, "the operator role must be a realm role");
        const mapper = recorded.find((r) => r.type.endsWith("UserRealmRoleProtocolMapper"));
        assert.equal(mapper?.inputs.claimName, PORTAL_ROLES_CLAIM);
        assert.equal(mapper?.inputs.addToIdToken, true);
    });
});

describe("the owner's backups page", () => {
    const tenant = {
        name: "ada-1",
        owner: "sub",
        owner_name: "ada",
        template: "vm",
        size: "small",
        datasets: "[]",
        target: "ssh",
        url: "https://ada-1.example.org",
        status: "ready" as const,
        input: "{}",
        created_at: "2026-12-01T00:00:00Z",
        updated_at: "2026-12-01T00:00:00Z",
    };
    const run = (time: string, status: "ok" | "failed", message = "") => ({
        time,
        kind: "backup" as const,
        status,
        snapshot: "9f8e7d6c",
        bytes: 3 * 2 ** 20,
        seconds: 9,
        release: "0165ef7",
        trigger: "schedule",
        message,
    });
    it("shows the last success with its size and age, the failures since, and the snapshots; escaped", async () => {
        const { backupsPage, myCytominePage, deletePage } = await import("../../apps/portal/pages");
        const now = Date.parse("2026-12-06T12:00:00Z");
        const page = backupsPage(
            tenant,
            {
                tenant: "ada-1",
                repository: "s3:http://s3/b/ada-1",
                snapshots: [
                    {
                        id: "9f8e7d6c5b",
                        short_id: "9f8e7d6c",
                        time: "2026-12-06T02:30:01.123Z",
                        tags: ["release=0165ef7"],
                    },
                ],
                runs: [
                    run("2026-12-06T02:30:10Z", "ok"),
                    run("2026-12-06T03:30:10Z", "failed", "dumping postgis failed <x>"),
                ],
                lastSuccess: run("2026-12-06T02:30:10Z", "ok"),
            },
            now,
        ).text;
        assert.match(page, /9f8e7d6c, 3\.0 MiB, 9\.5 h ago/);
        assert.match(page, /2026-12-06T03:30:10Z: dumping postgis failed &lt;x&gt;/);
        assert.match(page, /<td>2026-12-06T02:30:01Z<\/td>\s*<td>0165ef7<\/td>/);
        assert.match(backupsPage(tenant, { problem: "no route" }).text, /cannot be read: no route/);
        // Linked from the owner's page on the VM targets; the delete page says the backups stay.
        assert.match(myCytominePage([{ tenant }], "c").text, /href="\/tenants\/ada-1\/backups"/);
        assert.doesNotMatch(myCytominePage([{ tenant: { ...tenant, target: "kubernetes" } }], "c").text, /backups/);
        assert.match(deletePage(tenant, "c").text, /Its backups are kept, with the key that reads them/);
    });
});
