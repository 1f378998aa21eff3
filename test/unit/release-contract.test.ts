// The pinned release's contract (components/model/release.ts) against both targets' renders: the
// Kubernetes manifests the component declares (under mocks) and the compose project a VM gets. Every
// item holds on both; each one removed from a render is reported, naming the item and its source.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { Cytomine } from "../../components/kubernetes/cytomine";
import { contractFindings, describeFindings, fromCompose, fromManifests } from "../../components/model/contract";
import { CONTRACTS, RELEASE, ROUTES } from "../../components/model/release";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { envFile } from "../../components/vm/compose";
import { hostLayout } from "../../components/vm/cytomine";
import { cytomineArgs } from "../support/cytomine-args";
import { allRegistered, recordResources } from "../support/mocks";
import { parseConfig } from "../../program/config";
import { ML_SERVICES } from "../../components/model/ml";
import { ML_DEFAULTS } from "../../program/config/ml";

/** The ML services a VM runs: all of them (the app engine through task-pods: components/model/ml.ts). */
const VM_ML = ML_SERVICES;
const onVm = (x: { component: string }) =>
    !CONTRACTS[x.component].optional || (VM_ML as readonly string[]).includes(x.component);

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const KINDS: Record<string, string> = {
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:networking.k8s.io/v1:Ingress": "Ingress",
};

/** The workloads and the Ingress of a tenant on Kubernetes, as the component declares them. */
async function manifests(mode: "external" | "namespace"): Promise<Any[]> {
    const recorded = recordResources();
    const origin = mode === "namespace" ? "https://lab-a.example.org" : "https://iam.example.org";
    // With every ML service, so that their contracts are checked too.
    const ml = { services: [...ML_SERVICES], weights: "ml-weights", tasks: ML_DEFAULTS.tasks };
    new Cytomine("lab-a", cytomineArgs({ keycloak: { mode, origin, adminUser: "admin" }, ml }));
    await allRegistered();
    return recorded.filter((r) => KINDS[r.type]).map((r) => structuredClone({ kind: KINDS[r.type], ...r.inputs }));
}

/** A VM tenant's compose project: compose file, env files (secrets as <secret:key>) and nginx.conf. */
function composeProject() {
    const layout = hostLayout({
        tenant: "lab-a",
        configDir: "/etc/cytomine",
        dataDir: "/var/lib/cytomine",
        release: RELEASE.tag,
        images: { ...DEFAULT_IMAGES },
        publicUrl: "https://lab-a.example.org",
        keycloak: { mode: "namespace", origin: "https://lab-a.example.org", adminUser: "admin" },
        bindAddress: "127.0.0.1",
        httpPort: 8080,
        ml: { services: [...VM_ML], weights: "/srv/weights", tasks: ML_DEFAULTS.tasks },
    });
    const placeholders = new Proxy({}, { get: (_t, key) => `<secret:${String(key)}>` }) as Record<string, string>;
    const file = (p: string) => layout.plainFiles.find((f) => f.path === p)!.content;
    return {
        compose: file("compose.yaml"),
        nginx: file("nginx.conf"),
        env: Object.fromEntries(layout.services.map((s) => [s.component, envFile(s, placeholders)])),
    };
}

const requiredEnv = Object.values(CONTRACTS).flatMap((c) =>
    c.env.filter((e) => e.required).map((e) => ({ component: c.component, name: e.name })),
);
const writable = Object.values(CONTRACTS).flatMap((c) =>
    c.writable.filter((w) => w.path !== "/dev/shm").map((w) => ({ component: c.component, path: w.path })),
);

