// A fault injected at the moment it matters: a pass-through HTTP proxy in front of a service that, on
// the first request WHEN matches, lets the service answer, runs FAULT, and only then hands the answer
// back. The service has committed the request's effect; the client learns of it after the fault.
import * as http from "node:http";
import { AddressInfo } from "node:net";

export interface FaultGate {
    /** The proxy's origin, e.g. http://127.0.0.1:41234. */
    origin: string;
    /** Resolves once FAULT has run (rejects with its error). */
    fired: Promise<void>;
    close(): Promise<void>;
}

export async function faultGate(
    target: string,
    when: (req: http.IncomingMessage) => boolean,
    fault: () => Promise<void>,
): Promise<FaultGate> {
    const to = new URL(target);
    let armed = true;
    let settle!: { resolve: () => void; reject: (e: unknown) => void };
    const fired = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // An unobserved rejection would end the test process; the caller awaits `fired`.
    fired.catch(() => undefined);
    const server = http.createServer((req, res) => {
        const gated = armed && when(req);
        if (gated) armed = false;
        const upstream = http.request(
            { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
            (answer) => {
                const pass = () => {
                    res.writeHead(answer.statusCode ?? 502, answer.headers);
                    answer.pipe(res);
                };
                if (!gated) return pass();
                // The service's answer waits in its socket until the fault ran.
                answer.pause();
                fault().then(
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
        origin: `http://127.0.0.1:${port}`,
        fired,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}
