// The reliability recorder: a wrapped test records its own outcome (and passes a failure on), and the
// summary keeps the latest result of each case and the cases that failed before passing.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type CaseRecord, readCases, recorded, summarize } from "../support/reliability";

describe("reliability recorder", () => {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "reliability-"));
        process.env.CYTOMINE_RELIABILITY_DIR = dir;
    });
    after(() => {
        delete process.env.CYTOMINE_RELIABILITY_DIR;
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("records a passing and a failing case under their test's name, rethrowing the failure", async () => {
        await recorded("fam", () => undefined)({ name: "ok case" });
        await assert.rejects(
            recorded("fam", () => {
                throw new Error("boom\nsecond line");
            })({ name: "bad case" }),
            /boom/,
        );
        const { records, unreadable } = readCases();
        assert.equal(unreadable, 0);
        assert.deepEqual(
            records.map((r) => [r.family, r.case, r.pass, r.error]),
            [
                ["fam", "ok case", true, undefined],
                ["fam", "bad case", false, "boom"],
            ],
        );
    });

    it("summarizes by family: latest result per case, failures before a pass listed", () => {
        const at = (i: number) => `2026-11-27T10:0${i}:00.000Z`;
        const r = (family: string, c: string, pass: boolean, i: number): CaseRecord => ({
            family,
            case: c,
            pass,
            at: at(i),
            ms: 1,
        });
        const s = summarize([
            r("b", "x", false, 1),
            r("b", "x", true, 2),
            r("b", "y", true, 3),
            r("a", "z", true, 4),
            r("a", "z", false, 5),
        ]);
        assert.deepEqual(s, [
            { family: "a", cases: 1, passed: 0, failing: ["z"], flaky: [], last: at(5) },
            { family: "b", cases: 2, passed: 2, failing: [], flaky: ["x"], last: at(3) },
        ]);
    });
});
