// The paths of a tenant's public URL and the service behind each: the release's routes
// (./release.ts ROUTES, from Cytomine's chart and what its web UI calls), plus Keycloak under /iam when
// the tenant runs its own. Both targets publish this table: an Ingress or HTTPRoute on Kubernetes,
// the proxy's nginx.conf on a VM.
import { ROUTES } from "./release";
import { PORTS } from "./services";

export interface Route {
    path: string;
    service: string;
    port: number;
}

const PORT_OF: Record<string, number> = { core: PORTS.core, pims: PORTS.pims, "web-ui": PORTS.webUi, iam: PORTS.iam };

/** Longest prefixes first, so that a reader sees the precedence both Ingress and Gateway apply. */
export function routeTable(keycloakInNamespace: boolean): Route[] {
    const routes = ROUTES.map((r) => ({ path: r.path, service: r.service, port: PORT_OF[r.service] }));
    // Keycloak serves under /iam itself (KC_HTTP_RELATIVE_PATH): no rewrite.
    const iam = keycloakInNamespace ? [{ path: "/iam", service: "iam", port: PORTS.iam }] : [];
    return [...routes.slice(0, -1), ...iam, routes[routes.length - 1]];
}
