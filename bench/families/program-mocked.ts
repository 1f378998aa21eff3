// One mocked run of a program (loaded by program-child.ts, in its own process): the Pulumi SDK's
// mocks, the program, and the figures once every registration has reached the mocks.
import * as pulumi from "@pulumi/pulumi";
import { secondsSince } from "../support/stats";
import { allRegistered, recordResources } from "../../test/support/mocks";

export type Mode = "floor" | "index" | "tenants";

export interface ChildResult {
    seconds: number;
    maxRssMiB: number;
    heapUsedMiB: number;
    resources: number;
}

const PROJECT = "cytomine-fallback";

/** The dev-like config of one tenant in render mode (the namespace check then needs no cluster). */
function indexConfig(): { config: Record<string, string>; secrets: string[] } {
    const key = (k: string) => `${PROJECT}:${k}`;
    const secrets = [key("keycloakAdminPassword"), key("lsaaiClientSecret")];
    return {
        config: {
            [key("tenant")]: "bench",
            [key("publicUrl")]: "http://127.0.0.1:8080",
            [key("localStack")]: "true",
            [key("keycloakUrl")]: "http://127.0.0.1:18080/iam",
            [key("lsaaiClientId")]: "bench-client",
            [key("renderDir")]: "/nonexistent/bench-render",
            [key("allowRealmReplacement")]: "true",
            [key("allowVolumeDeletion")]: "true",
            ...Object.fromEntries(secrets.map((s) => [s, "mocked"])),
        },
        secrets,
    };
}

/** The floor's one resource. */
class Thing extends pulumi.CustomResource {
    constructor(name: string) {
        super("bench:index:Thing", name, {});
    }
}

async function program(mode: Mode, n: number): Promise<unknown> {
    switch (mode) {
        case "floor":
            return new Thing("thing");
        case "index": {
            // index.ts is `export =` a function: as an ES import it is the module's default export.
            const main = ((await import("../../index")) as unknown as { default: () => Promise<unknown> }).default;
            return main();
        }
        case "tenants": {
            const { declareTenants } = await import("../fixtures/tenants/tenants");
            return declareTenants({
                count: n,
                prefix: "bench",
                publicUrl: "http://127.0.0.1:8080",
                renderDir: "/nonexistent/bench-render",
                identity: {
                    url: "http://127.0.0.1:18080/iam",
                    adminUser: "admin",
                    adminPassword: pulumi.secret("mocked"),
                    lsaaiClientSecret: pulumi.secret("mocked"),
                },
            });
        }
    }
}

export async function runMocked(mode: Mode, n: number, t0: bigint): Promise<ChildResult> {
    // The unit tests' mocks: every registration recorded, random's computed outputs stood in.
    const recorded = recordResources(PROJECT, "bench");
    if (mode === "index") {
        const { config, secrets } = indexConfig();
        pulumi.runtime.setAllConfig(config, secrets);
    }
    await pulumi.runtime.runInPulumiStack(() => program(mode, n));
    await allRegistered();
    const seconds = secondsSince(t0);
    return {
        seconds,
        maxRssMiB: process.resourceUsage().maxRSS / 1024,
        heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
        resources: recorded.length,
    };
}
