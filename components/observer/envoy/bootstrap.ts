// Pure generator of the observer's Envoy bootstrap (Envoy v3 API): leaves in, plain object out.
// Serialise it with `stableYaml`. No Pulumi imports; tested directly and validated in tests
// against Envoy's own .proto files. Each leaf's credentials are SDS files (sds.ts) the
// bootstrap names.
//
// Shape: one listener on 127.0.0.1 with one virtual host per leaf. Querier dials
// `<leaf>.<suffix>:<listener port>`; the pod's hostAliases resolve every such name to 127.0.0.1,
// so Envoy routes on `:authority` and the Stores page shows leaf names, not port numbers.

import type { Leaf, SortedLeaves } from "../../common/contract";
import type { QuerierFanOut } from "../querier/pod";
import type { EnvoyAccessLog, EnvoyIpFamily } from "../settings";
import { LeafSdsFile, SDS_CERT_DIR, leafCertFiles, typed } from "./sds";

/**
 * A leaf as Envoy needs it: where to connect, the name to expect (`serverName`, sent as SNI and
 * required as the server certificate's DNS SAN) and how long a stream may stay silent (the
 * leaf's `streamTimeoutSeconds`, so both ends agree).
 */
export type EnvoyLeaf = Pick<
  Leaf,
  "cluster" | "host" | "port" | "serverName" | "streamTimeoutSeconds"
>;

export interface EnvoyOptions {
  /** Suffix of the names Querier dials: `<leaf>.<suffix>`. */
  readonly endpointSuffix: string;
  readonly fanOut: QuerierFanOut;
  readonly ipFamily: EnvoyIpFamily;
  readonly accessLog: EnvoyAccessLog;
}

export const ENVOY_PORTS = {
  /** Querier → Envoy, plain gRPC, loopback only. */
  listener: 10000,
  /** Envoy admin, loopback only. */
  admin: 9901,
  /** The one pod-reachable port: `/stats/prometheus` and `/ready`, nothing else. */
  stats: 9902,
} as const;

/** Where the stats listener serves Envoy's metrics in Prometheus' text format. */
export const ENVOY_METRICS_PATH = "/stats/prometheus";

/** Where the Envoy container sees its config and each leaf's credentials. */
export const ENVOY_PATHS = {
  configDir: "/etc/envoy/config",
  configFile: "envoy.yaml",
  certDir: SDS_CERT_DIR,
} as const;

/** Name of the Envoy cluster that fronts the admin interface; leaf names cannot start with "_". */
const ADMIN_CLUSTER = "_admin";

/** The name Querier dials for a leaf; resolved to 127.0.0.1 by the pod's hostAliases. */
export function leafAlias(cluster: string, suffix: string): string {
  return `${cluster}.${suffix}`;
}

/** Querier's endpoint address for a leaf. */
export function leafEndpoint(cluster: string, suffix: string): string {
  return `${leafAlias(cluster, suffix)}:${ENVOY_PORTS.listener}`;
}

function socketAddress(address: string, port: number): Record<string, unknown> {
  return { socket_address: { address, port_value: port } };
}

function loadAssignment(name: string, address: string, port: number): Record<string, unknown> {
  return {
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }],
  };
}

function router(): Record<string, unknown> {
  return {
    name: "envoy.filters.http.router",
    typed_config: typed("envoy.extensions.filters.http.router.v3.Router", {}),
  };
}

/**
 * The data listener's access log: none; every call; or (`errors`) only calls whose gRPC status
 * is not OK, which Envoy derives from the HTTP status when a call ends without one (api
 * envoy/config/accesslog/v3/accesslog.proto, GrpcStatusFilter).
 */
function accessLog(choice: Exclude<EnvoyAccessLog, "none">): Record<string, unknown> {
  const log = {
    name: "envoy.access_loggers.stdout",
    typed_config: typed("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", {}),
  };
  if (choice === "all") return log;
  return { ...log, filter: { grpc_status_filter: { statuses: ["OK"], exclude: true } } };
}

/**
 * The stats listener's address. Envoy refuses to start when a listener binds `::` on a node
 * with IPv6 disabled ("IPv6 addresses are not supported on this machine"), and `0.0.0.0` is not
 * reachable on an IPv6 pod IP, so the pod network's family decides, as in Envoy Gateway's
 * `ipFamily` (envoyproxy/gateway#4817): IPv4 binds `0.0.0.0`; IPv6 binds `::`; DualStack binds
 * `::` with `ipv4_compat`, taking IPv4 connections as IPv4-mapped addresses on the same socket.
 */
