import * as crypto from "node:crypto";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    adminCredentialsHint,
    Cytomine,
    FORCE_APPLY_ANNOTATION,
    routeHost,
} from "../../components/kubernetes/cytomine";
import { routeTable } from "../../components/model/routes";
import { httpRouteSpec, ingressAnnotations, ingressSpec } from "../../components/kubernetes/routes";
import { SECRET_VALUES, secretKeysOf, uuidFromHex } from "../../components/model/secrets";
import { cytomineServices, SECRET_NAME, SERVICE_COMPONENTS } from "../../components/model/services";
import { parseConfig } from "../../program/config";

const configBase = {
    tenant: "lab-a",
    publicUrl: "https://lab-a.example.org",
    keycloakUrl: "https://iam.example.org/iam",
    lsaaiClientId: "c",
};
import { HELPER_DEFAULT, ML_SERVICES } from "../../components/model/ml";
import { DEFAULT_IMAGES, DEFAULT_STORAGE, imageProblem } from "../../components/model/settings";
import { namespaceConflict } from "../../components/model/tenancy";
import { claimName, networkPolicySpec, podTemplate, SKIP_AWAIT } from "../../components/kubernetes/workload";
import { cytomineArgs, servicesOptions } from "../support/cytomine-args";
import { allRegistered, recordResources, valueOf } from "../support/mocks";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const options = servicesOptions;

