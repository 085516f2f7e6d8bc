import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KubernetesTarget } from "./config";

/**
 * The stack's one Kubernetes provider, passed explicitly to every Kubernetes resource: either a
 * cluster (the ambient kubeconfig unless `kubeconfig`/`kubeContext` are set) or a directory the
 * manifests are rendered to instead (`renderDir`; Secrets are then written there in plain text).
 */
export function kubernetesProvider(name: string, target: KubernetesTarget): k8s.Provider {
  const args: k8s.ProviderArgs =
    target.kind === "render"
      ? {
          renderYamlToDirectory: target.directory,
          // A refresh (every deploy and rotate run) reads each object back, and with no cluster
          // the provider fails that ("unreachable cluster"). Dropped from the state instead,
          // each object is rendered again by the same run. (skipUpdateUnreachable, which would
          // keep the state, also skips Check, and the provider then panics creating an object.)
          deleteUnreachable: true,
        }
      : {
          // Kubeconfig contents are credentials: keep them secret in state whatever their source.
          ...(target.kubeconfig !== undefined
            ? { kubeconfig: pulumi.secret(target.kubeconfig) }
            : {}),
          ...(target.context !== undefined ? { context: target.context } : {}),
        };
  return new k8s.Provider(`${name}-kubernetes`, args);
}
