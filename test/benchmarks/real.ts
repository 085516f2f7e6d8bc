// npm run bench:real: the main job's cost on the real Pulumi CLI and Kubernetes provider (the
// bench's, built by `npm run real:build`; the tls and time plugins and the language host are the
// bench's stand-ins). Leaf stacks rendering to out/, all created by the real engine through
// `npm run deploy`, then:
// - where a `pulumi preview` of an observer spends its time, against floors measured in the same
//   run: the CLI alone, a program that declares nothing, as many bare StackReferences as the
//   observer reads leaves, and as many Kubernetes objects with fixed inputs as it declares; each
//   with the TypeScript type check (as `pulumi up` runs a program by default) and without it
//   (PULUMI_NODEJS_TRANSPILE_ONLY=true), in both data paths;
// - `npm run rotate` over 20 of them at concurrency 1, 4 and 8: a scheduled run in which nothing
//   is due (refresh and up on every stack), against the floor of one leaf at concurrency 1.
// Every preview is run twice and the faster kept. Figures only: nothing here passes or fails.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../real/build/components";
import { ExtraEnv, PulumiProject, RunResult, pulumiProject } from "../real/support/pulumi";

const leafName = (i: number): string => `leaf-${String(i).padStart(3, "0")}`;
const qualified = (i: number): string => `organization/thanos-bridge/${leafName(i)}`;
const DATA_PATHS = ["envoy", "thanos"] as const;
type DataPath = (typeof DATA_PATHS)[number];
const TRANSPILE_ONLY: ExtraEnv = { PULUMI_NODEJS_TRANSPILE_ONLY: "true" };
const CHECKED: ExtraEnv = { PULUMI_NODEJS_TRANSPILE_ONLY: undefined };

function leafFile(i: number): string {
  return JSON.stringify({
    config: {
      "thanos-bridge:role": "leaf",
      "thanos-bridge:hostname": `thanos.${leafName(i)}.example.com`,
      "thanos-bridge:renderDir": `out/${leafName(i)}`,
    },
  });
}

const observerStack = (path: DataPath, leaves: number): string => `observer-${path}-${leaves}`;

function observerFile(path: DataPath, leaves: number): string {
  return JSON.stringify({
    config: {
      "thanos-bridge:role": "observer",
      "thanos-bridge:dataPath": path,
      "thanos-bridge:renderDir": `out/${observerStack(path, leaves)}`,
      "thanos-bridge:namespace": `thanos-bridge-${path}-${leaves}`,
      "thanos-bridge:leaves": Array.from({ length: leaves }, (_, i) => qualified(i + 1)),
    },
  });
}

/**
 * The floor programs, each a project of its own beside the copy (same CLI, backend, passphrase
 * and plugins), sized by its stack's `n`: nothing; n bare StackReferences to the leaves; n
 * ConfigMaps with fixed inputs, rendered like the observer's objects.
 */
const FLOORS = {
  nothing: `import "@pulumi/pulumi";\n`,
  references: [
    `import * as pulumi from "@pulumi/pulumi";`,
    `const n = new pulumi.Config().requireNumber("n");`,
    `for (let i = 1; i <= n; i++) {`,
    `  const stack = \`leaf-\${String(i).padStart(3, "0")}\`;`,
    `  new pulumi.StackReference(stack, { name: \`organization/thanos-bridge/\${stack}\` });`,
    `}`,
    ``,
  ].join("\n"),
  objects: [
    `import * as k8s from "@pulumi/kubernetes";`,
    `import * as pulumi from "@pulumi/pulumi";`,
    `const n = new pulumi.Config().requireNumber("n");`,
    `const provider = new k8s.Provider("render", { renderYamlToDirectory: "out" });`,
    `for (let i = 1; i <= n; i++) {`,
    `  new k8s.core.v1.ConfigMap(`,
    `    \`object-\${i}\`,`,
    `    { metadata: { name: \`object-\${i}\`, namespace: "floor" }, data: { key: "value" } },`,
    `    { provider },`,
    `  );`,
    `}`,
    ``,
  ].join("\n"),
} as const;
type Floor = keyof typeof FLOORS;

