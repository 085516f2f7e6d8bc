// Test code lives under test/ and the program never reaches into it (docs/ARCHITECTURE.md,
// Layers): what `npm run deploy` or a stack loads is the program alone, whatever test/ holds.
// The program is every module outside test/, found from the tree, so a new folder is covered.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const ROOT = join(__dirname, "..");
/** Not the program's: dependencies, build output, version control, and the tests themselves. */
const NOT_PROGRAM = new Set(["node_modules", "bin", "out", ".git", "test"]);

/** Every module outside test/, by path from the root. */
function programModules(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return NOT_PROGRAM.has(entry.name) ? [] : programModules(path);
    return /\.(ts|js|mjs|cjs)$/.test(entry.name) ? [relative(ROOT, path)] : [];
  });
}

/** What `file` (its text `text`) imports from test/: static, re-exported, dynamic or required. */
function testImports(file: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"']+)["']/g),
  ].map((m) => m[1]);
  return specifiers.filter((s) => {
    if (!s.startsWith(".")) return false;
    const target = relative(ROOT, resolve(ROOT, dirname(file), s));
    return target === "test" || target.startsWith(`test${sep}`);
  });
}

describe("the layout: test code under test/", () => {
  it("finds the program's modules outside test/", () => {
    const modules = programModules();
    for (const expected of ["index.ts", "ops/deploy.ts", "stacks/config/index.ts"]) {
      assert.ok(modules.includes(expected), `${expected} not found among ${modules.join(", ")}`);
    }
    assert.deepEqual(
      modules.filter((m) => m.startsWith(`test${sep}`)),
      [],
    );
  });

  it("no module of the program imports from test/", () => {
    const offending = programModules().flatMap((file) =>
      testImports(file, readFileSync(join(ROOT, file), "utf8")).map((s) => `${file}: ${s}`),
    );
    assert.deepEqual(offending, []);
  });

  it("recognises each way of importing test code", () => {
    const text = [
      `import { LEAF_A } from "../test/support/leaf";`,
      `export * from "../test/support/mocks";`,
      `const m = require("../test/support/grpc");`,
      `void import("../test/real/build/components");`,
      `import "../test";`,
      `import { runStack } from "../stacks";`,
      `import * as pulumi from "@pulumi/pulumi";`,
    ].join("\n");
    assert.deepEqual(testImports("ops/example.ts", text), [
      "../test/support/leaf",
      "../test/support/mocks",
      "../test/support/grpc",
      "../test/real/build/components",
      "../test",
    ]);
    assert.deepEqual(testImports("index.ts", `import "./test/support/leaf";`), [
      "./test/support/leaf",
    ]);
  });
});
