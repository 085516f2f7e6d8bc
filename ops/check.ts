// npm run check: every Pulumi.<stack>.yaml in the project directory, checked offline with the
// program's own loader (stacks/config.ts, the code each stack runs), then across stacks: an
// observer's leaves have stack files here and are leaves, and no two leaves share a cluster name
// or a hostname. No Pulumi CLI, backend or cluster is needed; `npm run deploy` runs it first.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { isRecord } from "../components/contract";
import { ConfigError, RawConfig, loadConfig, readLeaves } from "../stacks/config";
import { PROJECT, ROLES, Role } from "../stacks/keys";
import { EXIT, ExitCode } from "./command";
import { PROJECT_DIR } from "./workspace";

export interface StackFile {
  readonly stack: string;
  readonly text: string;
}

/** The stack files in a directory, sorted by stack name. */
export function readStackFiles(dir: string): StackFile[] {
  return readdirSync(dir)
    .map((name) => /^Pulumi\.(.+)\.yaml$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ stack: m[1], text: readFileSync(join(dir, m[0]), "utf8") }))
    .sort((a, b) => (a.stack < b.stack ? -1 : 1));
}

/** A stack file's config as Pulumi hands it to the program: text, lists and maps as JSON. */
export function stackFileConfig(config: Record<string, unknown>): RawConfig {
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    // An encrypted value (`secure:`) cannot be read offline; the program checks it at run time.
    if (isRecord(value) && Object.keys(value).join() === "secure") continue;
    if (value === null || value === undefined) continue;
    raw[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return raw;
}

/** One stack file read: its config, and what the rules across stacks need of it. */
export interface CheckedStack {
  readonly stack: string;
  readonly config: Record<string, unknown>;
  readonly role?: Role;
  /** An observer's fully qualified leaves, even when other keys of it are wrong. */
  readonly leaves: readonly string[];
  /** A leaf's cluster name and hostname as set, even when other keys of it are wrong. */
  readonly identity?: { readonly clusterName: string; readonly hostname: string };
}

/** The stack part of `org/project/stack`, with the problem if it is not one of ours. */
function leafStackName(leaf: string): { stack?: string; problem?: string } {
  const parts = leaf.split("/");
  if (parts.length !== 3) return {};
  const [, project, stack] = parts;
  if (project !== PROJECT) {
    return { problem: `${leaf} is a stack of project ${project}, not of ${PROJECT}` };
  }
  return { stack };
}

/**
 * Every problem of the stack files, each naming the file, the key, the value and what is
 * allowed; none when all of them can run. The config of every file that parses is returned too.
 */
export function checkStackFiles(files: readonly StackFile[]): {
  readonly problems: readonly string[];
  readonly stacks: readonly CheckedStack[];
} {
  const problems: string[] = [];
  const stacks: CheckedStack[] = [];
  for (const file of files) {
    const where = `Pulumi.${file.stack}.yaml`;
    let doc: unknown;
    try {
      doc = parse(file.text);
    } catch (e) {
      problems.push(`${where}: not valid YAML (${(e as Error).message.split("\n")[0]})`);
      continue;
    }
    if (doc !== null && doc !== undefined && !isRecord(doc)) {
      problems.push(`${where}: not a stack file (a YAML map with a config: section)`);
      continue;
    }
    const section = isRecord(doc) ? doc["config"] : undefined;
    if (section !== undefined && section !== null && !isRecord(section)) {
      problems.push(`${where}: its config: section is not a map of keys to values`);
      continue;
    }
    const config = isRecord(section) ? section : {};
    const raw = stackFileConfig(config);
    const rawRole = raw[`${PROJECT}:role`];
    const role = (ROLES as readonly string[]).includes(rawRole ?? "")
      ? (rawRole as Role)
      : undefined;
    const base = {
      stack: file.stack,
      config,
      ...(role !== undefined ? { role } : {}),
      leaves: role === "observer" ? readLeaves(raw).leaves : [],
      ...(role === "leaf"
        ? {
            identity: {
              clusterName: raw[`${PROJECT}:clusterName`] || file.stack,
              hostname: raw[`${PROJECT}:hostname`] ?? "",
            },
          }
        : {}),
    };
    try {
      loadConfig(raw, file.stack);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems.map((p) => `${where}: ${p}`));
    }
    stacks.push(base);
  }

  const byName = new Map(stacks.map((s) => [s.stack, s]));
  for (const observer of stacks) {
    const where = `Pulumi.${observer.stack}.yaml: ${PROJECT}:leaves`;
    for (const leaf of observer.leaves) {
      const { stack, problem } = leafStackName(leaf);
      if (problem !== undefined) problems.push(`${where}: ${problem}`);
      if (stack === undefined) continue;
      const found = byName.get(stack);
      if (found === undefined) {
        problems.push(`${where}: ${leaf} has no stack file Pulumi.${stack}.yaml here`);
      } else if (found.role !== undefined && found.role !== "leaf") {
        problems.push(
          `${where}: ${leaf} is not a leaf (Pulumi.${stack}.yaml sets role ${found.role})`,
        );
      }
    }
  }

  for (const key of ["clusterName", "hostname"] as const) {
    const seen = new Map<string, string>();
    for (const leaf of stacks) {
      const value = leaf.identity?.[key] ?? "";
      if (value === "") continue;
      const other = seen.get(value);
      if (other !== undefined) {
        problems.push(
          `Pulumi.${leaf.stack}.yaml: ${PROJECT}:${key}: ${JSON.stringify(value)} is also ` +
            `Pulumi.${other}.yaml's; every leaf needs its own, or the observer cannot tell them apart`,
        );
      } else seen.set(value, leaf.stack);
    }
  }
  return { problems, stacks };
}

/** The report `npm run check` prints, and its exit code. */
export function checkReport(files: readonly StackFile[]): {
  readonly code: ExitCode;
  readonly lines: readonly string[];
} {
  if (files.length === 0) {
    return { code: EXIT.usage, lines: ["check: there is no Pulumi.<stack>.yaml here"] };
  }
  const { problems } = checkStackFiles(files);
  const names = files.map((f) => `Pulumi.${f.stack}.yaml`).join(", ");
  if (problems.length === 0) {
    return { code: EXIT.ok, lines: [`check: ${files.length} stack files valid: ${names}`] };
  }
  return {
    code: EXIT.usage,
    lines: [
      `check: ${problems.length} problem${problems.length === 1 ? "" : "s"} in the stack files:`,
      ...problems.map((p) => `  - ${p}`),
    ],
  };
}

if (require.main === module) {
  const { code, lines } = checkReport(readStackFiles(PROJECT_DIR));
  for (const line of lines) (code === EXIT.ok ? console.log : console.error)(line);
  process.exitCode = code;
}
