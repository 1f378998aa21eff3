// The fleet library: tenants created from templates (templates/), one stack each, listed and operated
// on in parallel. Used by `npm run tenant` (cli/tenant.ts) and, next, a self-service web page.
export { type BackupListing, type BackupRun, type RestoreOptions, type Snapshot } from "./backups";
export { DEFAULT_FLEET_DIR, FleetContext, type FleetOptions, PROGRAMS_MODES, type ProgramsMode } from "./context";
export { Fleet, type CreatedTenant, type LockInfo, type RunOperationOptions, type TenantInfo } from "./fleet";
export { changesOf, EventTracker, pulumiExecutor } from "./operations";
export { createRenderTenants } from "./render";
export {
    FLEET_SECRET_KEYS,
    fleetConflicts,
    FleetInputError,
    type FleetSecretKey,
    planTenant,
    readSecrets,
    SECRET_SOURCES,
    tenantNameProblem,
    type Secrets,
    type TenantInput,
    type TenantPlan,
} from "./plan";
export {
    DRY_RUNS,
    errorLines,
    exitCodeOf,
    failedTenants,
    newRunId,
    OPERATIONS,
    readLastReport,
    runTenants,
    writeReport,
    type DriftedResource,
    type Executor,
    type ExecutorContext,
    type Operation,
    type Phase,
    type ProgressEvent,
    type RunReport,
    type TenantOutcome,
    type TenantResult,
} from "./runner";
export { loadTemplate, templateNames, TEMPLATES_DIR, TemplateError, type Template } from "./templates";
