// What every exposure of a leaf shares: the fixed names of the objects every exposure serves
// (the server certificate and client CA), the labels, the input every generator starts from,
// and how a gRPC service is matched. Pure; each exposure's generator builds on it.

/** Fixed object names: one leaf per namespace. */
export const LEAF_OBJECT_NAMES = {
  ingress: "thanos-bridge",
  serverTlsSecret: "thanos-bridge-server-tls",
  clientCaSecret: "thanos-bridge-client-ca",
} as const;

/** A namespaced Kubernetes object as the exposure generators build it (no Pulumi types). */
export interface LeafObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Record<string, string>;
  };
  readonly spec: Record<string, unknown>;
}

/** What every exposure's generator is given: the leaf, its hostname and the sidecar behind. */
export interface LeafExposureInput {
  readonly clusterName: string;
  /** The leaf's namespace: the sidecar Service, the routing and the certificate objects. */
  readonly namespace: string;
  readonly hostname: string;
  readonly sidecarService: string;
  readonly sidecarPort: number;
  /** Fully qualified gRPC service names, e.g. `thanos.Store`. */
  readonly allowedServices: readonly string[];
}

export function leafLabels(clusterName: string): Record<string, string> {
  return {
    "app.kubernetes.io/component": "leaf-exposure",
    "app.kubernetes.io/instance": clusterName,
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/name": "thanos-bridge",
  };
}

/**
 * The HTTP/2 path prefix of a gRPC service: a call to `thanos.Store/Series` is a POST to
 * `/thanos.Store/Series`, so `/thanos.Store/` admits that service's methods and nothing else.
 */
export function grpcServicePath(service: string): string {
  return `/${service}/`;
}
