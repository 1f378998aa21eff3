// The paths of a tenant's public URL and the service behind each, as Cytomine's own nginx routes
// them (cytomine/cytomine: cytomine-community-edition nginx configuration). Both targets publish this
// table: an Ingress or HTTPRoute on Kubernetes, the proxy's nginx.conf on a VM.
import { PORTS } from "./services";

export interface Route {
    path: string;
    service: string;
    port: number;
}

/** Core's public paths besides /api (inferred from the paths Cytomine's nginx proxies to core). */
const CORE_PATHS = ["/api", "/server", "/session", "/custom-ui"];

/** Longest prefixes first, so that a reader sees the precedence both Ingress and Gateway apply. */
export function routeTable(keycloakInNamespace: boolean): Route[] {
    return [
        ...CORE_PATHS.map((path) => ({ path, service: "core", port: PORTS.core })),
        { path: "/ims", service: "pims", port: PORTS.pims },
        // Keycloak serves under /iam itself: no rewrite.
        ...(keycloakInNamespace ? [{ path: "/iam", service: "iam", port: PORTS.iam }] : []),
        { path: "/", service: "web-ui", port: PORTS.webUi },
    ];
}
