import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const GOLDEN_DIR = join(__dirname, "..", "golden");

/**
 * Compares `actual` with test/golden/<name>. `npm run test:update-golden` rewrites the files;
 * review the diff before committing it. A missing file fails (it is never created silently).
 */
export function expectGolden(name: string, actual: string): void {
  const file = join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    writeFileSync(file, actual);
    return;
  }
  assert.ok(
    existsSync(file),
    `golden file test/golden/${name} is missing: run npm run test:update-golden`,
  );
  assert.equal(
    actual,
    readFileSync(file, "utf8"),
    `output differs from test/golden/${name}; if the change is intended, run npm run test:update-golden and review the diff`,
  );
}
