import assert from "node:assert/strict";
import { parse } from "yaml";
import { sortLeaves } from "../components/common/contract";
import {
  ENVOY_PORTS,
  EnvoyLeaf,
  EnvoyOptions,
  circuitBreakers,
  envoyBootstrap,
  leafAlias,
  leafEndpoint,
} from "../components/observer/envoy/bootstrap";
import { leafCertFiles, leafSdsFiles } from "../components/observer/envoy/sds";
import { envoyFilePaths, envoyFileReads } from "./support/envoy-files";
import { assertValidEnvoyBootstrap, validateSdsFile } from "./support/envoy-validator";

const LEAVES: EnvoyLeaf[] = [
  {
    cluster: "leaf-b",
    host: "thanos.leaf-b.example.net",
    port: 8443,
    serverName: "thanos.leaf-b.example.net",
    streamTimeoutSeconds: 3600,
  },
  {
    cluster: "leaf-a",
    host: "thanos.leaf-a.example.com",
    port: 443,
    serverName: "thanos.leaf-a.example.com",
    streamTimeoutSeconds: 600,
  },
];
const OPTIONS: EnvoyOptions = {
  endpointSuffix: "bridge.internal",
  fanOut: { maxConcurrent: 10, maxConcurrentSelect: 3 },
  ipFamily: "IPv4",
  accessLog: "errors",
};

type Json = Record<string, unknown>;
const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], value);