describe("Cytomine on Kubernetes: derivations", () => {
    it("pins every default image", () => {
        for (const image of Object.values(DEFAULT_IMAGES)) assert.equal(imageProblem(image), undefined, image);
    });

    it("routes / to web-ui, core's paths, /ims to pims, and /iam only to a Keycloak in the namespace", () => {
        const external = routeTable(false).map((r) => `${r.path}>${r.service}:${r.port}`);
        assert.deepEqual(external, [
            "/api>core:8080",
            "/server>core:8080",
            "/session>core:8080",
            "/ws>core:8080",
            "/ims/upload>pims:5000",
            "/ims/image/upload>pims:5000",
            "/ims/formats>pims:5000",
            "/ims/import>pims:5000",
            "/>web-ui:80",
        ]);
        assert.ok(routeTable(true).some((r) => r.path === "/iam" && r.service === "iam" && r.port === 8100));
        assert.equal(routeTable(true).at(-1)?.path, "/", "the catch-all comes last");
    });

    it("derives the route's host from the public URL: none for an address (local environment)", () => {
        assert.equal(routeHost("https://lab-a.example.org"), "lab-a.example.org");
        assert.equal(routeHost("http://127.0.0.1:8080"), undefined);
        const route = {
            host: "lab-a.example.org",
            routes: routeTable(false),
            ingressClass: "nginx",
            tlsSecret: "lab-a-tls",
            skipAwait: false,
        };
        const spec = ingressSpec(route) as Any;
        assert.equal(spec.rules[0].host, "lab-a.example.org");
        assert.deepEqual(spec.tls, [{ hosts: ["lab-a.example.org"], secretName: "lab-a-tls" }]);
        assert.deepEqual(spec.rules[0].http.paths.at(-1), {
            path: "/",
            pathType: "Prefix",
            backend: { service: { name: "web-ui", port: { number: 80 } } },
        });
        assert.deepEqual(ingressAnnotations(route), {
            "nginx.ingress.kubernetes.io/proxy-body-size": "0",
            "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
        });
        assert.equal(
            ingressAnnotations({ ...route, ingressClass: "traefik", skipAwait: true })["pulumi.com/skipAwait"],
            "true",
        );
        const http = httpRouteSpec(route, { namespace: "gw", name: "public" }) as Any;
        assert.deepEqual(http.parentRefs, [
            { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "gw", name: "public" },
        ]);
        assert.deepEqual(http.hostnames, ["lab-a.example.org"]);
        assert.deepEqual(http.rules[0], {
            matches: [{ path: { type: "PathPrefix", value: "/api" } }],
            backendRefs: [{ name: "core", port: 8080 }],
            timeouts: { request: "3600s" },
        });
        assert.equal(http.rules.at(-1).timeouts, undefined, "the web UI's rule keeps the gateway's default");
    });

    it("runs every pod under the restricted profile; only Keycloak's root is writable, with a reason", () => {
        for (const s of cytomineServices(options("namespace"))) {
            const pod = podTemplate("lab-a", s).spec as Any;
            assert.equal(pod.automountServiceAccountToken, false, s.component);
            assert.equal(pod.serviceAccountName, s.component);
            assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
            assert.equal(pod.securityContext.runAsNonRoot, true);
            // Above 10000 (no user of the node), except Keycloak, whose image files belong to 1000.
            assert.equal(pod.securityContext.runAsUser >= 10000, s.component !== "iam", s.component);
            assert.equal(pod.securityContext.runAsGroup, pod.securityContext.runAsUser);
            const [c] = pod.containers;
            assert.equal(c.securityContext.allowPrivilegeEscalation, false);
            assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"] });
            assert.equal(c.securityContext.readOnlyRootFilesystem, s.component !== "iam", s.component);
            assert.ok(c.resources.limits.memory && c.resources.limits["ephemeral-storage"], s.component);
            assert.ok(c.resources.requests.cpu && c.resources.requests["ephemeral-storage"], s.component);
            assert.ok(c.readinessProbe && c.livenessProbe, s.component);
            assert.equal(c.image, s.image);
            for (const path of s.scratch)
                assert.ok(
                    c.volumeMounts.some((m: Any) => m.mountPath === path),
                    path,
                );
            for (const v of s.volumes)
                assert.ok(
                    pod.volumes.some((p: Any) => p.persistentVolumeClaim?.claimName === claimName(s.component, v.name)),
                );
        }
        assert.match(
            cytomineServices(options("namespace")).find((s) => s.component === "iam")!.writableRootReason!,
            /re-augments/,
        );
    });

    it("puts databases and images on volumes of the configured sizes; StatefulSets only for the databases", () => {
        const services = cytomineServices({ ...options("namespace"), storage: { ...DEFAULT_STORAGE, images: "2Ti" } });
        const volumes = services.flatMap((s) => s.volumes.map((v) => `${claimName(s.component, v.name)}=${v.size}`));
        assert.deepEqual(volumes.sort(), [
            "iam-db-data=2Gi",
            "meilisearch-data=1Gi",
            "mongo-data=5Gi",
            "pims-images=2Ti",
            "postgis-data=10Gi",
        ]);
        const sts = services.filter((s) => s.kind === "StatefulSet").map((s) => s.component);
        assert.deepEqual(sts.sort(), ["iam-db", "meilisearch", "mongo", "postgis"]);
    });

    it("makes version-4 UUID keys from random hex, and refuses anything else", () => {
        const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
        for (const hex of ["0".repeat(32), "f".repeat(32), crypto.randomBytes(16).toString("hex")]) {
            assert.match(uuidFromHex(hex), uuid, hex);
        }
        // Only the version and variant bits change: the other 122 bits are the random ones.
        assert.equal(uuidFromHex("0123456789abcdef0123456789abcdef"), "01234567-89ab-4def-8123-456789abcdef");
        assert.throws(() => uuidFromHex("0123"), /32 lowercase hex digits/);
    });

    it("collects the Secret's keys from what the pods read, and can generate each", () => {
        const external = secretKeysOf(cytomineServices(options("external")), SECRET_NAME);
        assert.ok(!external.includes("iam-db-password"));
        const inNamespace = secretKeysOf(cytomineServices(options("namespace")), SECRET_NAME);
        assert.ok(!inNamespace.includes("app-engine-db-password"), "no ML secret without ML");
        const ml = {
            services: [...ML_SERVICES],
            namespace: "lab-a",
            registryAdvertised: "10.0.0.1:5000",
            helper: HELPER_DEFAULT,
        };
        const vmTasks = {
            stateDir: "/srv/data/lab-a/task-pods",
            network: "cytomine-lab-a-tasks",
            registryPort: 5000,
            limits: { cpu: "4", memory: "16Gi", pods: 2 },
        };
        const onKubernetes = secretKeysOf(cytomineServices({ ...options("namespace"), ml }), SECRET_NAME);
        const onVm = secretKeysOf(cytomineServices({ ...options("namespace"), ml: { ...ml, vmTasks } }), SECRET_NAME);
        // The task-pods token is the VM's only: in a cluster the app engine has its service account.
        assert.deepEqual(onVm, Object.keys(SECRET_VALUES).sort());
        assert.deepEqual(
            onKubernetes,
            onVm.filter((k) => k !== "task-pods-token"),
        );
        const core = cytomineServices(options("external")).find((s) => s.component === "core")!;
        const env = Object.fromEntries(core.env.map((e: Any) => [e.name, e.value ?? e.valueFrom.secretKeyRef.key]));
        assert.equal(env.KEYCLOAK_ADMIN, "admin");
        assert.equal(env.KEYCLOAK_ADMIN_PASSWORD, "keycloak-admin-password");
        assert.equal(env.IAM_URL, "https://iam.example.org");
        assert.equal(env.SERVER_URL, "https://lab-a.example.org");
        // No password is ever a plain value.
        for (const s of cytomineServices(options("namespace")))
            for (const e of s.env as Any[])
                assert.ok(!/PASS|_KEY$|SECRET/.test(e.name) || e.valueFrom, `${s.component} ${e.name}`);
    });

    it("takes the operator's CPU and memory by component, and names every component a tenant may run", () => {
        const all = cytomineServices({
            ...options("namespace"),
            ml: {
                services: [...ML_SERVICES],
                namespace: "lab-a",
                registryAdvertised: "10.0.0.1:5000",
                helper: HELPER_DEFAULT,
            },
            resources: { core: { cpu: "250m" }, pims: { memory: "4Gi" } },
        });
        assert.deepEqual(all.map((s) => s.component).sort(), [...SERVICE_COMPONENTS].sort());
        const of = (c: string) => all.find((s) => s.component === c)!.resources as Any;
        assert.deepEqual(of("core").requests, { cpu: "250m", memory: "2Gi", "ephemeral-storage": "1Gi" });
        assert.deepEqual(of("pims").requests, { cpu: "500m", memory: "4Gi", "ephemeral-storage": "20Gi" });
        assert.equal(of("pims").limits.memory, "4Gi");
        assert.equal(of("web-ui").requests.cpu, "50m", "others keep theirs");
        const c = parseConfig({ ...configBase, resources: { core: { cpu: 0.5, memory: "1Gi" } } });
        assert.deepEqual(c.resources, { core: { cpu: "0.5", memory: "1Gi" } });
        assert.throws(
            () => parseConfig({ ...configBase, resources: { kore: { cpu: "1" } } }),
            /resources = \{"kore":\{"cpu":"1"\}\}: unknown component\(s\) kore; the components are postgis, /,
        );
        assert.throws(
            () => parseConfig({ ...configBase, resources: { core: { cpu: "lots" } } }),
            /resources\.core\.cpu = "lots": "lots" is not a CPU quantity/,
        );
    });

    it("lets each service in only from its clients (and the router) and out only to its servers, DNS and its external ports", () => {
        const services = cytomineServices(options("external"));
        const policy = (c: string) =>
            networkPolicySpec(
                "lab-a",
                services.find((s) => s.component === c)!,
                services,
                "ingress-nginx",
            ) as Any;
        const peers = (rules: Any[]) =>
            rules
                .flatMap((r) => r.to ?? r.from)
                .map(
                    (p: Any) =>
                        p.podSelector?.matchLabels?.["app.kubernetes.io/component"] ??
                        p.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] ??
                        p.ipBlock.cidr,
                );
        assert.deepEqual(peers(policy("postgis").ingress), ["core", "repository"]);
        assert.deepEqual(peers(policy("postgis").egress), ["kube-system"]);
        assert.deepEqual(peers(policy("core").ingress), ["pims", "ingress-nginx"]);
        assert.deepEqual(peers(policy("core").egress), [
            "postgis",
            "mongo",
            "meilisearch",
            "repository",
            "pims",
            "kube-system",
            "0.0.0.0/0",
        ]);
        assert.deepEqual(peers(policy("repository").ingress), ["core"]);
        assert.deepEqual(peers(policy("meilisearch").ingress), ["core", "pims"]);
        assert.deepEqual(policy("core").egress.at(-1).ports, [{ port: 443, protocol: "TCP" }]);
        assert.deepEqual(peers(policy("pims").egress), ["pims-cache", "meilisearch", "core", "kube-system"]);
        assert.deepEqual(peers(policy("web-ui").ingress), ["ingress-nginx"]);
        for (const s of services) {
            const p = policy(s.component);
            assert.deepEqual(p.policyTypes, ["Ingress", "Egress"]);
            // Pods of the tenant are selected together with the tenant's instance label.
            assert.equal(p.podSelector.matchLabels["app.kubernetes.io/instance"], "lab-a");
        }
    });

    it("refuses a namespace another stack owns, or one no stack manages", () => {
        assert.equal(namespaceConflict("lab-a", "o/p/a", undefined), undefined);
        assert.equal(namespaceConflict("lab-a", "o/p/a", { annotations: { "cytomine.io/stack": "o/p/a" } }), undefined);
        assert.match(
            namespaceConflict("lab-a", "o/p/a", { annotations: { "cytomine.io/stack": "o/p/b" } })!,
            /already belongs to stack o\/p\/b/,
        );
        assert.match(namespaceConflict("lab-a", "o/p/a", {})!, /no Cytomine Fallback stack manages it/);
    });

    it("tells where core's admin password is, never the password", () => {
        assert.equal(
            adminCredentialsHint("lab-a"),
            "kubectl -n lab-a get secret cytomine-secrets -o jsonpath='{.data.admin-password}' | base64 -d",
        );
    });
});

