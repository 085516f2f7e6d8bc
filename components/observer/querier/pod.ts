// Pure generators for the observer's Kubernetes objects: Thanos Querier with its Envoy sidecar,
// the endpoints file Querier reads, and the labels, names and hashes that tie them together.
// The Observer component declares what these return.

import { createHash } from "node:crypto";
import {
  ENVOY_PATHS,
  ENVOY_PORTS,
  EnvoyAccessLog,
  EnvoyIpFamily,
  EnvoyLeaf,
  QuerierFanOut,
  leafAlias,
  leafEndpoint,
} from "../envoy/bootstrap";
import { leafCertFiles } from "../envoy/sds";
import { byCluster } from "../../common/validate";

export const OBSERVER_OBJECT_NAMES = {
  /** Deployment, Service, PodDisruptionBudget and ServiceAccount. */
  querier: "thanos-bridge-querier",
  /** Prefix of the ConfigMap with envoy.yaml and endpoints.yaml (see `configMapName`). */
  config: "thanos-bridge-observer",
} as const;

/** The Secret holding one leaf's credentials for Envoy: its two SDS files (`leafSdsFiles`). */
export function leafSecretName(cluster: string): string {
  return `thanos-bridge-leaf-${cluster}`;
}

export const QUERIER_PORTS = { http: 10902, grpc: 10901 } as const;

/** Name of the Envoy container's one port, the stats listener (probes and metrics). */
export const ENVOY_STATS_PORT_NAME = "envoy-stats";

/** Envoy worker threads (`--concurrency`). */
export const ENVOY_CONCURRENCY = 2;

/** Querier's concurrency flags; Envoy's circuit breakers are sized from them. */
export const QUERIER_FAN_OUT: QuerierFanOut = { maxConcurrent: 20, maxConcurrentSelect: 4 };

export const THANOS_PATHS = {
  configDir: "/etc/thanos",
  endpointsFile: "endpoints.yaml",
} as const;

/** Kubernetes object size limit (etcd's request limit): a ConfigMap must stay under it. */
export const CONFIG_MAP_LIMIT_BYTES = 1024 * 1024;

