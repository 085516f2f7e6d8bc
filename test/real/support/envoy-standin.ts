// A stand-in for the observer's Envoy sidecar on the real bench: no Envoy binary can be had here,
// so Debian's nginx is configured from the generated envoy.yaml and the SDS files it names (read
// through the Envoy container's volume mounts, invariant 4 of docs/ARCHITECTURE.md), doing on the
// data path what that Envoy config says: plaintext HTTP/2 from Querier on the `leaves` listener,
// a server per virtual host matched on :authority, gRPC routes to each leaf with the :authority
// rewritten, and mutual TLS to the leaf's ingress (SNI, client certificate, trusted CAs, the SAN
// check, ALPN h2, the TLS versions) over connections pooled per leaf, as Envoy's cluster pools
// them. It is nginx, not Envoy, and says so in every line it prints.
//
// The translation is strict: it walks envoy.yaml and accounts for every key, either rendered or
// set aside in NO_EFFECT with the reason it does not change this data path. Any other key, and
// any value it cannot render the way Envoy would act on it, fails the translation with the key's
// path, so the stand-in never passes a test while silently ignoring part of the config.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { isIPv4, createServer } from "node:net";
import { join } from "node:path";
import { parse } from "yaml";
import {
  NGINX_BINARY,
  NginxDidNotStart,
  nginxFileDirectives,
  startNginxProcess,
} from "../../support/nginx-process";
import { removeDir, tempDir } from "../../support/processes";
import { ObserverRun, SdsSecretConfig, mountedFile, sdsSecret } from "../../support/observer";
import { assertValidEnvoyBootstrap } from "../../support/envoy-validator";
import { podNames } from "./bridge";
import { hostsFile } from "./pod";

type Json = Record<string, unknown>;
type SdsKind = "tls_certificate" | "validation_context";

/** What an SDS reference of envoy.yaml delivers: the body of the secret (`tls_certificate` ...). */
export type SdsSource = (ref: SdsSecretConfig, kind: SdsKind) => Record<string, unknown>;

/**
 * Keys of envoy.yaml (and of the Envoy container's arguments) that have no effect on the data
 * path the stand-in carries, each with the reason. The translation sets exactly these aside.
 */
export const NO_EFFECT = {
  node: "names this Envoy to control planes and in its stats; routes nothing",
  admin: "Envoy's own admin interface on loopback; serves Envoy's state, carries no leaf traffic",
  statsListener:
    "the pod-reachable listener serving /stats/prometheus and /ready from the admin interface; " +
    "every route goes to the admin cluster, none to a leaf",
  adminCluster: "fronts Envoy's admin interface for the stats listener; no leaf traffic",
  statPrefix: "names Envoy's statistics",
  accessLog: "logs requests after the fact; changes none",
  routeConfigName: "names the route table in Envoy's stats",
  virtualHostName: "names the virtual host in Envoy's stats",
  circuitBreakerStreams:
    "caps Envoy's pending and concurrent requests per leaf, sized from Querier's fan-out, which " +
    "the bench's queries stay far below; nginx has no per-destination cap on requests",
  circuitBreakerRetries:
    "caps Envoy's concurrent retries per leaf; no route has a retry policy, and the stand-in " +
    "never retries (grpc_next_upstream off)",
  http2Keepalive:
    "HTTP/2 PINGs that find pooled upstream connections dead without a FIN; loopback " +
    "connections here do not die that way, and nginx sends no PINGs",
  tcpKeepaliveTimings:
    "SO_KEEPALIVE probe timings; rendered as grpc_socket_keepalive on with the system's timings, " +
    "and loopback connections here never go silent",
  watchedDirectory:
    "makes Envoy re-read the SDS file when the kubelet swaps ..data; the stand-in reads each " +
    "file once, at start",
  grpcTimeoutHeaderMax:
    "0s: Envoy bounds the stream by the grpc-timeout Querier sends, uncapped; Querier cancels " +
    "at that deadline itself, and nginx forwards the header without enforcing it",
  disableHotRestart: "Envoy's hot restart between two of its own processes; one nginx here",
  logLevel: "Envoy's own log verbosity",
} as const;

/** One key set aside: where it is and why it has no effect here. */
export interface Ignored {
  readonly path: string;
  readonly reason: string;
}

/** An upstream leaf as the translation renders it. */
export interface StandInUpstream {
  /** The Envoy cluster, and the nginx `upstream` block of the same name that grpc_pass names. */
  readonly cluster: string;
  /** The cluster's endpoint, `host:port`: the upstream block's one server. */
  readonly endpoint: string;
  readonly sni: string;
  /**
   * Idle connections to the leaf each nginx worker keeps for reuse (`keepalive`): the cluster's
   * circuit breaker max_connections shared among the workers (see `poolPerWorker`).
   */
  readonly keepalive: number;
}

export interface StandInTranslation {
  /** nginx.conf. */
  readonly config: string;
  /** Files the config names, relative to the directory it was rendered for. Keys: mode 0600. */
  readonly files: readonly { readonly name: string; readonly content: string; mode: number }[];
  /** The address and port of each translated listener. */
  readonly listens: readonly { readonly listener: string; address: string; port: number }[];
  readonly upstreams: readonly StandInUpstream[];
  /** Every key set aside, by path, with its reason (NO_EFFECT). */
  readonly ignored: readonly Ignored[];
}

