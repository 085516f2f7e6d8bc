// The architecture document is the one the code cites: every "invariant N" named in code and
// tests is defined in docs/ARCHITECTURE.md, and nothing cites a file outside the repository.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..");

/** Files git tracks or would track (untracked, not ignored), as the repository holds them. */
function repositoryFiles(): string[] {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter((f) => f !== "" && !f.startsWith("node_modules/"));
}

/** The numbered invariants of docs/ARCHITECTURE.md's "## Invariants" section. */
export function definedInvariants(doc: string): number[] {
  const section = /## Invariants\n([\s\S]*?)\n## /.exec(doc);
  assert.ok(section !== null, "docs/ARCHITECTURE.md has no ## Invariants section");
  return [...section[1].matchAll(/^(\d+)\. \*\*/gm)].map((m) => Number(m[1]));
}

/** Every invariant number a text names: "invariant 4", "invariants 2, 3", "invariants 2 and 4". */
export function citedInvariants(text: string): number[] {
  return [...text.matchAll(/invariants? (\d+(?:(?:, | and )\d+)*)/gi)].flatMap((m) =>
    m[1].split(/, | and /).map(Number),
  );
}

describe("docs/ARCHITECTURE.md", () => {
  const doc = readFileSync(join(ROOT, "docs", "ARCHITECTURE.md"), "utf8");
  const sources = repositoryFiles().filter((f) => /\.(ts|go|sh|mjs)$|^\.ci\//.test(f));

  it("numbers its invariants 1 to 8 without a gap", () => {
    assert.deepEqual(definedInvariants(doc), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("defines every invariant that code and tests name", () => {
    const defined = new Set(definedInvariants(doc));
    const undefinedCites = sources.flatMap((f) =>
      citedInvariants(readFileSync(join(ROOT, f), "utf8"))
        .filter((n) => !defined.has(n))
        .map((n) => `${f}: invariant ${n}`),
    );
    assert.deepEqual(undefinedCites, []);
    // The check sees the citations it is meant to see.
    assert.deepEqual(
      citedInvariants("(invariants 2, 3) and invariant 7, invariants 2 and 4"),
      [2, 3, 7, 2, 4],
    );
  });

  it("is what the code cites: no file outside the repository, no DESIGN.md", () => {
    const outside = [...sources, ...repositoryFiles().filter((f) => f.endsWith(".md"))]
      // This file spells the patterns out.
      .filter((f) => f !== "test/docs.test.ts")
      .flatMap((f) =>
        /\.\.\/shared|DESIGN\.md|DESIGN invariant|REAL-COMPONENTS/.test(
          readFileSync(join(ROOT, f), "utf8"),
        )
          ? [f]
          : [],
      );
    assert.deepEqual(outside, []);
  });
});
