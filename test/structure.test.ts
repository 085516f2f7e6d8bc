// The program's module structure (docs/ARCHITECTURE.md, Layers and Map): no import cycle among
// its modules, every import points down a layer, the leaf and the observer sides and the data
// paths stay apart, and the pure modules import no Pulumi package. Which module is what comes
// from where it sits, so a file added later is checked without being listed here.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(__dirname, "..");
/** The program's layers, top first: a module imports its own layer or one below it. */
const LAYERS = ["index.ts", "ops/", "stacks/", "components/"];
const OBSERVER = "components/observer/";
/** What every data path builds on; each other folder of components/observer/ is a data path. */
const PATH_BASE = `${OBSERVER}querier/`;

/** A component: a folder's index.ts under components/, the one kind of module that declares. */
function isComponent(file: string): boolean {
  return file.startsWith("components/") && file.endsWith("/index.ts");
}

/** The data path a module belongs to (`components/observer/envoy/`), if any. */
function dataPathOf(file: string): string | undefined {
  const m = /^components\/observer\/([^/]+)\//.exec(file);
  return m !== null && `${OBSERVER}${m[1]}/` !== PATH_BASE ? `${OBSERVER}${m[1]}/` : undefined;
}

/** Every module of the program, by path from the root, with what it imports. */
function imports(): Map<string, { local: string[]; packages: string[] }> {
  const modules = new Map<string, { local: string[]; packages: string[] }>();
  const files = [
    "index.ts",
    ...LAYERS.filter((l) => l.endsWith("/")).flatMap((dir) =>
      readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" }).map((f) => `${dir}${f}`),
    ),
  ];
  for (const file of files.filter((f) => f.endsWith(".ts")).sort()) {
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

/** Why `from` may not import `to`, or undefined when it may. */
function forbidden(from: string, to: string): string | undefined {
  const layer = (f: string) => LAYERS.findIndex((l) => f === l || f.startsWith(l));
  if (layer(to) < layer(from)) return "points up a layer";
  const [sideFrom, sideTo] = [from, to].map(
    (f) => /^components\/(leaf|observer|common)\//.exec(f)?.[1],
  );
  if (sideFrom === "common" && sideTo !== "common") return "common code depends on a side";
  if (sideFrom !== undefined && sideTo !== "common" && sideTo !== sideFrom)
    return "one side depends on the other";
  const path = dataPathOf(to);
  if (path !== undefined && dataPathOf(from) !== path && from !== `${OBSERVER}index.ts`)
    return "only the Observer chooses a data path";
  return undefined;
}

/** Every import that breaks the layering, as `from → to: why`. */
function layerViolations(graph: Map<string, { local: string[] }>): string[] {
  return [...graph].flatMap(([from, { local }]) =>
    local.flatMap((to) => {
      const why = forbidden(from, to);
      return why === undefined ? [] : [`${from} → ${to}: ${why}`];
    }),
  );
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
    // Modules in nested folders are read too.
    assert.ok(graph.has(`${PATH_BASE}index.ts`));
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

  it("points every import down a layer, keeps the sides apart and the data paths to the Observer", () => {
    assert.deepEqual(layerViolations(graph), []);
    // The check finds each kind of violation.
    const broken = new Map([
      ["components/common/yaml.ts", { local: ["stacks/config/index.ts"] }],
      ["stacks/config/index.ts", { local: ["ops/check.ts"] }],
      ["components/common/contract.ts", { local: ["components/leaf/index.ts"] }],
      ["components/leaf/index.ts", { local: [`${OBSERVER}index.ts`] }],
      [`${OBSERVER}thanos/index.ts`, { local: [`${OBSERVER}envoy/index.ts`] }],
      [`${PATH_BASE}pod.ts`, { local: [`${OBSERVER}envoy/pod.ts`] }],
      ["stacks/observer.ts", { local: [`${OBSERVER}thanos/endpoints.ts`] }],
    ]);
    assert.deepEqual(layerViolations(broken), [
      "components/common/yaml.ts → stacks/config/index.ts: points up a layer",
      "stacks/config/index.ts → ops/check.ts: points up a layer",
      "components/common/contract.ts → components/leaf/index.ts: common code depends on a side",
      `components/leaf/index.ts → ${OBSERVER}index.ts: one side depends on the other`,
      `${OBSERVER}thanos/index.ts → ${OBSERVER}envoy/index.ts: only the Observer chooses a data path`,
      `${PATH_BASE}pod.ts → ${OBSERVER}envoy/pod.ts: only the Observer chooses a data path`,
      `stacks/observer.ts → ${OBSERVER}thanos/endpoints.ts: only the Observer chooses a data path`,
    ]);
  });

  it("keeps every module of components/ but a folder's index.ts free of Pulumi", () => {
    const pure = [...graph.keys()].filter((f) => f.startsWith("components/") && !isComponent(f));
    assert.ok(pure.length > 0 && pure.length < [...graph.keys()].length);
    for (const file of pure) {
      const packages = graph.get(file)?.packages ?? [];
      assert.deepEqual(
        packages.filter((p) => p.startsWith("@pulumi/")),
        [],
        `${file} imports Pulumi`,
      );
    }
    // The components are what declares: each imports Pulumi.
    for (const file of [...graph.keys()].filter(isComponent)) {
      assert.ok(
        graph.get(file)?.packages.some((p) => p.startsWith("@pulumi/")),
        `${file} is a folder's index.ts but declares nothing`,
      );
    }
  });
});
