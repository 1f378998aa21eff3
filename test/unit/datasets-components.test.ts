// Dataset components under mocks: PIMS mounts each dataset read-only (compose `:ro`, a readOnly claim
// and mount on Kubernetes) and imports from the import view; the admin keys reach the import only
// through stdin (VM) or a 0400 Secret volume (Kubernetes); the Job is named after its run; the sdafs
// CSI node plugin is the only privileged pod, in namespace sdafs-csi; the VM's scripts say what is
// missing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { routeTable } from "../../components/model/routes";
import { cytomineServices } from "../../components/model/services";
import { DEFAULT_IMAGES, DEFAULT_STORAGE } from "../../components/model/settings";
import { CSI_NAMESPACE, SdafsCsiDriver } from "../../components/kubernetes/csi";
import { DatasetImport, importReport, pimsDatasetBinds } from "../../components/vm/datasets";
import { sdafsPrerequisitesScript, sdafsUnitFile } from "../../components/vm/dataset-scripts";
import { accessTokenOf } from "../../components/kubernetes/datasets";
import { DEFAULT_IMPORT_IMAGE, DeclaredDataset, EMPTY_RECORD, planImport } from "../../components/model/datasets";
import { Cytomine, CytomineArgs } from "../../components/kubernetes/cytomine";
import { composeFile } from "../../components/vm/compose";
import { cytomineArgs } from "../support/cytomine-args";
import { allRegistered, recordResources } from "../support/mocks";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A secret input as the mocks record it ({<signature>: …, value}) gives its value. */
const unwrap = (v: Any): Any =>
    v && typeof v === "object" && "value" in v && Object.keys(v).length === 2 ? v.value : v;

const lung: DeclaredDataset = { id: "lung", source: "path", path: "/srv/bp/lung", index: 0, revision: "r1" };
const archive: DeclaredDataset = {
    id: "archive",
    source: "sdafs",
    sdafs: { datasets: ["EGAD001", "EGAD002"] },
    index: 1,
    revision: "r2",
};

