// Compares the LS-AAI endpoints pinned in components/identity/endpoints.ts with the live discovery
// document. Exit 0: they agree; 1: they differ (update the pins); 2: the document is unreachable.
//   npm run check:lsaai
import {
    endpointDifferences,
    endpointsFromDiscovery,
    LSAAI_DISCOVERY_URL,
    LSAAI_ENDPOINTS,
} from "../components/identity/endpoints";

async function main(): Promise<number> {
    let doc: Record<string, unknown>;
    try {
        const res = await fetch(LSAAI_DISCOVERY_URL, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        doc = (await res.json()) as Record<string, unknown>;
    } catch (e) {
        console.error(`cannot read ${LSAAI_DISCOVERY_URL}: ${e instanceof Error ? e.message : String(e)}`);
        return 2;
    }
    const diff = endpointDifferences(LSAAI_ENDPOINTS, endpointsFromDiscovery(doc));
    if (diff.length === 0) {
        console.log("the pinned LS-AAI endpoints match the discovery document");
        return 0;
    }
    console.log(`the pinned LS-AAI endpoints differ from the discovery document:\n  ${diff.join("\n  ")}`);
    return 1;
}

main().then((code) => process.exit(code));
