// A pass-through HTTP proxy in front of a service, for tests that need to see or time the requests a
// client (a provider plugin) sends: it records each request and its answer's status, and can inject a
// fault at the moment it matters: on the first request FAULT.when matches, it lets the service answer,
// runs FAULT.run, and only then hands the answer back. The service has committed the request's effect;
// the client learns of it after the fault.
import * as http from "node:http";
import { AddressInfo } from "node:net";

export interface GateRequest {
    method: string;
    url: string;
    status: number;
    userAgent: string;
}

export interface HttpGate {
    /** TARGET through the proxy: its path on the proxy's origin, e.g. http://127.0.0.1:41234/iam. */
    url: string;
    /** Every request answered so far, in the order the answers came. */
    requests: GateRequest[];
    /** Resolves once the fault has run (rejects with its error); never, without a fault. */
    fired: Promise<void>;
    close(): Promise<void>;
}

export interface GateFault {
    when: (req: http.IncomingMessage) => boolean;
    run: () => Promise<void>;
}

export async function httpGate(target: string, fault?: GateFault): Promise<HttpGate> {
    const to = new URL(target);
    let armed = fault !== undefined;
    let settle!: { resolve: () => void; reject: (e: unknown) => void };
    const fired = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // An unobserved rejection would end the test process; the caller awaits `fired`.
    fired.catch(() => undefined);
    const requests: GateRequest[] = [];
    const server = http.createServer((req, res) => {
        const gated = armed && fault!.when(req);
        if (gated) armed = false;
        const upstream = http.request(
            { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
            (answer) => {
                const pass = () => {
                    requests.push({
                        method: req.method ?? "",
                        url: req.url ?? "",
                        status: answer.statusCode ?? 0,
                        userAgent: req.headers["user-agent"] ?? "",
                    });
                    res.writeHead(answer.statusCode ?? 502, answer.headers);
                    answer.pipe(res);
                };
                if (!gated) return pass();
                // The service's answer waits in its socket until the fault ran.
                answer.pause();
                fault!.run().then(
                    () => (settle.resolve(), pass()),
                    (e: unknown) => (settle.reject(e), res.destroy()),
                );
            },
        );
        upstream.on("error", () => res.destroy());
        req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}${to.pathname.replace(/\/$/, "")}`,
        requests,
        fired,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}
