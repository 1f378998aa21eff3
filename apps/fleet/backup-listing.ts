// What an operator sees of a tenant's backups, whichever target runs them: its runs and snapshots.
export interface BackupRun {
    time: string;
    kind: "backup" | "restore";
    status: "ok" | "failed";
    snapshot: string;
    bytes: number;
    seconds: number;
    release: string;
    trigger: string;
    message: string;
}

export interface Snapshot {
    id: string;
    short_id: string;
    time: string;
    tags?: string[];
}

export interface BackupListing {
    tenant: string;
    repository: string;
    snapshots: Snapshot[];
    runs: BackupRun[];
    /** The newest successful backup run. */
    lastSuccess?: BackupRun;
}
