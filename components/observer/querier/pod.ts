// What every data path builds Querier's pod from: its name, ports, labels and security settings,
// the Querier container (written here once; a path adds its own flags), the part of the pod
// template and the Deployment spec that no path changes, and the room an object's data has.
// Pure: each data path's pod.ts builds on it, and the Observer declares what they return.

import type { ContainerSpec, QuerierSettings } from "../settings";

/** Querier's Deployment, Service, PodDisruptionBudget, NetworkPolicy and ServiceAccount. */
export const QUERIER_NAME = "thanos-bridge-querier";

export const QUERIER_PORTS = { http: 10902, grpc: 10901 } as const;

/** Querier's per-pod concurrency, which bounds the streams a data path carries to one leaf. */
export interface QuerierFanOut {
  /** `--query.max-concurrent`: queries evaluated at once. */
  readonly maxConcurrent: number;
  /** `--query.max-concurrent-select`: selects (Series streams) per query, each to every leaf. */
  readonly maxConcurrentSelect: number;
}

/** Querier's concurrency flags; Envoy's circuit breakers are sized from them. */
export const QUERIER_FAN_OUT: QuerierFanOut = { maxConcurrent: 20, maxConcurrentSelect: 4 };

/** Where Querier reads its endpoints file, on every data path. */
export const THANOS_PATHS = {
  configDir: "/etc/thanos",
  endpointsFile: "endpoints.yaml",
} as const;

/** Pod-level settings of the "restricted" Pod Security Standard, plus a fixed non-root user. */
const POD_SECURITY_CONTEXT = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  seccompProfile: { type: "RuntimeDefault" },
};

/** Container-level settings of the "restricted" Pod Security Standard, read-only root. A new
 * object per container, so no two containers share (and could change) one. */
export function containerSecurityContext() {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

export function containerResources({ resources: { cpu, memory } }: ContainerSpec) {
  return { requests: { cpu, memory }, limits: { memory } };
}

export function observerLabels(): Record<string, string> {
  return {
    "app.kubernetes.io/component": "querier",
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/name": "thanos-bridge",
  };
}

/** What selects the Querier pods; a subset of the labels that never changes. */
export function querierSelector(): Record<string, string> {
  return { "app.kubernetes.io/component": "querier", "app.kubernetes.io/name": "thanos-bridge" };
}

/** Querier's flags on every data path; a path appends its own. */
export function querierArgs(input: {
  readonly querier: Pick<QuerierSettings, "replicaLabels">;
}): string[] {
  return [
    "query",
    "--log.level=info",
    `--http-address=0.0.0.0:${QUERIER_PORTS.http}`,
    `--grpc-address=0.0.0.0:${QUERIER_PORTS.grpc}`,
    // Shorter than the pod's termination grace period, so shutdown finishes in time.
    "--http-grace-period=20s",
    "--grpc-grace-period=20s",
    // --endpoint is deprecated in current Thanos in favour of this file.
    `--endpoint.sd-config-file=${THANOS_PATHS.configDir}/${THANOS_PATHS.endpointsFile}`,
    `--query.max-concurrent=${QUERIER_FAN_OUT.maxConcurrent}`,
    `--query.max-concurrent-select=${QUERIER_FAN_OUT.maxConcurrentSelect}`,
    ...[...input.querier.replicaLabels].sort().map((l) => `--query.replica-label=${l}`),
  ];
}

/**
 * The Querier container of every data path, with `args` (`querierArgs`, then the path's own). It
 * reads its endpoints file from the volume `querier-config`, which the path's pod provides.
 */
export function querierContainer(querier: ContainerSpec, args: string[]) {
  return {
    name: "querier",
    image: querier.image,
    args,
    ports: [
      { name: "http", containerPort: QUERIER_PORTS.http, protocol: "TCP" },
      { name: "grpc", containerPort: QUERIER_PORTS.grpc, protocol: "TCP" },
    ],
    livenessProbe: { httpGet: { path: "/-/healthy", port: "http" }, periodSeconds: 30 },
    readinessProbe: { httpGet: { path: "/-/ready", port: "http" }, periodSeconds: 10 },
    resources: containerResources(querier),
    securityContext: containerSecurityContext(),
    volumeMounts: [{ name: "querier-config", mountPath: THANOS_PATHS.configDir, readOnly: true }],
  };
}

/**
 * The pod template of every data path: Querier's ServiceAccount, the "restricted" pod security
 * settings, the grace period and the spread over nodes and zones, around the path's own `parts`
 * (its containers and volumes, and any host aliases).
 */
export function querierPodTemplate<Parts extends object>(parts: Parts) {
  return {
    metadata: { labels: observerLabels() },
    spec: {
      serviceAccountName: QUERIER_NAME,
      automountServiceAccountToken: false,
      securityContext: POD_SECURITY_CONTEXT,
      terminationGracePeriodSeconds: 45,
      ...parts,
      // Spread replicas over nodes and zones when the cluster allows it.
      topologySpreadConstraints: ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map(
        (topologyKey) => ({
          maxSkew: 1,
          topologyKey,
          whenUnsatisfiable: "ScheduleAnyway",
          labelSelector: { matchLabels: querierSelector() },
        }),
      ),
    },
  };
}

export function querierDeploymentSpec<Template>(replicas: number, template: Template) {
  return {
    replicas,
    revisionHistoryLimit: 5,
    selector: { matchLabels: querierSelector() },
    // Never fewer ready Queriers than asked for during a rollout.
    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template,
  };
}

/** Kubernetes object size limit (etcd's request limit): a ConfigMap must stay under it. */
const CONFIG_MAP_LIMIT_BYTES = 1024 * 1024;

/** Room kept for an object's metadata within the object size limit. */
const CONFIG_MAP_HEADROOM_BYTES = 16 * 1024;

/** How many bytes of data a ConfigMap or Secret may hold, with room for its metadata. */
export const OBJECT_DATA_ROOM_BYTES = CONFIG_MAP_LIMIT_BYTES - CONFIG_MAP_HEADROOM_BYTES;

/** The bytes an object's data takes, keys and values. */
export function objectDataBytes(data: Readonly<Record<string, string>>): number {
  return Object.entries(data).reduce(
    (sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
    0,
  );
}
