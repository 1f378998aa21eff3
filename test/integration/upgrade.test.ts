// The upgrade drill on the VM target, through the tenant CLI and the real Docker engine: a tenant of
// the earlier release (26e8daf) with data; the release changed in its config; the preview names the
// upgrade; `up` backs up first and, the new release's core planted to fail, stops with the exact
// restore command; that command, run as printed, brings the earlier release back with its data.
//
// The planted failure is an image of the new release's core that exits at start (built here from the
// stand-in, under a mirror's name: config images.core, which the release accepts for a mirror with
// the release's tag). Removing that override before the rollback is the test's own clean-up of the
// plant; the rollback itself is the printed command, run as it is.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Stack } from "@pulumi/pulumi/automation";
import { EARLIER_RELEASES, RELEASE, releaseImage } from "../../components/model/release";
import { Fleet } from "../../apps/fleet";
import type { BackupListing } from "../../apps/fleet";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { PROJECT } from "../../program/config";
import { Environment, useEnvironment } from "../../localenv";
import { newVmTenant, reportOf, show, tenantCli } from "../support/tenant-cli";
import { makeData, readData, TenantData, TenantRoots } from "../support/tenant-data";
import { composeContainer } from "../support/vm-stack";

const EARLIER = EARLIER_RELEASES[0].tag;
/** The new release's core, planted to fail: a mirror's name with the release's tag. */
const PLANTED = `drill.invalid/cytomine/core:${RELEASE.tag}`;

