// Cytomine's HMAC scheme, as its clients sign (cytomine-python-client, PIMS) and core's ApiKeyFilter
// checks it (core/src/main/java/be/cytomine/security/ApiKeyFilter.java): HMAC-SHA1 of
// "METHOD\nmd5\ncontent type\ndate" with the private key, sent as "CYTOMINE <public key>:<signature>".
import * as crypto from "node:crypto";

export function cytomineAuth(method: string, date: string, pub: string, priv: string, contentType = "") {
    const sig = crypto.createHmac("sha1", priv).update(`${method}\n\n${contentType}\n${date}`).digest("base64");
    return `CYTOMINE ${pub}:${sig}`;
}

/** An answer of core: its status and body (parsed when JSON). */
export interface CoreAnswer {
    status: number;
    body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * Calls below BASE (core's origin, or a proxy before it) signed with a key pair, as the Python client
 * sends them: a JSON body signed with its content type, a form (a task bundle) without one.
 */
export function cytomineClient(base: string, keys: () => { pub: string; priv: string }) {
    return async (method: string, p: string, body?: unknown): Promise<CoreAnswer> => {
        const { pub, priv } = keys();
        const date = new Date().toUTCString();
        const json = body !== undefined && !(body instanceof FormData);
        const r = await fetch(`${base}${p}`, {
            method,
            headers: {
                Date: date,
                Authorization: cytomineAuth(method, date, pub, priv, json ? "application/json" : ""),
                ...(json ? { "Content-Type": "application/json" } : {}),
            },
            ...(body === undefined ? {} : { body: json ? JSON.stringify(body) : (body as FormData) }),
        });
        const text = await r.text();
        return { status: r.status, body: r.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
    };
}
