// release-contract.md of a render: every item of the pinned release's contract
// (components/model/release.ts), judged on the rendered files themselves (read back as a reviewer's
// checker would: the manifests, or the compose file, env files and nginx.conf), with its upstream source.
import { parseAllDocuments } from "yaml";
import { contractFindings, Finding, fromCompose, fromManifests } from "../../components/model/contract";
import { CONTRACTS, RELEASE, ROUTES } from "../../components/model/release";

/** The services and routes of a render's files. */
function readBack(files: Record<string, string>) {
    const manifests = Object.entries(files).filter(([f]) => f.startsWith("kubernetes/"));
    if (manifests.length > 0)
        return fromManifests(manifests.flatMap(([, text]) => parseAllDocuments(text).map((d) => d.toJS())));
    const env = Object.fromEntries(
        Object.entries(files)
            .filter(([f]) => f.startsWith("vm/env/"))
            .map(([f, text]) => [f.slice("vm/env/".length).replace(/\.env$/, ""), text]),
    );
    return fromCompose(files["vm/compose.yaml"] ?? "services: {}", env, files["vm/nginx.conf"] ?? "");
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The findings of a render (empty: the render satisfies every item). */
export function renderFindings(files: Record<string, string>): Finding[] {
    const { services, routes } = readBack(files);
    return contractFindings(services, routes);
}

export function contractReport(files: Record<string, string>): string {
    const findings = renderFindings(files);
    const status = (component: string, item: string) => {
        const f = findings.filter((x) => x.component === component && x.item === item);
        return f.length ? `**breaks**: ${f.map((x) => cell(x.problem)).join("; ")}` : "holds";
    };
    const rows: string[] = [];
    for (const c of Object.values(CONTRACTS)) {
        const row = (item: string, needs: string, source: string) =>
            rows.push(
                `| ${c.component} | ${cell(item)} | ${cell(needs)} | ${cell(source)} | ${status(c.component, item)} |`,
            );
        row("service", "deployed", c.imageSource);
        row("image", c.image, c.imageSource);
        row("port", String(c.port), c.portSource);
        row("user", `uid ${c.uid}`, c.uidSource);
        for (const e of c.env) row(`env ${e.name}`, `${e.required ? "required" : "optional"}: ${e.meaning}`, e.source);
        for (const w of c.writable) row(`writable ${w.path}`, w.why, w.source);
        for (const f of c.files) row(`file ${f.path}`, `${f.why} (in the ${f.from})`, f.source);
        for (const h of c.health) row(`health ${h.path}`, "a probe may use it", h.source);
        for (const x of c.extensions ?? [])
            row(`extension ${x.name}`, `in its database (created by the ${x.createdBy})`, x.source);
    }
    for (const r of ROUTES)
        rows.push(
            `| ${r.service} | route ${r.path} | ${cell(r.why)} | ${cell(r.source)} | ${status(r.service, `route ${r.path}`)} |`,
        );
    const other = findings.filter((f) => !rows.some((r) => r.startsWith(`| ${f.component} | ${cell(f.item)} |`)));
    return [
        "# The release's contract, judged on this render",
        "",
        `Release: ${RELEASE.repository} at \`${RELEASE.commit}\` (${RELEASE.date}), images tagged \`${RELEASE.tag}\`.`,
        "Each item is what the service's image needs, with the upstream file and line it comes from",
        "(components/model/release.ts; docs/release.md says how it was read). The status is computed from",
        "the files of this render, read back (components/model/contract.ts).",
        "",
        findings.length === 0 ? "**Every item holds.**" : `**${findings.length} item(s) break the contract.**`,
        "",
        "| service | item | needs | source | status |",
        "| ------- | ---- | ----- | ------ | ------ |",
        ...rows,
        ...(other.length
            ? ["", "Other findings:", "", ...other.map((f) => `- ${f.component}: ${f.item}: ${f.problem}`)]
            : []),
        "",
    ].join("\n");
}