describe("Envoy config generator", () => {
  const config = envoyBootstrap(sortLeaves(LEAVES), OPTIONS);
  const clusters = at(config, "static_resources", "clusters") as Json[];
  const listeners = at(config, "static_resources", "listeners") as Json[];
  const hcm = (name: string) =>
    at(
      listeners.find((l) => l.name === name),
      "filter_chains",
      0,
      "filters",
      0,
      "typed_config",
    ) as Json;

  it("names each leaf's endpoint after its cluster under the suffix", () => {
    assert.equal(leafAlias("leaf-a", "bridge.internal"), "leaf-a.bridge.internal");
    assert.equal(
      leafEndpoint("leaf-a", "bridge.internal"),
      `leaf-a.bridge.internal:${ENVOY_PORTS.listener}`,
    );
  });

  it("lays each leaf's two SDS files out in a directory of its own", () => {
    assert.deepEqual(leafCertFiles("leaf-a"), {
      tlsCertificate: {
        secretName: "leaf-a-tls-certificate",
        key: "tls-certificate.yaml",
        volumePath: "leaf-a/tls-certificate.yaml",
        path: "/etc/envoy/certs/leaf-a/tls-certificate.yaml",
      },
      validationContext: {
        secretName: "leaf-a-validation-context",
        key: "validation-context.yaml",
        volumePath: "leaf-a/validation-context.yaml",
        path: "/etc/envoy/certs/leaf-a/validation-context.yaml",
      },
    });
  });

  it("routes each leaf's alias, with and without port, to that leaf's cluster only", () => {
    const vhosts = at(hcm("leaves"), "route_config", "virtual_hosts") as Json[];
    assert.deepEqual(
      vhosts.map((v) => [v.name, v.domains, at(v, "routes", 0, "route", "cluster")]),
      [
        ["leaf-a", ["leaf-a.bridge.internal", "leaf-a.bridge.internal:10000"], "leaf-a"],
        ["leaf-b", ["leaf-b.bridge.internal", "leaf-b.bridge.internal:10000"], "leaf-b"],
      ],
    );
    for (const v of vhosts) {
      assert.deepEqual(at(v, "routes", 0, "match"), { prefix: "/thanos.", grpc: {} });
      assert.equal((v.routes as unknown[]).length, 1, "one route: nothing else is forwarded");
    }
  });

  it("sends each leaf its own hostname as :authority, not Querier's alias", () => {
    const vhosts = at(hcm("leaves"), "route_config", "virtual_hosts") as Json[];
    assert.deepEqual(
      vhosts.map((v) => at(v, "routes", 0, "route", "host_rewrite_literal")),
      ["thanos.leaf-a.example.com", "thanos.leaf-b.example.net"],
    );
  });

  it("sets no route timeout and enforces Querier's gRPC deadline instead", () => {
    const route = at(
      hcm("leaves"),
      "route_config",
      "virtual_hosts",
      0,
      "routes",
      0,
      "route",
    ) as Json;
    assert.equal(route.timeout, "0s");
    assert.deepEqual(route.max_stream_duration, { grpc_timeout_header_max: "0s" });
    assert.equal(hcm("leaves").codec_type, "HTTP2");
  });

  it("idles each leaf's streams out after that leaf's own streamTimeoutSeconds", () => {
    const vhosts = at(hcm("leaves"), "route_config", "virtual_hosts") as Json[];
    assert.deepEqual(
      vhosts.map((v) => [v.name, at(v, "routes", 0, "route", "idle_timeout")]),
      [
        ["leaf-a", "600s"],
        ["leaf-b", "3600s"],
      ],
    );
  });

  it("logs failed gRPC calls by default, every call or none on request", () => {
    const stdout = {
      name: "envoy.access_loggers.stdout",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
      },
    };
    const logs = (accessLog: EnvoyOptions["accessLog"]) => {
      const c = envoyBootstrap(sortLeaves(LEAVES), { ...OPTIONS, accessLog });
      const listener = (at(c, "static_resources", "listeners") as Json[])[0];
      return at(listener, "filter_chains", 0, "filters", 0, "typed_config", "access_log");
    };
    assert.deepEqual(logs("errors"), [
      { ...stdout, filter: { grpc_status_filter: { statuses: ["OK"], exclude: true } } },
    ]);
    assert.deepEqual(logs("all"), [stdout]);
    assert.equal(logs("none"), undefined);
    for (const accessLog of ["none", "errors", "all"] as const) {
      assertValidEnvoyBootstrap(envoyBootstrap(sortLeaves(LEAVES), { ...OPTIONS, accessLog }));
    }
  });

  it("binds the stats listener for the pod network's IP family", () => {
    const stats = (ipFamily: EnvoyOptions["ipFamily"]) => {
      const c = envoyBootstrap(sortLeaves(LEAVES), { ...OPTIONS, ipFamily });
      const listener = (at(c, "static_resources", "listeners") as Json[]).find(
        (l) => l.name === "stats",
      );
      return at(listener, "address", "socket_address");
    };
    // IPv4 never names an IPv6 address: Envoy refuses `::` on a node with IPv6 disabled.
    assert.deepEqual(stats("IPv4"), { address: "0.0.0.0", port_value: ENVOY_PORTS.stats });
    assert.deepEqual(stats("IPv6"), { address: "::", port_value: ENVOY_PORTS.stats });
    assert.deepEqual(stats("DualStack"), {
      address: "::",
      port_value: ENVOY_PORTS.stats,
      ipv4_compat: true,
    });
    for (const ipFamily of ["IPv4", "IPv6", "DualStack"] as const) {
      assertValidEnvoyBootstrap(envoyBootstrap(sortLeaves(LEAVES), { ...OPTIONS, ipFamily }));
    }
  });

  it("gives each leaf a cluster with its address, HTTP/2, mTLS, SNI and SAN", () => {
    for (const leaf of LEAVES) {
      const c = clusters.find((x) => x.name === leaf.cluster) as Json;
      assert.deepEqual(
        at(c, "load_assignment", "endpoints", 0, "lb_endpoints", 0, "endpoint", "address"),
        {
          socket_address: { address: leaf.host, port_value: leaf.port },
        },
      );
      assert.equal(c.connect_timeout, "5s");
      assert.deepEqual(
        at(
          c,
          "typed_extension_protocol_options",
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          "explicit_http_config",
        ),
        { http2_protocol_options: { connection_keepalive: { interval: "30s", timeout: "10s" } } },
      );
      assert.deepEqual(at(c, "upstream_connection_options", "tcp_keepalive"), {
        keepalive_time: 60,
        keepalive_interval: 10,
        keepalive_probes: 3,
      });
      const tls = at(c, "transport_socket", "typed_config") as Json;
      assert.equal(tls.sni, leaf.serverName);
      const sds = (path: string, name: string) => ({
        name,
        sds_config: {
          path_config_source: { path, watched_directory: { path: "/etc/envoy/certs" } },
          resource_api_version: "V3",
        },
      });
      assert.deepEqual(at(tls, "common_tls_context"), {
        tls_params: { tls_minimum_protocol_version: "TLSv1_2" },
        alpn_protocols: ["h2"],
        tls_certificate_sds_secret_configs: [
          sds(
            `/etc/envoy/certs/${leaf.cluster}/tls-certificate.yaml`,
            `${leaf.cluster}-tls-certificate`,
          ),
        ],
        combined_validation_context: {
          default_validation_context: {
            match_typed_subject_alt_names: [
              { san_type: "DNS", matcher: { exact: leaf.serverName } },
            ],
          },
          validation_context_sds_secret_config: sds(
            `/etc/envoy/certs/${leaf.cluster}/validation-context.yaml`,
            `${leaf.cluster}-validation-context`,
          ),
        },
      });
    }
  });

  it("sizes circuit breakers from Querier's fan-out", () => {
    assert.deepEqual(circuitBreakers({ maxConcurrent: 10, maxConcurrentSelect: 3 }), {
      thresholds: [
        {
          priority: "DEFAULT",
          max_connections: 8,
          max_pending_requests: 60,
          max_requests: 60,
          max_retries: 3,
        },
      ],
    });
    const c = clusters.find((x) => x.name === "leaf-a") as Json;
    assert.deepEqual(c.circuit_breakers, circuitBreakers(OPTIONS.fanOut));
  });

  it("binds admin and the leaves listener to loopback, and exposes only two admin paths on the stats port", () => {
    assert.deepEqual(at(config, "admin", "address", "socket_address"), {
      address: "127.0.0.1",
      port_value: ENVOY_PORTS.admin,
    });
    const addresses: Record<string, unknown> = Object.fromEntries(
      listeners.map((l): [string, unknown] => [String(l.name), at(l, "address", "socket_address")]),
    );
    assert.deepEqual(addresses, {
      leaves: { address: "127.0.0.1", port_value: ENVOY_PORTS.listener },
      stats: { address: "0.0.0.0", port_value: ENVOY_PORTS.stats },
    });
    const routes = at(hcm("stats"), "route_config", "virtual_hosts", 0, "routes") as Json[];
    assert.deepEqual(
      routes.map((r) => [at(r, "match", "path"), at(r, "route", "cluster")]),
      [
        ["/stats/prometheus", "_admin"],
        ["/ready", "_admin"],
      ],
    );
    const admin = clusters.find((x) => x.name === "_admin") as Json;
    assert.deepEqual(
      at(admin, "load_assignment", "endpoints", 0, "lb_endpoints", 0, "endpoint", "address"),
      {
        socket_address: { address: "127.0.0.1", port_value: ENVOY_PORTS.admin },
      },
    );
  });

  it("lists the files it reads, each with the directory whose moves make Envoy re-read it", () => {
    const certs = "/etc/envoy/certs";
    assert.deepEqual(envoyFileReads(config), [
      { path: `${certs}/leaf-a/tls-certificate.yaml`, watchedDirectory: certs },
      { path: `${certs}/leaf-a/validation-context.yaml`, watchedDirectory: certs },
      { path: `${certs}/leaf-b/tls-certificate.yaml`, watchedDirectory: certs },
      { path: `${certs}/leaf-b/validation-context.yaml`, watchedDirectory: certs },
    ]);
    assert.deepEqual(envoyFilePaths(config), [
      `${certs}/leaf-a/tls-certificate.yaml`,
      `${certs}/leaf-a/validation-context.yaml`,
      `${certs}/leaf-b/tls-certificate.yaml`,
      `${certs}/leaf-b/validation-context.yaml`,
    ]);
  });

  it("finds DataSource files too, with the watched directory of the message naming them", () => {
    const reads = envoyFileReads({
      a: { trusted_ca: { filename: "/x/ca.pem" } },
      b: {
        tls_certificate: {
          certificate_chain: { filename: "/y/crt.pem" },
          watched_directory: { path: "/y" },
        },
      },
      c: { path_config_source: { path: "/z/sds.yaml" } },
    });
    assert.deepEqual(reads, [
      { path: "/x/ca.pem" },
      { path: "/y/crt.pem", watchedDirectory: "/y" },
      { path: "/z/sds.yaml" },
    ]);
  });

  it("gives the same config whatever the order of the leaves", () => {
    assert.equal(
      JSON.stringify(envoyBootstrap(sortLeaves([...LEAVES].reverse()), OPTIONS)),
      JSON.stringify(config),
    );
  });

  it("passes the strict proto validator for 0, 1 and many leaves", () => {
    for (const n of [0, 1, 50]) {
      const leaves = Array.from({ length: n }, (_, i) => ({
        cluster: `leaf-${i}`,
        host: `thanos.leaf-${i}.example.com`,
        port: 443,
        serverName: `thanos.leaf-${i}.example.com`,
        streamTimeoutSeconds: 600,
      }));
      assertValidEnvoyBootstrap(envoyBootstrap(sortLeaves(leaves), OPTIONS));
    }
  });
});

