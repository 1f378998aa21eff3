// Server-rendered pages. Every value goes through `html` (escaped); no inline script or style, so the
// Content-Security-Policy can forbid both. The one script (progress.js) follows a job's events.
import type { BackupListing } from "../fleet";
import type { User } from "./policy";
import type { AuditRow, JobRow, Progress, TenantRow } from "./store";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export class Html {
    constructor(readonly text: string) {}
}

/** A template tag that escapes every interpolated value except Html (already escaped) and arrays of it. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
    const part = (v: unknown): string =>
        v instanceof Html
            ? v.text
            : Array.isArray(v)
              ? v.map(part).join("")
              : v === undefined || v === null || v === false
                ? ""
                : String(v).replace(/[&<>"']/g, (c) => ESCAPES[c]);
    return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? part(values[i]) : ""), ""));
}

export function layout(title: string, user: User | undefined, csrf: string | undefined, body: Html): string {
    const nav = user
        ? html`<nav>
              <a href="/">My Cytomine</a> <a href="/launch">Launch</a>
              ${user.operator ? html`<a href="/operator">Operator view</a>` : ""}
              <span class="who">${user.name}</span>
              <form method="post" action="/logout" class="inline">
                  <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit">Sign out</button>
              </form>
          </nav>`
        : html``;
    return html`<!doctype html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <title>${title} · Cytomine</title>
                <link rel="stylesheet" href="/static/portal.css" />
            </head>
            <body>
                ${nav}
                <main>
                    <h1>${title}</h1>
                    ${body}
                </main>
            </body>
        </html>`.text;
}

const hidden = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}" />`;

function lastJobLine(job: JobRow | undefined): Html {
    if (!job) return html`none`;
    const p = job.progress ? (JSON.parse(job.progress) as Progress) : undefined;
    return html`<a href="/jobs/${job.id}">${job.kind}</a>: ${job.state}${job.summary ? html` — ${job.summary}` : ""}
        ${job.error ? html`<pre class="error">${job.error.split("\n").slice(0, 4).join("\n")}</pre>` : ""}
        ${job.state === "running" && p ? html` (${p.phase}, ${p.done}/${p.total ?? "?"})` : ""}`;
}

export function myCytominePage(rows: { tenant: TenantRow; lastJob?: JobRow }[], csrf: string): Html {
    if (rows.length === 0) return html`<p>You have no Cytomine yet. <a href="/launch">Launch one</a>.</p>`;
    return html`${rows.map(({ tenant: t, lastJob }) => {
        const busy = lastJob && (lastJob.state === "queued" || lastJob.state === "running");
        return html`<section class="tenant" data-tenant="${t.name}">
            <h2>${t.name}</h2>
            <dl>
                <dt>Status</dt>
                <dd class="status">${t.status}</dd>
                <dt>URL</dt>
                <dd>${t.status === "ready" ? html`<a href="${t.url}" rel="noreferrer">${t.url}</a>` : t.url}</dd>
                <dt>Target</dt>
                <dd>${t.target} (template ${t.template})</dd>
                <dt>Size</dt>
                <dd>${t.size}</dd>
                <dt>Datasets</dt>
                <dd>${(JSON.parse(t.datasets) as string[]).join(", ") || "none"}</dd>
                <dt>Created</dt>
                <dd>${t.created_at}</dd>
                <dt>Updated</dt>
                <dd>${t.updated_at}</dd>
                <dt>Last operation</dt>
                <dd>${lastJobLine(lastJob)}</dd>
            </dl>
            ${
                busy
                    ? html`<p>An operation is running: <a href="/jobs/${lastJob.id}">follow it</a>.</p>`
                    : html`<div class="actions">
                          ${
                              t.status === "stopped" || t.status === "failed"
                                  ? html`<form method="post" action="/tenants/${t.name}/start">
                                        ${hidden(csrf)}<button type="submit">Start</button>
                                    </form>`
                                  : ""
                          }
                          ${
                              t.status !== "stopped"
                                  ? html`<form method="post" action="/tenants/${t.name}/stop">
                                        ${hidden(csrf)}<button type="submit">Stop (keep data)</button>
                                    </form>`
                                  : ""
                          }
                          ${t.target === "kubernetes" ? "" : html`<a href="/tenants/${t.name}/backups">Backups</a>`}
                          <a href="/tenants/${t.name}/delete">Delete with data…</a>
                      </div>`
            }
        </section>`;
    })}`;
}

export function launchPage(
    templates: {
        name: string;
        label: string;
        description: string;
        sizes: string[];
        datasets: string[];
        /** Whether the operator offers machine-learning assistance with this template. */
        ml: boolean;
    }[],
    tenant: string,
    csrf: string,
    problem?: string,
): Html {
    return html`${problem ? html`<p class="error">${problem}</p>` : ""}
        <p>Your new instance will be named <strong id="tenant-name">${tenant}</strong>.</p>
        <form method="post" action="/launch" id="launch">
            ${hidden(csrf)}
            <input type="hidden" name="tenant" value="${tenant}" />
            ${templates.map(
                (t, i) =>
                    html`<fieldset>
                        <legend>
                            <label
                                ><input
                                    type="radio"
                                    name="template"
                                    value="${t.name}"
                                    ${i === 0 ? html`checked` : ""}
                                />
                                ${t.label}</label
                            >
                        </legend>
                        <p>${t.description}</p>
                        <label
                            >Size
                            <select name="size">
                                ${t.sizes.map((s) => html`<option value="${s}">${s}</option>`)}
                            </select></label
                        >
                        ${t.datasets.map(
                            (d) => html`<label><input type="checkbox" name="datasets" value="${d}" /> ${d}</label>`,
                        )}
                        ${
                            t.ml
                                ? html`<label
                                      ><input type="checkbox" name="ml" value="on" /> Machine-learning assistance</label
                                  >`
                                : ""
                        }
                    </fieldset>`,
            )}
            <button type="submit" id="launch-button">Launch</button>
        </form>`;
}