describe("datasets on a VM: compose and steps", () => {
    it("PIMS binds every dataset read-only at /data/datasets/<id> and reads the import view", () => {
        const services = cytomineServices({
            images: DEFAULT_IMAGES,
            storage: DEFAULT_STORAGE,
            publicUrl: "https://lab-a.example.org",
            keycloak: { mode: "external", origin: "https://iam.example.org", adminUser: "admin" },
            datasets: true,
        });
        const dataDir = "/var/lib/cytomine-fallback/lab-a";
        const doc = parse(
            composeFile(services, {
                dataDir,
                proxyImage: DEFAULT_IMAGES.proxy,
                bindAddress: "0.0.0.0",
                httpPort: 80,
                publicScheme: "https",
                routes: routeTable(false),
                pimsBinds: pimsDatasetBinds([lung, archive], dataDir),
            }),
        ) as Any;
        assert.deepEqual(doc.services.pims.volumes, [
            `${dataDir}/pims/images:/data/images`,
            "/srv/bp/lung:/data/datasets/lung:ro",
            `${dataDir}/datasets/sdafs/archive:/data/datasets/archive:ro,rslave`,
            `${dataDir}/datasets/import-view:/data/import:ro`,
        ]);
        const pims = services.find((s) => s.component === "pims")!;
        assert.deepEqual(
            pims.env.find((e) => e.name === "DATASET_PATH"),
            { name: "DATASET_PATH", value: "/data/import" },
        );
        // Without datasets PIMS's spec is as before.
        const plain = cytomineServices({
            images: DEFAULT_IMAGES,
            storage: DEFAULT_STORAGE,
            publicUrl: "https://lab-a.example.org",
            keycloak: { mode: "external", origin: "https://iam.example.org", adminUser: "admin" },
        });
        assert.equal(
            plain.find((s) => s.component === "pims")!.env.find((e) => e.name === "DATASET_PATH"),
            undefined,
        );
    });

    it("the import step gets the keys on stdin only, as a secret; its script holds no key", async () => {
        const recorded = recordResources();
        new DatasetImport("lab-a-datasets-import", {
            connection: { host: "vm.example.org", user: "admin", privateKey: "KEY" },
            sudo: "sudo -n ",
            host: "vm.example.org",
            dataDir: "/var/lib/cytomine-fallback/lab-a",
            configDir: "/opt/cytomine-fallback/lab-a",
            datasets: [lung],
            coreUrl: "http://127.0.0.1:80",
            pimsUrl: "http://127.0.0.1:80",
            keys: { publicKey: pulumi.secret("PUBLIC-KEY-VALUE"), privateKey: pulumi.secret("PRIVATE-KEY-VALUE") },
        });
        await allRegistered();
        const step = recorded.find((r) => r.name === "lab-a-datasets-import-import")!;
        assert.ok(step, recorded.map((r) => r.name).join(", "));
        assert.doesNotMatch(String(step.inputs.create), /KEY-VALUE/);
        assert.match(String(step.inputs.create), /cytomine_import\.py' --core 'http:\/\/127\.0\.0\.1:80'/);
        assert.match(
            String(step.inputs.create),
            /--record '\/var\/lib\/cytomine-fallback\/lab-a\/datasets\/imported\.json'/,
        );
        const python = recorded.find((r) => r.name === "lab-a-datasets-import-python")!;
        assert.match(String(python.inputs.create), /cytomine-python-client==4\.3\.0/);
    });

    it("reads the import's report line", () => {
        assert.deepEqual(
            importReport(
                'INFO x\ncytomine-fallback-import {"run": {"id": "ab", "datasets": ["lung"]}, "imported": ["lung"]}',
            ),
            { run: { id: "ab", datasets: ["lung"] }, imported: ["lung"] },
        );
        assert.equal(importReport("nothing"), undefined);
    });

    it("the sdafs step lists every missing piece with its fix and exits non-zero", () => {
        const text = sdafsPrerequisitesScript("vm.example.org", "v0.0.23", "sudo -n ");
        assert.match(text, /systemd is not running as PID 1 on vm\.example\.org/);
        assert.match(text, /apt-get install fuse3/);
        assert.match(text, /go install github\.com\/NBISweden\/sdafs\/cmd\/sdafs@v0\.0\.23/);
        assert.match(text, /user_allow_other/);
        assert.match(text, /exit 3/);
        const unit = sdafsUnitFile({
            unit: "u.service",
            mountPoint: "/m",
            credentialsFile: "/c",
            binary: "/b",
            rootUrl: "https://download.bp.nbis.se",
            datasets: ["EGAD001", "EGAD002"],
            owner: 20000,
            description: "d",
        });
        assert.match(
            unit,
            /^ExecStart=\/b --foreground --open --credentialsfile \/c --rootURL https:\/\/download\.bp\.nbis\.se --datasets EGAD001,EGAD002 --owner 20000 --group 20000 \/m$/m,
        );
    });
});

const k8sArgs = (datasets: CytomineArgs["datasets"]): CytomineArgs => cytomineArgs({ datasets });

describe("datasets on Kubernetes (mocks)", () => {
    const hostPath: DeclaredDataset = { ...lung, path: "hostPath:/srv/bp/lung" };
    const claim: DeclaredDataset = { id: "skin", source: "path", path: "claim:bp-skin", index: 2, revision: "r3" };

    it("PIMS mounts each dataset's claim read-only; an sdafs claim is ReadOnlyMany with the token annotation", async () => {
        const recorded = recordResources();
        const list = [hostPath, archive, claim];
        new Cytomine(
            "lab-a",
            k8sArgs({
                list,
                plan: planImport(list, EMPTY_RECORD),
                importImage: DEFAULT_IMPORT_IMAGE,
                storageClass: "sdafs",
                sdafsCredentials: pulumi.secret("[default]\naccess_token = TOKEN-VALUE\n"),
            }),
        );
        await allRegistered();
        const pims = recorded.find((r) => r.type === "kubernetes:apps/v1:Deployment" && r.name === "lab-a-pims")!;
        const pod = pims.inputs.spec.template.spec;
        const main = pod.containers[0];
        for (const [id, claimName] of [
            ["lung", "dataset-lung"],
            ["archive", "dataset-archive"],
            ["skin", "bp-skin"],
        ]) {
            assert.deepEqual(
                pod.volumes.find((v: Any) => v.name === `dataset-${id}`),
                { name: `dataset-${id}`, persistentVolumeClaim: { claimName, readOnly: true } },
            );
            assert.deepEqual(
                main.volumeMounts.find((m: Any) => m.name === `dataset-${id}`),
                { name: `dataset-${id}`, mountPath: `/data/datasets/${id}`, readOnly: true },
            );
        }
        assert.deepEqual(
            main.volumeMounts.find((m: Any) => m.mountPath === "/data/import"),
            {
                name: "dataset-import-view",
                mountPath: "/data/import",
                readOnly: true,
            },
        );
        assert.equal(main.env.find((e: Any) => e.name === "DATASET_PATH").value, "/data/import");
        const init = pod.initContainers[0];
        assert.deepEqual(init.env, [
            { name: "IMPORT_RUN", value: "lung=* archive=EGAD001,EGAD002 skin=*" },
            { name: "IMPORT_SERVED", value: "" },
        ]);
        assert.equal(init.securityContext.runAsNonRoot, true);

        const claims = recorded.filter((r) => r.type === "kubernetes:core/v1:PersistentVolumeClaim");
        const sdafsClaim = claims.find((r) => r.name === "lab-a-datasets-archive")!;
        assert.equal(unwrap(sdafsClaim.inputs.metadata).name, "dataset-archive");
        assert.deepEqual(sdafsClaim.inputs.spec.accessModes, ["ReadOnlyMany"]);
        assert.equal(sdafsClaim.inputs.spec.storageClassName, "sdafs");
        assert.equal(unwrap(unwrap(sdafsClaim.inputs.metadata).annotations["sda.nbis.se/token-secret"]), "sdafs-token");
        const hostClaim = claims.find((r) => unwrap(r.inputs.metadata).name === "dataset-lung")!;
        assert.deepEqual(hostClaim.inputs.spec.accessModes, ["ReadOnlyMany"]);
        const pv = recorded.find((r) => r.type === "kubernetes:core/v1:PersistentVolume")!;
        assert.deepEqual(pv.inputs.spec.hostPath, { path: "/srv/bp/lung", type: "Directory" });
        assert.ok(
            !claims.some((r) => unwrap(r.inputs.metadata).name === "bp-skin"),
            "an existing claim is not declared",
        );

        const token = recorded.find(
            (r) => r.type === "kubernetes:core/v1:Secret" && r.inputs.metadata.name === "sdafs-token",
        )!;
        // A secret (the mocks show its wrapper): only the access_token's value, under key `token`.
        assert.deepEqual(unwrap(token.inputs.stringData), { token: "TOKEN-VALUE" });

        // The Job: named after the run, keys as a 0400 Secret volume, nothing secret in env or argv.
        const plan = planImport(list, EMPTY_RECORD);
        const job = recorded.find((r) => r.type === "kubernetes:batch/v1:Job")!;
        assert.equal(job.inputs.metadata.name, `datasets-import-${plan.run!.id}`);
        const jobPod = job.inputs.spec.template.spec;
        assert.deepEqual(jobPod.volumes.find((v: Any) => v.name === "keys").secret, {
            secretName: "cytomine-secrets",
            defaultMode: 0o400,
            items: [
                { key: "image-server-public-key", path: "image-server-public-key" },
                { key: "image-server-private-key", path: "image-server-private-key" },
            ],
        });
        assert.equal(jobPod.containers[0].env, undefined);
        assert.equal(jobPod.securityContext.runAsNonRoot, true);
        const record = recorded.find(
            (r) => r.type === "kubernetes:core/v1:ConfigMap" && r.inputs.metadata.name === "cytomine-datasets",
        )!;
        assert.deepEqual(Object.keys(JSON.parse(record.inputs.data["record.json"]).imported).sort(), [
            "archive",
            "lung",
            "skin",
        ]);
        const policies = recorded.filter((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy");
        assert.ok(policies.some((p) => p.inputs.metadata.name === "datasets-import-to-pims"));
    });

    it("a later run: PIMS's init container serves the datasets earlier runs imported, imports only the new one", async () => {
        const recorded = recordResources();
        const first = planImport([hostPath, archive], EMPTY_RECORD);
        const list = [hostPath, archive, claim];
        const plan = planImport(list, first.record);
        new Cytomine(
            "lab-a",
            k8sArgs({
                list,
                plan,
                importImage: DEFAULT_IMPORT_IMAGE,
                storageClass: "sdafs",
                sdafsCredentials: pulumi.secret("[default]\naccess_token = TOKEN-VALUE\n"),
            }),
        );
        await allRegistered();
        const pims = recorded.find((r) => r.type === "kubernetes:apps/v1:Deployment" && r.name === "lab-a-pims")!;
        const init = pims.inputs.spec.template.spec.initContainers[0];
        assert.deepEqual(init.env, [
            { name: "IMPORT_RUN", value: "skin=*" },
            { name: "IMPORT_SERVED", value: "lung=* archive=EGAD001,EGAD002" },
        ]);
        assert.deepEqual(init.command.slice(0, 2), ["sh", "-c"]);
        const job = recorded.find((r) => r.type === "kubernetes:batch/v1:Job")!;
        assert.equal(job.inputs.metadata.annotations["cytomine.io/datasets"], "skin");
    });

    it("without datasets nothing of this is declared", async () => {
        const recorded = recordResources();
        new Cytomine("lab-a", k8sArgs(undefined));
        await allRegistered();
        assert.ok(!recorded.some((r) => r.type.startsWith("cytomine:kubernetes:Dataset")));
        const pims = recorded.find((r) => r.name === "lab-a-pims")!;
        assert.equal(pims.inputs.spec.template.spec.initContainers, undefined);
    });

    it("the sdafs CSI driver: privileged node plugin in its own privileged namespace, StorageClass with the token template", async () => {
        const recorded = recordResources();
        new SdafsCsiDriver("sdafs-csi", { owner: "o/p/s", rootUrl: "https://download.bp.nbis.se" });
        await allRegistered();
        const ns = recorded.find((r) => r.type === "kubernetes:core/v1:Namespace")!;
        assert.equal(ns.inputs.metadata.name, CSI_NAMESPACE);
        assert.equal(ns.inputs.metadata.labels["pod-security.kubernetes.io/enforce"], "privileged");
        assert.equal(ns.inputs.metadata.labels["app.kubernetes.io/part-of"], "sdafs-csi");
        const sets = recorded.filter((r) => r.type === "kubernetes:apps/v1:DaemonSet");
        assert.equal(sets.length, 2);
        for (const s of sets) assert.equal(s.inputs.metadata.namespace, CSI_NAMESPACE);
        const node = sets.find((s) => s.inputs.metadata.name === "csi-sdafs")!;
        assert.equal(node.inputs.spec.template.spec.containers[0].securityContext.privileged, true);
        assert.ok(node.inputs.spec.template.spec.containers[0].resources.limits.memory);
        const sc = recorded.find((r) => r.type === "kubernetes:storage.k8s.io/v1:StorageClass")!;
        assert.equal(sc.inputs.provisioner, "csi.sda.nbis.se");
        assert.equal(
            sc.inputs.parameters["csi.storage.k8s.io/secret-name"],
            "${pvc.annotations['sda.nbis.se/token-secret']}",
        );
    });

    it("takes the token from the s3cmd-style credentials and says so when there is none", () => {
        assert.equal(accessTokenOf("[default]\nhost_base = x\naccess_token = abc.def.ghi\n"), "abc.def.ghi");
        assert.throws(() => accessTokenOf("[default]\n"), /no `access_token = …` line/);
    });
});
