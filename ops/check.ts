// npm run check: every Pulumi.<stack>.yaml in the project directory, read as the Pulumi CLI reads
// it and checked offline with the program's own loader (stacks/config/, the code each stack
// runs), then across stacks: an observer's leaves have stack files here and are leaves, named as
// the backend names stacks; no two leaves share a cluster name or a hostname; no two stacks of a
// role share a cluster and namespace. No Pulumi CLI, backend or cluster is needed; `npm run
// deploy` runs it first.

import { isRecord } from "../components/common/contract";
import {
  ConfigError,
  RawConfig,
  StackConfig,
  configWarnings,
  kubeconfigEncrypted,
  loadConfig,
  readLeafIdentity,
  readLeaves,
  readRole,
  show,
} from "../stacks/config";
import { PROJECT, Role } from "../stacks/keys";
import { Backend, chooseBackend } from "./backend";
import { EXIT, Exit, ExitCode } from "./command";
import { StackFile, ignoredStackFiles, parseStackFile, readStackFiles } from "./stackfiles";
import { PROJECT_DIR } from "./workspace";

export type { StackFile } from "./stackfiles";
export { readStackFiles } from "./stackfiles";

/** What a stack file holds besides config: (https://www.pulumi.com/docs/iac/concepts/projects/). */
const STACK_FILE_FIELDS = [
  "config",
  "environment",
  "secretsprovider",
  "encryptedkey",
  "encryptionsalt",
];

/** Stack names the Pulumi CLI accepts (tokens.ValidateStackName). */
const STACK_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** A stack file's config: section as Pulumi hands it to the program, and what it keeps encrypted. */
export interface StackFileConfig {
  /** Full keys to text: numbers, booleans, lists and maps as JSON; encrypted values left out. */
  readonly raw: RawConfig;
  /** Keys set with `secure:`, which cannot be read offline. */
  readonly encrypted: ReadonlySet<string>;
  readonly problems: readonly string[];
}

/**
 * A stack file's config: section read as the CLI reads it: a key without a namespace is the
 * project's (`role` is `thanos-bridge:role`), an encrypted value (`secure:`) is kept for the
 * program, which checks it at run time.
 */
export function readStackFileConfig(config: Record<string, unknown>): StackFileConfig {
  const raw: Record<string, string> = {};
  const encrypted = new Set<string>();
  const problems: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    const full = key.includes(":") ? key : `${PROJECT}:${key}`;
    if (full !== key && full in config) {
      problems.push(
        `${key} and ${full} are the same key (Pulumi puts a key without a namespace in the ` +
          `project's), set twice; keep one`,
      );
      continue;
    }
    if (isRecord(value) && Object.keys(value).join() === "secure") {
      if (typeof value["secure"] !== "string" || value["secure"] === "") {
        problems.push(
          `${full}: its secure: value is empty, so there is nothing to decrypt; set it with ` +
            `\`pulumi config set --secret ${full} <value>\``,
        );
      } else encrypted.add(full);
      continue;
    }
    if (value === null || value === undefined) continue;
    raw[full] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { raw, encrypted, problems };
}

/** A stack file's config as Pulumi hands it to the program: text, lists and maps as JSON. */
export function stackFileConfig(config: Record<string, unknown>): RawConfig {
  return readStackFileConfig(config).raw;
}

