// Cytomine's HMAC scheme, as its clients sign (cytomine-python-client, PIMS) and core's ApiKeyFilter
// checks it (core/src/main/java/be/cytomine/security/ApiKeyFilter.java): HMAC-SHA1 of
// "METHOD\nmd5\ncontent type\ndate" with the private key, sent as "CYTOMINE <public key>:<signature>".
import * as crypto from "node:crypto";

export function cytomineAuth(method: string, date: string, pub: string, priv: string, contentType = "") {
    const sig = crypto.createHmac("sha1", priv).update(`${method}\n\n${contentType}\n${date}`).digest("base64");
    return `CYTOMINE ${pub}:${sig}`;
}
