// Pure generators for the Thanos data path (`dataPath: thanos`): Querier originates the mutual
// TLS to each leaf itself (per-endpoint `client_config` of its endpoints file, Thanos v0.42+),
// with no Envoy. These make the endpoints file, where each leaf's files are and the shards that
// hold them; pod.ts makes the pod, and the Thanos path (index.ts) declares what they return.
//
// Layout, chosen so that adding or removing a leaf and renewing its certificates never changes
// the pod template (see docs/ARCHITECTURE.md, Decisions):
// - one ConfigMap of a fixed name holds `endpoints.yaml`, and changes in place;
// - every leaf's client certificate, key and CA bundle live in one of a fixed number of Secrets
//   (shards), chosen by a stable hash of the leaf's cluster name;
// - one projected volume holds the ConfigMap and every shard whole (no `items`, no subPath), so
//   the kubelet writes the endpoints file and all credentials in one atomic update, and Querier
//   re-reads them where they are.

import { createHash } from "node:crypto";
import { Leaf, SortedLeaves, splitPemBundle } from "../../common/contract";
import { OBJECT_DATA_ROOM_BYTES, THANOS_PATHS, objectDataBytes } from "../querier/pod";

export const THANOS_OBJECT_NAMES = {
  /** The ConfigMap holding `endpoints.yaml`; one name for every revision, updated in place. */
  endpoints: "thanos-bridge-endpoints",
  /** Prefix of the credential shards: `thanos-bridge-leaves-00` to `-31`. */
  shardPrefix: "thanos-bridge-leaves",
} as const;

/**
 * How many Secrets hold the leaves' credentials. Fixed, so the pod template names the same
 * Secrets whatever the leaves. One Secret for every leaf would pass the 1 MiB object limit long
 * before 1,000 leaves with RSA keys; 32 keep each shard small (about 31 leaves each at 1,000).
 */
export const LEAF_SHARDS = 32;

/** Querier's minimum TLS version towards the leaves, as Thanos spells it (1.0 to 1.3). */
const LEAF_TLS_MIN_VERSION = "1.2";

/** The name of shard `index`. */
function shardName(index: number): string {
  return `${THANOS_OBJECT_NAMES.shardPrefix}-${String(index).padStart(2, "0")}`;
}

/** Every shard, in order. */
export function shardNames(): string[] {
  return Array.from({ length: LEAF_SHARDS }, (_, i) => shardName(i));
}

/** The shard a leaf's credentials live in: a hash of its cluster name, the same on every run. */
export function leafShard(cluster: string): string {
  const digest = createHash("sha256").update(cluster).digest();
  return shardName(digest.readUInt32BE(0) % LEAF_SHARDS);
}

/** One file Querier reads for a leaf: its key in the leaf's shard, and its path in Querier. */
interface ThanosLeafFile {
  readonly key: string;
  readonly path: string;
}

/** A leaf's three files. The CA file holds the whole bundle: both CAs during a CA change. */
interface ThanosLeafFiles {
  readonly shard: string;
  readonly cert: ThanosLeafFile;
  readonly key: ThanosLeafFile;
  readonly ca: ThanosLeafFile;
}

/**
 * Where a leaf's credentials are, for the endpoints file and the shard alike. A shard is mounted
 * whole, so each key is a file at the volume's root: the cluster name keeps keys of different
 * leaves apart (a cluster name is a DNS label, so no key is `endpoints.yaml`).
 */
export function thanosLeafFiles(cluster: string): ThanosLeafFiles {
  const file = (suffix: string): ThanosLeafFile => {
    const key = `${cluster}.${suffix}`;
    return { key, path: `${THANOS_PATHS.configDir}/${key}` };
  };
  return {
    shard: leafShard(cluster),
    cert: file("tls.crt"),
    key: file("tls.key"),
    ca: file("ca.crt"),
  };
}

/**
 * The address Querier dials for a leaf: `dns:///<host:port>?ca=<fingerprint>`, the fingerprint
 * that of the CA bundle the leaf publishes (`caBundleFingerprint`). Thanos keeps one connection
 * per address and reads the trusted CAs only when it creates that connection
 * (pkg/query/endpointset.go `Update`, pkg/tls `NewClientConfig`): an address it already has
 * keeps its connection and its old CAs, whatever the files now say. So the address changes
 * exactly when the bundle does: when a CA is introduced, when the old one is retired, and when
 * an emergency CA change (`caEpoch`) replaces it outright. Querier dials the new address at
 * its next endpoint update, and adds it and drops the old one in that update under one lock, so
 * a query sees one or the other, never neither (a strict endpoint joins even when its first Info
 * call fails, and then shows as a partial-response warning); the old connection closes only
 * after in-flight calls had time to finish. gRPC dials the same host either way: the `dns` resolver takes the host and port from
 * the path and strips the query (grpc-go `parseTarget`), and the TLS server name comes from
 * `server_name`, not from the address. The address holds no `+`, which Thanos would take for a
 * DNS service-discovery prefix (pkg/discovery/dns `IsDynamicNode`).
 * See docs/DATA-PATHS.md (the CA change, thanos mode).
 */