async function ok(what: string, run: () => Promise<RunResult>): Promise<RunResult> {
  const r = await run();
  if (r.code !== 0) {
    throw new Error(
      `${what} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`,
    );
  }
  return r;
}

async function timed(what: string, run: () => Promise<RunResult>): Promise<number> {
  const started = Date.now();
  await ok(what, run);
  return (Date.now() - started) / 1000;
}

/** The faster of two runs: the machine's noise only ever adds time. */
async function best(what: string, run: () => Promise<RunResult>): Promise<number> {
  return Math.min(await timed(what, run), await timed(what, run));
}

const s = (n: number): string => `${n.toFixed(1)} s`.padStart(8);
const perLeaf = (a: number, b: number, n: number): number => (b - a) / (n - 1);

/** Writes a floor project and creates its stacks, one per size. */
async function floorProject(
  project: PulumiProject,
  floor: Floor,
  sizes: readonly number[],
): Promise<string> {
  // Beside the project copy, not in it: the language host takes the program from the nearest
  // package.json's main.
  const dir = join(project.dir, "..", "floors", floor);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Pulumi.yaml"), `name: floor-${floor}\nruntime: nodejs\n`);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `floor-${floor}`, main: "index.ts" }),
  );
  writeFileSync(join(dir, "index.ts"), FLOORS[floor]);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      // The project's own options, so that the floors' type check compares.
      compilerOptions: {
        target: "ES2022",
        module: "commonjs",
        moduleResolution: "node",
        lib: ["ES2022"],
        types: ["node"],
        strict: true,
        esModuleInterop: true,
        skipLibCheck: true,
      },
      files: ["index.ts"],
    }),
  );
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  for (const n of sizes) {
    const stack = `n-${n}`;
    await ok(`stack init ${floor} ${stack}`, () =>
      project.pulumi(["stack", "init", stack, "--cwd", dir]),
    );
    await ok(`config ${floor} ${stack}`, () =>
      project.pulumi(["config", "set", "n", String(n), "--stack", stack, "--cwd", dir]),
    );
  }
  return dir;
}