function fail(path: string, why: string): never {
  throw new Error(`stand-in envoy: ${path === "" ? "envoy.yaml" : path}: ${why}`);
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/**
 * One object of envoy.yaml. Each key is read (`opt`, `need`, ...) or set aside (`ignore`);
 * `within` fails for any key left over, naming its path.
 */
class Fields {
  private readonly accounted = new Set<string>();

  constructor(
    readonly path: string,
    private readonly value: Json,
    private readonly ignored: Ignored[],
  ) {}

  at(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  opt(key: string): unknown {
    this.accounted.add(key);
    return this.value[key];
  }

  need(key: string): unknown {
    const v = this.opt(key);
    if (v === undefined || v === null) fail(this.at(key), "is required by the translation");
    return v;
  }

  /** A string key; with `allowed`, only those values translate. */
  str(key: string, allowed?: readonly string[]): string {
    const v = this.need(key);
    if (typeof v !== "string") fail(this.at(key), `${show(v)} is not a string`);
    if (allowed !== undefined && !allowed.includes(v)) {
      fail(this.at(key), `${show(v)} is not translated (only ${allowed.join(", ")})`);
    }
    return v;
  }

  optStr(key: string, allowed?: readonly string[]): string | undefined {
    if (this.opt(key) === undefined) return undefined;
    return this.str(key, allowed);
  }

  port(key: string): number {
    const v = this.need(key);
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) {
      fail(this.at(key), `${show(v)} is not a port`);
    }
    return v;
  }

  list(key: string): unknown[] {
    const v = this.need(key);
    if (!Array.isArray(v)) fail(this.at(key), `${show(v)} is not a list`);
    return v;
  }

  /** Exactly one element of a list; a second one is not translated. */
  only(key: string): unknown {
    const items = this.list(key);
    if (items.length === 0) fail(this.at(key), "is empty");
    if (items.length > 1) fail(`${this.at(key)}[1]`, "is not translated: only one is");
    return items[0];
  }

  /** Requires `@type` to name `type`. */
  type(type: string): void {
    this.str("@type", [`type.googleapis.com/${type}`]);
  }

  /** A key with no effect on this data path, for `reason`; recorded, not rendered. */
  ignore(key: string, reason: string): void {
    this.accounted.add(key);
    if (key in this.value) this.ignored.push({ path: this.at(key), reason });
  }

  /** Fails, naming its path, for the first key neither read nor set aside. */
  done(): void {
    for (const key of Object.keys(this.value)) {
      if (!this.accounted.has(key)) fail(this.at(key), "is not translated by the stand-in");
    }
  }
}

/** Reads the object `value` at `path` with `read`, then fails for any key `read` left over. */
function within<T>(value: unknown, path: string, ignored: Ignored[], read: (f: Fields) => T): T {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, `${show(value)} is not an object`);
  }
  const fields = new Fields(path, value as Json, ignored);
  const out = read(fields);
  fields.done();
  return out;
}

/** An Envoy duration ("5s", "0.25s") in milliseconds. */
function durationMs(value: unknown, path: string): number {
  const m = typeof value === "string" ? /^(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (m === null) fail(path, `${show(value)} is not a duration`);
  return Number(m[1]) * 1000 + Math.round(Number(`0.${m[2] ?? "0"}`) * 1000);
}

/** A value nginx.conf takes as one bare token: no space, quote, `;`, brace or variable. */
function token(value: string, path: string): string {
  if (!/^[A-Za-z0-9._:/+-]+$/.test(value)) fail(path, `${show(value)} cannot be written to nginx`);
  return value;
}

interface SocketAddress {
  readonly address: string;
  readonly port: number;
}

/** `address.socket_address` with only an address and a port. */
function socketAddress(value: unknown, path: string, ignored: Ignored[]): SocketAddress {
  return within(value, path, ignored, (a) =>
    within(a.need("socket_address"), a.at("socket_address"), ignored, (s) => ({
      address: token(s.str("address"), s.at("address")),
      port: s.port("port_value"),
    })),
  );
}

const sameAddress = (a: SocketAddress, b: SocketAddress) =>
  a.address === b.address && a.port === b.port;

/** The addresses a cluster's load_assignment names, read loosely (to recognise the admin one). */
function endpointsOf(cluster: unknown): SocketAddress[] {
  const la = (cluster as { load_assignment?: { endpoints?: unknown } }).load_assignment;
  const localities = Array.isArray(la?.endpoints) ? (la.endpoints as unknown[]) : [];
  return localities.flatMap((l) => {
    const lbs = (l as { lb_endpoints?: unknown }).lb_endpoints;
    return (Array.isArray(lbs) ? (lbs as unknown[]) : []).map((e) => {
      const s = (e as { endpoint?: { address?: { socket_address?: Json } } }).endpoint?.address
        ?.socket_address;
      return { address: String(s?.address), port: Number(s?.port_value) };
    });
  });
}

/**
 * Every cluster a listener can send to, at any depth (a route's or a TCP proxy's `cluster`), or
 * undefined when it picks clusters some other way (weighted, from a header, by a plugin).
 */
function reachableClusters(value: unknown): string[] | undefined {
  const found: string[] = [];
  let open = false;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (typeof v !== "object" || v === null) return;
    for (const [k, child] of Object.entries(v as Json)) {
      if (k === "cluster" && typeof child === "string") found.push(child);
      else if (["weighted_clusters", "cluster_header", "cluster_specifier_plugin"].includes(k)) {
        open = true;
      } else walk(child);
    }
  };
  walk(value);
  return open ? undefined : found;
}

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TLS_VERSIONS: Record<string, string> = {
  TLSv1_0: "TLSv1",
  TLSv1_1: "TLSv1.1",
  TLSv1_2: "TLSv1.2",
  TLSv1_3: "TLSv1.3",
};
const TLS_ORDER = ["TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"];
/**
 * Envoy's documented default cipher list of an upstream (client) TLS context in non-FIPS builds,
 * its equal-preference groups flattened in order (OpenSSL has no such groups). TLS 1.3 suites
 * are not configurable in Envoy either.
 */
const ENVOY_CLIENT_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
].join(":");
/** Envoy's default limit on a certificate chain's depth (max_verify_depth unset). */
const ENVOY_VERIFY_DEPTH = 100;
/** Envoy's connect_timeout when a cluster sets none. */
const ENVOY_CONNECT_TIMEOUT_MS = 5000;
/** Envoy's max_connections of a cluster's circuit breaker when it sets none. */
const ENVOY_MAX_CONNECTIONS = 1024;
/**
 * Envoy's idle timeout of an upstream HTTP connection when the cluster's HttpProtocolOptions set
 * no common_http_protocol_options.idle_timeout (which the translation would refuse): 1 hour.
 */