describe("the release's contract on the Kubernetes manifests", () => {
    for (const mode of ["external", "namespace"] as const)
        it(`holds for every service and route (keycloakMode ${mode})`, async () => {
            const { services, routes } = fromManifests(await manifests(mode));
            assert.deepEqual(describeFindings(contractFindings(services, routes)), []);
            assert.ok(
                services.some((s) => s.component === "repository") &&
                    services.some((s) => s.component === "meilisearch"),
            );
        });

    it("reports each required variable, writable path and route removed, naming it and its source", async () => {
        const objects = await manifests("external");
        const container = (component: string) =>
            objects.find((o) => o.spec?.template?.spec.containers[0].name === component)!.spec.template.spec
                .containers[0];
        const findings = (objs: Any[]) => {
            const { services, routes } = fromManifests(objs);
            return describeFindings(contractFindings(services, routes));
        };
        for (const { component, name } of requiredEnv) {
            const copy = structuredClone(objects);
            const c = copy.find((o: Any) => o.spec?.template?.spec.containers[0].name === component).spec.template.spec
                .containers[0];
            c.env = c.env.filter((e: Any) => e.name !== name);
            const found = findings(copy).filter((f) => f.startsWith(`${component}: env ${name}: missing`));
            assert.equal(found.length, 1, `${component} ${name}: ${findings(copy).join("; ")}`);
            assert.match(found[0], /\(.+:\d+/, "names the upstream file and line");
        }
        for (const { component, path } of writable) {
            const copy = structuredClone(objects);
            const c = copy.find((o: Any) => o.spec?.template?.spec.containers[0].name === component).spec.template.spec
                .containers[0];
            c.volumeMounts = c.volumeMounts.filter((m: Any) => m.mountPath !== path);
            assert.ok(
                findings(copy).some((f) => f.startsWith(`${component}: writable ${path}: not writable`)),
                `${component} ${path}`,
            );
        }
        for (const r of ROUTES) {
            const copy = structuredClone(objects);
            const ingress = copy.find((o: Any) => o.kind === "Ingress");
            ingress.spec.rules[0].http.paths = ingress.spec.rules[0].http.paths.filter((p: Any) => p.path !== r.path);
            assert.ok(
                findings(copy).includes(`${r.service}: route ${r.path}: not routed (${r.why}) (${r.source})`),
                r.path,
            );
        }
        assert.equal(container("core").image, `${RELEASE.registry}/core:${RELEASE.tag}`);
    });

    it("reports a probe of an endpoint the image does not have, a wrong user, and a database without PostGIS", async () => {
        const objects = await manifests("external");
        const byName = (o: Any, n: string) => o.spec?.template?.spec.containers[0].name === n;
        const core = objects.find((o) => byName(o, "core")).spec.template.spec;
        core.containers[0].readinessProbe.httpGet.path = "/actuator/health";
        core.securityContext.runAsUser = 0;
        objects.find((o) => byName(o, "postgis")).spec.template.spec.containers[0].image = "postgres:15";
        const { services, routes } = fromManifests(objects);
        const found = describeFindings(contractFindings(services, routes));
        assert.ok(found.some((f) => f.startsWith("core: probe /actuator/health: the image has no such endpoint")));
        assert.ok(found.some((f) => f.startsWith("core: user: must run as uid 20000")));
        assert.ok(
            found.some((f) =>
                f.startsWith(
                    'core: extension postgis: the database image postgres:15 does not create it: liquibase.exception.MigrationFailedException: ERROR: type "geometry" does not exist',
                ),
            ),
        );
    });
});

describe("the release's contract on the compose project", () => {
    it("holds for every service and route", () => {
        const p = composeProject();
        const { services, routes } = fromCompose(p.compose, p.env, p.nginx);
        assert.deepEqual(describeFindings(contractFindings(services, routes)), []);
    });

    it("reports each required variable and writable path removed, and a route the proxy lacks", () => {
        const p = composeProject();
        const findings = (compose: string, env: Record<string, string>, nginx: string) => {
            const { services, routes } = fromCompose(compose, env, nginx);
            return describeFindings(contractFindings(services, routes));
        };
        for (const { component, name } of requiredEnv.filter(onVm)) {
            const env = { ...p.env, [component]: p.env[component].replace(new RegExp(`^${name}=.*\\n`, "m"), "") };
            assert.ok(
                findings(p.compose, env, p.nginx).some((f) => f.startsWith(`${component}: env ${name}: missing`)),
                name,
            );
        }
        for (const { component, path } of writable.filter(onVm)) {
            const doc = parse(p.compose);
            const svc = doc.services[component];
            svc.tmpfs = (svc.tmpfs ?? []).filter((t: string) => t.split(":")[0] !== path);
            svc.volumes = (svc.volumes ?? []).filter((v: string) => v.split(":")[1] !== path);
            const found = findings(stringify(doc), p.env, p.nginx);
            assert.ok(
                found.some((f) => f.startsWith(`${component}: writable ${path}: not writable`)),
                `${component} ${path}`,
            );
        }
        const nginx = p.nginx.replace(/location \/ims\/upload \{[^}]*\}/, "");
        assert.ok(findings(p.compose, p.env, nginx).some((f) => f.startsWith("pims: route /ims/upload: not routed")));
    });

    it("reports a scratch tmpfs its user cannot write (Docker gives it the image directory's owner)", () => {
        const p = composeProject();
        const doc = parse(p.compose);
        doc.services["web-ui"].tmpfs = ["/tmp", "/var/cache/nginx", "/var/run"];
        const { services, routes } = fromCompose(stringify(doc), p.env, p.nginx);
        const found = describeFindings(contractFindings(services, routes));
        assert.ok(
            found.some((f) => f.startsWith("web-ui: writable /var/cache/nginx: not writable")),
            found.join("\n"),
        );
    });

    it("reports a value the image cannot work with: PIMS's logging file, core pointing at a service that is not there", () => {
        const p = composeProject();
        const env = {
            ...p.env,
            pims: p.env.pims.replace("LOG_CONFIG_FILE=/app/logging.yml", "LOG_CONFIG_FILE=/app/logging-prod.yml"),
            core: p.env.core.replace("REPOSITORY_URL=http://repository:8081/", "REPOSITORY_URL=http://repo:8081/"),
        };
        const { services, routes } = fromCompose(p.compose, env, p.nginx);
        const found = describeFindings(contractFindings(services, routes));
        assert.ok(
            found.some((f) => f.startsWith('pims: env LOG_CONFIG_FILE: "/app/logging-prod.yml" is not in the image')),
        );
        assert.ok(found.some((f) => f.startsWith("core: env REPOSITORY_URL: points at repo, which is not deployed")));
    });
});

