import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KubernetesTarget } from "./config";

/**
 * The stack's one Kubernetes provider, passed explicitly to every Kubernetes resource: either a
 * cluster (the ambient kubeconfig unless `kubeconfig`/`kubeContext` are set) or a directory the
 * manifests are rendered to instead (`renderDir`; Secrets are then written there in plain text).
 */
export function kubernetesProvider(name: string, target: KubernetesTarget): k8s.Provider {
  // Secrets and ConfigMaps change in place. By default the provider replaces one whose data
  // changes, and one with a fixed name (all of ours) is deleted before it is created again:
  // for that moment a renewed leaf's ingress has no certificate and Querier's volume no source
  // (invariant 8 of docs/ARCHITECTURE.md). A ConfigMap marked immutable is still replaced.
  const mutable = { enableSecretMutable: true, enableConfigMapMutable: true };
  const args: k8s.ProviderArgs =
    target.kind === "render"
      ? {
          ...mutable,
          renderYamlToDirectory: target.directory,
          // A refresh (every deploy and rotate run) reads each object back, and with no cluster
          // the provider fails that ("unreachable cluster"). Dropped from the state instead,
          // each object is rendered again by the same run. (skipUpdateUnreachable, which would
          // keep the state, also skips Check, and the provider then panics creating an object.)
          deleteUnreachable: true,
        }
      : {
          ...mutable,
          // Kubeconfig contents are credentials: keep them secret in state whatever their source.
          ...(target.kubeconfig !== undefined
            ? { kubeconfig: pulumi.secret(target.kubeconfig) }
            : {}),
          ...(target.context !== undefined ? { context: target.context } : {}),
        };
  if (target.kind === "cluster") return new k8s.Provider(`${name}-kubernetes`, args);
  // The SDK fills an unset kubeconfig from $KUBECONFIG, and the provider refuses a kubeconfig
  // next to renderYamlToDirectory ("kubeconfig arg is not compatible"): a user with KUBECONFIG
  // exported, or the rotation workflow, which exports one, could not render. Rendering needs no
  // cluster, so the provider is made without it.
  const kubeconfig = process.env["KUBECONFIG"];
  delete process.env["KUBECONFIG"];
  try {
    return new k8s.Provider(`${name}-kubernetes`, args);
  } finally {
    if (kubeconfig !== undefined) process.env["KUBECONFIG"] = kubeconfig;
  }
}
