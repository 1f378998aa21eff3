// A minimal browser for OpenID Connect flows: follows redirects by hand with a cookie jar, and fills
// Keycloak's login form (found with an HTML parser). Enough for the authorization-code flow.
import { parse } from "node-html-parser";

interface Cookie {
    name: string;
    value: string;
    path: string;
}

export class Browser {
    // Keyed by name and path: two Keycloak realms set cookies of the same name on different paths.
    private readonly cookies = new Map<string, Cookie>();

    private remember(url: string, res: Response): void {
        for (const c of res.headers.getSetCookie()) {
            const [pair, ...attrs] = c.split(";").map((p) => p.trim());
            const eq = pair.indexOf("=");
            const attr = (n: string) => attrs.find((a) => a.toLowerCase().startsWith(`${n}=`))?.split("=")[1];
            const cookie = {
                name: pair.slice(0, eq),
                value: pair.slice(eq + 1),
                path: attr("path") ?? new URL(url).pathname,
            };
            const key = `${cookie.name}|${cookie.path}`;
            if (attr("max-age") === "0" || cookie.value === "") this.cookies.delete(key);
            else this.cookies.set(key, cookie);
        }
    }

    private header(url: string): string {
        const path = new URL(url).pathname;
        return [...this.cookies.values()]
            .filter((c) => path.startsWith(c.path))
            .map((c) => `${c.name}=${c.value}`)
            .join("; ");
    }

    /** One request without following redirects. */
    async request(url: string, init: RequestInit = {}): Promise<Response> {
        const res = await fetch(url, {
            ...init,
            redirect: "manual",
            headers: { ...(init.headers as Record<string, string>), cookie: this.header(url) },
        });
        this.remember(url, res);
        return res;
    }

    /**
     * Follows redirects from URL until a page answers 200 or the location matches STOP (returned
     * without being fetched: e.g. the client's redirect URI carrying the code).
     */
    async follow(
        url: string,
        stop: (location: string) => boolean,
        init: RequestInit = {},
    ): Promise<{ url: string; body?: string }> {
        let next = url;
        let options = init;
        for (let hops = 0; hops < 20; hops++) {
            if (stop(next)) return { url: next };
            const res = await this.request(next, options);
            options = {};
            if (res.status >= 300 && res.status < 400) {
                next = new URL(res.headers.get("location") ?? "", next).toString();
                continue;
            }
            const body = await res.text();
            if (res.status !== 200) throw new Error(`${next} answered ${res.status}: ${body.slice(0, 300)}`);
            return { url: next, body };
        }
        throw new Error(`too many redirects from ${url}`);
    }

    /** Submits Keycloak's username/password form found in PAGE, then follows redirects. */
    async login(
        page: { url: string; body?: string },
        username: string,
        password: string,
        stop: (location: string) => boolean,
    ) {
        const form = parse(page.body ?? "").querySelector("form#kc-form-login");
        const action = form?.getAttribute("action");
        if (!action) throw new Error(`no login form at ${page.url}`);
        return this.follow(new URL(action.replace(/&amp;/g, "&"), page.url).toString(), stop, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ username, password, credentialId: "" }).toString(),
        });
    }
}

/** The payload of a JWT (no signature check: the test trusts the token endpoint it just called). */
export function jwtPayload(token: string): Record<string, unknown> {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")) as Record<string, unknown>;
}