/** One stack file read: its config, and what the rules across stacks need of it. */
export interface CheckedStack {
  readonly stack: string;
  readonly role?: Role;
  /** An observer's fully qualified leaves, even when other keys of it are wrong. */
  readonly leaves: readonly string[];
  /** A leaf's cluster name and hostname as set, even when other keys of it are wrong. */
  readonly identity?: { readonly clusterName: string; readonly hostname: string };
  /** The program's typed config, when it is valid. */
  readonly loaded?: StackConfig;
  /** Where its objects go, when that can be told offline (an encrypted kubeconfig cannot). */
  readonly place?: string;
  /** Keys set with `secure:`. */
  readonly encrypted: ReadonlySet<string>;
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

/** Where a stack's objects go: its cluster (kubeconfig and context) or its render directory. */
function placeOf(config: StackConfig): string {
  const target = config.kubernetes;
  const where =
    target.kind === "render"
      ? `renderDir ${show(target.directory)}`
      : target.kubeconfig === undefined && target.context === undefined
        ? "the ambient kubeconfig's current context"
        : [
            target.kubeconfig !== undefined ? `kubeconfig ${show(target.kubeconfig)}` : "",
            target.context !== undefined ? `kubeContext ${show(target.context)}` : "",
          ]
            .filter((p) => p !== "")
            .join(", ");
  return `${where}, namespace ${show(config.namespace)}`;
}

export interface CheckOptions {
  /**
   * The backend's kind: on a DIY one (files, buckets, the try-out) stacks are named
   * organization/<project>/<stack>, so an observer's leaves must be named so too.
   */
  readonly backend?: Backend["kind"];
  /** Files named like stack files that Pulumi never reads (Pulumi.<stack>.yml). */
  readonly ignored?: readonly string[];
  /** The project directory, against which renderDir is judged. */
  readonly projectDir?: string;
}

export interface CheckResult {
  readonly problems: readonly string[];
  /** Legal values that are most likely mistakes: printed, refusing nothing. */
  readonly warnings: readonly string[];
  readonly stacks: readonly CheckedStack[];
}

/**
 * Every problem of the stack files, each naming the file, the key, the value and what is
 * allowed; none when all of them can run. The config of every file that parses is returned too.
 */
export function checkStackFiles(
  files: readonly StackFile[],
  options: CheckOptions = {},
): CheckResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const stacks: CheckedStack[] = [];
  for (const name of options.ignored ?? []) {
    const stack = /^Pulumi\.(.+)\.[^.]+$/.exec(name)?.[1] ?? name;
    problems.push(
      `${name}: Pulumi never reads it: a stack's file is Pulumi.<stack>.yaml, with the ` +
        `extension of Pulumi.yaml; rename it to Pulumi.${stack}.yaml`,
    );
  }
  for (const file of files) {
    const where = `Pulumi.${file.stack}.yaml`;
    if (!STACK_NAME.test(file.stack)) {
      problems.push(
        `${where}: ${show(file.stack)} is not a stack name Pulumi accepts (letters, digits, ` +
          `"-", "_" and "." only, at most 100); rename the file`,
      );
      continue;
    }
    let doc: unknown;
    try {
      doc = parseStackFile(file.text);
    } catch (e) {
      problems.push(`${where}: not valid YAML (${(e as Error).message.split("\n")[0]})`);
      continue;
    }
    if (doc !== null && doc !== undefined && !isRecord(doc)) {
      problems.push(`${where}: not a stack file (a YAML map with a config: section)`);
      continue;
    }
    for (const key of Object.keys(isRecord(doc) ? doc : {})) {
      if (STACK_FILE_FIELDS.includes(key)) continue;
      problems.push(
        `${where}: ${key} is outside config:, where Pulumi never reads it (a stack file holds ` +
          `${STACK_FILE_FIELDS.map((f) => `${f}:`).join(", ")}); indent it under config:`,
      );
    }
    const section = isRecord(doc) ? doc["config"] : undefined;
    if (section !== undefined && section !== null && !isRecord(section)) {
      problems.push(`${where}: its config: section is not a map of keys to values`);
      continue;
    }
    const config = isRecord(section) ? section : {};
    const read = readStackFileConfig(config);
    problems.push(...read.problems.map((p) => `${where}: ${p}`));
    const { raw, encrypted } = read;
    const { role } = readRole(raw);
    let loaded: StackConfig | undefined;
    try {
      loaded = loadConfig(raw, file.stack, encrypted);
      const projectDir = options.projectDir ?? PROJECT_DIR;
      warnings.push(...configWarnings(loaded, projectDir, encrypted).map((w) => `${where}: ${w}`));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems.map((p) => `${where}: ${p}`));
    }
    stacks.push({
      stack: file.stack,
      ...(role !== undefined ? { role } : {}),
      leaves: role === "observer" ? readLeaves(raw).leaves : [],
      ...(role === "leaf" ? { identity: readLeafIdentity(raw, file.stack) } : {}),
      ...(loaded !== undefined ? { loaded } : {}),
      ...(loaded !== undefined && !kubeconfigEncrypted(encrypted)
        ? { place: placeOf(loaded) }
        : {}),
      encrypted,
    });
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
  if (options.backend !== undefined && options.backend !== "cloud") {
    for (const observer of stacks) {
      for (const leaf of observer.leaves) {
        const [org, project, name] = leaf.split("/");
        if (org === "organization") continue;
        problems.push(
          `Pulumi.${observer.stack}.yaml: ${PROJECT}:leaves: ${leaf} cannot be found on this ` +
            `DIY backend, where stacks are named organization/<project>/<stack>; use ` +
            `organization/${project}/${name}`,
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
          `Pulumi.${leaf.stack}.yaml: ${PROJECT}:${key}: ${show(value)} is also ` +
            `Pulumi.${other}.yaml's; every leaf needs its own, or the observer cannot tell them apart`,
        );
      } else seen.set(value, leaf.stack);
    }
  }

