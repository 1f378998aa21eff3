// Tenants whose program renders its manifests to files instead of applying them, with an external
// Keycloak that a preview never contacts: the engine and the fleet's workers alone, for the fleet's
// load test and benchmark. Their secrets are random (nothing ever reads them).
import * as crypto from "node:crypto";
import type { Fleet } from "./fleet";

export async function createRenderTenants(fleet: Fleet, names: readonly string[], dir: string): Promise<void> {
    const random = () => crypto.randomBytes(12).toString("base64url");
    for (const name of names)
        await fleet.createTenant({
            name,
            template: "kubernetes",
            set: [
                "lsaaiClientId={tenant}",
                "keycloakMode=external",
                "keycloakUrl=https://iam.example.org/iam",
                "realm={tenant}",
                "orthanc=false",
                `renderDir=${dir}/render/{tenant}`,
            ],
            secrets: { lsaaiClientSecret: random(), keycloakAdminPassword: random() },
        });
}
