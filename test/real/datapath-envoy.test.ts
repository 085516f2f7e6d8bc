// The data path for real in the observer's default `envoy` mode, with nginx standing in for the
// Envoy sidecar (no Envoy binary can be had here): two leaves, each a real Prometheus and Thanos
// Sidecar behind nginx rendered from the leaf's Ingress; the stand-in translated from the
// generated envoy.yaml and the SDS files it names, read through the Envoy container's mounts
// (invariant 4 of docs/ARCHITECTURE.md); and the observer's real Thanos Querier, run with the
// endpoints file the program generated, dialling `<leaf>.<suffix>:10000`, which the pod's
// hostAliases resolve to 127.0.0.1, where the stand-in listens as Envoy would (invariants 2 and
// 3 of docs/ARCHITECTURE.md). The translation itself is checked first: it refuses what it does
// not translate. Last, the stand-in's connection pool: calls through it reuse one connection to
// the leaf's ingress, as Envoy's pool would.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { readdirSync } from "node:fs";
import { createServer } from "node:net";
import { LEAF_A, LEAF_B, LeafRun, runLeaf } from "../support/leaf";
import {
  OBSERVER,
  ObserverRun,
  envoyUpstreamTls,
  querierEndpoints,
  runObserver,
  sdsSecret,
  stacksOf,
} from "../support/observer";
import {
  BenchLeaf,
  PodQuerier,
  expectEveryLeafUp,
  expectRangeFromEveryLeaf,
  podNames,
  startBenchLeaf,
  startPodQuerier,
  stores,
} from "./support/bridge";
import {
  EnvoyStandIn,
  NO_EFFECT,
  SdsSource,
  TranslateInput,
  clusterSdsRefs,
  nginxVersion,
  startEnvoyStandIn,
  translateEnvoy,
} from "./support/envoy-standin";
import { freePort, removeDir, tempDir } from "../support/processes";
import { parseAccessLog } from "../support/nginx";
import { rawConnection } from "../support/raw-grpc";
import { eventually, promQuery } from "./support/thanos";

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";
/** The names Querier dials for the leaves: `<cluster>.<endpointSuffix>:<Envoy's port>`. */
const ENDPOINT_A = "leaf-a.thanos-bridge.internal:10000";
const ENDPOINT_B = "leaf-b.thanos-bridge.internal:10000";
const INFO = "/thanos.info.Info/Info";

type Json = Record<string, unknown>;

/** The object at `keys` inside `value` (for changing a copy of envoy.yaml). */
function dig(value: unknown, ...keys: (string | number)[]): Json {
  let v = value;
  for (const k of keys) v = (v as Record<string | number, unknown>)[k];
  assert.ok(typeof v === "object" && v !== null, `nothing at ${keys.join(".")}`);
  return v as Json;
}

const HCM_PATH = ["static_resources", "listeners", 0, "filter_chains", 0, "filters", 0];
const ROUTE_PATH = [
  ...HCM_PATH,
  "typed_config",
  "route_config",
  "virtual_hosts",
  0,
  "routes",
  0,
  "route",
];

async function leafRuns(ports: readonly [number, number]): Promise<Record<string, LeafRun>> {
  return {
    [STACK_A]: await runLeaf({ ...LEAF_A, publicPort: String(ports[0]) }, "leaf-a"),
    [STACK_B]: await runLeaf({ ...LEAF_B, publicPort: String(ports[1]) }, "leaf-b"),
  };
}