  // Object names are fixed, so two stacks of a role in one cluster and namespace (or one render
  // directory) would overwrite each other's objects.
  const placed = new Map<string, string>();
  for (const s of stacks) {
    if (s.place === undefined || s.role === undefined) continue;
    const other = placed.get(`${s.role} ${s.place}`);
    if (other === undefined) {
      placed.set(`${s.role} ${s.place}`, s.stack);
      continue;
    }
    problems.push(
      `Pulumi.${s.stack}.yaml: ${PROJECT}:namespace: ${s.role} objects go to ${s.place}, as ` +
        `Pulumi.${other}.yaml's do; their names are fixed, so the two would overwrite each ` +
        `other: give one another namespace (${PROJECT}:namespace) or another cluster`,
    );
  }
  return { problems, warnings, stacks };
}

/** The backend's kind for the naming rule, as deploy would choose it; the try-out's if none. */
export function backendKind(env: Readonly<Record<string, string | undefined>>, repo: string) {
  try {
    return chooseBackend(env, repo, false).kind;
  } catch (e) {
    if (e instanceof Exit) return "try-out";
    throw e;
  }
}

/** The report `npm run check` prints, and its exit code. */
export function checkReport(
  files: readonly StackFile[],
  options: CheckOptions = {},
): {
  readonly code: ExitCode;
  readonly lines: readonly string[];
} {
  if (files.length === 0) {
    return { code: EXIT.usage, lines: ["check: there is no Pulumi.<stack>.yaml here"] };
  }
  const { problems, warnings } = checkStackFiles(files, options);
  const names = files.map((f) => `Pulumi.${f.stack}.yaml`).join(", ");
  const warned = warnings.map((w) => `check: warning: ${w}`);
  if (problems.length === 0) {
    return {
      code: EXIT.ok,
      lines: [`check: ${files.length} stack files valid: ${names}`, ...warned],
    };
  }
  return {
    code: EXIT.usage,
    lines: [
      `check: ${problems.length} problem${problems.length === 1 ? "" : "s"} in the stack files:`,
      ...problems.map((p) => `  - ${p}`),
      ...warned,
    ],
  };
}

if (require.main === module) {
  const { code, lines } = checkReport(readStackFiles(PROJECT_DIR), {
    backend: backendKind(process.env, PROJECT_DIR),
    ignored: ignoredStackFiles(PROJECT_DIR),
    projectDir: PROJECT_DIR,
  });
  for (const line of lines) (code === EXIT.ok ? console.log : console.error)(line);
  process.exitCode = code;
}