const ENVOY_UPSTREAM_IDLE_TIMEOUT = "3600s";
/**
 * keepalive_requests where Envoy has no cap on a connection's requests (upstream:
 * max_requests_per_connection unset; downstream: none): nginx takes no "unlimited", so a count
 * no run here reaches.
 */
const NGINX_UNLIMITED_REQUESTS = 2147483647;
/**
 * keepalive_time, nginx's cap on a pooled connection's age (its default is 1 h): Envoy has none
 * (max_connection_duration unset), and a year is none for any run here.
 */
const NGINX_LONGEST_KEEPALIVE_TIME = "365d";

/**
 * The idle connections to one leaf each nginx worker keeps (`keepalive` of its upstream block),
 * from the cluster's circuit breaker max_connections. Envoy pools upstream connections per
 * worker thread, and max_connections caps their sum over all workers (Envoy's circuit breaking
 * overview); nginx's `keepalive` caps the idle connections each worker caches. So each nginx
 * worker (one per Envoy worker, `--concurrency`) gets an equal share, and at least one, as Envoy
 * allocates every pool at least one connection even past the limit. nginx carries one stream per
 * upstream connection where Envoy multiplexes many on one: past `keepalive` concurrent calls,
 * nginx opens connections it closes afterwards, where Envoy would add streams.
 */
function poolPerWorker(maxConnections: number, workers: number): number {
  return Math.max(1, Math.floor(maxConnections / workers));
}

/** Everything the stand-in renders for one leaf cluster. */
interface LeafCluster extends StandInUpstream {
  readonly connectTimeoutMs: number;
  readonly tcpKeepalive: boolean;
  readonly protocols: string;
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export interface TranslateInput {
  /** The SDS secrets the config's references deliver (normally: the files through the mounts). */
  readonly sds: SdsSource;
  /** The address a name resolves to where Envoy runs (the pod's names), or undefined. */
  readonly resolve: (host: string) => string | undefined;
  /** Where the files will be written; the config names them there. */
  readonly dir: string;
  /** nginx worker processes: Envoy's `--concurrency`. */
  readonly workers?: number;
}

/**
 * An SDS reference: the secret `input.sds` delivers for it, after checking the reference itself,
 * and the path to name the secret's keys by (`sds(<file>).<kind>`).
 */
function sdsReference(
  value: unknown,
  path: string,
  kind: SdsKind,
  input: TranslateInput,
  ignored: Ignored[],
): { secret: Record<string, unknown>; path: string } {
  const ref = within(value, path, ignored, (r) => {
    const name = r.str("name");
    const source = within(r.need("sds_config"), r.at("sds_config"), ignored, (c) => {
      c.str("resource_api_version", ["V3"]);
      return within(c.need("path_config_source"), c.at("path_config_source"), ignored, (p) => {
        p.ignore("watched_directory", NO_EFFECT.watchedDirectory);
        const watched = p.opt("watched_directory");
        return {
          path: p.str("path"),
          ...(watched === undefined ? {} : { watched_directory: watched as { path: string } }),
        };
      });
    });
    return { name, sds_config: { path_config_source: source } };
  });
  return {
    secret: input.sds(ref, kind),
    path: `sds(${ref.sds_config.path_config_source.path}).${kind}`,
  };
}

/** The PEM of an inline DataSource (the only kind the program writes). */
function inlinePem(value: unknown, path: string, ignored: Ignored[]): string {
  return within(value, path, ignored, (d) => {
    const pem = d.str("inline_string");
    if (!pem.includes("-----BEGIN ")) fail(d.at("inline_string"), "holds no PEM");
    return pem;
  });
}

function leafCluster(c: Fields, input: TranslateInput, ignored: Ignored[]): LeafCluster {
  // The name of the nginx upstream block too, which grpc_pass names as `grpcs://<name>`.
  const name = c.str("name");
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    fail(c.at("name"), `${show(name)} cannot name an nginx upstream`);
  }
  // LOGICAL_DNS: one address of the name at a time. nginx resolves the name once, at start,
  // through the same hosts file (see startEnvoyStandIn).
  c.str("type", ["LOGICAL_DNS"]);
  const family = c.str("dns_lookup_family", ["V4_PREFERRED", "V4_ONLY"]);
  const connectTimeoutMs =
    c.opt("connect_timeout") === undefined
      ? ENVOY_CONNECT_TIMEOUT_MS
      : durationMs(c.need("connect_timeout"), c.at("connect_timeout"));
  if (connectTimeoutMs <= 0) fail(c.at("connect_timeout"), "must be positive");
  const endpoint = within(c.need("load_assignment"), c.at("load_assignment"), ignored, (la) => {
    la.str("cluster_name", [name]);
    const locality = la.only("endpoints");
    return within(locality, `${la.at("endpoints")}[0]`, ignored, (l) => {
      const lb = l.only("lb_endpoints");
      return within(lb, `${l.at("lb_endpoints")}[0]`, ignored, (e) =>
        within(e.need("endpoint"), e.at("endpoint"), ignored, (ep) =>
          socketAddress(ep.need("address"), ep.at("address"), ignored),
        ),
      );
    });
  });
  const resolved = input.resolve(endpoint.address);
  if (resolved === undefined || !isIPv4(resolved)) {
    fail(
      `${c.at("load_assignment")}.endpoints[0].lb_endpoints[0].endpoint.address`,
      `${endpoint.address} has no IPv4 address where Envoy runs (${family} needs one here)`,
    );
  }
  // Without explicit HTTP/2, Envoy would speak HTTP/1.1 to the leaf; grpc_pass speaks HTTP/2.
  within(
    c.need("typed_extension_protocol_options"),
    c.at("typed_extension_protocol_options"),
    ignored,
    (o) => {
      const key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
      within(o.need(key), o.at(key), ignored, (h) => {
        h.type(key);
        within(h.need("explicit_http_config"), h.at("explicit_http_config"), ignored, (e) => {
          within(e.need("http2_protocol_options"), e.at("http2_protocol_options"), ignored, (h2) =>
            h2.ignore("connection_keepalive", NO_EFFECT.http2Keepalive),
          );
        });
      });
    },
  );
  const keepalive = c.opt("upstream_connection_options");
  // SO_KEEPALIVE on the leaf connections: grpc_socket_keepalive.
  const tcpKeepalive = keepalive !== undefined;
  if (keepalive !== undefined) {
    within(keepalive, c.at("upstream_connection_options"), ignored, (u) =>
      within(u.need("tcp_keepalive"), u.at("tcp_keepalive"), ignored, (t) => {
        for (const k of ["keepalive_time", "keepalive_interval", "keepalive_probes"]) {
          t.ignore(k, NO_EFFECT.tcpKeepaliveTimings);
        }
      }),
    );
  }
  // Envoy's connection pool to the leaf: its size is the DEFAULT priority's max_connections.
  const breakers = c.opt("circuit_breakers");
  const maxConnections =
    breakers === undefined
      ? ENVOY_MAX_CONNECTIONS
      : within(breakers, c.at("circuit_breakers"), ignored, (b) => {
          const threshold = b.only("thresholds");
          return within(threshold, `${b.at("thresholds")}[0]`, ignored, (t) => {
            t.optStr("priority", ["DEFAULT"]);
            t.ignore("max_pending_requests", NO_EFFECT.circuitBreakerStreams);
            t.ignore("max_requests", NO_EFFECT.circuitBreakerStreams);
            t.ignore("max_retries", NO_EFFECT.circuitBreakerRetries);
            const max = t.opt("max_connections");
            if (max === undefined) return ENVOY_MAX_CONNECTIONS;
            if (typeof max !== "number" || !Number.isInteger(max) || max < 1) {
              fail(t.at("max_connections"), `${show(max)} is not translated (a count from 1)`);
            }
            return max;
          });
        });

