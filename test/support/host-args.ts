// The VM host component's arguments for a tenant lab-a with its own Keycloak, for unit tests under mocks.
import { CytomineArgs } from "../../components/vm/cytomine";
import { RELEASE } from "../../components/model/release";
import { DEFAULT_IMAGES } from "../../components/model/settings";

export const hostArgs = (over: Partial<CytomineArgs> = {}): CytomineArgs => ({
    tenant: "lab-a",
    connection: { host: "vm.example.org", port: 22, user: "admin", privateKey: "KEY", hostKey: "ssh-ed25519 AAAA" },
    sudo: true,
    configDir: "/opt/cytomine-fallback",
    dataDir: "/var/lib/cytomine-fallback",
    bindAddress: "0.0.0.0",
    httpPort: 80,
    publicUrl: "https://lab-a.example.org",
    release: RELEASE.tag,
    images: DEFAULT_IMAGES,
    keycloak: { mode: "namespace", origin: "https://lab-a.example.org", adminUser: "admin" },
    protectData: true,
    readyTimeoutSeconds: 900,
    ...over,
});
