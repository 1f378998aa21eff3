// Engine events as JSON Lines: the format of the CLI's --event-log, of `--record-events`, and of the
// test fixtures. Only readEventsFile touches the disk.
import * as fs from "node:fs";
import type { EngineEvent } from "@pulumi/pulumi/automation";

export function parseEventLines(text: string, origin = "events"): EngineEvent[] {
    const events: EngineEvent[] = [];
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i].trim();
        if (line === "") continue;
        try {
            events.push(JSON.parse(line) as EngineEvent);
        } catch (e) {
            throw new Error(`${origin}:${i + 1}: not a JSON event (${e instanceof Error ? e.message : String(e)})`);
        }
    }
    return events;
}

export function toJsonl(events: readonly EngineEvent[]): string {
    return events.map((e) => JSON.stringify(e)).join("\n") + (events.length ? "\n" : "");
}

export function readEventsFile(file: string): EngineEvent[] {
    return parseEventLines(fs.readFileSync(file, "utf8"), file);
}

/**
 * The Node.js SDK's debug diagnostics: some carry raw RPC responses, secret values in plain text (an
 * invoke's, @pulumi/pulumi runtime/invoke.js; a registration's no longer, patches/). The CLI shows
 * them only with --debug or -v; whatever here keeps or forwards engine events drops them.
 */
export function isDebugDiagnostic(e: EngineEvent): boolean {
    return (e.diagnosticEvent?.severity as string | undefined) === "debug";
}