export function progressPage(job: JobRow, tenant: TenantRow): Html {
    const p = job.progress ? (JSON.parse(job.progress) as Progress) : undefined;
    return html`<p>${job.kind} of <strong>${tenant.name}</strong> (${tenant.target})</p>
        <dl id="progress" data-job="${job.id}" data-state="${job.state}">
            <dt>Phase</dt>
            <dd id="phase">
                ${job.state === "queued" || job.state === "running" ? (p?.phase ?? job.state) : job.state}
            </dd>
            <dt>Resources</dt>
            <dd id="resources">${p?.done ?? 0}/${p?.total ?? "?"}</dd>
            <dt>Elapsed</dt>
            <dd id="elapsed">${Math.round((p?.elapsedMs ?? 0) / 1000)} s</dd>
            <dt>Message</dt>
            <dd id="message">${job.error ?? p?.message ?? ""}</dd>
        </dl>
        <p id="result" ${job.state === "done" || job.state === "failed" ? "" : html`hidden`}>
            ${job.state === "failed" ? html`<span class="error">${job.summary}</span>` : ""}
            ${job.state === "done" ? html`${job.summary}` : ""}
        </p>
        <p id="ready" ${job.state === "done" && tenant.status === "ready" ? "" : html`hidden`}>
            Your Cytomine: <a id="url" href="${tenant.url}" rel="noreferrer">${tenant.url}</a>. Sign in there with LS
            Login (the same account as here).
        </p>
        <p><a href="/">Back to My Cytomine</a></p>
        <script src="/static/progress.js"></script>`;
}

export function deletePage(tenant: TenantRow, csrf: string, problem?: string): Html {
    return html`${problem ? html`<p class="error">${problem}</p>` : ""}
        <p>
            This destroys <strong>${tenant.name}</strong> and deletes its data (databases, images). It cannot be undone.
            ${tenant.target === "kubernetes" ? "" : "Its backups are kept, with the key that reads them, so an operator can restore them into a new instance."}
            Type the instance's name to confirm.
        </p>
        <form method="post" action="/tenants/${tenant.name}/delete">
            ${hidden(csrf)}
            <input name="confirm" autocomplete="off" aria-label="instance name" />
            <button type="submit">Delete with data</button>
        </form>`;
}

