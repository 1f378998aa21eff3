// Public routes of a tenant on Kubernetes: one host, the route table of components/model/routes.ts,
// through an Ingress or a Gateway API HTTPRoute.
import * as k8s from "@pulumi/kubernetes";
import { Route } from "../model/routes";
import { UPLOAD_TIMEOUT_SECONDS } from "../model/release";
import { SKIP_AWAIT } from "./workload";

/** How the public URL reaches the services: an Ingress, or a Gateway API HTTPRoute. */
export const ROUTINGS = ["ingress", "httproute"] as const;
export type Routing = (typeof ROUTINGS)[number];

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
        // Whole-slide images are uploaded through /ims/upload: no body size limit, streamed to PIMS
        // rather than buffered, and an hour per request, as Cytomine's chart allows (release.ts).
        ...(o.ingressClass === "nginx"
            ? {
                  "nginx.ingress.kubernetes.io/proxy-body-size": "0",
                  "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                  "nginx.ingress.kubernetes.io/proxy-read-timeout": String(UPLOAD_TIMEOUT_SECONDS),
                  "nginx.ingress.kubernetes.io/proxy-send-timeout": String(UPLOAD_TIMEOUT_SECONDS),
              }
            : {}),
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
            // As the chart's rules (helm/charts/cytomine/templates/httproute.yaml:31-34); not the web UI's.
            ...(r.service === "web-ui" ? {} : { timeouts: { request: `${UPLOAD_TIMEOUT_SECONDS}s` } }),
        })),
    };
}
