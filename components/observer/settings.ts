// The observer's settings as the stack's config gives them: Querier's, and each data path's own.
// Pure types and their allowed values, so the config loader reads them without loading a data
// path or Pulumi.

/** CPU and memory of one container: requests, and a memory limit equal to the request. */
export interface ContainerResources {
  readonly cpu: string;
  readonly memory: string;
}

export interface ContainerSpec {
  readonly image: string;
  readonly resources: ContainerResources;
}

/** Querier's settings, as the observer's config holds them. */
export type QuerierSettings = ContainerSpec & {
  readonly replicas: number;
  /** Sorted, without duplicates. */
  readonly replicaLabels: readonly string[];
  /** In-cluster StoreAPI endpoints Querier reaches directly, sorted. */
  readonly extraEndpoints: readonly string[];
  /** Namespaces besides its own whose pods may query it (NetworkPolicy), sorted. */
  readonly clientNamespaces: readonly string[];
};

/**
 * The pod network's IP family, which decides the address of Envoy's stats listener, the one the
 * kubelet probes on the pod's IP.
 */
export type EnvoyIpFamily = "IPv4" | "IPv6" | "DualStack";
export const ENVOY_IP_FAMILIES: readonly EnvoyIpFamily[] = ["IPv4", "IPv6", "DualStack"];

/** Which gRPC calls Envoy writes to its access log (stdout). */
export type EnvoyAccessLog = "none" | "errors" | "all";
export const ENVOY_ACCESS_LOGS: readonly EnvoyAccessLog[] = ["none", "errors", "all"];

/** The Envoy sidecar (`dataPath: envoy`): its container, and the bootstrap's user choices. */
export type EnvoySettings = ContainerSpec & {
  /** The pod network's IP family: where Envoy's stats listener binds. */
  readonly ipFamily: EnvoyIpFamily;
  readonly accessLog: EnvoyAccessLog;
};