describe("SDS file generator", () => {
  const pem = (label: string, body: string) =>
    `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
  const CERT = pem("CERTIFICATE", "Y2xpZW50");
  const KEY = pem("PRIVATE KEY", "a2V5");
  // A CA change overlapping: the old CA and the new one, in one bundle.
  const CAS = pem("CERTIFICATE", "b2xkIENB") + pem("CERTIFICATE", "bmV3IENB");
  const files = leafSdsFiles({ cluster: "leaf-a", clientCert: CERT, clientKey: KEY, caCerts: CAS });
  const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

  it("puts the client certificate with its key in one file and the whole CA bundle in the other", () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(files).map(([key, text]) => [key, parse(text)])),
      {
        "tls-certificate.yaml": {
          resources: [
            {
              "@type": SECRET,
              name: "leaf-a-tls-certificate",
              tls_certificate: {
                certificate_chain: { inline_string: CERT },
                private_key: { inline_string: KEY },
              },
            },
          ],
        },
        "validation-context.yaml": {
          resources: [
            {
              "@type": SECRET,
              name: "leaf-a-validation-context",
              validation_context: { trusted_ca: { inline_string: CAS } },
            },
          ],
        },
      },
    );
    assert.doesNotMatch(files["validation-context.yaml"], /PRIVATE KEY/);
  });

  it("writes sorted YAML with each PEM as a block literal", () => {
    assert.equal(
      files["validation-context.yaml"],
      [
        "resources:",
        `  - "@type": ${SECRET}`,
        "    name: leaf-a-validation-context",
        "    validation_context:",
        "      trusted_ca:",
        "        inline_string: |",
        "          -----BEGIN CERTIFICATE-----",
        "          b2xkIENB",
        "          -----END CERTIFICATE-----",
        "          -----BEGIN CERTIFICATE-----",
        "          bmV3IENB",
        "          -----END CERTIFICATE-----",
        "",
      ].join("\n"),
    );
  });

  it("gives each SDS reference of the bootstrap a file Envoy takes: one Secret of that name", () => {
    const config = envoyBootstrap(sortLeaves([LEAVES[1]]), OPTIONS);
    const leaf = (at(config, "static_resources", "clusters") as Json[]).find(
      (c) => c.name === "leaf-a",
    );
    const ctx = at(leaf, "transport_socket", "typed_config", "common_tls_context");
    const refs = [
      [at(ctx, "tls_certificate_sds_secret_configs", 0), "tls_certificate"],
      [
        at(ctx, "combined_validation_context", "validation_context_sds_secret_config"),
        "validation_context",
      ],
    ] as const;
    for (const [ref, kind] of refs) {
      const { name, sds_config } = ref as { name: string; sds_config: unknown };
      const path = at(sds_config, "path_config_source", "path") as string;
      const key = path.slice(path.lastIndexOf("/") + 1);
      assert.ok(key in files, `${path}: no such SDS file`);
      assert.deepEqual(validateSdsFile(parse(files[key]), name, kind), [], path);
    }
  });
});