  const socket = c.need("transport_socket");
  const tls = within(socket, c.at("transport_socket"), ignored, (ts) => {
    ts.str("name", ["envoy.transport_sockets.tls"]);
    return within(ts.need("typed_config"), ts.at("typed_config"), ignored, (u) => {
      u.type("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
      const sni = token(u.str("sni"), u.at("sni"));
      return within(u.need("common_tls_context"), u.at("common_tls_context"), ignored, (ctx) => {
        // Envoy's defaults for an upstream context: TLS 1.2 at least and at most.
        const versions = within(ctx.opt("tls_params") ?? {}, ctx.at("tls_params"), ignored, (p) => {
          const names = Object.keys(TLS_VERSIONS);
          const min = p.optStr("tls_minimum_protocol_version", [...names, "TLS_AUTO"]);
          const max = p.optStr("tls_maximum_protocol_version", [...names, "TLS_AUTO"]);
          const from = TLS_ORDER.indexOf(min === undefined || min === "TLS_AUTO" ? "TLSv1_2" : min);
          const to = TLS_ORDER.indexOf(max === undefined || max === "TLS_AUTO" ? "TLSv1_2" : max);
          if (from > to) fail(p.at("tls_minimum_protocol_version"), "is above the maximum");
          return TLS_ORDER.slice(from, to + 1)
            .map((v) => TLS_VERSIONS[v])
            .join(" ");
        });
        // grpc_pass over TLS offers exactly ALPN h2.
        const alpn = ctx.list("alpn_protocols");
        if (show(alpn) !== show(["h2"])) {
          fail(ctx.at("alpn_protocols"), `${show(alpn)} is not translated (only ["h2"])`);
        }
        const certificate = sdsReference(
          ctx.only("tls_certificate_sds_secret_configs"),
          `${ctx.at("tls_certificate_sds_secret_configs")}[0]`,
          "tls_certificate",
          input,
          ignored,
        );
        const [cert, key] = within(certificate.secret, certificate.path, ignored, (t) => [
          inlinePem(t.need("certificate_chain"), t.at("certificate_chain"), ignored),
          inlinePem(t.need("private_key"), t.at("private_key"), ignored),
        ]);
        const ca = within(
          ctx.need("combined_validation_context"),
          ctx.at("combined_validation_context"),
          ignored,
          (v) => {
            // nginx checks the upstream certificate's name against grpc_ssl_name, the SNI: the
            // translation holds only when Envoy's SAN matcher asks for exactly that name.
            within(
              v.need("default_validation_context"),
              v.at("default_validation_context"),
              ignored,
              (d) => {
                const m = d.only("match_typed_subject_alt_names");
                within(m, `${d.at("match_typed_subject_alt_names")}[0]`, ignored, (s) => {
                  s.str("san_type", ["DNS"]);
                  within(s.need("matcher"), s.at("matcher"), ignored, (x) => {
                    const exact = x.str("exact");
                    if (exact !== sni) {
                      fail(x.at("exact"), `${show(exact)} is not the SNI ${show(sni)}`);
                    }
                  });
                });
              },
            );
            const trusted = sdsReference(
              v.need("validation_context_sds_secret_config"),
              v.at("validation_context_sds_secret_config"),
              "validation_context",
              input,
              ignored,
            );
            return within(trusted.secret, trusted.path, ignored, (t) =>
              inlinePem(t.need("trusted_ca"), t.at("trusted_ca"), ignored),
            );
          },
        );
        return { sni, protocols: versions, cert, key, ca };
      });
    });
  });
  return {
    cluster: name,
    endpoint: `${endpoint.address}:${endpoint.port}`,
    keepalive: poolPerWorker(maxConnections, input.workers ?? 1),
    connectTimeoutMs,
    tcpKeepalive,
    ...tls,
  };
}

interface Route {
  readonly prefix: string;
  readonly grpcOnly: boolean;
  readonly cluster: string;
  readonly hostRewrite?: string;
  /** Route idle timeout, overriding the connection manager's; undefined: none. */
  readonly idleTimeoutMs?: number;
}

interface VirtualHost {
  readonly name: string;
  readonly serverNames: readonly string[];
  readonly routes: readonly Route[];
}

interface Listener {
  readonly name: string;
  readonly address: SocketAddress;
  readonly streamIdleMs: number;
  readonly virtualHosts: readonly VirtualHost[];
}

function route(value: unknown, path: string, ignored: Ignored[]): Route {
  return within(value, path, ignored, (r) => {
    const match = within(r.need("match"), r.at("match"), ignored, (m) => {
      const prefix = m.str("prefix");
      if (!/^\/[A-Za-z0-9._/-]*$/.test(prefix)) {
        fail(m.at("prefix"), `${show(prefix)} is not translated`);
      }
      const grpc = m.opt("grpc");
      if (grpc !== undefined) within(grpc, m.at("grpc"), ignored, () => undefined);
      return { prefix, grpcOnly: grpc !== undefined };
    });
    return within(r.need("route"), r.at("route"), ignored, (a) => {
      const cluster = a.str("cluster");
      const rewrite = a.optStr("host_rewrite_literal");
      // Envoy's route timeout bounds the whole response; grpc_pass has no such deadline, so only
      // "none" (0s) translates. Unset, Envoy's default is 15 s: not translated either.
      const timeout = durationMs(a.need("timeout"), a.at("timeout"));
      if (timeout !== 0) fail(a.at("timeout"), "a response deadline has no nginx equivalent");
      const idle = a.opt("idle_timeout");
      const idleTimeoutMs = idle === undefined ? undefined : durationMs(idle, a.at("idle_timeout"));
      if (idleTimeoutMs === 0) fail(a.at("idle_timeout"), "nginx cannot disable its timeouts");
      const msd = a.opt("max_stream_duration");
      if (msd !== undefined) {
        within(msd, a.at("max_stream_duration"), ignored, (d) => {
          if (
            durationMs(d.need("grpc_timeout_header_max"), d.at("grpc_timeout_header_max")) !== 0
          ) {
            fail(d.at("grpc_timeout_header_max"), "a cap on grpc-timeout has no nginx equivalent");
          }
          d.ignore("grpc_timeout_header_max", NO_EFFECT.grpcTimeoutHeaderMax);
        });
      }
      return {
        ...match,
        cluster,
        ...(rewrite === undefined
          ? {}
          : { hostRewrite: token(rewrite, a.at("host_rewrite_literal")) }),
        ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
      };
    });
  });
}

function dataListener(l: Fields, ignored: Ignored[]): Listener {
  const name = l.str("name");
  const address = socketAddress(l.need("address"), l.at("address"), ignored);
  const chain = l.only("filter_chains");
  return within(chain, `${l.at("filter_chains")}[0]`, ignored, (fc) => {
    const filter = fc.only("filters");
    return within(filter, `${fc.at("filters")}[0]`, ignored, (f) => {
      f.str("name", ["envoy.filters.network.http_connection_manager"]);
      return within(f.need("typed_config"), f.at("typed_config"), ignored, (h) => {
        h.type(HCM);
        h.ignore("stat_prefix", NO_EFFECT.statPrefix);
        h.ignore("access_log", NO_EFFECT.accessLog);
        // Querier speaks HTTP/2 with prior knowledge: `listen ... http2` without TLS.
        h.str("codec_type", ["HTTP2"]);
        // The router alone: nginx proxies, and any other HTTP filter is not translated.
        const httpFilters = h.list("http_filters");
        httpFilters.forEach((filter, i) =>
          within(filter, `${h.at("http_filters")}[${i}]`, ignored, (r) => {
            r.str("name", ["envoy.filters.http.router"]);
            within(r.need("typed_config"), r.at("typed_config"), ignored, (t) =>
              t.type("envoy.extensions.filters.http.router.v3.Router"),
            );
          }),
        );
        if (httpFilters.length !== 1) fail(h.at("http_filters"), "one router is translated");
        const idle = h.opt("stream_idle_timeout");
        // Envoy's default stream idle timeout is 5 minutes.
        const streamIdleMs =
          idle === undefined ? 300_000 : durationMs(idle, h.at("stream_idle_timeout"));
        if (streamIdleMs === 0)
          fail(h.at("stream_idle_timeout"), "nginx cannot disable its timeouts");
        const virtualHosts = within(h.need("route_config"), h.at("route_config"), ignored, (rc) => {
          rc.ignore("name", NO_EFFECT.routeConfigName);
          const seen = new Set<string>();
          return rc.list("virtual_hosts").map((vh, i) =>
            within(vh, `${rc.at("virtual_hosts")}[${i}]`, ignored, (v) => {
              v.ignore("name", NO_EFFECT.virtualHostName);
              const vname = typeof v.opt("name") === "string" ? (v.opt("name") as string) : `${i}`;
              const serverNames: string[] = [];
              v.list("domains").forEach((d, j) => {
                const at = `${v.at("domains")}[${j}]`;
                if (typeof d !== "string") fail(at, `${show(d)} is not a string`);
                // nginx matches server_name on the host without its port; a domain naming the
                // listener's port is the same host to it. Wildcards and other ports are not.
                const [host, port, extra] = d.split(":");
                if (extra !== undefined || (port !== undefined && Number(port) !== address.port)) {
                  fail(at, `${show(d)} names another port than the listener's ${address.port}`);
                }
                if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host)) {
                  fail(at, `${show(d)} is not translated (only exact host names)`);
                }
                if (!serverNames.includes(host)) {
                  if (seen.has(host)) fail(at, `${host} is in two virtual hosts`);
                  seen.add(host);
                  serverNames.push(host);
                }
              });
              const routes = v
                .list("routes")
                .map((r, j) => route(r, `${v.at("routes")}[${j}]`, ignored));
              // Envoy takes the first route that matches, nginx the longest prefix: the same only
              // when no prefix is a prefix of another.
              routes.forEach((r, j) =>
                routes.forEach((o, k) => {
                  if (j !== k && o.prefix.startsWith(r.prefix)) {
                    fail(`${v.at("routes")}[${k}]`, `its prefix overlaps route [${j}]'s`);
                  }
                }),
              );
              return { name: vname, serverNames, routes };
            }),
          );
        });
        return { name, address, streamIdleMs, virtualHosts };
      });
    });
  });
}