describe("the Envoy stand-in's translation of envoy.yaml", function () {
  let runs: Record<string, LeafRun>;
  let observer: ObserverRun;
  let input: TranslateInput;

  before(async () => {
    runs = await leafRuns([8443, 9443]);
    observer = await runObserver(OBSERVER, stacksOf(runs));
    const names = podNames(
      observer.pod,
      Object.values(runs).map((r) => r.bridge.serverName),
    );
    input = {
      sds: (ref, kind) => sdsSecret(observer, ref, kind),
      resolve: (host) => names[host],
      dir: "/stand-in-dir",
    };
  });

  const copy = (): Json => structuredClone(observer.envoy);

  it("renders each leaf's virtual host, route, TLS, timeouts and connection pool, and sets aside only NO_EFFECT keys", () => {
    const t = translateEnvoy(observer.envoy, input);
    assert.deepEqual(t.listens, [{ listener: "leaves", address: "127.0.0.1", port: 10000 }]);
    // The pool: envoy.yaml's max_connections (8) per cluster, all kept by nginx's one worker.
    assert.deepEqual(t.upstreams, [
      {
        cluster: "leaf-a",
        endpoint: "thanos.leaf-a.example.com:8443",
        sni: "thanos.leaf-a.example.com",
        keepalive: 8,
      },
      {
        cluster: "leaf-b",
        endpoint: "thanos.leaf-b.example.net:9443",
        sni: "thanos.leaf-b.example.net",
        keepalive: 8,
      },
    ]);
    // With Envoy's --concurrency 2, the same 8 shared between nginx's two workers.
    assert.deepEqual(
      translateEnvoy(observer.envoy, { ...input, workers: 2 }).upstreams.map((u) => u.keepalive),
      [4, 4],
    );
    const lines = t.config.split("\n").map((l) => l.trim());
    for (const [cluster, host] of [
      ["leaf-a", "thanos.leaf-a.example.com"],
      ["leaf-b", "thanos.leaf-b.example.net"],
    ]) {
      const port = cluster === "leaf-a" ? 8443 : 9443;
      // The cluster's pool: an upstream block, its one server the leaf's endpoint, with Envoy's
      // limits on a pooled connection (idle 1 h, no cap on requests or age).
      const upstream = t.config.slice(t.config.indexOf(`  upstream ${cluster} {`));
      assert.equal(
        upstream.slice(0, upstream.indexOf("\n  }") + 4),
        [
          `  upstream ${cluster} {`,
          `    server ${host}:${port};`,
          "    keepalive 8;",
          "    keepalive_timeout 3600s;",
          "    keepalive_requests 2147483647;",
          "    keepalive_time 365d;",
          "  }",
        ].join("\n"),
      );
      const server = t.config.slice(t.config.indexOf(`server_name ${cluster}.thanos-bridge`));
      const block = server.slice(0, server.indexOf("\n  }"));
      for (const line of [
        // Both domains (with and without :10000) are one host name to nginx.
        `server_name ${cluster}.thanos-bridge.internal;`,
        "location /thanos. {",
        // Envoy's `grpc` match.
        'if ($content_type !~ "^application/grpc(\\+.*)?$") {',
        // Through the cluster's pool; SNI and the name checked are still the leaf's hostname.
        `grpc_pass grpcs://${cluster};`,
        `grpc_set_header Host ${host};`,
        "grpc_ssl_server_name on;",
        `grpc_ssl_name ${host};`,
        "grpc_ssl_verify on;",
        // Envoy's upstream default maximum is TLS 1.2, and envoy.yaml sets the minimum to it.
        "grpc_ssl_protocols TLSv1.2;",
        `grpc_ssl_certificate /stand-in-dir/${cluster}.client.crt;`,
        `grpc_ssl_certificate_key /stand-in-dir/${cluster}.client.key;`,
        `grpc_ssl_trusted_certificate /stand-in-dir/${cluster}.ca.crt;`,
        "grpc_connect_timeout 5000ms;",
        "grpc_read_timeout 600000ms;",
        "grpc_send_timeout 600000ms;",
        "grpc_socket_keepalive on;",
      ]) {
        assert.ok(
          block.split("\n").some((l) => l.trim() === line),
          `${cluster}: no "${line}" in\n${block}`,
        );
      }
    }
    assert.ok(lines.includes("listen 127.0.0.1:10000 http2 default_server;"));
    // A 404 for an :authority no virtual host matches, and for each host's unrouted paths.
    assert.equal(lines.filter((l) => l === "location / {").length, 3);
    // The files hold what Envoy would load for each leaf, found independently of the translator.
    for (const cluster of ["leaf-a", "leaf-b"]) {
      const want = envoyUpstreamTls(observer, cluster);
      const file = (name: string) => t.files.find((f) => f.name === name);
      assert.deepEqual(file(`${cluster}.client.crt`), {
        name: `${cluster}.client.crt`,
        content: want.cert,
        mode: 0o644,
      });
      assert.deepEqual(file(`${cluster}.client.key`), {
        name: `${cluster}.client.key`,
        content: want.key,
        mode: 0o600,
      });
      assert.equal(file(`${cluster}.ca.crt`)?.content, want.ca);
    }
    const hcm = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
    const route = (i: number) => `${hcm}.route_config.virtual_hosts[${i}].routes[0].route`;
    const cluster = (i: number) => `static_resources.clusters[${i}]`;
    const tls = (i: number) =>
      `${cluster(i)}.transport_socket.typed_config.common_tls_context.` +
      "tls_certificate_sds_secret_configs[0].sds_config.path_config_source.watched_directory";
    const ca = (i: number) =>
      `${cluster(i)}.transport_socket.typed_config.common_tls_context.combined_validation_context.` +
      "validation_context_sds_secret_config.sds_config.path_config_source.watched_directory";
    const keepalive = (i: number) =>
      ["keepalive_time", "keepalive_interval", "keepalive_probes"].map(
        (k) => `${cluster(i)}.upstream_connection_options.tcp_keepalive.${k}`,
      );
    const h2 = (i: number) =>
      `${cluster(i)}.typed_extension_protocol_options.` +
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.explicit_http_config." +
      "http2_protocol_options.connection_keepalive";
    assert.deepEqual(
      t.ignored.map((i) => i.path).sort(),
      [
        "node",
        "admin",
        cluster(0),
        ...[1, 2].flatMap((i) => [
          h2(i),
          ...keepalive(i),
          ...["max_pending_requests", "max_requests", "max_retries"].map(
            (k) => `${cluster(i)}.circuit_breakers.thresholds[0].${k}`,
          ),
          tls(i),
          ca(i),
        ]),
        `${hcm}.stat_prefix`,
        `${hcm}.access_log`,
        `${hcm}.route_config.name`,
        ...[0, 1].flatMap((i) => [
          `${hcm}.route_config.virtual_hosts[${i}].name`,
          `${route(i)}.max_stream_duration.grpc_timeout_header_max`,
        ]),
        "static_resources.listeners[1]",
      ].sort(),
    );
    const reasons: readonly string[] = Object.values(NO_EFFECT);
    assert.ok(t.ignored.every((i) => reasons.includes(i.reason)));
  });

  it("refuses a retry_policy on the route, naming its path", () => {
    const envoy = copy();
    dig(envoy, ...ROUTE_PATH).retry_policy = { retry_on: "unavailable", num_retries: 2 };
    assert.throws(
      () => translateEnvoy(envoy, input),
      (e: Error) =>
        e.message ===
        "stand-in envoy: static_resources.listeners[0].filter_chains[0].filters[0].typed_config." +
          "route_config.virtual_hosts[0].routes[0].route.retry_policy: is not translated by the " +
          "stand-in",
    );
  });

  it("refuses a second network filter, naming it", () => {
    const envoy = copy();
    const filters = dig(envoy, "static_resources", "listeners", 0, "filter_chains", 0)
      .filters as Json[];
    filters.push({
      name: "envoy.filters.network.rbac",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
      },
    });
    assert.throws(
      () => translateEnvoy(envoy, input),
      /^Error: stand-in envoy: static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[1\]: is not translated: only one is$/,
    );
  });

  it("refuses a second HTTP filter before the router", () => {
    const envoy = copy();
    const hcm = dig(envoy, ...HCM_PATH, "typed_config");
    hcm.http_filters = [
      {
        name: "envoy.filters.http.fault",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        },
      },
      ...(hcm.http_filters as Json[]),
    ];
    assert.throws(
      () => translateEnvoy(envoy, input),
      /typed_config\.http_filters\[0\]\.name: "envoy\.filters\.http\.fault" is not translated/,
    );
  });

  it("refuses circuit breaker settings its connection pool does not translate", () => {
    const envoy = copy();
    const breakers = dig(envoy, "static_resources", "clusters", 1, "circuit_breakers");
    const thresholds = breakers.thresholds as Json[];
    // A second priority's limits: nginx has no request priorities.
    thresholds.push({ priority: "HIGH", max_connections: 2 });
    assert.throws(
      () => translateEnvoy(envoy, input),
      (e: Error) =>
        e.message ===
        "stand-in envoy: static_resources.clusters[1].circuit_breakers.thresholds[1]: is not " +
          "translated: only one is",
    );
    thresholds.pop();
    thresholds[0].track_remaining = true;
    assert.throws(
      () => translateEnvoy(envoy, input),
      /clusters\[1\]\.circuit_breakers\.thresholds\[0\]\.track_remaining: is not translated by the stand-in$/,
    );
    delete thresholds[0].track_remaining;
    thresholds[0].max_connections = 0;
    assert.throws(
      () => translateEnvoy(envoy, input),
      /thresholds\[0\]\.max_connections: 0 is not translated \(a count from 1\)$/,
    );
  });

  it("refuses a SAN matcher that is not the SNI: nginx checks the name it sends", () => {
    const envoy = copy();
    const ctx = dig(envoy, "static_resources", "clusters", 2, "transport_socket", "typed_config");
    dig(
      ctx,
      "common_tls_context",
      "combined_validation_context",
      "default_validation_context",
      "match_typed_subject_alt_names",
      0,
    ).matcher = { exact: "thanos.leaf-a.example.com" };
    assert.throws(
      () => translateEnvoy(envoy, input),
      /clusters\[2\]\.transport_socket\.typed_config\.common_tls_context\.combined_validation_context\.default_validation_context\.match_typed_subject_alt_names\[0\]\.matcher\.exact: "thanos\.leaf-a\.example\.com" is not the SNI "thanos\.leaf-b\.example\.net"/,
    );
  });

  it("refuses a route deadline: nginx has none to give a gRPC response", () => {
    const envoy = copy();
    dig(envoy, ...ROUTE_PATH).timeout = "30s";
    assert.throws(
      () => translateEnvoy(envoy, input),
      /routes\[0\]\.route\.timeout: a response deadline has no nginx equivalent/,
    );
  });

  it("refuses an unknown key at the top and inside an SDS secret, naming the file", () => {
    const envoy = copy();
    envoy.layered_runtime = { layers: [] };
    assert.throws(() => translateEnvoy(envoy, input), /: layered_runtime: is not translated/);
    const withPassword: SdsSource = (ref, kind) => ({
      ...sdsSecret(observer, ref, kind),
      ...(kind === "tls_certificate" ? { password: { inline_string: "secret" } } : {}),
    });
    assert.throws(
      () => translateEnvoy(observer.envoy, { ...input, sds: withPassword }),
      /sds\(\/etc\/envoy\/certs\/leaf-a\/tls-certificate\.yaml\)\.tls_certificate\.password: is not translated/,
    );
  });

  it("fails, naming Envoy's address, when 127.0.0.1:10000 is taken here, and starts no nginx", async () => {
    const dir = tempDir("standin-port");
    const holder = createServer();
    // If something else holds the port already, the stand-in must refuse all the same.
    await new Promise<void>((resolve) => {
      holder.once("error", () => resolve());
      holder.listen(10000, "127.0.0.1", () => resolve());
    });
    try {
      await assert.rejects(
        startEnvoyStandIn(
          observer,
          Object.values(runs).map((r) => r.bridge.serverName),
          dir,
        ),
        (e: Error) =>
          e.message.startsWith(
            "stand-in envoy: 127.0.0.1:10000, where Envoy's listener leaves listens in the pod, " +
              "is not free on this machine (EADDRINUSE)",
          ),
      );
      assert.deepEqual(readdirSync(dir), [], "the stand-in left files behind");
    } finally {
      await new Promise((resolve) => holder.close(resolve));
      removeDir(dir);
    }
  });

  it("translates the stats listener once it routes to a leaf, and refuses it then", () => {
    const envoy = copy();
    const stats = dig(envoy, "static_resources", "listeners", 1);
    const routes = dig(stats, "filter_chains", 0, "filters", 0, "typed_config", "route_config");
    dig(routes, "virtual_hosts", 0, "routes", 0, "route").cluster = "leaf-a";
    assert.throws(
      () => translateEnvoy(envoy, input),
      /static_resources\.listeners\[1\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.codec_type: "AUTO" is not translated/,
    );
  });
});

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();

