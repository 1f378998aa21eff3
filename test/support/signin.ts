// The browser side of signing in to a tenant's Cytomine: Debian's Chromium driven by playwright-core,
// the web UI's redirect to Keycloak, the LS-AAI broker's button, the upstream login form, and what the
// web UI (localenv/images/web-ui/index.html) shows once signed in.
import type { Browser, Page } from "playwright-core";

export async function launchChromium(): Promise<Browser> {
    const { chromium } = await import("playwright-core");
    return chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
}

/** The page at Keycloak's authorization endpoint of REALM_URL (the web UI's redirect, or after sign-out). */
export const atLogin = (page: Page, realmUrl: string) =>
    page.waitForURL(`${realmUrl}/protocol/openid-connect/auth**`, { timeout: 60_000 });

/**
 * Opens CYTOMINE_URL, goes through the LS-AAI button of the realm at REALM_URL to the upstream realm at
 * UPSTREAM_URL, signs in there as `researcher`, and waits until the web UI shows core's user and then
 * its admin session (the last thing it shows).
 */
export async function signInThroughLsAai(
    page: Page,
    o: { cytomineUrl: string; realmUrl: string; upstreamUrl: string; password: string },
): Promise<void> {
    await page.goto(`${o.cytomineUrl}/`);
    await atLogin(page, o.realmUrl);
    await page.click("#social-oidc");
    await page.waitForURL(`${o.upstreamUrl}/**`, { timeout: 60_000 });
    await page.fill("#username", "researcher");
    await page.fill("#password", o.password);
    await page.click("#kc-login");
    await page.waitForSelector("#current-user:not(:empty)", { timeout: 60_000 });
    await page.waitForSelector("#session:not(:empty)", { timeout: 60_000 });
}

/** What the web UI shows: its error line, core's user, the token's core roles and core's admin session. */
export async function shown(page: Page) {
    return {
        error: await page.textContent("#error"),
        user: JSON.parse((await page.textContent("#current-user")) ?? "{}") as { username?: string; id?: number },
        roles: (await page.textContent("#roles")) ?? "",
        session: JSON.parse((await page.textContent("#session")) ?? "{}") as { adminByNow?: boolean },
    };
}