const ms = (n: number) => `${n}ms`;

function renderConfig(
  listeners: readonly Listener[],
  clusters: ReadonlyMap<string, LeafCluster>,
  files: (cluster: string) => { cert: string; key: string; ca: string },
  dir: string,
  workers: number,
): string {
  const listen = (a: SocketAddress, extra = "") =>
    `    listen ${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port} http2${extra};`;
  const servers = listeners.flatMap((l) => [
    // No virtual host matches: Envoy answers 404.
    [
      `  # stand-in for Envoy listener ${l.name}: an :authority no virtual host matches`,
      "  server {",
      listen(l.address, " default_server"),
      '    server_name "";',
      "    location / {\n      return 404;\n    }",
      "  }",
    ].join("\n"),
    ...l.virtualHosts.map((v) => {
      const locations = v.routes.map((r) => {
        const c = clusters.get(r.cluster);
        if (c === undefined) throw new Error(`stand-in envoy: no leaf cluster ${r.cluster}`);
        const f = files(c.cluster);
        const idle = ms(r.idleTimeoutMs ?? l.streamIdleMs);
        return [
          `    location ${r.prefix} {`,
          // Envoy's `grpc` match: only application/grpc and application/grpc+<codec> requests.
          ...(r.grpcOnly
            ? [
                '      if ($content_type !~ "^application/grpc(\\+.*)?$") {',
                "        return 404;",
                "      }",
              ]
            : []),
          // The cluster's upstream block: its pooled connections, or a new one (see below).
          `      grpc_pass grpcs://${c.cluster};`,
          // Unset, Envoy forwards Querier's own :authority.
          `      grpc_set_header Host ${r.hostRewrite ?? "$http_host"};`,
          `      grpc_connect_timeout ${ms(c.connectTimeoutMs)};`,
          // Envoy's stream idle timeout, per direction.
          `      grpc_read_timeout ${idle};`,
          `      grpc_send_timeout ${idle};`,
          `      client_body_timeout ${idle};`,
          `      send_timeout ${idle};`,
          ...(c.tcpKeepalive ? ["      grpc_socket_keepalive on;"] : []),
          // No retry policy: Envoy does not retry.
          "      grpc_next_upstream off;",
          // SNI and the name checked: the cluster's sni, not the upstream block's name.
          "      grpc_ssl_server_name on;",
          `      grpc_ssl_name ${c.sni};`,
          `      grpc_ssl_protocols ${c.protocols};`,
          `      grpc_ssl_ciphers ${ENVOY_CLIENT_CIPHERS};`,
          `      grpc_ssl_certificate ${f.cert};`,
          `      grpc_ssl_certificate_key ${f.key};`,
          `      grpc_ssl_trusted_certificate ${f.ca};`,
          "      grpc_ssl_verify on;",
          `      grpc_ssl_verify_depth ${ENVOY_VERIFY_DEPTH};`,
          "    }",
        ].join("\n");
      });
      return [
        `  # stand-in for Envoy virtual host ${v.name} of listener ${l.name}`,
        "  server {",
        listen(l.address),
        `    server_name ${v.serverNames.join(" ")};`,
        ...locations,
        // No route matches: Envoy answers 404.
        ...(v.routes.some((r) => r.prefix === "/")
          ? []
          : ["    location / {\n      return 404;\n    }"]),
        "  }",
      ].join("\n");
    }),
  ]);
  // Each leaf cluster's connection pool: an upstream block whose idle connections each worker
  // keeps for the next call (ngx_http_upstream_module `keepalive`; grpc_pass needs nothing else
  // to reuse them, ngx_http_grpc_module), with Envoy's limits on a pooled connection rather
  // than nginx's: idle for at most Envoy's upstream idle timeout, any number of requests, any
  // age. nginx resolves the server's name once, at start (see startEnvoyStandIn).
  const upstreams = [...clusters.values()].map((c) =>
    [
      `  # stand-in for the connection pool of Envoy cluster ${c.cluster}`,
      `  upstream ${c.cluster} {`,
      `    server ${c.endpoint};`,
      `    keepalive ${c.keepalive};`,
      `    keepalive_timeout ${ENVOY_UPSTREAM_IDLE_TIMEOUT};`,
      `    keepalive_requests ${NGINX_UNLIMITED_REQUESTS};`,
      `    keepalive_time ${NGINX_LONGEST_KEEPALIVE_TIME};`,
      "  }",
    ].join("\n"),
  );
  const paths = nginxFileDirectives(dir, "standin");
  return [
    "# A stand-in for Envoy: nginx rendered from the observer's envoy.yaml. This is not Envoy.",
    `worker_processes ${workers};`,
    ...paths.main,
    "events { worker_connections 1024; }",
    "http {",
    "  log_format standin '$host $status $request_uri $upstream_addr';",
    ...paths.http.map((l) => `  ${l}`),
    // Envoy's defaults where nginx's would cut the data path short: no limit on a request body,
    // on the streams of a connection or on its requests, and a downstream idle timeout of 1 h.
    "  client_max_body_size 0;",
    "  http2_max_concurrent_streams 1024;",
    `  keepalive_requests ${NGINX_UNLIMITED_REQUESTS};`,
    "  keepalive_timeout 3600s;",
    ...upstreams,
    ...servers,
    "}",
    "",
  ].join("\n");
}