/** A tenant's backups as its owner sees them: the last success (size, age), failures since, the snapshots. */
export function backupsPage(tenant: TenantRow, listing: BackupListing | { problem: string }, now = Date.now()): Html {
    if ("problem" in listing)
        return html`<p class="error">The backups of ${tenant.name} cannot be read: ${listing.problem}</p>`;
    const last = listing.lastSuccess;
    const failed = listing.runs.filter((r) => r.status === "failed" && (!last || r.time > last.time));
    const hours = (iso: string) => `${((now - Date.parse(iso)) / 3_600_000).toFixed(1)} h ago`;
    return html`<dl>
            <dt>Last backup</dt>
            <dd class="last-backup">
                ${last ? `${last.snapshot.slice(0, 8)}, ${(last.bytes / 2 ** 20).toFixed(1)} MiB, ${hours(last.time)} (${last.time})` : "none yet"}
            </dd>
            <dt>Failed since</dt>
            <dd class="failed-backups">
                ${failed.length ? failed.map((r) => `${r.time}: ${r.message}`).join("; ") : "none"}
            </dd>
        </dl>
        ${table(
            "snapshots",
            ["backup", "taken", "release"],
            listing.snapshots.map((s) => [
                s.short_id,
                s.time.replace(/\.\d+/, ""),
                s.tags?.find((t) => t.startsWith("release="))?.slice("release=".length) ?? "?",
            ]),
        )}`;
}

/** A table of plain cells (first cell may be a link). */
function table(id: string, head: string[], rows: unknown[][]): Html {
    return html`<table id="${id}">
        <tr>
            ${head.map((h) => html`<th>${h}</th>`)}
        </tr>
        ${rows.map(
            (r) =>
                html`<tr>
                    ${r.map((c) => html`<td>${c}</td>`)}
                </tr>`,
        )}
    </table>`;
}

export function operatorPage(tenants: TenantRow[], jobs: JobRow[], audit: AuditRow[]): Html {
    return html`<h2>Tenants</h2>
        ${table(
            "tenants",
            ["Tenant", "Owner", "Status", "Target", "URL", "Created"],
            tenants.map((t) => [t.name, t.owner_name, t.status, t.target, t.url, t.created_at]),
        )}
        <h2>Jobs</h2>
        ${table(
            "jobs",
            ["Job", "Tenant", "Kind", "State", "Attempts", "Summary", "Created"],
            jobs.map((j) => [
                html`<a href="/jobs/${j.id}">${j.id}</a>`,
                j.tenant,
                j.kind,
                j.state,
                j.attempts,
                j.error ?? j.summary,
                j.created_at,
            ]),
        )}
        <h2>Audit log</h2>
        ${table(
            "audit",
            ["Time", "User", "Action", "Target", "Result", "Detail"],
            audit.map((a) => [a.at, a.actor, a.action, a.target, a.result, a.detail]),
        )}`;
}

export function messagePage(text: string, link?: { href: string; label: string }): Html {
    return html`<p class="message">${text}</p>
        ${link ? html`<p><a href="${link.href}">${link.label}</a></p>` : ""}`;
}

/** Follows /jobs/<id>/events and fills the progress page. */
export const PROGRESS_JS = `"use strict";
(function () {
    var box = document.getElementById("progress");
    if (!box || box.dataset.state === "done" || box.dataset.state === "failed") return;
    var set = function (id, text) { document.getElementById(id).textContent = text; };
    var source = new EventSource("/jobs/" + box.dataset.job + "/events");
    source.addEventListener("progress", function (m) {
        var p = JSON.parse(m.data);
        set("phase", p.phase);
        set("resources", p.done + "/" + (p.total === undefined || p.total === null ? "?" : p.total));
        set("elapsed", Math.round(p.elapsedMs / 1000) + " s");
        set("message", p.message || "");
    });
    source.addEventListener("end", function (m) {
        var e = JSON.parse(m.data);
        source.close();
        box.dataset.state = e.state;
        set("phase", e.state);
        set("message", e.error || "");
        var result = document.getElementById("result");
        result.textContent = e.summary;
        result.hidden = false;
        if (e.state === "done" && e.status === "ready") document.getElementById("ready").hidden = false;
    });
})();
`;

export const PORTAL_CSS = `body{font-family:system-ui,sans-serif;margin:0;color:#222}
nav{display:flex;gap:1em;align-items:center;padding:.6em 1em;background:#234;color:#fff}
nav a{color:#fff}.who{margin-left:auto}main{padding:1em 2em;max-width:70em}
.inline{display:inline}.error{color:#a00}.tenant{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}
dl{display:grid;grid-template-columns:10em 1fr}dt{font-weight:bold}.actions{display:flex;gap:1em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;font-size:.9em}
`;
