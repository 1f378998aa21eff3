// What the preview says of an upgrade (or a downgrade) of a running tenant, whichever target runs it:
// the release it runs now against the one this update brings, and Keycloak's image in the tenant.
import { CONTRACTS, EARLIER_RELEASES, RELEASE, RELEASE_TAGS } from "../../components/model/release";
import type { Images } from "../../components/model/settings";
import type { KeycloakMode } from "../../components/model/services";

/** The images core and Keycloak (iam) run with now; unset: not running. */
export interface RunningImages {
    core?: string;
    iam?: string;
}

export interface UpgradeArgs {
    tenant: string;
    release: string;
    images: Images;
    keycloak: { mode: KeycloakMode };
    /** Set when the tenant has backups. */
    backups?: unknown;
    /** The ML services it runs (their images change with the release too). */
    ml?: { services: readonly string[] };
}

/** How a target backs up before an upgrade, and how an operator goes back. */
export interface UpgradeSteps {
    first: string;
    back: (tenant: string, what: string) => string;
}

/** The VM targets: the step backup-before-upgrade, and a rollback the restore command automates. */
export const VM_STEPS: UpgradeSteps = {
    first: `up backs the tenant up first (step backup-before-upgrade); if the new version does not become ready, its error gives the restore command that rolls back.`,
    back: (tenant, what) =>
        `To go back with ${what}'s data, restore the backup taken before the upgrade instead: ` +
        `npm run tenant -- restore ${tenant} --at <its id> --rollback --force (the failed up printed it; ` +
        `npm run tenant -- backups ${tenant} lists them) restores the data, then brings ${what} up on it.`,
};

/** Kubernetes: the Job backup-before-upgrade-<release>, which the services wait for; going back by hand. */
export const KUBERNETES_STEPS: UpgradeSteps = {
    first:
        `up backs the tenant up first (the Job backup-before-upgrade-<release>, trigger before-upgrade) and changes the ` +
        `services only once it has succeeded.`,
    back: (tenant, what) =>
        `To go back with ${what}'s data: set the config back to ${what} (release, or images.iam), run up, then ` +
        `npm run tenant -- restore ${tenant} --at <the before-upgrade backup's id> --force (npm run tenant -- backups ` +
        `${tenant} lists them).`,
};

/**
 * An upgrade (or a downgrade), said at preview: of the Cytomine release (the release the host runs
 * now and the one this update brings, the services whose images change) and of Keycloak in the
 * project (its image), which services migrate their databases on start, and what `up` does first.
 * Empty when neither changes.
 */
export function upgradeWarnings(
    running: RunningImages | undefined,
    a: UpgradeArgs,
    steps: UpgradeSteps = VM_STEPS,
): string[] {
    const first = a.backups
        ? steps.first
        : `Backups are off (backups.enabled false): take one by hand before up, or there is no way back.`;
    const back = (what: string) => steps.back(a.tenant, what);
    const warnings: string[] = [];
    if (running?.core) {
        const from = running.core.slice(running.core.lastIndexOf(":") + 1);
        const to = a.release;
        const age = (tag: string) => RELEASE_TAGS.findIndex((t) => t === tag);
        const changes = EARLIER_RELEASES.find((r) => r.tag === from)?.changes;
        const migrating = ["core", ...(a.keycloak.mode === "namespace" ? ["iam (Keycloak)"] : [])];
        if (from !== to && age(from) >= 0 && age(from) < age(to))
            warnings.push(
                `downgrade of Cytomine from release ${from} to ${to}: ${to}'s core may not read a database ${from}'s core migrated. ${back(`release ${to}`)}`,
            );
        else if (from !== to)
            warnings.push(
                `upgrade of Cytomine from release ${from} to ${to}: the images of ${Object.values(CONTRACTS)
                    .filter((c) => c.image.endsWith(`:${RELEASE.tag}`))
                    .filter((c) => !c.optional || a.ml?.services.includes(c.component))
                    .map((c) => c.component)
                    .join(", ")} change${changes ? ` (${from}..${to}: ${changes})` : ""}; ${migrating.join(" and ")} ` +
                    `migrate their databases when the new release starts, and the old release cannot read them afterwards. ${first}`,
            );
    }
    if (running?.iam && a.keycloak.mode === "namespace" && running.iam !== a.images.iam)
        warnings.push(
            `upgrade of Keycloak from ${running.iam} to ${a.images.iam} (images.iam): Keycloak migrates its database (iam-db) ` +
                `when the new version starts, and an older one cannot read it afterwards; an older image than the running one ` +
                `is a downgrade: ${back(running.iam)} ${first}`,
        );
    return warnings;
}

/**
 * The release whose data is backed up before this update, when it changes the running versions (the
 * release, or Keycloak's image in the tenant), or when a backup before the upgrade to this release was
 * made already (`kept`: its release, declared again as it was); else undefined.
 */
export function upgradeFrom(
    running: RunningImages | undefined,
    a: UpgradeArgs,
    kept?: string,
): { release: string; to: string } | undefined {
    const release = running?.core?.slice(running.core.lastIndexOf(":") + 1);
    const keycloak = a.keycloak.mode === "namespace" ? running?.iam : undefined;
    if (release && (release !== a.release || (keycloak && keycloak !== a.images.iam)))
        return { release, to: a.release };
    return kept ? { release: kept, to: a.release } : undefined;
}