/**
 * Translates envoy.yaml (parsed) into nginx.conf for the stand-in, with the certificate files it
 * names. Throws, naming the key's path, for anything it does not translate.
 */
export function translateEnvoy(envoy: unknown, input: TranslateInput): StandInTranslation {
  const ignored: Ignored[] = [];
  return within(envoy, "", ignored, (top) => {
    top.ignore("node", NO_EFFECT.node);
    // Read only to recognise the clusters that front it.
    const adminSocket = (top.opt("admin") as { address?: { socket_address?: Json } } | undefined)
      ?.address?.socket_address;
    const admin = { address: String(adminSocket?.address), port: Number(adminSocket?.port_value) };
    top.ignore("admin", NO_EFFECT.admin);
    return within(top.need("static_resources"), "static_resources", ignored, (sr) => {
      const rawClusters = sr.list("clusters");
      const isAdmin = (c: unknown) => {
        const eps = endpointsOf(c);
        return eps.length > 0 && eps.every((e) => sameAddress(e, admin));
      };
      const clusters = new Map<string, LeafCluster>();
      const adminClusters = new Set<string>();
      rawClusters.forEach((raw, i) => {
        const path = `${sr.at("clusters")}[${i}]`;
        if (isAdmin(raw)) {
          adminClusters.add(String((raw as Json).name));
          ignored.push({ path, reason: NO_EFFECT.adminCluster });
          return;
        }
        const leaf = within(raw, path, ignored, (c) => leafCluster(c, input, ignored));
        if (clusters.has(leaf.cluster)) fail(`${path}.name`, `${leaf.cluster} is defined twice`);
        clusters.set(leaf.cluster, leaf);
      });
      const listeners: Listener[] = [];
      sr.list("listeners").forEach((raw, i) => {
        const path = `${sr.at("listeners")}[${i}]`;
        const reached = reachableClusters(raw);
        if (
          reached !== undefined &&
          reached.length > 0 &&
          reached.every((c) => adminClusters.has(c))
        ) {
          ignored.push({ path, reason: NO_EFFECT.statsListener });
          return;
        }
        listeners.push(within(raw, path, ignored, (l) => dataListener(l, ignored)));
      });
      if (listeners.length === 0) fail(sr.at("listeners"), "no listener routes to a leaf");
      // Every route of a data listener goes to a leaf cluster the translation rendered.
      listeners.forEach((l) =>
        l.virtualHosts.forEach((v) =>
          v.routes.forEach((r) => {
            if (!clusters.has(r.cluster)) {
              fail(
                `listener ${l.name}, virtual host ${v.name}`,
                `routes to ${r.cluster}, no leaf cluster`,
              );
            }
          }),
        ),
      );
      const fileNames = (cluster: string) => ({
        cert: `${cluster}.client.crt`,
        key: `${cluster}.client.key`,
        ca: `${cluster}.ca.crt`,
      });
      const files = [...clusters.values()].flatMap((c) => {
        const n = fileNames(c.cluster);
        return [
          { name: n.cert, content: c.cert, mode: 0o644 },
          { name: n.key, content: c.key, mode: 0o600 },
          { name: n.ca, content: c.ca, mode: 0o644 },
        ];
      });
      const inDir = (cluster: string) => {
        const n = fileNames(cluster);
        return {
          cert: join(input.dir, n.cert),
          key: join(input.dir, n.key),
          ca: join(input.dir, n.ca),
        };
      };
      return {
        config: renderConfig(listeners, clusters, inDir, input.dir, input.workers ?? 1),
        files,
        listens: listeners.map((l) => ({ listener: l.name, ...l.address })),
        upstreams: [...clusters.values()].map(({ cluster, endpoint, sni, keepalive }) => ({
          cluster,
          endpoint,
          sni,
          keepalive,
        })),
        ignored,
      };
    });
  });
}

