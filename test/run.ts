// The test command's one node:test run (scripts/test.sh): every test file, two at a time, with one spec
// summary. node's --test CLI sorts its files by path; run() keeps the order given, so the longest
// integration files start first and none of them starts last to run alone while the other worker has
// nothing left (longest processing time first).
import * as fs from "node:fs";
import * as path from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";

// The longest files, longest first, as they took in a clean-clone run (docs/developing.md, Tests).
const LONGEST = [
    "backups",
    "kube-backups",
    "bad-input",
    "fleet",
    "upgrade",
    "drift",
    "faults",
    "real-node",
    "environment",
    "signin",
    "signin-external",
    "fleet-vm",
    "ml",
    "install",
    "kubernetes",
].map((name) => `test/integration/${name}.test.ts`);

const all = ["test/unit", "test/integration", "policies/test"]
    .flatMap((dir) => fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f)))
    .filter((f) => f.endsWith(".test.ts") && !f.includes("node_modules"))
    .sort();
const missing = LONGEST.filter((f) => !all.includes(f));
if (missing.length) throw new Error(`test/run.ts names files that do not exist: ${missing.join(", ")}`);
const files = [...LONGEST, ...all.filter((f) => !LONGEST.includes(f))];

// Two files at a time: they share the local environment, and a case that stops or restarts a piece
// of it holds it alone meanwhile (withEnvironmentAlone, localenv); a third worker measured no faster
// (it only waits longer for those cases).
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
run({ files, concurrency })
    .on("test:fail", () => {
        process.exitCode = 1;
    })
    .compose(new spec())
    .pipe(process.stdout);
