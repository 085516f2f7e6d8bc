// Keys the program does not read though a stack sets them: unknown keys of the project (typos,
// keys of earlier releases), keys of a misspelt namespace, and the Kubernetes provider's own keys,
// of which two are taken as the project's.

import { CONFIG_SCHEMA, ConfigKey, PROJECT } from "../keys";
import { RawConfig, fullKey } from "./reader";
import { closest } from "./suggest";

/** Keys earlier releases read, and what replaced them. */
const REPLACED_KEYS: Readonly<Record<string, readonly ConfigKey[]>> = {
  certValidityHours: ["serverValidityHours", "clientValidityHours"],
  renewBeforeHours: ["serverRenewBeforeHours", "clientRenewBeforeHours"],
};

/** Rejects keys in the project's namespace that the program does not know (typos). */
export function unknownKeys(raw: RawConfig): string[] {
  const prefix = `${PROJECT}:`;
  const known = Object.keys(CONFIG_SCHEMA);
  return Object.keys(raw)
    .filter((k) => k.startsWith(prefix) && !(k.slice(prefix.length) in CONFIG_SCHEMA))
    .sort()
    .map((k) => {
      const name = k.slice(prefix.length);
      const replaced = REPLACED_KEYS[name];
      if (replaced) {
        return `${k} was replaced by ${replaced.map(fullKey).join(" and ")}; set those instead`;
      }
      const near = closest(name, known);
      return near !== undefined
        ? `${k} is not a known key; did you mean ${fullKey(near)}?`
        : `${k} is not a known key; known keys are ${[...known].sort().join(", ")}`;
    });
}

/**
 * Keys of another namespace that are ours misspelt (`thanos_bridge:`, `thanos-brigde:`): Pulumi
 * keeps them, and the program would never read them.
 */
export function nearNamespaceKeys(raw: RawConfig): string[] {
  return Object.keys(raw)
    .filter((k) => {
      const namespace = k.split(":")[0];
      return namespace !== PROJECT && closest(namespace, [PROJECT]) !== undefined;
    })
    .sort()
    .map((k) => {
      const [namespace, ...rest] = k.split(":");
      return (
        `${k}: the namespace ${namespace} is not this project's, so the program would never ` +
        `read it; did you mean ${fullKey(rest.join(":"))}?`
      );
    });
}

/**
 * The Kubernetes provider's own config keys. The program passes every resource its own provider,
 * which reads none of them, so `pulumi config set kubernetes:context X` would change nothing:
 * `context` and `kubeconfig` are taken as this project's keys (as Pulumi users expect), every
 * other one is refused with the key to use instead.
 */
export const KUBERNETES_KEYS: Readonly<Record<string, ConfigKey>> = {
  "kubernetes:context": "kubeContext",
  "kubernetes:kubeconfig": "kubeconfig",
};
const KUBERNETES_INSTEAD: Readonly<Record<string, ConfigKey>> = {
  "kubernetes:namespace": "namespace",
  "kubernetes:renderYamlToDirectory": "renderDir",
};

/** `raw` with `kubernetes:context`/`kubeconfig` as this project's keys, and the problems. */
export function kubernetesKeys(raw: RawConfig): { raw: RawConfig; problems: string[] } {
  const merged: Record<string, string | undefined> = { ...raw };
  const problems: string[] = [];
  for (const k of Object.keys(raw)
    .filter((k) => k.startsWith("kubernetes:"))
    .sort()) {
    const ours = KUBERNETES_KEYS[k];
    if (ours !== undefined) {
      const own = raw[fullKey(ours)];
      if (own !== undefined && own !== "" && own !== raw[k]) {
        problems.push(
          `${k} and ${fullKey(ours)} are both set, to different values; keep one (they mean ` +
            `the same here)`,
        );
      } else merged[fullKey(ours)] = raw[k];
      continue;
    }
    const instead = KUBERNETES_INSTEAD[k];
    problems.push(
      `${k} has no effect: this program gives its resources their own Kubernetes provider, ` +
        `which does not read the kubernetes: keys; ` +
        (instead !== undefined
          ? `set ${fullKey(instead)} instead`
          : `remove it (${PROJECT}'s keys are listed in docs/CONFIG.md)`),
    );
  }
  return { raw: merged, problems };
}
