// The commands' one type check of the program (ops/typecheck.ts), on a copy of the program's own
// files: it must pass the program as it is and name a type error put into it.
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { typeCheckProgram } from "../ops/typecheck";

const ROOT = join(__dirname, "..");

describe("ops/typecheck: the program's type check", function () {
  this.timeout(120_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "typecheck-"));
    for (const file of ["tsconfig.json", "index.ts", "stacks", "components"]) {
      cpSync(join(ROOT, file), join(dir, file), { recursive: true });
    }
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("passes the program as it is", () => {
    assert.deepEqual(typeCheckProgram(dir), []);
  });

  it("names a type error's file, line, column and code, relative to the project", () => {
    const file = join(dir, "components", "leaf", "pki", "index.ts");
    const line = readFileSync(file, "utf8").split("\n").length;
    appendFileSync(file, "export const typeCheckProbe: string = 1;\n");
    assert.deepEqual(typeCheckProgram(dir), [
      `components/leaf/pki/index.ts:${line}:14: TS2322: Type 'number' is not assignable to type 'string'.`,
    ]);
  });

  it("says what is wrong with an unreadable tsconfig.json instead of throwing", () => {
    const broken = mkdtempSync(join(tmpdir(), "typecheck-broken-"));
    try {
      const errors = typeCheckProgram(broken);
      assert.equal(errors.length, 1);
      assert.match(errors[0], /^TS5083: Cannot read file '.*tsconfig\.json'\.$/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });
});