/** The statuses a leaf's nginx logged for requests with client certificate `serial`. */
function statusesWith(leaf: BenchLeaf, serial: string): string[] {
  return leaf.nginx
    .accessLog()
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[0]?.toUpperCase() === serial)
    .map((f) => f[1]);
}

/** The statuses the stand-in logged for requests to virtual host `host`. */
function standInStatuses(proxy: EnvoyStandIn, host: string): string[] {
  return proxy
    .accessLog()
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[0] === host && f[2]?.startsWith("/thanos."))
    .map((f) => f[1]);
}

describe("the real data path through the Envoy stand-in (dataPath: envoy)", function () {
  let dir: string;
  let leaves: BenchLeaf[] = [];
  let runs: Record<string, LeafRun>;
  let observer: ObserverRun;
  let proxy: EnvoyStandIn | undefined;
  let querier: PodQuerier | undefined;
  const hostnames = () => Object.values(runs).map((r) => r.bridge.serverName);

  before(async function () {
    console.log(`      stand-in envoy: nginx ${nginxVersion()} translated from envoy.yaml`);
    dir = tempDir("datapath-envoy");
    const ports: [number, number] = [await freePort(), await freePort()];
    runs = await leafRuns(ports);
    leaves = [
      await startBenchLeaf(runs[STACK_A], ports[0], dir),
      await startBenchLeaf(runs[STACK_B], ports[1], dir),
    ];
    // The default dataPath: envoy.
    observer = await runObserver(OBSERVER, stacksOf(runs));
    proxy = await startEnvoyStandIn(observer, hostnames(), dir);
    querier = await startPodQuerier(observer, hostnames(), dir);
  });

  after(async () => {
    await querier?.stop();
    await proxy?.stop();
    for (const leaf of leaves) await leaf.stop();
    if (dir !== undefined) removeDir(dir);
  });

  it("answers an instant query with every leaf's series, through the stand-in and each ingress", async () => {
    const q = querier as PodQuerier;
    await expectEveryLeafUp(q, ["leaf-a", "leaf-b"]);
  });

  it("streams a range query through the leaves' Series calls", async () => {
    const q = querier as PodQuerier;
    await expectRangeFromEveryLeaf(q, ["leaf-a", "leaf-b"]);
  });

  it("shows both leaves up under their Envoy names in Querier's endpoint status, with their labels", async () => {
    // Querier dials the names the program wrote; nothing else reaches a leaf from it.
    const dialled = querierEndpoints(observer).map((e) => e.address);
    assert.ok(dialled.includes(ENDPOINT_A) && dialled.includes(ENDPOINT_B), dialled.join(", "));
    const all = await stores(querier as PodQuerier);
    const sidecars = (all.sidecar ?? []).map((s) => ({
      name: s.name,
      labels: s.labelSets,
      lastError: s.lastError,
    }));
    assert.deepEqual(
      sidecars.sort((x, y) => x.name.localeCompare(y.name)),
      [
        [ENDPOINT_A, "leaf-a"],
        [ENDPOINT_B, "leaf-b"],
      ].map(([name, cluster]) => ({
        name,
        labels: [{ cluster, prometheus_replica: `prometheus-${cluster}-0` }],
        lastError: null,
      })),
    );
    // Through the stand-in's virtual host for each leaf, and into each leaf's ingress with the
    // client certificate that leaf issued.
    const p = proxy as EnvoyStandIn;
    for (const [i, stack, host] of [
      [0, STACK_A, "leaf-a.thanos-bridge.internal"],
      [1, STACK_B, "leaf-b.thanos-bridge.internal"],
    ] as const) {
      assert.ok(standInStatuses(p, host).includes("200"), `the stand-in served no ${host}`);
      assert.ok(
        statusesWith(leaves[i], serialOf(runs[stack].bridge.clientCert)).includes("200"),
        `${stack}'s ingress saw no request with its client certificate`,
      );
    }
  });

  it("refuses leaf-b's client certificate at leaf-a: leaf-a down, only leaf-b's data", async () => {
    const [a, b] = [
      clusterSdsRefs(observer.envoy, "leaf-a"),
      clusterSdsRefs(observer.envoy, "leaf-b"),
    ];
    // The same envoy.yaml, but the SDS secret leaf-a's cluster reads is leaf-b's certificate.
    const miswired: SdsSource = (ref, kind) =>
      sdsSecret(
        observer,
        kind === "tls_certificate" && ref.name === a.tlsCertificate.name ? b.tlsCertificate : ref,
        kind,
      );
    const logBefore = leaves[0].nginx.errorLog().length;
    // Envoy's port is fixed: the stand-in gives it up to the miswired one for this test.
    await proxy?.stop();
    proxy = undefined;
    const wrong = await startEnvoyStandIn(observer, hostnames(), dir, {
      sds: miswired,
      name: "envoy-standin-miswired",
    });
    try {
      const certA = wrong.translation.files.find((f) => f.name === "leaf-a.client.crt");
      assert.equal(certA?.content, runs[STACK_B].bridge.clientCert, "not miswired as meant");
      // The running Querier, which had both leaves healthy, reconnects to the miswired stand-in.
      const q = querier as PodQuerier;
      let last = "";
      const { answer, status } = await eventually(
        "leaf-b's series, and leaf-a failing, through the miswired stand-in",
        async () => {
          const up = await promQuery(q.http, "query", { query: 'up{job="prometheus"}' });
          const now = await stores(q);
          last = JSON.stringify(now);
          const byName = new Map(
            Object.values(now)
              .flat()
              .map((s) => [s.name, s]),
          );
          return up.data.result.length > 0 && byName.get(ENDPOINT_A)?.lastError
            ? { answer: up, status: byName }
            : undefined;
        },
        [q],
      ).catch((e: unknown) => assert.fail(`${String(e)}; last endpoint status: ${last}`));
      assert.deepEqual([...new Set(answer.data.result.map((s) => s.metric.cluster))], ["leaf-b"]);
      // leaf-a is strict, so Querier asks it anyway and says why its part is missing.
      assert.ok(
        (answer.warnings ?? []).some((w) => w.includes(`Addr: ${ENDPOINT_A}`)),
        `no partial-response warning names ${ENDPOINT_A}: ${JSON.stringify(answer.warnings)}`,
      );
      assert.equal(status.get(ENDPOINT_B)?.lastError, null, "leaf-b is not healthy");
      // leaf-a's ingress refused the certificate, for the reason expected, since the miswiring.
      assert.match(
        leaves[0].nginx.errorLog().slice(logBefore),
        /client SSL certificate verify error/,
      );
      const refused = standInStatuses(wrong, "leaf-a.thanos-bridge.internal");
      assert.ok(
        refused.length > 0 && !refused.includes("200"),
        `leaf-a answered: ${refused.join(",")}`,
      );
      assert.ok(standInStatuses(wrong, "leaf-b.thanos-bridge.internal").includes("200"));
      console.log(
        `      stand-in envoy (miswired): leaf-a answered the stand-in with HTTP ${[
          ...new Set(refused),
        ].join(", ")}; Querier: ${String(status.get(ENDPOINT_A)?.lastError)}`,
      );
      console.log(
        `      stand-in envoy (miswired): warnings with the answer: ${JSON.stringify(
          answer.warnings ?? [],
        )}`,
      );
    } finally {
      await wrong.stop();
      proxy = await startEnvoyStandIn(observer, hostnames(), dir);
    }
  });

  it("keeps its mTLS connection to a leaf's ingress for the next call, as Envoy's pool does", async () => {
    // Querier stopped: the calls below are the only ones through the stand-in and into leaf-a.
    await querier?.stop();
    querier = undefined;
    const p = proxy as EnvoyStandIn;
    const listen = p.translation.listens[0];
    const CALLS = 10;
    const logged = () => parseAccessLog(leaves[0].nginx.accessLog());
    const before = logged().length;
    const client = rawConnection(`${listen.address}:${listen.port}`, ENDPOINT_A);
    try {
      for (let i = 0; i < CALLS; i++) {
        assert.equal(await client.call(INFO), grpc.status.OK, `call ${i} through the stand-in`);
      }
    } finally {
      client.close();
    }
    // nginx logs a request once it has ended: wait for the last one.
    const calls = await eventually(
      `${CALLS} requests in leaf-a's ingress log`,
      () => {
        const lines = logged().slice(before);
        return Promise.resolve(lines.length >= CALLS ? lines : undefined);
      },
      [],
      10_000,
    );
    const serial = serialOf(runs[STACK_A].bridge.clientCert);
    assert.deepEqual(
      calls.map((l) => [l.serial.toUpperCase(), l.status, l.path]),
      Array.from({ length: CALLS }, () => [serial, "200", INFO]),
    );
    // All on the connection the first came on, one request more on it each time: none opened
    // or closed in between (without the pool, each call came on a new one).
    const [first] = calls;
    assert.deepEqual(
      calls.map((l) => [l.connection, l.requests]),
      calls.map((_, i) => [first.connection, first.requests + i]),
      `leaf-a's ingress log:\n${leaves[0].nginx
        .accessLog()
        .split("\n")
        .slice(-CALLS - 5)
        .join("\n")}`,
    );
    console.log(
      `      stand-in envoy: ${CALLS} calls reached leaf-a's ingress on its connection ` +
        `${first.connection}, requests ${first.requests} to ${first.requests + CALLS - 1} on it`,
    );
  });
});