describe("config refuses what the release cannot run", () => {
    const base = { tenant: "lab-a", publicUrl: "https://lab-a.example.org", lsaaiClientId: "c" };
    it("an image of another release, naming the key and the fix", () => {
        assert.throws(
            () =>
                parseConfig({
                    ...base,
                    keycloakUrl: "https://iam.example.org/iam",
                    images: { core: "cytomine/core:5.1.0" },
                }),
            (e: Error) =>
                /images\.core = "cytomine\/core:5\.1\.0": "cytomine\/core:5\.1\.0" is not the core image of release 0165ef7 \(config key release/.test(
                    e.message,
                ) && e.message.includes(`registry.cytomine.org/cytomine/core:${RELEASE.tag}`),
        );
        // A digest of the release's repository is the operator's to vouch for.
        assert.doesNotThrow(() =>
            parseConfig({
                ...base,
                keycloakUrl: "https://iam.example.org/iam",
                images: { core: `${RELEASE.registry}/core@sha256:${"a".repeat(64)}` },
            }),
        );
    });

    it("a release: its images are the defaults, an image of another known release names it, an unknown release names the known", () => {
        const external = { ...base, keycloakUrl: "https://iam.example.org/iam" };
        const earlier = parseConfig({ ...external, release: "26e8daf" });
        assert.equal(earlier.release, "26e8daf");
        assert.equal(earlier.images.core, `${RELEASE.registry}/core:26e8daf`);
        assert.equal(earlier.images.webUi, `${RELEASE.registry}/web-ui:26e8daf`);
        // Not a release image: the stock MeiliSearch the compose file names stays.
        assert.equal(earlier.images.meilisearch, DEFAULT_IMAGES.meilisearch);
        assert.equal(parseConfig(external).release, RELEASE.tag);
        assert.throws(
            () =>
                parseConfig({ ...external, release: "26e8daf", images: { core: `${RELEASE.registry}/core:0165ef7` } }),
            /images\.core = ".*core:0165ef7": .*is not the core image of release 26e8daf .*It is release 0165ef7's: set release to 0165ef7/,
        );
        assert.throws(
            () => parseConfig({ ...external, release: "5.1.0" }),
            /release = "5\.1\.0": one of the releases this stack describes, newest first: 0165ef7, 26e8daf/,
        );
    });

    it("a Keycloak core would not find under /iam, and a tenant's own Keycloak with a realm the web UI does not use", () => {
        assert.throws(
            () => parseConfig({ ...base, keycloakUrl: "https://iam.example.org/auth" }),
            /keycloakUrl = "https:\/\/iam\.example\.org\/auth": Cytomine's core finds its realm's keys and issuer under <origin>\/iam/,
        );
        assert.throws(
            () => parseConfig({ ...base, keycloakMode: "namespace", realm: "lab-a" }),
            /realm = "lab-a": Cytomine's web UI signs in only through the realm "cytomine"/,
        );
    });

    it("an external Keycloak reached at another address: core fetches keys there, accepts the public issuer, and may go out to it", () => {
        const c = parseConfig({
            ...base,
            target: "ssh",
            keycloakUrl: "https://iam.example.org/iam",
            keycloakInternalUrl: "http://10.0.0.7:8080/iam",
            vm: { host: "vm.example.org", hostKey: "ssh-ed25519 AAAA" },
        });
        const layout = hostLayout({
            ...c.vm,
            tenant: "lab-a",
            release: c.release,
            images: { ...DEFAULT_IMAGES },
            publicUrl: c.publicUrl,
            keycloak: c.keycloak,
        });
        const core = layout.services.find((s) => s.component === "core")!;
        const env = Object.fromEntries(core.env.map((e) => [e.name, e.value]));
        assert.equal(env.IAM_URL, "http://10.0.0.7:8080");
        assert.equal(env.IAM_EXTERNAL_URL, "https://iam.example.org");
        assert.deepEqual(core.externalPorts, [8080]);
        const compose = parse(layout.plainFiles.find((f) => f.path === "compose.yaml")!.content);
        assert.ok(compose.services.core.networks.includes("egress"), "core on a network with a way out");
        assert.throws(
            () => parseConfig({ ...base, keycloakMode: "namespace", keycloakInternalUrl: "http://10.0.0.7:8080/iam" }),
            /keycloakInternalUrl = "http:\/\/10\.0\.0\.7:8080\/iam": applies only to keycloakMode external/,
        );
        assert.throws(
            () =>
                parseConfig({
                    ...base,
                    keycloakUrl: "https://iam.example.org/iam",
                    keycloakInternalUrl: "http://10.0.0.7:8080/",
                }),
            /keycloakInternalUrl = .*core finds its realm's keys and issuer under <origin>\/iam/,
        );
    });
});
