// Debian's redis-server for the stand-ins' tests (PIMS's cache, CBIR's store).
import { ChildProcess, spawn } from "node:child_process";
import * as net from "node:net";
import { freePort } from "./project-config";

export interface Redis {
    port: number;
    url: string;
    child: ChildProcess;
    stop(): Promise<void>;
}

/** redis-server on a free loopback port, without persistence; resolves once it answers PING. */
export async function startRedis(dir: string): Promise<Redis> {
    const port = await freePort();
    const child = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
        { stdio: "ignore" },
    );
    const gone = new Promise<void>((r) => child.on("exit", () => r()));
    for (let i = 0; ; i++) {
        const pong = await new Promise<boolean>((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => s.write("PING\r\n"));
            s.on("data", (d) => {
                resolve(d.toString().startsWith("+PONG"));
                s.destroy();
            });
            s.on("error", () => resolve(false));
        });
        if (pong) break;
        if (i > 100 || child.exitCode !== null) throw new Error(`redis-server did not answer on ${port}`);
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        port,
        url: `redis://127.0.0.1:${port}`,
        child,
        async stop() {
            if (child.exitCode === null) {
                child.kill("SIGTERM");
                await gone;
            }
        },
    };
}
