// The import plan: a dataset is imported once, again only when its revision changes; an unchanged set
// declares the last run again (so nothing runs); one added dataset makes a run of just that dataset.
// The Python script (components/model/cytomine_import.py) names runs as the program does.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
    DeclaredDataset,
    EMPTY_RECORD,
    parseRecord,
    planImport,
    recordText,
    revisionOf,
    runId,
} from "../../components/model/datasets";
import { repoRoot } from "../../toolchain/index";

const ds = (id: string, revision = `r-${id}`, index = 0): DeclaredDataset => ({
    id,
    source: "path",
    path: `/srv/${id}`,
    index,
    revision,
});

describe("datasets: import plan", () => {
    it("the first run imports every dataset and records them", () => {
        const plan = planImport([ds("a"), ds("b")], EMPTY_RECORD);
        assert.deepEqual(
            plan.todo.map((d) => d.id),
            ["a", "b"],
        );
        assert.deepEqual(plan.run?.datasets, ["a", "b"]);
        assert.deepEqual(plan.record.imported, { a: "r-a", b: "r-b" });
        assert.deepEqual(plan.record.lastRun, plan.run);
    });

    it("an unchanged set declares the last run again, with the same record", () => {
        const first = planImport([ds("a"), ds("b")], EMPTY_RECORD);
        const again = planImport([ds("a"), ds("b")], parseRecord(recordText(first.record)));
        assert.deepEqual(again.todo, []);
        assert.deepEqual(again.run, first.run);
        assert.equal(recordText(again.record), recordText(first.record));
    });

    it("one added dataset: a run of exactly that dataset, under a new identity", () => {
        const first = planImport([ds("a")], EMPTY_RECORD);
        const next = planImport([ds("a"), ds("b")], first.record);
        assert.deepEqual(next.run?.datasets, ["b"]);
        assert.notEqual(next.run?.id, first.run?.id);
        assert.deepEqual(next.record.imported, { a: "r-a", b: "r-b" });
    });

    it("a changed revision imports that dataset again; a removed one stays recorded and is not re-imported when re-added", () => {
        const first = planImport([ds("a"), ds("b")], EMPTY_RECORD);
        assert.deepEqual(planImport([ds("a", "r-a2"), ds("b")], first.record).run?.datasets, ["a"]);
        const removed = planImport([ds("a")], first.record);
        assert.equal(removed.run, undefined, "the last run named b, which is gone: no Job is declared");
        assert.deepEqual(planImport([ds("a"), ds("b")], removed.record).todo, []);
    });

    it("served: the declared datasets earlier runs imported, outside the run (the view keeps serving their images)", () => {
        const first = planImport([ds("a"), ds("b")], EMPTY_RECORD);
        assert.deepEqual(first.served, [], "nothing imported before");
        const next = planImport([ds("a"), ds("b"), ds("c")], first.record);
        assert.deepEqual(next.run?.datasets, ["c"]);
        assert.deepEqual(next.served, ["a", "b"]);
        // Unchanged: the last run is declared again, the others still served.
        const again = planImport([ds("a"), ds("b"), ds("c")], next.record);
        assert.deepEqual(again.run?.datasets, ["c"]);
        assert.deepEqual(again.served, ["a", "b"]);
        // A changed revision is imported, not served; a removed dataset is neither.
        const changed = planImport([ds("a", "r-a2"), ds("c")], next.record);
        assert.deepEqual(changed.run?.datasets, ["a"]);
        assert.deepEqual(changed.served, ["c"]);
        // The last run's dataset gone: no run declared, every recorded declared dataset served.
        const removed = planImport([ds("a"), ds("b")], next.record);
        assert.equal(removed.run, undefined);
        assert.deepEqual(removed.served, ["a", "b"]);
    });

    it("revisions follow the source and the content fingerprint", () => {
        const d = { id: "a", source: "path" as const, path: "/srv/a" };
        assert.equal(revisionOf(d), revisionOf({ ...d }));
        assert.notEqual(revisionOf(d), revisionOf({ ...d, path: "/srv/b" }));
        assert.notEqual(revisionOf(d, "f1"), revisionOf(d, "f2"));
        const s = { id: "s", source: "sdafs" as const, sdafs: { datasets: ["B", "A"] } };
        assert.equal(revisionOf(s), revisionOf({ ...s, sdafs: { datasets: ["A", "B"] } }));
    });

    it("an unreadable record reads as empty (everything is imported again, never silently skipped)", () => {
        assert.deepEqual(parseRecord("{not json"), { imported: {} });
        assert.deepEqual(parseRecord(undefined), { imported: {} });
        assert.deepEqual(parseRecord('{"imported":{"a":1,"b":"x"}}'), { imported: { b: "x" } });
    });

    it("the import script computes the same run identity", () => {
        const todo = [ds("lung", "1234"), ds("skin", "abcd")];
        const script = path.join(repoRoot, "components/model");
        const py = execFileSync(
            "python3",
            [
                "-c",
                `import sys, json; sys.path.insert(0, ${JSON.stringify(script)}); import cytomine_import as m; print(m.run_id(json.loads(sys.argv[1])))`,
                JSON.stringify(todo),
            ],
            { encoding: "utf8" },
        ).trim();
        assert.equal(py, runId(todo));
    });
});
