// Key `ml`: a tenant's machine-learning services (components/model/ml.ts), off by default. The weights
// SAM and CBIR load come from the operator (a volume they name), never from a hub at run time.
import { z } from "zod";
import {
    HELPER_DEFAULT,
    ML_SERVICES,
    MlService,
    TASK_DEFAULT,
    tasksNamespaceOf,
    WEIGHT_FILES,
} from "../../components/model/ml";
import { namespaceProblem, quantityProblem, quantityValue } from "../../components/model/settings";
import { cpuQuantity, reportProblem } from "./checks";

export const ML_DEFAULTS = {
    enabled: false,
    services: [...ML_SERVICES] as MlService[],
    tasks: { cpu: "4", memory: "16Gi", pods: 2, helper: HELPER_DEFAULT, registryPort: 5000 },
};

const weightsHelp =
    `a volume holding ${WEIGHT_FILES.sam} (SAM) and ${WEIGHT_FILES.cbir} (CBIR): on target kubernetes the name of a ` +
    `PersistentVolumeClaim of the tenant's namespace, on a VM an absolute folder of the host`;

export const mlKeys = {
    ml: z
        .strictObject({
            enabled: z.boolean().default(ML_DEFAULTS.enabled),
            services: z.array(z.enum(ML_SERVICES)).min(1).default(ML_DEFAULTS.services),
            weights: z.string().min(1).optional(),
            tasks: z
                .strictObject({
                    cpu: cpuQuantity.default(ML_DEFAULTS.tasks.cpu),
                    memory: z.string().superRefine(reportProblem(quantityProblem)).default(ML_DEFAULTS.tasks.memory),
                    pods: z.number().int().min(1).max(100).default(ML_DEFAULTS.tasks.pods),
                    helper: z
                        .strictObject({
                            cpu: cpuQuantity.default(HELPER_DEFAULT.cpu),
                            memory: z
                                .string()
                                .superRefine(reportProblem(quantityProblem))
                                .default(HELPER_DEFAULT.memory),
                        })
                        .default(HELPER_DEFAULT),
                    registryPort: z.number().int().min(1).max(65535).default(ML_DEFAULTS.tasks.registryPort),
                    // An opt-in with its reason, kept on the admission policy's audit trail; unset: refused.
                    privilegedReason: z
                        .string()
                        .min(10, "say why task containers must run privileged (10 characters at least)")
                        .optional(),
                })
                .default(ML_DEFAULTS.tasks),
        })
        .default(ML_DEFAULTS),
};

type MlConfig = z.infer<(typeof mlKeys)["ml"]>;

/** What is wrong with the ML settings for the target, each as [path below ml, message]; empty when fine. */
export function mlIssues(ml: MlConfig | undefined, target: string, namespace: string): [string[], string][] {
    if (!ml?.enabled) return [];
    const issues: [string[], string][] = [];
    const needsWeights = ml.services.some((s) => s === "sam" || s === "cbir");
    if (needsWeights && !ml.weights)
        issues.push([
            ["weights"],
            `required with sam or cbir among ml.services: ${weightsHelp}. Nothing is downloaded at run time ` +
                `(upstream's images fetch their weights from a hub when they are built: sam/Dockerfile.weights)`,
        ]);
    if (ml.weights && target === "kubernetes" && namespaceProblem(ml.weights))
        issues.push([["weights"], `not a claim name (${namespaceProblem(ml.weights)}): ${weightsHelp}`]);
    if (ml.weights && target !== "kubernetes" && !/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(ml.weights))
        issues.push([["weights"], `not an absolute folder of the host: ${weightsHelp}`]);
    if (ml.services.includes("app-engine") && target !== "kubernetes" && ml.tasks.privilegedReason)
        issues.push([
            ["tasks", "privilegedReason"],
            `is for target kubernetes: on a VM, task containers run through the task-pods service, which runs none ` +
                `privileged (components/vm/task-pods/README.md); unset it, or use target kubernetes`,
        ]);
    if (ml.services.includes("app-engine") && target === "kubernetes" && tasksNamespaceOf(namespace).length > 63)
        issues.push([
            ["services"],
            `the task namespace "${tasksNamespaceOf(namespace)}" would pass 63 characters: shorten namespace`,
        ]);
    // One task pod: its task container (upstream's default unless the descriptor says more) and one helper.
    const helperCpu = quantityValue(ml.tasks.helper.cpu, "cpu") ?? 0;
    const helperMemory = (quantityValue(ml.tasks.helper.memory, "bytes") ?? 0) / 2 ** 30;
    const smallest = { cpu: TASK_DEFAULT.cpu + helperCpu, memoryGi: TASK_DEFAULT.memoryGi + helperMemory };
    const cpu = quantityValue(ml.tasks.cpu, "cpu");
    const bytes = quantityValue(ml.tasks.memory, "bytes");
    const memory = bytes === undefined ? undefined : bytes / 2 ** 30;
    const source = "app-engine/src/main/resources/application.yml:48-54";
    if (cpu !== undefined && cpu < smallest.cpu)
        issues.push([
            ["tasks", "cpu"],
            `runs no task: one task pod requests ${smallest.cpu} CPUs (a task ${TASK_DEFAULT.cpu} unless its descriptor says otherwise, ` +
                `its outputs helper ${ml.tasks.helper.cpu} from ml.tasks.helper.cpu: ${source})`,
        ]);
    if (memory !== undefined && memory < smallest.memoryGi)
        issues.push([
            ["tasks", "memory"],
            `runs no task: one task pod requests ${+smallest.memoryGi.toFixed(3)}Gi (a task ${TASK_DEFAULT.memoryGi}Gi unless its descriptor ` +
                `says otherwise, its outputs helper ${ml.tasks.helper.memory} from ml.tasks.helper.memory: ${source})`,
        ]);
    return issues;
}
