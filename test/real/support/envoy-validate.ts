// Runs test/envoy-validate (Envoy's Go API with its validation rules) over config files the
// program writes, all in one process, and hands back the problems of each file by name.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A file to check: `bootstrap` is an envoy.yaml, `sds` a file a path_config_source reads. */
export interface EnvoyApiFile {
  kind: "bootstrap" | "sds";
  /** Names the file in the result; any text, unique among the files of one call. */
  name: string;
  /** The YAML as the program writes it. */
  content: string;
}

interface Report {
  files: { kind: string; path: string; problems: string[] }[];
}

/** The code and output of a run, whatever it exits with (1 only means "problems found"). */
async function execute(
  binary: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(binary, args, {
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code?: unknown; stdout?: string; stderr?: string; message?: string };
    if (typeof failed.code !== "number") {
      // Not an exit code: not started, killed by the timeout, or a signal.
      throw new Error(`${binary} did not run: ${failed.message}\n${failed.stderr ?? ""}`);
    }
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

function isReport(v: unknown): v is Report {
  const files = (v as { files?: unknown } | null)?.files;
  return (
    Array.isArray(files) &&
    files.every((f: { path?: unknown; problems?: unknown }) => {
      const problems = f?.problems;
      return (
        typeof f?.path === "string" &&
        Array.isArray(problems) &&
        problems.every((p) => typeof p === "string")
      );
    })
  );
}

/**
 * Problems Envoy's Go API finds in each file, by `name` ([] for a file without any). Throws,
 * with the validator's stderr, when it cannot check them (usage error, unreadable file,
 * unparseable output).
 */
export async function envoyApiProblems(
  binary: string,
  files: readonly EnvoyApiFile[],
): Promise<Record<string, string[]>> {
  const names = new Set(files.map((f) => f.name));
  if (names.size !== files.length) throw new Error("envoyApiProblems: file names must be unique");
  const dir = await mkdtemp(join(tmpdir(), "envoy-validate-"));
  try {
    // Files are numbered, not named after `name`, which may be any text (a path, say).
    const byPath = new Map<string, string>();
    const args: string[] = [];
    for (const [i, file] of files.entries()) {
      const path = join(dir, `${i}-${file.kind}.yaml`);
      await writeFile(path, file.content);
      byPath.set(path, file.name);
      args.push(`${file.kind}=${path}`);
    }
    const { code, stdout, stderr } = await execute(binary, args);
    let report: unknown;
    try {
      report = JSON.parse(stdout);
    } catch {
      report = undefined;
    }
    if ((code !== 0 && code !== 1) || !isReport(report)) {
      throw new Error(
        `${binary} exited ${code} without a report:\nstdout: ${stdout}\nstderr: ${stderr}`,
      );
    }
    const result: Record<string, string[]> = {};
    for (const f of report.files) {
      const name = byPath.get(f.path);
      if (name === undefined) throw new Error(`${binary} reported an unknown file ${f.path}`);
      result[name] = f.problems;
    }
    const missing = [...names].filter((n) => !(n in result));
    if (missing.length > 0) throw new Error(`${binary} did not report ${missing.join(", ")}`);
    // Exit 1 without a problem, or 0 with one, would be a validator bug.
    const anyProblem = Object.values(result).some((p) => p.length > 0);
    if (anyProblem !== (code === 1)) {
      throw new Error(`${binary} exited ${code}, inconsistent with its report: ${stdout}`);
    }
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
