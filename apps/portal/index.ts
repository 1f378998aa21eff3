// The user page ("portal", issue 15): sign in through the stack's Keycloak realm, launch and manage
// one's own Cytomine through the fleet library. `npm run portal` (cli/portal.ts) starts it; tests
// and benchmarks build it with createPortal.
export { Oidc, SignInRefused, type PendingLogin } from "./auth";
export { loadPortalConfig, parsePortalConfig, PortalConfigError, type PortalConfig } from "./config";
export { openDb, type Db } from "./db";
export { fleetWorker, JobQueue, type Worker } from "./jobs";
export { LaunchRefused, planLaunch } from "./launch";
export * from "./policy";
export {
    createPortal,
    SECURITY_HEADERS,
    Sessions,
    type Portal,
    type PortalOptions,
    type SessionData,
    type SignIn,
} from "./server";
export { Store, type JobRow, type Progress, type TenantRow } from "./store";