describe("Cytomine component (mocks)", () => {
    it("declares every object under names derived from the component, passwords only in a Secret", async () => {
        const recorded = recordResources();
        const c = new Cytomine("lab-a", cytomineArgs());
        assert.equal(await valueOf(c.namespace), "lab-a");
        assert.equal(await valueOf(c.url), "https://lab-a.example.org");
        await allRegistered();
        const of = (type: string) => recorded.filter((r) => r.type === type);
        assert.equal(of("kubernetes:core/v1:ConfigMap").length, 0);
        assert.equal(of("kubernetes:core/v1:Secret").length, 1);
        assert.equal(of("random:index/randomBytes:RandomBytes").length, 6);
        // The external Keycloak's admin password comes from config, not from random.
        assert.ok(!recorded.some((r) => r.name === "lab-a-secrets-keycloak-admin-password"));
        assert.deepEqual(
            of("kubernetes:apps/v1:StatefulSet")
                .map((r) => r.name)
                .sort(),
            ["lab-a-meilisearch", "lab-a-mongo", "lab-a-postgis"],
        );
        assert.deepEqual(
            of("kubernetes:core/v1:PersistentVolumeClaim")
                .map((r) => r.inputs.metadata.name)
                .sort(),
            ["meilisearch-data", "mongo-data", "pims-images", "postgis-data"],
        );
        const [ingress] = of("kubernetes:networking.k8s.io/v1:Ingress");
        assert.equal(ingress.name, "lab-a-ingress");
        assert.equal(ingress.inputs.spec.rules[0].host, "lab-a.example.org");
        for (const r of recorded.filter((r) => r.type.startsWith("kubernetes:")))
            assert.match(r.name, /^lab-a-/, `${r.type} ${r.name}`);
        assert.equal(c.keycloak, undefined);
    });

    it("updates one pod at a time: Recreate with a volume, else no surge pod beside the running one", async () => {
        const recorded = recordResources();
        new Cytomine("lab-a", cytomineArgs());
        await allRegistered();
        const strategies = Object.fromEntries(
            recorded
                .filter((r) => r.type === "kubernetes:apps/v1:Deployment")
                .map((r) => [r.inputs.metadata.name, r.inputs.spec.strategy]),
        );
        assert.deepEqual(strategies.pims, { type: "Recreate" });
        for (const name of ["core", "repository", "web-ui", "pims-cache"])
            assert.deepEqual(
                strategies[name],
                { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
                name,
            );
    });

    it("waits for workloads, not for their Services (the workload's readiness covers the Service's pods)", async () => {
        const recorded = recordResources();
        new Cytomine("lab-a", cytomineArgs());
        await allRegistered();
        const services = recorded.filter((r) => r.type === "kubernetes:core/v1:Service");
        assert.equal(services.length, 8);
        for (const svc of services) assert.equal(svc.inputs.metadata.annotations?.[SKIP_AWAIT], "true", svc.name);
        for (const w of recorded.filter((r) => /apps\/v1:(Deployment|StatefulSet)$/.test(r.type)))
            assert.equal(w.inputs.metadata.annotations?.[SKIP_AWAIT], undefined, w.name);
    });

    it("deploys Keycloak with its own database when asked, and exposes its generated admin password", async () => {
        const recorded = recordResources();
        const c = new Cytomine(
            "lab-a",
            cytomineArgs({ keycloak: { mode: "namespace", origin: "https://lab-a.example.org", adminUser: "admin" } }),
        );
        assert.ok(c.keycloak);
        assert.equal(await valueOf(c.keycloak.adminPassword), "lab-a-secrets-keycloak-admin-password-result");
        await allRegistered();
        const names = recorded.filter((r) => r.type === "kubernetes:apps/v1:Deployment").map((r) => r.name);
        assert.ok(names.includes("lab-a-iam"));
        assert.ok(recorded.some((r) => r.type === "kubernetes:apps/v1:StatefulSet" && r.name === "lab-a-iam-db"));
    });

    it("in render mode declares no Secret and no random value, and says which Secret to provide", async () => {
        const recorded = recordResources();
        const c = new Cytomine("lab-a", cytomineArgs({ render: true }));
        const secret = await valueOf(c.secret);
        assert.equal(secret.name, "cytomine-secrets");
        assert.ok(secret.keys.includes("postgres-password"));
        await allRegistered();
        assert.equal(
            recorded.filter((r) => r.type === "kubernetes:core/v1:Secret" || r.type.startsWith("random:")).length,
            0,
        );
    });

    it("annotates every Kubernetes object it applies for forced server-side applies, none in render mode", async () => {
        const annotated = async (render: boolean) => {
            const recorded = recordResources();
            new Cytomine("lab-a", cytomineArgs({ render }));
            await allRegistered();
            const objects = recorded.filter((r) => r.type.startsWith("kubernetes:"));
            assert.ok(objects.length > 20, `${objects.length} objects`);
            const forced = objects.filter((r) => r.inputs.metadata?.annotations?.[FORCE_APPLY_ANNOTATION] === "true");
            return { objects: objects.length, forced: forced.length };
        };
        const applied = await annotated(false);
        assert.equal(applied.forced, applied.objects);
        assert.equal((await annotated(true)).forced, 0);
    });

    it("attaches an HTTPRoute to the configured Gateway instead of an Ingress", async () => {
        const recorded = recordResources();
        new Cytomine("lab-a", cytomineArgs({ routing: "httproute", gateway: { namespace: "gw", name: "public" } }));
        await allRegistered();
        const route = recorded.find((r) => r.type === "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute");
        assert.ok(route, recorded.map((r) => r.type).join(","));
        assert.equal(route.inputs.spec.parentRefs[0].name, "public");
        assert.ok(!recorded.some((r) => r.type === "kubernetes:networking.k8s.io/v1:Ingress"));
    });
});
