// Typed, validated stack configuration. Pure: the raw values come in as the strings Pulumi
// stores (numbers and booleans as text, arrays as JSON), so the same code serves the real
// program (stacks/index.ts) and the tests. Every problem is reported at once, each naming the
// key, the value and what is allowed, before any resource is declared.

import { isAbsolute, relative, resolve } from "node:path";
import { CONFIG_SCHEMA, ConfigKey, ConfigKeySpec, ROLES, Role } from "../keys";
import { kubernetesKeys, nearNamespaceKeys, unknownKeys } from "./foreign";
import { LeafConfig, readLeafConfig } from "./leaf";
import { ObserverConfig, readObserverConfig } from "./observer";
import { RawConfig, Reader, fullKey, show } from "./reader";
import { kubeconfigEncrypted, secrecyProblems } from "./secrecy";
import { didYouMean } from "./suggest";

export type { LeafConfig } from "./leaf";
export { readLeafIdentity } from "./leaf";
export type { ObserverConfig } from "./observer";
export { readLeaves } from "./observer";
export type { RawConfig } from "./reader";
export { show } from "./reader";
export { kubeconfigEncrypted } from "./secrecy";
export type { KubernetesTarget } from "./target";

export type StackConfig = LeafConfig | ObserverConfig;

export class ConfigError extends Error {
  constructor(
    readonly stack: string,
    readonly problems: readonly string[],
  ) {
    super(
      `invalid configuration for stack "${stack}" (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** Reads `role`, or says what is wrong with it. */
export function readRole(raw: RawConfig): { role?: Role; problem?: string } {
  const role = raw[fullKey("role")] ?? "";
  if ((ROLES as readonly string[]).includes(role)) return { role: role as Role };
  return {
    problem:
      role === ""
        ? `${fullKey("role")} is not set; run \`pulumi config set role leaf\` (or observer) on this stack`
        : `${fullKey("role")}: ${show(role)} is not allowed; use one of ${ROLES.join(", ")}` +
          didYouMean(role, ROLES),
  };
}

/** Keys of the other role that were set anyway: likely a stack file meant for another stack. */
function otherRoleKeys(r: Reader, role: Role): void {
  for (const [key, spec] of Object.entries(CONFIG_SCHEMA) as [ConfigKey, ConfigKeySpec][]) {
    if (spec.roles !== "all" && spec.roles !== role && r.isSet(key)) {
      r.problem(
        key,
        `applies only to role ${spec.roles}, but this stack's role is ${role}; remove it`,
      );
    }
  }
}

/**
 * Reads and validates the whole stack config. Throws a ConfigError listing every problem;
 * returns a typed object only when the config is entirely valid. A bad or missing role hides
 * nothing: every key the stack sets is still checked on its own.
 */
export function loadConfig(
  input: RawConfig,
  stack: string,
  encrypted?: ReadonlySet<string>,
): StackConfig {
  const { raw, problems: kubernetes } = kubernetesKeys(input);
  const problems = [
    ...nearNamespaceKeys(raw),
    ...kubernetes,
    ...unknownKeys(raw),
    ...(encrypted !== undefined ? secrecyProblems(input, encrypted) : []),
  ];
  const { role, problem } = readRole(raw);
  if (role === undefined) {
    // Each role's reader checks the keys it reads; keep what they say about keys set here.
    const set = new Set<string>();
    for (const read of [(r: Reader) => readLeafConfig(r, stack), readObserverConfig]) {
      const reader = new Reader(raw);
      read(reader);
      for (const p of reader.problemsOfSetKeys()) set.add(p);
    }
    throw new ConfigError(stack, [problem as string, ...problems, ...[...set].sort()]);
  }
  const reader = new Reader(raw);
  otherRoleKeys(reader, role);
  const config = role === "leaf" ? readLeafConfig(reader, stack) : readObserverConfig(reader);
  problems.push(...reader.problems);
  if (problems.length > 0) throw new ConfigError(stack, problems);
  return config;
}

/**
 * Legal values that are most likely mistakes, each naming its key; they refuse nothing.
 * `npm run check` and deploy print them. `encrypted` as for loadConfig: a kubeconfig set
 * encrypted is a target, though its value cannot be read offline.
 */
export function configWarnings(
  config: StackConfig,
  projectDir: string,
  encrypted: ReadonlySet<string> = new Set(),
): string[] {
  const warnings: string[] = [];
  if (config.role === "leaf" && config.publicPort === 80) {
    warnings.push(
      `${fullKey("publicPort")}: 80 is the plain-HTTP port, but the observer speaks TLS to the ` +
        `leaf's ingress, usually on 443; set the port the ingress serves HTTPS on`,
    );
  }
  const target = config.kubernetes;
  if (target.kind === "render") {
    const where = relative(projectDir, resolve(projectDir, target.directory));
    if (where.startsWith("..") || isAbsolute(where)) {
      warnings.push(
        `${fullKey("renderDir")}: ${show(target.directory)} is outside the project directory; ` +
          `the manifests go there with their Secrets in plain text, where the project's ` +
          `.gitignore does not reach; e.g. out/<stack> keeps them in the project, ignored`,
      );
    }
  } else if (
    target.kubeconfig === undefined &&
    target.context === undefined &&
    !kubeconfigEncrypted(encrypted)
  ) {
    warnings.push(
      `none of ${fullKey("kubeContext")}, ${fullKey("kubeconfig")} or ${fullKey("renderDir")} ` +
        `is set: the stack deploys to the current context of the ambient kubeconfig, whichever ` +
        `cluster that is when it runs; name the cluster with ${fullKey("kubeContext")}`,
    );
  }
  return warnings;
}
