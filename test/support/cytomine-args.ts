// The Kubernetes Cytomine component's arguments as the program derives them from a minimal valid
// config (tenant lab-a, an external Keycloak), for unit tests of the component under mocks.
import { CytomineArgs } from "../../components/kubernetes/cytomine";
import { ServicesOptions } from "../../components/model/services";
import { DEFAULT_IMAGES, DEFAULT_STORAGE } from "../../components/model/settings";
import { parseConfig } from "../../program/config";

/** The services' options of tenant lab-a, with Keycloak in its namespace or external. */
export const servicesOptions = (mode: "external" | "namespace"): ServicesOptions => ({
    images: DEFAULT_IMAGES,
    storage: DEFAULT_STORAGE,
    publicUrl: "https://lab-a.example.org",
    keycloak: {
        mode,
        origin: mode === "namespace" ? "https://lab-a.example.org" : "https://iam.example.org",
        adminUser: "admin",
    },
});

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
