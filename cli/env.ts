// The local environment's CLI (the environment itself: localenv/).
//   npm run env:up [-- --only keycloak,kube] | env:down [-- --purge] | env:status
import {
    ensureEnvironment,
    ensurePieces,
    Environment,
    EnvSettings,
    PIECE_KEYS,
    PieceKey,
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
            const only = rest[0] === "--only" ? pieceKeys(rest[1]) : undefined;
            const t0 = Date.now();
            const env = only ? await ensurePieces(only, s) : await ensureEnvironment(s);
            const took = Math.round((Date.now() - t0) / 1000);
            console.log(
                only
                    ? `local environment: ${only.map(pieceName).join(", ")} ready in ${took} s (the rest: 'npm run env:up')`
                    : `local environment ready in ${took} s`,
            );
            for (const line of describe(env, s)) console.log(`  ${line}`);
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
            console.error(`usage: env <up [--only ${PIECE_KEYS.join(",")}]|down [--purge]|status>`);
            return 2;
    }
}

function pieceKeys(list = ""): PieceKey[] {
    const keys = list.split(",").filter(Boolean);
    const unknown = keys.filter((k) => !(PIECE_KEYS as string[]).includes(k));
    if (keys.length === 0 || unknown.length > 0)
        throw new Error(
            `--only takes pieces from ${PIECE_KEYS.join(", ")} (got '${list}')\n  fix: e.g. env:up -- --only keycloak,kube`,
        );
    return keys as PieceKey[];
}

/** One line per piece ENV holds: where it answers and how to reach it. */
function describe(env: Partial<Environment>, s: EnvSettings): string[] {
    const lines: string[] = [];
    if (env.keycloak)
        lines.push(
            `Keycloak        ${env.keycloak.url}  (admin: ${env.keycloak.adminUser}, password in ${s.stateDir}/keycloak/admin-password)`,
        );
    if (env.kube) lines.push(`Kubernetes API  ${env.kube.server}  (KUBECONFIG=${env.kube.kubeconfig})`);
    if (env.ssh)
        lines.push(`SSH test host   ${env.ssh.user}@${env.ssh.host} -p ${env.ssh.port} -i ${env.ssh.privateKeyPath}`);
    if (env.docker)
        lines.push(
            `Docker engine   DOCKER_HOST=${env.docker.host}${env.docker.defaultSocket ? " (also /var/run/docker.sock)" : ""}; ${env.docker.images.length} stand-in images`,
        );
    if (env.s3)
        lines.push(
            `S3 server       ${env.s3.endpoint}  (access key: the AWS_* variables in ${s.stateDir}/s3/credentials.env; buckets in ${env.s3.dataDir})`,
        );
    if (env.node)
        lines.push(
            env.node.ready
                ? `Real node       ${env.node.info.name}, pods on ${env.node.info.bridge} ${env.node.info.subnet} (tenants opt in: nodeSelector ${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value})`
                : `Real node       NOT RUNNING (the rest runs without it):\n${env.node.problem.replace(/^/gm, "    ")}`,
        );
    return lines;
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
