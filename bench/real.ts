// npm run bench:real: the main job's cost on the real Pulumi CLI and Kubernetes provider (the
// bench's, built by `npm run real:build`; the tls and time plugins and the language host are the
// bench's stand-ins). Leaf stacks rendering to out/, all created by the real engine through
// `npm run deploy`, then:
// - `pulumi preview` of an observer reading 10 and 100 of them, next to the floor: an observer
//   reading one leaf (the CLI, the program's start and the providers' start, all of it fixed);
// - `npm run rotate` over 20 of them at concurrency 1, 4 and 8: a scheduled run in which nothing
//   is due (refresh and up on every stack), against the floor of one leaf at concurrency 1.
// Figures only: nothing here passes or fails.
import { parseArgs } from "node:util";
import { PulumiProject, RunResult, pulumiProject } from "../test/real/support/pulumi";

const leafName = (i: number): string => `leaf-${String(i).padStart(3, "0")}`;
const qualified = (i: number): string => `organization/thanos-bridge/${leafName(i)}`;

function leafFile(i: number): string {
  return JSON.stringify({
    config: {
      "thanos-bridge:role": "leaf",
      "thanos-bridge:hostname": `thanos.${leafName(i)}.example.com`,
      "thanos-bridge:renderDir": `out/${leafName(i)}`,
    },
  });
}

function observerFile(leaves: number): string {
  return JSON.stringify({
    config: {
      "thanos-bridge:role": "observer",
      "thanos-bridge:renderDir": `out/observer-${leaves}`,
      "thanos-bridge:namespace": "thanos-bridge",
      "thanos-bridge:leaves": Array.from({ length: leaves }, (_, i) => qualified(i + 1)),
    },
  });
}

async function timed(what: string, run: () => Promise<RunResult>): Promise<number> {
  const started = Date.now();
  const r = await run();
  const seconds = (Date.now() - started) / 1000;
  if (r.code !== 0) {
    throw new Error(
      `${what} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`,
    );
  }
  return seconds;
}

const s = (n: number): string => `${n.toFixed(1)} s`.padStart(8);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { leaves: { type: "string", default: "100" } } });
  const most = Number(values.leaves);
  const sizes = [1, 10, 100].filter((n) => n <= most);
  const files: Record<string, string> = {};
  for (let i = 1; i <= most; i++) files[leafName(i)] = leafFile(i);
  for (const n of [...sizes, 20].filter((n) => n <= most)) files[`observer-${n}`] = observerFile(n);
  const project: PulumiProject = pulumiProject(files);
  try {
    console.log(
      `real Pulumi CLI: ${most} leaf stacks and ${Object.keys(files).length - most} observers, rendering`,
    );
    const created = await timed("deploy", () => project.npm("deploy", ["--concurrency", "8"]));
    console.log(`  npm run deploy (every stack, 8 at a time): ${s(created)}`);

    console.log("\npulumi preview of an observer (no change pending), by leaves read:");
    const preview: Record<number, number> = {};
    for (const n of sizes) {
      preview[n] = await timed(`preview observer-${n}`, () =>
        project.pulumi(["preview", "--stack", `observer-${n}`]),
      );
    }
    for (const n of sizes) {
      const extra =
        n === 1
          ? "floor"
          : `${((preview[n] - preview[1]) / (n - 1)).toFixed(2)} s a leaf over the floor`;
      console.log(`  ${String(n).padStart(4)} leaves: ${s(preview[n])}  (${extra})`);
    }

    if (most >= 20) {
      console.log("\nnpm run rotate, nothing due (refresh and up on every stack):");
      const floor = await timed("rotate floor", () =>
        project.npm("rotate", ["--observer", "observer-1", "--concurrency", "1"]),
      );
      console.log(`  1 leaf, concurrency 1: ${s(floor)}  (floor)`);
      for (const c of [1, 4, 8]) {
        const t = await timed(`rotate c=${c}`, () =>
          project.npm("rotate", ["--observer", "observer-20", "--concurrency", String(c)]),
        );
        console.log(
          `  20 leaves, concurrency ${c}: ${s(t)}  (${(t / floor).toFixed(1)}x the floor)`,
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
