// Public routes of a tenant: one host, paths to services (as Cytomine's nginx routes them, domain
// notes §1.4), through an Ingress or a Gateway API HTTPRoute.
import * as k8s from "@pulumi/kubernetes";
import { PORTS } from "../cytomine/services";
import { SKIP_AWAIT } from "./workload";

/** How the public URL reaches the services: an Ingress, or a Gateway API HTTPRoute. */
export const ROUTINGS = ["ingress", "httproute"] as const;
export type Routing = (typeof ROUTINGS)[number];

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

export interface RouteOptions {
    /** The public host name; undefined for an address (local environment): any host matches. */
    host?: string;
    routes: Route[];
    ingressClass: string;
    tlsSecret?: string;
    /** No ingress controller will report an address (local environment): do not wait for one. */
    skipAwait: boolean;
}

export function ingressSpec(o: RouteOptions): k8s.types.input.networking.v1.IngressSpec {
    return {
        ingressClassName: o.ingressClass,
        rules: [
            {
                ...(o.host ? { host: o.host } : {}),
                http: {
                    paths: o.routes.map((r) => ({
                        path: r.path,
                        pathType: "Prefix",
                        backend: { service: { name: r.service, port: { number: r.port } } },
                    })),
                },
            },
        ],
        ...(o.tlsSecret && o.host ? { tls: [{ hosts: [o.host], secretName: o.tlsSecret }] } : {}),
    };
}

export function ingressAnnotations(o: RouteOptions): Record<string, string> {
    return {
        // Whole-slide images are uploaded through /ims: no body size limit at the proxy.
        ...(o.ingressClass === "nginx" ? { "nginx.ingress.kubernetes.io/proxy-body-size": "0" } : {}),
        ...(o.skipAwait ? { [SKIP_AWAIT]: "true" } : {}),
    };
}

export function httpRouteSpec(o: RouteOptions, gateway: { namespace: string; name: string }) {
    return {
        parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", ...gateway }],
        ...(o.host ? { hostnames: [o.host] } : {}),
        rules: o.routes.map((r) => ({
            matches: [{ path: { type: "PathPrefix", value: r.path } }],
            backendRefs: [{ name: r.service, port: r.port }],
        })),
    };
}