function statsAddress(family: EnvoyIpFamily): Record<string, unknown> {
  const port_value = ENVOY_PORTS.stats;
  switch (family) {
    case "IPv4":
      return { socket_address: { address: "0.0.0.0", port_value } };
    case "IPv6":
      return { socket_address: { address: "::", port_value } };
    case "DualStack":
      return { socket_address: { address: "::", port_value, ipv4_compat: true } };
  }
}

function httpConnectionManager(
  statPrefix: string,
  routeConfig: Record<string, unknown>,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: typed(
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      { stat_prefix: statPrefix, route_config: routeConfig, http_filters: [router()], ...extra },
    ),
  };
}

/**
 * Limits for one leaf, sized for one Querier pod's fan-out (docs/DATA-PATHS.md, Envoy's
 * configuration).
 */
export function circuitBreakers(fanOut: QuerierFanOut): Record<string, unknown> {
  // Each concurrent query may run maxConcurrentSelect Series streams against every leaf; double
  // it for the Info, LabelNames and LabelValues calls that run beside them.
  const streams = 2 * fanOut.maxConcurrent * fanOut.maxConcurrentSelect;
  return {
    thresholds: [
      {
        priority: "DEFAULT",
        // HTTP/2 multiplexes: a few connections carry every stream.
        max_connections: 8,
        max_pending_requests: streams,
        max_requests: streams,
        max_retries: 3,
      },
    ],
  };
}

/** Settings identical for every leaf cluster, built once and shared (see `envoyBootstrap`). */
interface SharedClusterSettings {
  readonly protocolOptions: Record<string, unknown>;
  readonly connectionOptions: Record<string, unknown>;
  readonly circuitBreakers: Record<string, unknown>;
  readonly tlsParams: Record<string, unknown>;
  readonly alpn: readonly string[];
}

function sharedClusterSettings(fanOut: QuerierFanOut): SharedClusterSettings {
  return {
    protocolOptions: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        {
          // gRPC needs HTTP/2 to the leaf; PINGs find dead connections behind load balancers.
          explicit_http_config: {
            http2_protocol_options: { connection_keepalive: { interval: "30s", timeout: "10s" } },
          },
        },
      ),
    },
    connectionOptions: {
      tcp_keepalive: { keepalive_time: 60, keepalive_interval: 10, keepalive_probes: 3 },
    },
    circuitBreakers: circuitBreakers(fanOut),
    tlsParams: { tls_minimum_protocol_version: "TLSv1_2" },
    alpn: ["h2"],
  };
}

/**
 * An SDS secret read from a file and re-read when the kubelet updates the certificate volume.
 * The kubelet writes a Secret or projected volume's new content to a new timestamped directory
 * and renames `..data_tmp` to `..data` in the volume's root (kubernetes
 * pkg/volume/util/atomic_writer.go); `<cluster>/` is itself a link into `..data`, so nothing
 * is moved inside it. Envoy re-reads `path` when something is moved into `watched_directory`
 * (api envoy/config/core/v3/config_source.proto, PathConfigSource; envoyproxy/envoy#10979,
 * #13721), so that must be the volume's root, the certificate directory.
 */
function sdsSecretConfig(file: LeafSdsFile): Record<string, unknown> {
  return {
    name: file.secretName,
    sds_config: {
      path_config_source: { path: file.path, watched_directory: { path: ENVOY_PATHS.certDir } },
      resource_api_version: "V3",
    },
  };
}

