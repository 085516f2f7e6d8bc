// Where a stack's objects go: a cluster (the ambient kubeconfig unless set) or a directory the
// manifests are rendered to, and the namespace.

import { isDnsLabel } from "../../components/common/validate";
import { Reader, fullKey, show } from "./reader";

/** Where Kubernetes objects go: a cluster (ambient kubeconfig unless set) or a render directory. */
export type KubernetesTarget =
  | {
      readonly kind: "cluster";
      readonly kubeconfig?: string;
      readonly context?: string;
      /** Do not wait for rollouts, endpoints and addresses (`pulumi.com/skipAwait`). */
      readonly skipAwait: boolean;
    }
  | { readonly kind: "render"; readonly directory: string };

/** The keys of the target, which both roles read into their config's `kubernetes`. */
export const TARGET_KEYS = ["kubeconfig", "kubeContext", "renderDir", "skipAwait"] as const;

export function readKubernetesTarget(r: Reader): KubernetesTarget {
  const kubeconfig = r.value("kubeconfig");
  const context = r.value("kubeContext");
  const renderDir = r.value("renderDir");
  const skipAwait = r.value("skipAwait");
  if (renderDir !== "") {
    if (skipAwait) {
      r.problem(
        "skipAwait",
        `true has no effect with ${fullKey("renderDir")} (rendering never waits); leave it unset`,
      );
    }
    if (kubeconfig !== "" || context !== "") {
      r.problem(
        "renderDir",
        `${show(renderDir)} renders manifests instead of deploying, so it cannot be combined with ` +
          `${fullKey("kubeconfig")} or ${fullKey("kubeContext")}; set one or the other`,
      );
    }
    return { kind: "render", directory: renderDir };
  }
  return {
    kind: "cluster",
    ...(kubeconfig !== "" ? { kubeconfig } : {}),
    ...(context !== "" ? { context } : {}),
    skipAwait,
  };
}

export function checkNamespace(r: Reader): void {
  const namespace = r.value("namespace");
  if (!isDnsLabel(namespace)) {
    r.problem(
      "namespace",
      `${show(namespace)} is not allowed; use a DNS label (lowercase letters, digits and "-", at most 63)`,
    );
  }
}
