// Pure generators for the Envoy data path's pod: Querier with Envoy as a native sidecar, the
// endpoints file that points Querier at Envoy, and the names and hashes that tie the pod to its
// ConfigMap and to each leaf's Secret. Built on the Querier base (../querier/pod.ts); the Envoy
// path (index.ts) declares what these return.

import { createHash } from "node:crypto";
import type { SortedLeaves } from "../../common/contract";
import {
  OBJECT_DATA_ROOM_BYTES,
  QUERIER_PORTS,
  THANOS_PATHS,
  containerResources,
  containerSecurityContext,
  objectDataBytes,
  querierArgs,
  querierContainer,
  querierPodTemplate,
} from "../querier/pod";
import type { EnvoySettings, QuerierSettings } from "../settings";
import { ENVOY_PATHS, ENVOY_PORTS, EnvoyLeaf, leafAlias, leafEndpoint } from "./bootstrap";
import { leafCertFiles } from "./sds";

/** Prefix of the ConfigMap with envoy.yaml and endpoints.yaml (see `configMapName`). */
const CONFIG_MAP_PREFIX = "thanos-bridge-observer";

/** The Secret holding one leaf's credentials for Envoy: its two SDS files (`leafSdsFiles`). */
export function leafSecretName(cluster: string): string {
  return `thanos-bridge-leaf-${cluster}`;
}

/** Name of the Envoy container's one port, the stats listener (probes and metrics). */
export const ENVOY_STATS_PORT_NAME = "envoy-stats";

/** Envoy worker threads (`--concurrency`). */
const ENVOY_CONCURRENCY = 2;

/** The Querier pods' ports the NetworkPolicy opens: Querier's, and Envoy's metrics. */
export const ENVOY_POLICY_PORTS: readonly number[] = [
  QUERIER_PORTS.http,
  QUERIER_PORTS.grpc,
  ENVOY_PORTS.stats,
];

export interface EnvoyPathInput {
  /** Parsed, distinct leaves. */
  readonly leaves: SortedLeaves<EnvoyLeaf>;
  readonly endpointSuffix: string;
  readonly querier: QuerierSettings;
  readonly envoy: EnvoySettings;
}

/**
 * The file Querier reads with `--endpoint.sd-config-file`: every leaf through Envoy, `strict`,
 * then the extra in-cluster endpoints, each list sorted. A strict endpoint is asked even while
 * its health check fails, so a leaf Envoy cannot reach shows as a partial-response warning; a
 * non-strict one is left out of every answer, without a word, until a health check passes
 * (Thanos pkg/query/endpointset.go, `isQueryable`; measured: docs/DATA-PATHS.md).
 */
export function envoyEndpointsConfig(
  input: Pick<EnvoyPathInput, "leaves" | "endpointSuffix" | "querier">,
): {
  endpoints: { address: string; strict?: true }[];
} {
  return {
    endpoints: [
      ...input.leaves.map((l) => ({
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
interface PodRevision {
  /** The ConfigMap holding this revision of envoy.yaml and endpoints.yaml (`configMapName`). */
  readonly configMap: string;
}

/**
 * The ConfigMap's name carries a hash of its data, and the ConfigMap is immutable: each config
 * is a new object that only the pods of its revision mount. An old pod whose Envoy restarts
 * during a rollout still reads the config that matches its own certificate volume.
 */
export function configMapName(data: Readonly<Record<string, string>>): string {
  return `${CONFIG_MAP_PREFIX}-${configHash(data).slice(0, 10)}`;
}

/** SHA-256 over a config map's data, keys sorted: changes exactly when a file changes. */
export function configHash(data: Readonly<Record<string, string>>): string {
  const hash = createHash("sha256");
  for (const key of Object.keys(data).sort()) hash.update(`${key}\0${data[key]}\0`);
  return hash.digest("hex");
}

/**
 * The pod template: Querier, and Envoy as a native sidecar (an init container with restartPolicy
 * Always, Kubernetes 1.29+), so Envoy is ready before Querier starts and stops after it. A new
 * config is a new ConfigMap name below, which rolls the pods. Renewed certificates are not:
 * Envoy re-reads them through SDS when the kubelet updates the volume.
 */
export function envoyPodTemplate(input: EnvoyPathInput, revision: PodRevision) {
  const { leaves } = input;
  const envoyProbe = { httpGet: { path: "/ready", port: ENVOY_STATS_PORT_NAME } };
  return querierPodTemplate({
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
        ports: [{ name: ENVOY_STATS_PORT_NAME, containerPort: ENVOY_PORTS.stats, protocol: "TCP" }],
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
    containers: [querierContainer(input.querier, querierArgs(input))],
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
  });
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