/** The SDS references of one leaf cluster of envoy.yaml: its certificate and its trusted CAs. */
export function clusterSdsRefs(
  envoy: Record<string, unknown>,
  cluster: string,
): { tlsCertificate: SdsSecretConfig; validationContext: SdsSecretConfig } {
  const clusters = (envoy.static_resources as { clusters: Json[] }).clusters;
  const found = clusters.find((c) => c.name === cluster) as
    | {
        transport_socket: {
          typed_config: {
            common_tls_context: {
              tls_certificate_sds_secret_configs: SdsSecretConfig[];
              combined_validation_context: {
                validation_context_sds_secret_config: SdsSecretConfig;
              };
            };
          };
        };
      }
    | undefined;
  if (found === undefined) throw new Error(`stand-in envoy: envoy.yaml has no cluster ${cluster}`);
  const ctx = found.transport_socket.typed_config.common_tls_context;
  return {
    tlsCertificate: ctx.tls_certificate_sds_secret_configs[0],
    validationContext: ctx.combined_validation_context.validation_context_sds_secret_config,
  };
}

/**
 * The Envoy container's command line: where its config is and how many workers it runs. Every
 * argument is accounted for, as in envoy.yaml.
 */
export function envoyArgs(run: ObserverRun): { configPath: string; concurrency: number } {
  const container = [...(run.pod.initContainers ?? []), ...run.pod.containers].find(
    (c) => c.name === "envoy",
  );
  if (container === undefined)
    throw new Error("stand-in envoy: the observer pod has no envoy container");
  if (show(container.command) !== show(["envoy"])) {
    fail("envoy container command", `${show(container.command)} is not translated`);
  }
  const args = container.args ?? [];
  let configPath: string | undefined;
  let concurrency = 1;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) fail(`envoy container args[${i - 1}]`, `${arg} has no value`);
      return v;
    };
    if (arg === "--config-path" || arg === "-c") configPath = value();
    else if (arg === "--concurrency") {
      const v = value();
      if (!/^[1-9][0-9]*$/.test(v)) fail(`envoy container args[${i}]`, `${show(v)} is not a count`);
      concurrency = Number(v);
    } else if (arg === "--disable-hot-restart") {
      // NO_EFFECT.disableHotRestart
    } else if (arg === "--log-level" || arg === "-l") {
      value(); // NO_EFFECT.logLevel
    } else fail(`envoy container args[${i}]`, `${show(arg)} is not translated`);
  }
  if (configPath === undefined) fail("envoy container args", "have no --config-path");
  return { configPath, concurrency };
}