/** Pod-level settings of the "restricted" Pod Security Standard, plus a fixed non-root user. */
export const POD_SECURITY_CONTEXT = {
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

/** The Envoy sidecar: its container, and the bootstrap settings that are the user's choice. */
export type EnvoySettings = ContainerSpec & {
  /** The pod network's IP family: where Envoy's stats listener binds. */
  readonly ipFamily: EnvoyIpFamily;
  readonly accessLog: EnvoyAccessLog;
};

export interface ObserverInput {
  /** Parsed, distinct leaves. */
  readonly leaves: readonly EnvoyLeaf[];
  readonly endpointSuffix: string;
  readonly querier: QuerierSettings;
  readonly envoy: EnvoySettings;
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

/**
 * The file Querier reads with `--endpoint.sd-config-file`: every leaf through Envoy, `strict`,
 * then the extra in-cluster endpoints, each list sorted. A strict endpoint is asked even while
 * its health check fails, so a leaf Envoy cannot reach shows as a partial-response warning; a
 * non-strict one is left out of every answer, without a word, until a health check passes
 * (Thanos pkg/query/endpointset.go, `isQueryable`; measured: docs/DATA-PATHS.md).
 */
export function endpointsConfig(
  input: Pick<ObserverInput, "leaves" | "endpointSuffix" | "querier">,
): {
  endpoints: { address: string; strict?: true }[];
} {
  return {
    endpoints: [
      ...[...input.leaves].sort(byCluster).map((l) => ({
        address: leafEndpoint(l.cluster, input.endpointSuffix),
        strict: true as const,
      })),
      ...[...input.querier.extraEndpoints].sort().map((address) => ({ address })),
    ],
  };
}

/**
 * What the pod template names, so that a change rolls the pods. Only the config does: a leaf's
 * renewed credentials change only its Secret, which Envoy re-reads through SDS in place.
 */
export interface PodRevision {
  /** The ConfigMap holding this revision of envoy.yaml and endpoints.yaml (`configMapName`). */
  readonly configMap: string;
}

/**
 * The ConfigMap's name carries a hash of its data, and the ConfigMap is immutable: each config
 * is a new object that only the pods of its revision mount. An old pod whose Envoy restarts
 * during a rollout still reads the config that matches its own certificate volume.
 */
export function configMapName(data: Readonly<Record<string, string>>): string {
  return `${OBSERVER_OBJECT_NAMES.config}-${configHash(data).slice(0, 10)}`;
}

/** SHA-256 over a config map's data, keys sorted: changes exactly when a file changes. */
export function configHash(data: Readonly<Record<string, string>>): string {
  const hash = createHash("sha256");
  for (const key of Object.keys(data).sort()) hash.update(`${key}\0${data[key]}\0`);
  return hash.digest("hex");
}

export function containerResources({ resources: { cpu, memory } }: ContainerSpec) {
  return { requests: { cpu, memory }, limits: { memory } };
}

export function querierArgs(input: {
  readonly querier: Pick<ObserverInput["querier"], "replicaLabels">;
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
 * The pod template: Querier, and Envoy as a native sidecar (an init container with restartPolicy
 * Always, Kubernetes 1.29+), so Envoy is ready before Querier starts and stops after it.
 */
export function observerPodTemplate(input: ObserverInput, revision: PodRevision) {
  const leaves = [...input.leaves].sort(byCluster);
  const envoyProbe = { httpGet: { path: "/ready", port: ENVOY_STATS_PORT_NAME } };
  return {
    // A new config is a new ConfigMap name below, which rolls the pods. Renewed certificates
    // are not: Envoy re-reads them through SDS when the kubelet updates the volume.
    metadata: { labels: observerLabels() },
    spec: {
      serviceAccountName: OBSERVER_OBJECT_NAMES.querier,
      automountServiceAccountToken: false,
      securityContext: POD_SECURITY_CONTEXT,
      terminationGracePeriodSeconds: 45,
      // Every leaf name resolves to Envoy on loopback; nothing leaves the pod in plain text.
      hostAliases:
        leaves.length === 0
          ? []
          : [
              {
                ip: "127.0.0.1",
                hostnames: leaves.map((l) => leafAlias(l.cluster, input.endpointSuffix)),
              },
            ],
      initContainers: [
        {
          name: "envoy",
          image: input.envoy.image,
          restartPolicy: "Always",
          command: ["envoy"],
          args: [
            "--config-path",
            `${ENVOY_PATHS.configDir}/${ENVOY_PATHS.configFile}`,
            // No shared memory for hot restart: Kubernetes restarts the container instead.
            "--disable-hot-restart",
            // Envoy starts a worker per CPU of the node by default, each with its own
            // connection pool per leaf; two workers suit a sidecar's CPU request.
            "--concurrency",
            String(ENVOY_CONCURRENCY),
            "--log-level",
            "info",
          ],
          ports: [
            { name: ENVOY_STATS_PORT_NAME, containerPort: ENVOY_PORTS.stats, protocol: "TCP" },
          ],
          startupProbe: { ...envoyProbe, periodSeconds: 2, failureThreshold: 30 },
          readinessProbe: { ...envoyProbe, periodSeconds: 10 },
          livenessProbe: { tcpSocket: { port: ENVOY_STATS_PORT_NAME }, periodSeconds: 20 },
          resources: containerResources(input.envoy),
          securityContext: containerSecurityContext(),
          volumeMounts: [
            { name: "envoy-config", mountPath: ENVOY_PATHS.configDir, readOnly: true },
            { name: "leaf-certs", mountPath: ENVOY_PATHS.certDir, readOnly: true },
          ],
        },
      ],
      containers: [
        {
          name: "querier",
          image: input.querier.image,
          args: querierArgs(input),
          ports: [
            { name: "http", containerPort: QUERIER_PORTS.http, protocol: "TCP" },
            { name: "grpc", containerPort: QUERIER_PORTS.grpc, protocol: "TCP" },
          ],
          livenessProbe: { httpGet: { path: "/-/healthy", port: "http" }, periodSeconds: 30 },
          readinessProbe: { httpGet: { path: "/-/ready", port: "http" }, periodSeconds: 10 },
          resources: containerResources(input.querier),
          securityContext: containerSecurityContext(),
          volumeMounts: [
            { name: "querier-config", mountPath: THANOS_PATHS.configDir, readOnly: true },
          ],
        },
      ],
      volumes: [
        {
          name: "envoy-config",
          configMap: {
            name: revision.configMap,
            items: [{ key: ENVOY_PATHS.configFile, path: ENVOY_PATHS.configFile }],
          },
        },
        {
          name: "querier-config",
          configMap: {
            name: revision.configMap,
            items: [{ key: THANOS_PATHS.endpointsFile, path: THANOS_PATHS.endpointsFile }],
          },
        },
        {
          // One directory per leaf in one volume, each with the leaf's two SDS files. Envoy
          // watches this volume's root, where the kubelet swaps `..data` on an update.
          name: "leaf-certs",
          projected: {
            defaultMode: 0o440,
            sources: leaves.map((l) => {
              const files = leafCertFiles(l.cluster);
              return {
                secret: {
                  name: leafSecretName(l.cluster),
                  items: [files.tlsCertificate, files.validationContext].map((f) => ({
                    key: f.key,
                    path: f.volumePath,
                  })),
                },
              };
            }),
          },
        },
      ],
      topologySpreadConstraints: querierSpreadConstraints(),
    },
  };
}

/** Spread replicas over nodes and zones when the cluster allows it. */
export function querierSpreadConstraints() {
  return ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector: { matchLabels: querierSelector() },
  }));
}

export function querierDeploymentSpec(input: ObserverInput, revision: PodRevision) {
  return {
    replicas: input.querier.replicas,
    revisionHistoryLimit: 5,
    selector: { matchLabels: querierSelector() },
    // Never fewer ready Queriers than asked for during a rollout.
    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: observerPodTemplate(input, revision),
  };
}

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

/**
 * Fails when the config would not fit in one ConfigMap, before anything is applied: the API
 * server would refuse it half-way through an update otherwise.
 */
export function assertFitsConfigMap(
  data: Readonly<Record<string, string>>,
  leafCount: number,
): void {
  const bytes = objectDataBytes(data);
  const room = OBJECT_DATA_ROOM_BYTES;
  if (bytes > room) {
    throw new Error(
      `${leafCount} leaves need ${bytes} bytes of Envoy and Querier config, more than one ` +
        `ConfigMap holds (${room} bytes with room for metadata); split the leaves over several ` +
        `observer stacks and put one Querier above their Queriers`,
    );
  }
}
