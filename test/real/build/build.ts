// `npm run real:build`: builds each pinned bench component from its Go module, or finds it in
// the cache, and prints one line per component: name, version, path, built or cached, seconds.
// A build that fails stops the run with the module and Go's own error; there is no fallback.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import {
  COMPONENTS,
  GoComponent,
  MODULE_FILES,
  moduleDir,
  REPO_ROOT,
  binaryPath,
  cacheRoot,
  componentVersion,
  pinnedVersion,
  stampFlags,
} from "./components";

const run = promisify(execFile);

export interface BuildResult {
  readonly name: string;
  readonly version: string;
  readonly path: string;
  readonly outcome: "built" | "cached" | "downloaded";
  readonly seconds: number;
}

export class BuildError extends Error {}

/** The Go version the builds use (`go1.26.8`), part of every cache key. */
export async function goVersion(): Promise<string> {
  try {
    const { stdout } = await run("go", ["env", "GOVERSION"], { env: goEnv() });
    return stdout.trim();
  } catch (e) {
    throw new BuildError(`cannot run the Go toolchain (go env GOVERSION): ${String(e)}`);
  }
}

/**
 * Builds use the machine's Go unless the component names its toolchain, and never stamp VCS
 * data: the module cache has no VCS.
 */
function goEnv(toolchain = "local"): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: toolchain, GOFLAGS: "-buildvcs=false" };
}

/**
 * Builds `c` unless its binary is cached. The binary is written into a temporary directory
 * beside its final one and renamed into place only once `go build` has succeeded, so a build
 * that fails or is interrupted never counts as built.
 */
export async function buildComponent(
  c: GoComponent,
  go: string,
  root: string = cacheRoot(),
): Promise<BuildResult> {
  const started = Date.now();
  const path = binaryPath(c, go, root);
  const result = (outcome: BuildResult["outcome"]): BuildResult => ({
    name: c.name,
    version: componentVersion(c),
    path,
    outcome,
    seconds: (Date.now() - started) / 1000,
  });
  if (existsSync(path)) return result("cached");
  const finalDir = dirname(path);
  const staging = `${finalDir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const scratch = `${finalDir}.scratch-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    const args = [
      "build",
      "-trimpath",
      ...(c.tags !== undefined ? ["-tags", c.tags.join(",")] : []),
      ...(c.prepare?.(scratch) ?? []),
      "-ldflags",
      ["-s", "-w", ...stampFlags(c)].join(" "),
      "-o",
      join(staging, c.name),
      c.package,
    ];
    await run("go", args, {
      cwd: join(REPO_ROOT, c.dir),
      env: goEnv(c.toolchain),
      maxBuffer: 64 * 1024 * 1024,
    });
    rmSync(finalDir, { recursive: true, force: true });
    renameSync(staging, finalDir);
    rmSync(scratch, { recursive: true, force: true });
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
    const stderr = (e as { stderr?: string }).stderr?.trim() ?? String(e);
    throw new BuildError(
      `${c.name}: go build of ${c.module} ${pinnedVersion(c)} (${c.dir}) failed:\n${stderr}`,
    );
  }
  return result("built");
}

export function formatResult(r: BuildResult): string {
  return `${r.name} ${r.version} ${r.path} ${r.outcome} ${r.seconds.toFixed(1)}s`;
}

/** Puts the module of CRD files into the Go module cache (a no-op when it is there). */
function fetchModuleFiles(name: string): BuildResult {
  const m = MODULE_FILES.find((x) => x.name === name);
  if (m === undefined) throw new BuildError(`no bench module files named ${name}`);
  const started = Date.now();
  let outcome: BuildResult["outcome"] = "cached";
  let dir: string;
  try {
    dir = moduleDir(m, true);
  } catch {
    outcome = "downloaded";
    try {
      dir = moduleDir(m, false);
    } catch (e) {
      throw new BuildError((e as Error).message);
    }
  }
  return {
    name,
    version: pinnedVersion(m),
    path: dir,
    outcome,
    seconds: (Date.now() - started) / 1000,
  };
}

const ALL = [...COMPONENTS.map((c) => c.name), ...MODULE_FILES.map((m) => m.name)];

/**
 * Builds or fetches the named components (all by default), one at a time: each Go build uses
 * both cores already.
 */
export async function buildAll(
  names: readonly string[] = ALL,
  log: (line: string) => void = console.log,
): Promise<BuildResult[]> {
  const go = await goVersion();
  const results: BuildResult[] = [];
  for (const name of names) {
    if (!ALL.includes(name)) {
      throw new BuildError(`no bench component named ${name}; known: ${ALL.join(", ")}`);
    }
    const c = COMPONENTS.find((x) => x.name === name);
    const r = c !== undefined ? await buildComponent(c, go) : fetchModuleFiles(name);
    log(formatResult(r));
    results.push(r);
  }
  return results;
}

async function main(): Promise<number> {
  const { positionals } = parseArgs({ allowPositionals: true, options: {} });
  try {
    await buildAll(positionals.length > 0 ? positionals : undefined);
    return 0;
  } catch (e) {
    if (e instanceof BuildError) {
      console.error(`real:build: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