/** The version of the nginx the stand-in runs ("1.22.1"). */
export function nginxVersion(): string {
  const out = spawnSync(NGINX_BINARY, ["-v"], { encoding: "utf8" });
  const m = /nginx\/(\S+)/.exec(`${out.stderr}${out.stdout}`);
  if (m === null) throw new Error(`stand-in envoy: ${NGINX_BINARY} -v says ${show(out.stderr)}`);
  return m[1];
}

/** Fails, with what to do, when the address Envoy's listener has in the pod is taken here. */
function assertFree(address: string, port: number, listener: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `stand-in envoy: ${address}:${port}, where Envoy's listener ${listener} listens in the ` +
            `pod, is not free on this machine (${e.code ?? e.message}); the stand-in keeps ` +
            "Envoy's address, so stop what holds it (ss -ltnp) and run again",
        ),
      ),
    );
    server.listen(port, address, () => server.close(() => resolve()));
  });
}

/** Why nginx did not start, saying what to do when Envoy's address was taken meanwhile. */
function didNotStart(e: unknown, l: StandInTranslation["listens"][number]): unknown {
  if (!(e instanceof NginxDidNotStart)) return e;
  return new Error(
    e.output.includes("Address already in use")
      ? `stand-in envoy: ${l.address}:${l.port} (Envoy's listener ${l.listener}) was taken ` +
          "before nginx bound it; the stand-in keeps Envoy's address, so free it and run again"
      : `stand-in envoy: ${e.message}`,
  );
}

export interface EnvoyStandIn {
  readonly translation: StandInTranslation;
  /** Its error log so far (upstream TLS failures are logged there). */
  errorLog(): string;
  /** Its access log so far: `<virtual host> <status> <path> <upstream address>` per request. */
  accessLog(): string;
  /**
   * What Envoy does when the kubelet updates the SDS files under it: the same `envoy.yaml` (a
   * new one is a new pod template, so a new pod), each leaf's certificates and CAs as `next`
   * declares them, in use once it resolves (nginx's workers of before the reload have exited).
   * Refuses a different `envoy.yaml`.
   */
  reload(next: ObserverRun): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the stand-in for the observer pod's Envoy: envoy.yaml and each SDS file read through
 * the Envoy container's mounts (or `options.sds` instead of the files: a deliberate mis-wiring),
 * translated, and nginx started in a mount namespace whose /etc/hosts holds the pod's names
 * (each leaf's hostname at its nginx, the hostAliases), so grpc_pass resolves the leaf's
 * hostname as Envoy in the pod would. Nothing in the generated config changes.
 */
export async function startEnvoyStandIn(
  run: ObserverRun,
  leafHostnames: readonly string[],
  dir: string,
  options: { readonly sds?: SdsSource; readonly name?: string } = {},
): Promise<EnvoyStandIn> {
  const name = options.name ?? "envoy-standin";
  const { configPath, concurrency } = envoyArgs(run);
  const envoy = parse(mountedFile(run, "envoy", configPath)) as unknown;
  // Envoy refuses an invalid bootstrap before anything else.
  assertValidEnvoyBootstrap(envoy);
  const names = podNames(run.pod, leafHostnames);
  const own = tempDir(name, dir);
  const translate = (sds: SdsSource) =>
    translateEnvoy(envoy, { sds, resolve: (host) => names[host], dir: own, workers: concurrency });
  const translation = translate(options.sds ?? ((ref, kind) => sdsSecret(run, ref, kind)));
  try {
    for (const l of translation.listens) await assertFree(l.address, l.port, l.listener);
  } catch (e) {
    removeDir(own);
    throw e;
  }
  for (const f of translation.files) writeFileSync(join(own, f.name), f.content, { mode: f.mode });
  writeFileSync(join(own, "hosts"), hostsFile(names));
  // In a mount namespace of its own, whose /etc/hosts holds the pod's names; `unshare` and
  // `sh -c exec` replace themselves, so the child's pid is nginx's master.
  const nginx = await startNginxProcess(own, translation.config, (command) => [
    ...["unshare", "--mount", "--propagation", "private", "sh", "-c"],
    `set -e; mount --bind -o ro '${join(own, "hosts")}' /etc/hosts; exec "$@"`,
    name,
    ...command,
  ]).catch((e: unknown) => {
    throw didNotStart(e, translation.listens[0]);
  });
  return {
    translation,
    errorLog: () => nginx.errorLog(),
    accessLog: () => nginx.accessLog(),
    reload: async (next) => {
      if (mountedFile(next, "envoy", configPath) !== mountedFile(run, "envoy", configPath)) {
        throw new Error("envoy.yaml changed: Kubernetes would start a new pod, not reload SDS");
      }
      const t = translate((ref, kind) => sdsSecret(next, ref, kind));
      for (const f of t.files) writeFileSync(join(own, f.name), f.content, { mode: f.mode });
      // Envoy uses an updated secret for its next upstream connection; nginx's old workers
      // would go on serving Querier's open connections the old way, so the reload counts as
      // done once they are gone.
      await nginx.reload(t.config, { oldWorkersGone: true });
    },
    stop: () => nginx.stop(),
  };
}
