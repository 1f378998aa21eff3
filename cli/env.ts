// The local environment's CLI (the environment itself: localenv/).
//   npm run env:up | env:down [-- --purge] | env:status
import {
    ensureEnvironment,
    environmentStatus,
    envSettings,
    pieceName,
    REAL_NODE_LABEL,
    stopEnvironment,
} from "../localenv";

async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    const s = envSettings();
    switch (command) {
        case "up": {
            const t0 = Date.now();
            const env = await ensureEnvironment(s);
            console.log(`local environment ready in ${Math.round((Date.now() - t0) / 1000)} s`);
            console.log(
                `  Keycloak        ${env.keycloak.url}  (admin: ${env.keycloak.adminUser}, password in ${s.stateDir}/keycloak/admin-password)`,
            );
            console.log(`  Kubernetes API  ${env.kube.server}  (KUBECONFIG=${env.kube.kubeconfig})`);
            console.log(
                `  SSH test host   ${env.ssh.user}@${env.ssh.host} -p ${env.ssh.port} -i ${env.ssh.privateKeyPath}`,
            );
            console.log(
                `  Docker engine   DOCKER_HOST=${env.docker.host}${env.docker.defaultSocket ? " (also /var/run/docker.sock)" : ""}; ${env.docker.images.length} stand-in images`,
            );
            console.log(
                env.node.ready
                    ? `  Real node       ${env.node.info.name}, pods on ${env.node.info.bridge} ${env.node.info.subnet} (tenants opt in: nodeSelector ${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value})`
                    : `  Real node       NOT RUNNING (the rest runs without it):\n${env.node.problem.replace(/^/gm, "    ")}`,
            );
            return 0;
        }
        case "down": {
            const stopped = await stopEnvironment(s, rest.includes("--purge"));
            console.log(stopped.length ? `stopped: ${stopped.join(", ")}` : "nothing was running");
            return 0;
        }
        case "status": {
            const status = await environmentStatus(s);
            for (const [key, st] of Object.entries(status)) {
                console.log(`${st.ready ? "ok  " : "DOWN"} ${pieceName(key as keyof typeof status)}: ${st.detail}`);
            }
            return Object.values(status).every((st) => st.ready) ? 0 : 1;
        }
        default:
            console.error("usage: env <up|down [--purge]|status>");
            return 2;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e: unknown) => {
            console.error(`\nerror: ${e instanceof Error ? e.message : String(e)}`);
            process.exit(1);
        },
    );
}
