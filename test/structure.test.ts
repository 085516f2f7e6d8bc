// The program's module structure (docs/ARCHITECTURE.md, Layers): no import cycle among its
// modules, and the pure generators import no Pulumi package. Which module is what comes from
// where it sits, so a file added later is checked without being listed here.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(__dirname, "..");
const DIRS = ["components", "stacks", "ops"];

/** A component: a folder's index.ts under components/, the only kind that may import Pulumi. */
function isComponent(file: string): boolean {
  return file.startsWith("components/") && file.endsWith("/index.ts");
}

/** Every module of the program, by path from the root, with what it imports. */
function imports(): Map<string, { local: string[]; packages: string[] }> {
  const modules = new Map<string, { local: string[]; packages: string[] }>();
  const files = [
    "index.ts",
    ...DIRS.flatMap((d) =>
      readdirSync(join(ROOT, d), { recursive: true, encoding: "utf8" }).map((f) => `${d}/${f}`),
    ),
  ];
  for (const file of files.filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const specifiers = [...text.matchAll(/^(?:import|export)[^;]*?from "([^"]+)";/gms)].map(
      (m) => m[1],
    );
    modules.set(file, {
      local: specifiers
        .filter((s) => s.startsWith("."))
        .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)))
        .map((m) => (existsSync(join(ROOT, `${m}.ts`)) ? `${m}.ts` : `${m}/index.ts`)),
      packages: specifiers.filter((s) => !s.startsWith(".") && !s.startsWith("node:")),
    });
  }
  return modules;
}

/** An import cycle, as the paths around it, or undefined. */
function findCycle(graph: Map<string, { local: string[] }>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node];
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node)?.local ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe("module structure", () => {
  const graph = imports();

  it("reads the program's modules and their imports", () => {
    assert.deepEqual(graph.get("ops/command.ts")?.local.sort(), [
      "ops/cli.ts",
      "ops/typecheck.ts",
      "ops/types.ts",
    ]);
    for (const [file, { local }] of graph) {
      for (const target of local)
        assert.ok(graph.has(target), `${file} imports ${target}, not found`);
    }
  });

  it("has no import cycle (type-only imports included)", () => {
    assert.equal(findCycle(graph)?.join(" → "), undefined);
    // The check finds one when there is one.
    const broken = new Map(graph);
    broken.set("ops/cli.ts", { local: ["ops/command.ts"], packages: [] });
    const cycle = findCycle(broken) ?? [];
    assert.equal(cycle[0], cycle[cycle.length - 1], `not a cycle: ${cycle.join(" → ")}`);
    assert.deepEqual([...new Set(cycle)].sort(), ["ops/cli.ts", "ops/command.ts"]);
  });

  it("keeps the pure generators free of Pulumi", () => {
    const pure = [...graph.keys()].filter((f) => f.startsWith("components/") && !isComponent(f));
    assert.ok(pure.length > 0, "no pure generator found");
    for (const file of pure) {
      const packages = graph.get(file)?.packages ?? [];
      assert.deepEqual(
        packages.filter((p) => p.startsWith("@pulumi/")),
        [],
        `${file} imports Pulumi`,
      );
    }
  });
});