describe(
    "an upgrade on the VM target: backed up first, a failed new release rolled back with its data",
    { timeout: 2_400_000 },
    () => {
        let env: Environment;
        let dir: string;
        const tenant = `up${crypto.randomBytes(2).toString("hex")}`;
        const configRoot = "/opt/cytomine-fallback-upgrade-test";
        const dataRoot = "/var/lib/cytomine-fallback-upgrade-test";
        const repositoryRoot = "/var/backups/cytomine-fallback-upgrade-test";
        const roots = (): TenantRoots => ({ configRoot, dataRoot, dockerHost: env.docker.host });
        const cli = (args: string[], timeoutMs?: number) => tenantCli([...args, "--fleet-dir", dir], {}, timeoutMs);
        const docker = (...args: string[]) =>
            execFileSync("docker", args, {
                encoding: "utf8",
                env: { ...process.env, DOCKER_HOST: env.docker.host },
            }).trim();
        /** The image of the tenant's running core, or "" when none runs. */
        const runningCore = () => {
            const id = composeContainer(env.docker.host, `cytomine-${tenant}`, "core");
            return id ? docker("inspect", "--format", "{{.Config.Image}}", id) : "";
        };
        const stack = async () => Stack.select(tenant, await new Fleet({ dir }).ctx.workspace());
        let made: TenantData;
        let printed: string;

        before(async () => {
            env = await useEnvironment();
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "upgrade-it-"));
            const context = fs.mkdtempSync(path.join(os.tmpdir(), "planted-"));
            try {
                fs.writeFileSync(
                    path.join(context, "Dockerfile"),
                    `FROM ${releaseImage("core", RELEASE.tag)}\n` +
                        `ENTRYPOINT ["/bin/sh", "-c", "echo 'planted failure of the new release' >&2; exit 1"]\nCMD []\n`,
                );
                docker("build", "--quiet", "--tag", PLANTED, context);
            } finally {
                fs.rmSync(context, { recursive: true, force: true });
            }
        });
        after(async () => {
            if (!dir) return;
            try {
                if (new Fleet({ dir }).ctx.tenantNames().length) {
                    const run = await cli(["destroy", tenant, "--yes", "--with-data", "--purge-backups"]);
                    assert.equal(run.code, 0, show(run));
                }
            } finally {
                docker("image", "rm", "--force", PLANTED);
                for (const root of [configRoot, dataRoot, repositoryRoot, dir])
                    fs.rmSync(root, { recursive: true, force: true });
            }
        });

        it(`a tenant of release ${EARLIER} with data`, async () => {
            await newVmTenant(env, {
                tenant,
                fleetDir: dir,
                configRoot,
                dataRoot,
                extra: [
                    ...["--set", `release=${EARLIER}`],
                    ...["--set", `backups.repository=${repositoryRoot}`],
                    // Keycloak's first start on a busy machine: minutes, not the default quarter hour.
                    ...["--set", "vm.readyTimeoutSeconds=300"],
                ],
            });
            assert.equal(runningCore(), releaseImage("core", EARLIER));
            made = makeData(roots(), tenant, `upgrade-${tenant}`);
        });

        it("the release changed in config: the preview names the upgrade, the services and the backup up takes first", async () => {
            const s = await stack();
            await s.setConfig(`${PROJECT}:release`, { value: RELEASE.tag });
            await s.setConfig(`${PROJECT}:images.core`, { value: PLANTED }, true);
            // The planted failure is found within 90 s (the project's other services answer by then).
            await s.setConfig(`${PROJECT}:vm.readyTimeoutSeconds`, { value: "90" }, true);
            const preview = await cli(["preview", tenant]);
            assert.equal(preview.code, 2, show(preview));
            assert.match(
                preview.stdout,
                new RegExp(
                    `${tenant} warning: upgrade of Cytomine from release ${EARLIER} to ${RELEASE.tag}: the images of core, repository, pims, web-ui change \\(${EARLIER}\\.\\.${RELEASE.tag}: .*\\); core and iam \\(Keycloak\\) migrate their databases .*up backs the tenant up first`,
                ),
            );
        });

        it("up backs up first, and the new release's failure prints the restore command that rolls back", async () => {
            const up = await cli(["up", tenant], 1_200_000);
            assert.equal(up.code, 1, show(up));
            const error = reportOf(up).tenants[0].error ?? "";
            assert.match(error, /did not answer within 90 s/);
            // In what the operator sees: the run's summary.
            const command = new RegExp(
                `npm run tenant -- (restore ${tenant} --at ([0-9a-f]{8,}) --rollback --force)`,
            ).exec(up.stdout);
            assert.ok(command, `no restore command in:\n${show(up)}`);
            printed = command[1];
            // That backup is the one taken before the upgrade: of the earlier release's data, by the step.
            const listing = JSON.parse((await cli(["backups", tenant, "--json"])).stdout) as BackupListing;
            const taken = listing.runs.filter((r) => r.kind === "backup" && r.status === "ok");
            assert.equal(taken.length, 1, JSON.stringify(listing.runs));
            assert.equal(taken[0].trigger, "before-upgrade");
            assert.equal(taken[0].release, EARLIER);
            assert.ok(command[2].startsWith(taken[0].snapshot) || taken[0].snapshot.startsWith(command[2]));
        });

        it("the printed command brings the earlier release back with its data", async () => {
            // The plant and its short wait go (the operator's config names the release only); the
            // rollback is the command as printed.
            const s = await stack();
            await s.removeConfig(`${PROJECT}:images.core`, true);
            await s.setConfig(`${PROJECT}:vm.readyTimeoutSeconds`, { value: "300" }, true);
            const rollback = await cli(printed.split(" "), 1_200_000);
            assert.equal(rollback.code, 0, show(rollback));
            assert.match(
                rollback.stdout,
                // Keycloak's image as config names it, not the one built from it on the host (compose.ts prebuiltOf).
                new RegExp(
                    `set back to release=${EARLIER}, keycloak=${DEFAULT_IMAGES.iam.replace(/[.]/g, "\\.")}: up starts them on the restored data`,
                ),
            );
            assert.equal(reportOf(rollback).tenants[0].result, "ok");
            assert.equal((await (await stack()).getConfig(`${PROJECT}:release`)).value, EARLIER);
            assert.equal(runningCore(), releaseImage("core", EARLIER));
            assert.deepEqual(readData(roots(), tenant), made);
            // Nothing left to do: a second up changes nothing and starts nothing again.
            const again = await cli(["preview", tenant]);
            assert.equal(again.code, 0, show(again));
        });
    },
);
