import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { vmComposePrivileges } from "../rules";
import { composeProblems } from "../vm";
import { checkResource, messages, unknown } from "../harness";
import { T } from "./sdk";

/** A compose project of the shape components/vm/compose.ts writes, with task-pods. */
const project = () => ({
    services: {
        core: { image: "core:1", cap_drop: ["ALL"], read_only: true, networks: ["internal"] },
        "task-pods": {
            image: "cytomine-fallback/task-pods:0.1.0",
            cap_drop: ["ALL"],
            read_only: true,
            volumes: ["/var/run/docker.sock:/var/run/docker.sock", "/srv/d/task-pods:/srv/d/task-pods"],
            networks: ["internal", "tasks"],
        },
    },
    networks: { internal: { internal: true }, tasks: { name: "cytomine-lab-a-tasks", internal: true } },
});

/** The file step's remote command: its script writes compose.yaml from stdin. */
const fileStep = (doc: object, create = "cat > '/opt/c/lab-a/compose.yaml.cytomine-new'") => ({
    type: T.remoteCommand,
    props: { create, stdin: stringify(doc) },
});

describe("vm-compose-privileges", () => {
    it("passes task-pods with the socket, dropped capabilities, a read-only root and an internal task network", async () => {
        assert.deepEqual(composeProblems(project()), []);
        assert.deepEqual(await checkResource(vmComposePrivileges, fileStep(project())), []);
    });

    it("names a privileged service, added capabilities, the host's namespaces and the socket anywhere else", () => {
        const doc: any = project(); // eslint-disable-line @typescript-eslint/no-explicit-any
        doc.services.core.privileged = true;
        doc.services.core.cap_add = ["SYS_ADMIN"];
        doc.services.core.network_mode = "host";
        doc.services.core.volumes = ["/var/run/docker.sock:/var/run/docker.sock:ro"];
        assert.deepEqual(composeProblems(doc), [
            "service core runs privileged",
            "service core adds capabilities (SYS_ADMIN)",
            "service core shares the host's network namespace",
            "service core binds the host's Docker socket (task-pods alone may)",
        ]);
    });

    it("names task-pods without its hardening, and a task network with a route out", async () => {
        const doc: any = project(); // eslint-disable-line @typescript-eslint/no-explicit-any
        doc.services["task-pods"].read_only = false;
        doc.networks.tasks = { name: "cytomine-lab-a-tasks" };
        assert.deepEqual(messages(await checkResource(vmComposePrivileges, fileStep(doc))), [
            "service task-pods binds the Docker socket without cap_drop [ALL] and a read-only root",
            "the tasks network is not internal: task containers would have a route out",
        ]);
    });

    it("judges only the compose file's step, and not an unknown stdin", async () => {
        const doc: any = project(); // eslint-disable-line @typescript-eslint/no-explicit-any
        doc.services.core.privileged = true;
        assert.deepEqual(await checkResource(vmComposePrivileges, fileStep(doc, "cat > /opt/c/lab-a/nginx.conf")), []);
        const pending = { type: T.remoteCommand, props: { create: fileStep(doc).props.create, stdin: unknown.string } };
        assert.deepEqual(await checkResource(vmComposePrivileges, pending), []);
        assert.equal((await checkResource(vmComposePrivileges, fileStep(doc))).length, 1);
    });
});
