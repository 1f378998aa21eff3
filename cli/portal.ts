// `npm run portal -- [--config <file>]`: the user page (apps/portal). The config file (or PORTAL_CONFIG)
// is described in apps/portal/config.ts; the client secret comes from PORTAL_CLIENT_SECRET or the file
// the config names. Stops cleanly on SIGINT/SIGTERM (running jobs finish first).
import { createPortal, loadPortalConfig, PortalConfigError } from "../apps/portal";

async function main(argv: string[]): Promise<number> {
    const at = argv.indexOf("--config");
    if (argv.includes("--help")) {
        console.log("usage: npm run portal -- [--config <file>]   (or PORTAL_CONFIG=<file>)");
        return 0;
    }
    const config = loadPortalConfig(at >= 0 ? argv[at + 1] : undefined);
    const portal = await createPortal(config);
    const address = await portal.listen();
    console.log(`portal listening on ${address} (public URL ${config.publicUrl})`);
    let stopping = false;
    const stop = () => {
        if (stopping) return;
        stopping = true;
        console.log("portal stopping: waiting for running jobs");
        void portal.close().then(() => process.exit(0));
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    return new Promise<number>(() => undefined);
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
        console.error(e instanceof PortalConfigError ? e.message : `portal: ${(e as Error).stack ?? e}`);
        process.exit(e instanceof PortalConfigError ? 2 : 1);
    },
);
