// The Kubernetes Cytomine component's arguments as the program derives them from a minimal valid
// config (tenant lab-a, an external Keycloak), for unit tests of the component under mocks.
import { CytomineArgs } from "../../components/kubernetes/cytomine";
import { parseConfig } from "../../program/config";

export function cytomineArgs(over: Partial<CytomineArgs> = {}): CytomineArgs {
    const c = parseConfig({
        tenant: "lab-a",
        publicUrl: "https://lab-a.example.org",
        keycloakUrl: "https://iam.example.org/iam",
        lsaaiClientId: "c",
    });
    return {
        tenant: c.tenant,
        owner: "org/cytomine-fallback/lab-a",
        publicUrl: c.publicUrl,
        localStack: false,
        images: c.images,
        ...c.kubernetes,
        keycloak: { ...c.keycloak, adminPassword: "from-config" },
        render: false,
        protectVolumes: true,
        ...over,
    };
}