/** How many Kubernetes objects the observer stack declares (from its state). */
async function kubernetesObjects(project: PulumiProject, stack: string): Promise<number> {
  const r = await ok(`export ${stack}`, () =>
    project.pulumi(["stack", "export", "--stack", stack]),
  );
  const state = JSON.parse(r.stdout) as {
    deployment: { resources?: { type: string }[] };
  };
  return (state.deployment.resources ?? []).filter(
    (x) => x.type.startsWith("kubernetes:") && !x.type.startsWith("pulumi:providers:"),
  ).length;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { leaves: { type: "string", default: "100" } } });
  const most = Number(values.leaves);
  const sizes = [...new Set([1, 10, most])].filter((n) => n <= most);
  const files: Record<string, string> = {};
  for (let i = 1; i <= most; i++) files[leafName(i)] = leafFile(i);
  for (const path of DATA_PATHS) {
    for (const n of sizes) files[observerStack(path, n)] = observerFile(path, n);
  }
  if (most >= 20) files[observerStack("envoy", 20)] = observerFile("envoy", 20);
  const project: PulumiProject = pulumiProject(files);
  const observers = Object.keys(files).length - most;
  try {
    console.log(`real Pulumi CLI: ${most} leaf stacks and ${observers} observers, rendering`);
    const created = await timed("deploy", () => project.npm("deploy", ["--concurrency", "8"]));
    console.log(
      `  npm run deploy (every stack, 8 at a time): ${s(created)}` +
        `  (${(created / Object.keys(files).length).toFixed(1)} s a stack)`,
    );

    const cli = await best("pulumi version", () => project.pulumi(["version"]));
    const objects: Record<DataPath, Record<number, number>> = { envoy: {}, thanos: {} };
    for (const path of DATA_PATHS) {
      for (const n of sizes) {
        objects[path][n] = await kubernetesObjects(project, observerStack(path, n));
      }
    }
    // One objects floor per observer size, as many objects as the larger of the two paths.
    const objectCount = (n: number): number => Math.max(objects.envoy[n], objects.thanos[n]);
    const floors: Record<Floor, string> = {
      nothing: await floorProject(project, "nothing", [0]),
      references: await floorProject(project, "references", sizes),
      objects: await floorProject(project, "objects", [...new Set(sizes.map(objectCount))]),
    };

    const preview = (dir: string, stack: string, env: ExtraEnv) =>
      best(`preview ${dir} ${stack}`, () =>
        project.pulumi(["preview", "--stack", stack, "--cwd", dir], env),
      );
    const floor = async (f: Floor, n: number, env: ExtraEnv): Promise<number> =>
      preview(floors[f], `n-${n}`, env);

    console.log(
      "\nwhere a pulumi preview spends its time (no change pending; faster of two runs):",
    );
    console.log(`  the CLI alone (pulumi version):                   ${s(cli)}`);
    const nothingChecked = await floor("nothing", 0, CHECKED);
    const nothing = await floor("nothing", 0, TRANSPILE_ONLY);
    console.log(`  a program that declares nothing, type-checked:    ${s(nothingChecked)}`);
    console.log(`  the same, transpile-only:                         ${s(nothing)}`);
    console.log(
      `    engine, language host and SDK start: ${s(nothing - cli)}; its type check: ${s(nothingChecked - nothing)}`,
    );
    const refs: Record<number, number> = {};
    const objs: Record<number, number> = {};
    for (const n of sizes) refs[n] = await floor("references", n, TRANSPILE_ONLY);
    for (const n of sizes) objs[n] ??= await floor("objects", objectCount(n), TRANSPILE_ONLY);
    console.log("  floors, transpile-only:");
    for (const n of sizes) {
      console.log(
        `    ${String(n).padStart(4)} bare StackReferences: ${s(refs[n])}; ` +
          `${objectCount(n)} ConfigMaps with fixed inputs: ${s(objs[n])}`,
      );
    }
    const top = sizes[sizes.length - 1];
    if (top > 1) {
      console.log(
        `    a StackReference (state read and decryption): ${perLeaf(refs[1], refs[top], top).toFixed(3)} s each`,
      );
    }
    console.log(
      `    the Kubernetes provider's start and ${objectCount(1)} objects' diffs: ${s(objs[1] - nothing)}`,
    );

    for (const path of DATA_PATHS) {
      const counts = objects[path];
      console.log(`\n  observer, dataPath ${path}, by leaves read:`);
      const checked: Record<number, number> = {};
      const fast: Record<number, number> = {};
      for (const n of sizes) {
        checked[n] = await preview(project.dir, observerStack(path, n), CHECKED);
        fast[n] = await preview(project.dir, observerStack(path, n), TRANSPILE_ONLY);
        console.log(
          `    ${String(n).padStart(4)} leaves (${counts[n]} objects): ${s(checked[n])} type-checked, ` +
            `${s(fast[n])} transpile-only; the program's own (less both floors, plus nothing once): ` +
            `${s(fast[n] - refs[n] - objs[n] + nothing)}`,
        );
      }
      if (top > 1) {
        const own = perLeaf(fast[1], fast[top], top);
        const ref = perLeaf(refs[1], refs[top], top);
        console.log(
          `    per leaf: ${own.toFixed(3)} s transpile-only, against ${ref.toFixed(3)} s for a bare ` +
            `StackReference (${(own / ref).toFixed(1)}x); fixed: ${s(fast[1])} against ${s(nothing)} ` +
            `for nothing (${(fast[1] / nothing).toFixed(1)}x), the type check adds ${s(checked[1] - fast[1])}`,
        );
      }
    }

    if (most >= 20) {
      console.log("\nnpm run rotate, nothing due (refresh and up on every stack):");
      const one = observerStack("envoy", 1);
      const rotateFloor = await timed("rotate floor", () =>
        project.npm("rotate", ["--observer", one, "--concurrency", "1"]),
      );
      console.log(`  1 leaf, concurrency 1: ${s(rotateFloor)}  (floor)`);
      for (const c of [1, 4, 8]) {
        const t = await timed(`rotate c=${c}`, () =>
          project.npm("rotate", [
            "--observer",
            observerStack("envoy", 20),
            "--concurrency",
            String(c),
          ]),
        );
        console.log(
          `  20 leaves, concurrency ${c}: ${s(t)}  (${(t / rotateFloor).toFixed(1)}x the floor)`,
        );
      }
    }
  } finally {
    project.remove();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