function leafCluster(leaf: EnvoyLeaf, shared: SharedClusterSettings): Record<string, unknown> {
  const files = leafCertFiles(leaf.cluster);
  return {
    name: leaf.cluster,
    // One address behind the leaf's load balancer: LOGICAL_DNS keeps one connection pool and
    // re-resolves the name in the background.
    type: "LOGICAL_DNS",
    connect_timeout: "5s",
    dns_lookup_family: "V4_PREFERRED",
    load_assignment: loadAssignment(leaf.cluster, leaf.host, leaf.port),
    typed_extension_protocol_options: shared.protocolOptions,
    upstream_connection_options: shared.connectionOptions,
    circuit_breakers: shared.circuitBreakers,
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
        sni: leaf.serverName,
        common_tls_context: {
          tls_params: shared.tlsParams,
          alpn_protocols: shared.alpn,
          tls_certificate_sds_secret_configs: [sdsSecretConfig(files.tlsCertificate)],
          combined_validation_context: {
            // Envoy merges the SDS context (the CAs) into this one (ContextConfigImpl::
            // getCombinedValidationContextConfig). Without the SAN match it would check only
            // the chain.
            default_validation_context: {
              match_typed_subject_alt_names: [
                { san_type: "DNS", matcher: { exact: leaf.serverName } },
              ],
            },
            validation_context_sds_secret_config: sdsSecretConfig(files.validationContext),
          },
        },
      }),
    },
  };
}

function leafVirtualHost(leaf: EnvoyLeaf, suffix: string): Record<string, unknown> {
  const alias = leafAlias(leaf.cluster, suffix);
  return {
    name: leaf.cluster,
    domains: [alias, `${alias}:${ENVOY_PORTS.listener}`],
    routes: [
      {
        // Only Thanos gRPC services go upstream; anything else gets Envoy's 404.
        match: { prefix: "/thanos.", grpc: {} },
        route: {
          cluster: leaf.cluster,
          // Querier's :authority is the alias; the leaf's ingress routes on its own hostname.
          host_rewrite_literal: leaf.serverName,
          // Envoy's 15 s default would cut StoreAPI streams. Querier sets a gRPC deadline on
          // each call; Envoy enforces that deadline (grpc-timeout) and adds none of its own.
          timeout: "0s",
          max_stream_duration: { grpc_timeout_header_max: "0s" },
          // A stream silent this long is closed here exactly as the leaf's ingress would close
          // it; a route's idle timeout takes the place of the listener's stream_idle_timeout.
          idle_timeout: `${leaf.streamTimeoutSeconds}s`,
        },
      },
    ],
  };
}

/** The whole bootstrap for the given leaves, in their one order (`SortedLeaves`). */
export function envoyBootstrap(
  sorted: SortedLeaves<EnvoyLeaf>,
  options: EnvoyOptions,
): Record<string, unknown> {
  const loopback = "127.0.0.1";
  // One instance of the settings every leaf cluster shares, so the YAML can say them once.
  const shared = sharedClusterSettings(options.fanOut);
  return {
    node: { id: "thanos-bridge-observer", cluster: "thanos-bridge-observer" },
    admin: { address: socketAddress(loopback, ENVOY_PORTS.admin) },
    static_resources: {
      listeners: [
        {
          name: "leaves",
          address: socketAddress(loopback, ENVOY_PORTS.listener),
          filter_chains: [
            {
              filters: [
                httpConnectionManager(
                  "leaves",
                  {
                    name: "leaves",
                    virtual_hosts: sorted.map((l) => leafVirtualHost(l, options.endpointSuffix)),
                  },
                  {
                    // Querier speaks plaintext gRPC with prior knowledge.
                    codec_type: "HTTP2",
                    // Until a stream has its route (each leaf's sets its own idle timeout).
                    stream_idle_timeout: "600s",
                    ...(options.accessLog === "none"
                      ? {}
                      : { access_log: [accessLog(options.accessLog)] }),
                  },
                ),
              ],
            },
          ],
        },
        {
          name: "stats",
          // The only listener outside loopback, so the kubelet and Prometheus can reach it; it
          // forwards exactly two read-only admin paths.
          address: statsAddress(options.ipFamily),
          filter_chains: [
            {
              filters: [
                httpConnectionManager(
                  "stats",
                  {
                    name: "stats",
                    virtual_hosts: [
                      {
                        name: "stats",
                        domains: ["*"],
                        routes: [ENVOY_METRICS_PATH, "/ready"].map((path) => ({
                          match: {
                            path,
                            headers: [{ name: ":method", string_match: { exact: "GET" } }],
                          },
                          route: { cluster: ADMIN_CLUSTER },
                        })),
                      },
                    ],
                  },
                  { codec_type: "AUTO" },
                ),
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: ADMIN_CLUSTER,
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: loadAssignment(ADMIN_CLUSTER, loopback, ENVOY_PORTS.admin),
        },
        ...sorted.map((l) => leafCluster(l, shared)),
      ],
    },
  };
}
