// `npm run test:real:loaded`: the real bench, run again and again while CPU-heavy work runs
// beside it, the way a busy CI machine runs it. Starts `--workers` busy loops (one per core by
// default), runs the real bench `--runs` times in a row (or only `--file`s), prints each run's
// result and time, and stops the busy loops however it ends. Exit 0 only if every run passed.
import { ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";

const USAGE = `usage: npm run test:real:loaded -- [--runs N] [--workers N] [--max-minutes N] [--file F]...
  --runs N         runs of the real bench, one after another (default 5)
  --workers N      busy loops beside it (default: one per core, ${availableParallelism()} here)
  --max-minutes N  the busy loops end by themselves after this long (default 240)
  --file F         run only these test files (default: npm run test:real, every file)`;

/** A busy loop in its own process that ends by itself after `maxMs`, whatever happens here. */
function busyLoop(maxMs: number): ChildProcess {
  const code = `const end = Date.now() + ${maxMs}; let x = 0; while (Date.now() < end) x = (x * 31 + 7) % 1000003;`;
  return spawn(process.execPath, ["-e", code], { stdio: "ignore" });
}

/** Runs `command`, passing its output through; resolves with its exit code and its output. */
function run(command: string, args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const pass = (target: NodeJS.WriteStream) => (d: Buffer) => {
      out += d.toString();
      target.write(d);
    };
    child.stdout.on("data", pass(process.stdout));
    child.stderr.on("data", pass(process.stderr));
    child.once("close", (code) => resolve({ code: code ?? 1, out }));
  });
}

/**
 * The real bench's mocha options without its `spec` (mocha adds a config's spec to the files
 * given, so the files are run with the options alone).
 */
function realMochaOptions(): string[] {
  const config = JSON.parse(readFileSync(".mocharc.real.json", "utf8")) as {
    require: string[];
    extension: string[];
    timeout: number;
  };
  return [
    "--no-config",
    ...config.require.flatMap((r) => ["--require", r]),
    ...config.extension.flatMap((e) => ["--extension", e]),
    "--timeout",
    String(config.timeout),
  ];
}

/** mocha's own closing counts, e.g. "116 passing, 0 failing". */
function counts(out: string): string {
  const passing = /(\d+) passing/.exec(out)?.[1] ?? "0";
  const failing = /(\d+) failing/.exec(out)?.[1] ?? "0";
  return `${passing} passing, ${failing} failing`;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: "string", default: "5" },
        workers: { type: "string", default: String(availableParallelism()) },
        "max-minutes": { type: "string", default: "240" },
        file: { type: "string", multiple: true },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const whole = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} ${value}: a whole number >= ${min}`);
    return n;
  };
  let runs: number, workers: number, maxMinutes: number;
  try {
    runs = whole("runs", values.runs, 1);
    workers = whole("workers", values.workers, 0);
    maxMinutes = whole("max-minutes", values["max-minutes"], 1);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const files = values.file ?? [];
  const loops = Array.from({ length: workers }, () => busyLoop(maxMinutes * 60_000));
  const stopLoops = () => loops.forEach((l) => l.kill("SIGKILL"));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      stopLoops();
      process.kill(process.pid, signal);
    });
  }
  const results: string[] = [];
  let passed = 0;
  try {
    for (let i = 1; i <= runs; i++) {
      console.log(`\n== loaded run ${i} of ${runs}: ${workers} busy loops beside it ==`);
      const started = Date.now();
      const { code, out } =
        files.length === 0
          ? await run("npm", ["run", "test:real"])
          : await run("npx", ["mocha", ...realMochaOptions(), ...files]);
      const minutes = ((Date.now() - started) / 60_000).toFixed(1);
      if (code === 0) passed++;
      results.push(
        `run ${i}: ${code === 0 ? "passed" : `FAILED (exit ${code})`}, ${counts(out)}, ${minutes} min`,
      );
    }
  } finally {
    stopLoops();
  }
  console.log(`\n== ${passed} of ${runs} loaded runs passed (${workers} busy loops) ==`);
  for (const r of results) console.log(`  ${r}`);
  return passed === runs ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
