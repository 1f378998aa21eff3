// The VM target: its compose project as the file step writes it (components/vm/compose.ts), read from
// that remote command's stdin. The task containers of the app engine run through task-pods, the one
// service with the host's Docker socket; the file is where a privileged container would show.
import { ResourceValidationPolicy } from "@pulumi/policy";
import { parse } from "yaml";
import { TYPES } from "./types";
import { known, UNKNOWN } from "./values";

const DOCKER_SOCKET = "/var/run/docker.sock";
/** The service that drives the host's engine for task pods (components/model/ml.ts VM_TASKS). */
const TASK_PODS = "task-pods";

type Service = {
    privileged?: unknown;
    cap_add?: unknown;
    cap_drop?: unknown;
    read_only?: unknown;
    volumes?: unknown;
    network_mode?: unknown;
    pid?: unknown;
};

/** What is wrong with a compose project's privileges, one message per finding. */
export function composeProblems(doc: {
    services?: Record<string, Service>;
    networks?: Record<string, { internal?: unknown } | null>;
}): string[] {
    const problems: string[] = [];
    for (const [name, s] of Object.entries(doc.services ?? {})) {
        if (s.privileged === true) problems.push(`service ${name} runs privileged`);
        if (Array.isArray(s.cap_add) && s.cap_add.length > 0)
            problems.push(`service ${name} adds capabilities (${s.cap_add.join(", ")})`);
        if (s.network_mode === "host" || s.pid === "host")
            problems.push(
                `service ${name} shares the host's ${s.network_mode === "host" ? "network" : "PID"} namespace`,
            );
        const binds = Array.isArray(s.volumes) ? s.volumes.map(String) : [];
        if (!binds.some((b) => b.split(":")[0] === DOCKER_SOCKET)) continue;
        if (name !== TASK_PODS)
            problems.push(`service ${name} binds the host's Docker socket (${TASK_PODS} alone may)`);
        else if (!(Array.isArray(s.cap_drop) && s.cap_drop.includes("ALL") && s.read_only === true))
            problems.push(`service ${TASK_PODS} binds the Docker socket without cap_drop [ALL] and a read-only root`);
    }
    if (doc.services?.[TASK_PODS] && doc.networks?.tasks?.internal !== true)
        problems.push("the tasks network is not internal: task containers would have a route out");
    return problems;
}

export const vmComposePrivileges: ResourceValidationPolicy = {
    name: "vm-compose-privileges",
    description:
        "A VM's compose file (the remote command writing compose.yaml, its stdin): no privileged service, no added " +
        `capability, no host network or PID namespace; the host's Docker socket bound into ${TASK_PODS} alone, with ` +
        "every capability dropped and a read-only root; the task network internal. Values unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.remoteCommand) return;
        const create = known(() => args.props.create);
        if (create === UNKNOWN || typeof create !== "string" || !create.includes("/compose.yaml.cytomine-new")) return;
        const stdin = known(() => args.props.stdin);
        if (stdin === UNKNOWN || typeof stdin !== "string") return;
        for (const problem of composeProblems(parse(stdin) ?? {})) reportViolation(problem);
    },
};
