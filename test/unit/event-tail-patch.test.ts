// patches/@logdna+tail-file+*.patch: the Automation API follows the CLI's event log with
// @logdna/tail-file through readline, and quits the tail once the CLI exits. Unpatched, quit() started
// a last read beside a poll still reading, from the same position: lines came twice, and one spliced
// into another failed to parse ("Failed to parse engine event", pulumi/pulumi#6768). Whatever reads
// events (the preview report, the fleet's progress) then saw steps twice or not at all.
import assert from "node:assert/strict";
import { once } from "node:events";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { describe, it } from "node:test";

// The copy the Automation API loads.
const fromSdk = createRequire(createRequire(__filename).resolve("@pulumi/pulumi/automation"));
const TailFile = fromSdk("@logdna/tail-file") as new (
    file: string,
    options: { startPos: number; pollFileIntervalMs: number },
) => NodeJS.ReadableStream & { start(): Promise<void>; quit(): Promise<void> };

describe("the event log tail patch", () => {
    it("quit() while a poll reads: every line once, whole and in order", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "event-tail-"));
        try {
            const file = path.join(dir, "eventlog.txt");
            fs.writeFileSync(file, "");
            // As automation/stack.js tails it.
            const tail = new TailFile(file, { startPos: 0, pollFileIntervalMs: 200 });
            await tail.start();
            const seen: (number | "unparsable")[] = [];
            const lines = readline.createInterface({ input: tail });
            lines.on("line", (line) => {
                try {
                    seen.push((JSON.parse(line) as { seq: number }).seq);
                } catch {
                    seen.push("unparsable");
                }
            });
            // Events as large as a Kubernetes object's, 8 MB in all: the poll reads them in many chunks.
            const count = 200;
            const event = (seq: number) => JSON.stringify({ seq, outputs: "x".repeat(40_000) }) + "\n";
            fs.writeFileSync(file, Array.from({ length: count }, (_, i) => event(i)).join(""));
            await once(tail, "data"); // the timer's poll is reading now
            await tail.quit();
            lines.close();
            assert.deepEqual(
                seen,
                Array.from({ length: count }, (_, i) => i),
                "lines twice or spliced: is patches/ applied (npm run setup)?",
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