export function thanosLeafAddress(leaf: Pick<Leaf, "endpoint" | "caCerts">): string {
  return `dns:///${leaf.endpoint}?ca=${caBundleFingerprint(leaf.caCerts)}`;
}

/**
 * 16 hex digits of SHA-256 over a PEM bundle's certificates, their base64 without white space,
 * sorted: the same for the same set of CAs whatever its order or line breaks.
 */
export function caBundleFingerprint(bundle: string): string {
  const certs = splitPemBundle(bundle)
    .map((pem) => pem.replace(/\s+/g, ""))
    .sort();
  return createHash("sha256").update(certs.join("\n")).digest("hex").slice(0, 16);
}

interface ThanosTlsConfig {
  readonly enabled: true;
  readonly cert_file: string;
  readonly key_file: string;
  readonly ca_file: string;
  readonly min_version: string;
}

interface ThanosEndpoint {
  readonly address: string;
  /**
   * Queried even while its health check fails. A leaf is a fixed address, so one that cannot be
   * reached must show as a partial-response warning, never silently drop out of the answer
   * (measured on the real bench: a non-strict leaf whose health check missed once was left out
   * of a query without a word).
   */
  readonly strict?: true;
  readonly client_config?: { readonly server_name: string; readonly tls_config: ThanosTlsConfig };
}

/**
 * The file Querier reads with `--endpoint.sd-config-file`: every leaf with its own mutual TLS
 * (the leaf's client certificate, key and CAs; SNI and the name its certificate must carry =
 * the leaf's hostname), then the extra in-cluster endpoints as they are, plain. Each list sorted.
 */
export function thanosEndpointsConfig(
  leaves: SortedLeaves<Pick<Leaf, "cluster" | "endpoint" | "serverName" | "caCerts">>,
  extraEndpoints: readonly string[],
): { endpoints: ThanosEndpoint[] } {
  return {
    endpoints: [
      ...leaves.map((l): ThanosEndpoint => {
        const files = thanosLeafFiles(l.cluster);
        return {
          address: thanosLeafAddress(l),
          strict: true,
          client_config: {
            server_name: l.serverName,
            tls_config: {
              enabled: true,
              cert_file: files.cert.path,
              key_file: files.key.path,
              ca_file: files.ca.path,
              min_version: LEAF_TLS_MIN_VERSION,
            },
          },
        };
      }),
      ...[...extraEndpoints].sort().map((address): ThanosEndpoint => ({ address })),
    ],
  };
}

/**
 * Every shard's data, by Secret name: each leaf's client certificate, key (`clientKeyOf`, key
 * material) and CA bundle in the shard of its cluster name; every shard present, empty or not.
 */
export function thanosShardData<L extends Pick<Leaf, "cluster" | "clientCert" | "caCerts">>(
  leaves: SortedLeaves<L>,
  clientKeyOf: (leaf: L) => string,
): Record<string, Record<string, string>> {
  const shards: Record<string, Record<string, string>> = Object.fromEntries(
    shardNames().map((name) => [name, {}]),
  );
  for (const leaf of leaves) {
    const files = thanosLeafFiles(leaf.cluster);
    const shard = shards[files.shard];
    shard[files.cert.key] = leaf.clientCert;
    shard[files.key.key] = clientKeyOf(leaf);
    shard[files.ca.key] = leaf.caCerts;
  }
  return shards;
}

/**
 * Fails, before anything is applied, when the endpoints file would not fit its ConfigMap or a
 * shard its Secret: the API server would refuse the object half-way through an update otherwise.
 */
export function assertThanosFits(
  endpoints: Readonly<Record<string, string>>,
  shards: Readonly<Record<string, Readonly<Record<string, string>>>>,
  leafCount: number,
): void {
  const split =
    "split the leaves over several observer stacks and put one Querier above their Queriers";
  const leaves = (n: number) => `${n} ${n === 1 ? "leaf" : "leaves"}`;
  const bytes = objectDataBytes(endpoints);
  if (bytes > OBJECT_DATA_ROOM_BYTES) {
    throw new Error(
      `${leaves(leafCount)} need ${bytes} bytes of Querier endpoints config, more than one ` +
        `ConfigMap holds (${OBJECT_DATA_ROOM_BYTES} bytes with room for metadata); ${split}`,
    );
  }
  for (const [name, data] of Object.entries(shards).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const shardBytes = objectDataBytes(data);
    if (shardBytes > OBJECT_DATA_ROOM_BYTES) {
      // Three keys per leaf.
      throw new Error(
        `Secret ${name} would hold ${shardBytes} bytes of credentials for ` +
          `${leaves(Object.keys(data).length / 3)}, more than one Secret holds ` +
          `(${OBJECT_DATA_ROOM_BYTES} bytes with room for metadata); ${split}`,
      );
    }
  }
}
