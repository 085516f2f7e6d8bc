import assert from "node:assert/strict";
import {
  ENVOY_PROTO_FILES,
  assertValidEnvoyBootstrap,
  isResolvableType,
  loadEnvoyProtos,
  validateEnvoyBootstrap,
  validateMessage,
  validateSdsFile,
} from "./support/envoy-validator";

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TLS = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const typeUrl = (name: string): string => `type.googleapis.com/${name}`;

/** A small but realistic bootstrap: one listener proxying to one upstream over TLS/HTTP2. */
function validBootstrap(): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } },
    static_resources: {
      listeners: [
        {
          name: "ingress",
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": typeUrl(HCM),
                    stat_prefix: "ingress_http",
                    codec_type: "AUTO",
                    route_config: {
                      name: "local_route",
                      virtual_hosts: [
                        {
                          name: "leaves",
                          domains: ["*"],
                          routes: [
                            { match: { prefix: "/" }, route: { cluster: "leaf-a", timeout: "0s" } },
                          ],
                        },
                      ],
                    },
                    http_filters: [
                      {
                        name: "envoy.filters.http.router",
                        typed_config: {
                          "@type": typeUrl("envoy.extensions.filters.http.router.v3.Router"),
                        },
                      },
                    ],
                    access_log: [
                      {
                        name: "envoy.access_loggers.stdout",
                        typed_config: {
                          "@type": typeUrl(
                            "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                          ),
                        },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "leaf-a",
          type: "STRICT_DNS",
          connect_timeout: "5s",
          load_assignment: {
            cluster_name: "leaf-a",
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: {
                      address: {
                        socket_address: { address: "leaf-a.example.com", port_value: 443 },
                      },
                    },
                  },
                ],
              },
            ],
          },
          typed_extension_protocol_options: {
            [HTTP_OPTIONS]: {
              "@type": typeUrl(HTTP_OPTIONS),
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          transport_socket: {
            name: "envoy.transport_sockets.tls",
            typed_config: {
              "@type": typeUrl(TLS),
              sni: "leaf-a.example.com",
              common_tls_context: {
                tls_certificates: [
                  {
                    certificate_chain: { filename: "/etc/envoy/tls/tls.crt" },
                    private_key: { filename: "/etc/envoy/tls/tls.key" },
                  },
                ],
                validation_context: { trusted_ca: { filename: "/etc/envoy/tls/ca.crt" } },
                alpn_protocols: ["h2"],
              },
            },
          },
        },
      ],
    },
  };
}

/** Walks `path` from `root` and returns the object found there (for mutating a copy). */
function at(root: unknown, ...path: (string | number)[]): Record<string, unknown> {
  let node = root;
  for (const step of path) {
    assert.ok(typeof node === "object" && node !== null, `no object at ${path.join(".")}`);
    node = (node as Record<string | number, unknown>)[step];
  }
  assert.ok(typeof node === "object" && node !== null && !Array.isArray(node));
  return node as Record<string, unknown>;
}
const cluster = (c: unknown) => at(c, "static_resources", "clusters", 0);
const hcm = (c: unknown) =>
  at(c, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config");
const route = (c: unknown) => at(hcm(c), "route_config", "virtual_hosts", 0, "routes", 0);
const tls = (c: unknown) => at(cluster(c), "transport_socket", "typed_config");
const upstreamAddress = (c: unknown) =>
  at(cluster(c), "load_assignment", "endpoints", 0, "lb_endpoints", 0, "endpoint", "address");

const CLUSTER_PATH = "static_resources.clusters[0]";
const HCM_PATH = `static_resources.listeners[0].filter_chains[0].filters[0].typed_config(${HCM})`;
const ROUTE_PATH = `${HCM_PATH}.route_config.virtual_hosts[0].routes[0]`;
const TLS_PATH = `${CLUSTER_PATH}.transport_socket.typed_config(${TLS})`;
const ADDRESS_PATH = `${CLUSTER_PATH}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address`;

/** Validates a copy of the valid bootstrap after `mutate` has damaged it. */
function problemsAfter(mutate: (config: Record<string, unknown>) => void): string[] {
  const config = structuredClone(validBootstrap());
  mutate(config);
  return validateEnvoyBootstrap(config);
}

/** Asserts that some problem is reported at exactly `path` and mentions every fragment. */
function assertProblem(problems: string[], path: string, ...fragments: string[]): void {
  const found = problems.some(
    (p) => p.startsWith(`${path}: `) && fragments.every((f) => p.includes(f)),
  );
  assert.ok(
    found,
    `no problem at ${path} mentioning ${fragments.join(", ")} in:\n${problems.join("\n")}`,
  );
}

describe("envoy-validator", () => {
  // Loading the protos takes ~0.15 s: do it once, outside the tests' timings.
  before(() => {
    loadEnvoyProtos();
  });

  it("accepts the realistic bootstrap with no problems", () => {
    assert.deepEqual(validateEnvoyBootstrap(validBootstrap()), []);
    assert.doesNotThrow(() => assertValidEnvoyBootstrap(validBootstrap()));
  });

  it("can resolve every @type the bootstrap uses, and lists the proto files it loads", () => {
    assert.ok(ENVOY_PROTO_FILES.includes("envoy/config/bootstrap/v3/bootstrap.proto"));
    for (const name of [
      HCM,
      TLS,
      HTTP_OPTIONS,
      "envoy.extensions.filters.http.router.v3.Router",
      "envoy.service.discovery.v3.DiscoveryResponse",
      "envoy.extensions.transport_sockets.tls.v3.Secret",
    ]) {
      assert.ok(isResolvableType(name), name);
    }
    assert.equal(isResolvableType("v3.Cluster"), false, "partial names must not resolve");
  });

  it("reports unknown fields, naming the field and the message type", () => {
    const problems = problemsAfter((c) => {
      const common = at(tls(c), "common_tls_context");
      common.tls_certificate = common.tls_certificates;
      delete common.tls_certificates;
      c.static_resource = {};
    });
    assertProblem(
      problems,
      `${TLS_PATH}.common_tls_context`,
      'unknown field "tls_certificate"',
      "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext",
    );
    assertProblem(problems, "<root>", 'unknown field "static_resource"', "Bootstrap");
    assert.equal(problems.length, 2, problems.join("\n"));
  });

  it("accepts lowerCamel JSON names as Envoy does, but not the same field twice", () => {
    const camel = validateMessage("envoy.config.core.v3.SocketAddress", {
      address: "10.0.0.1",
      portValue: 80,
    });
    assert.deepEqual(camel, []);
    const twice = validateMessage("envoy.config.core.v3.SocketAddress", {
      address: "10.0.0.1",
      port_value: 80,
      portValue: 80,
    });
    assertProblem(twice, "<root>", '"port_value" given twice');
  });

  it("reports scalars of the wrong type or out of range", () => {
    const problems = problemsAfter((c) => {
      at(upstreamAddress(c), "socket_address").port_value = "10000";
      cluster(c).per_connection_buffer_limit_bytes = -1; // a UInt32Value wrapper
      tls(c).sni = 42;
      at(c, "admin", "address", "socket_address").port_value = 70000; // PGV: lte 65535
    });
    assertProblem(
      problems,
      `${ADDRESS_PATH}.socket_address.port_value`,
      'expected uint32 in range, got string "10000"',
    );
    assertProblem(problems, `${CLUSTER_PATH}.per_connection_buffer_limit_bytes`, "uint32", "-1");
    assertProblem(problems, `${TLS_PATH}.sni`, "expected string, got number 42");
    assertProblem(problems, "admin.address.socket_address.port_value", "lte 65535");
  });

  it("wants wrappers as bare scalars, and 64-bit integers as numbers or decimal strings", () => {
    const wrapped = problemsAfter((c) => {
      cluster(c).per_connection_buffer_limit_bytes = { value: 1024 };
    });
    assertProblem(wrapped, `${CLUSTER_PATH}.per_connection_buffer_limit_bytes`, "expected uint32");
    const range = "envoy.type.v3.Int64Range";
    assert.deepEqual(validateMessage(range, { start: "-5", end: 10 }), []);
    const badRange = validateMessage(range, { start: "1.5", end: 2 ** 64 });
    assertProblem(badRange, "start", 'expected int64 in range, got string "1.5"');
    assertProblem(badRange, "end", "expected int64 in range");
    const ring = "envoy.config.cluster.v3.Cluster.RingHashLbConfig"; // UInt64Value, PGV lte 8388608
    assert.deepEqual(validateMessage(ring, { minimum_ring_size: "1024" }), []);
    assertProblem(validateMessage(ring, { maximum_ring_size: 9e6 }), "maximum_ring_size", "lte");
  });

  it("accepts any object for a Struct, and nothing else", () => {
    const metadata = "envoy.config.core.v3.Metadata"; // map<string, google.protobuf.Struct>
    assert.deepEqual(validateMessage(metadata, { filter_metadata: { "a.b": { x: [1] } } }), []);
    const problems = validateMessage(metadata, { filter_metadata: { "a.b": 5 } });
    assertProblem(problems, 'filter_metadata["a.b"]', "expected an object (Struct)");
  });

  it("reports enum values that are not defined, listing the allowed names", () => {
    const problems = problemsAfter((c) => {
      cluster(c).type = "STRICT";
      cluster(c).lb_policy = "ROUNDROBIN";
      hcm(c).codec_type = 42;
    });
    assertProblem(problems, `${CLUSTER_PATH}.type`, '"STRICT"', "STRICT_DNS, LOGICAL_DNS");
    assertProblem(problems, `${CLUSTER_PATH}.lb_policy`, '"ROUNDROBIN"', "ROUND_ROBIN");
    assertProblem(problems, `${HCM_PATH}.codec_type`, "42", "AUTO, HTTP1, HTTP2");
    // A defined value number is fine, as the JSON mapping allows.
    assert.deepEqual(
      problemsAfter((c) => {
        cluster(c).lb_policy = 1;
      }),
      [],
    );
  });

  it("reports an unknown or missing @type in an Any", () => {
    const problems = problemsAfter((c) => {
      at(hcm(c), "http_filters", 0, "typed_config")["@type"] = typeUrl(
        "envoy.extensions.filters.http.router.v3.Routr",
      );
      delete tls(c)["@type"];
    });
    assertProblem(
      problems,
      `${HCM_PATH}.http_filters[0].typed_config`,
      'unknown @type "type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr"',
    );
    assertProblem(problems, `${CLUSTER_PATH}.transport_socket.typed_config`, 'missing "@type"');
  });

  it("validates the fields of an Any's message, and the map holding Anys", () => {
    const problems = problemsAfter((c) => {
      const options = at(cluster(c), "typed_extension_protocol_options", HTTP_OPTIONS);
      options.explicit_http_config = { http2_protocol_options: {}, http3: {} };
    });
    assertProblem(
      problems,
      `${CLUSTER_PATH}.typed_extension_protocol_options["${HTTP_OPTIONS}"](${HTTP_OPTIONS}).explicit_http_config`,
      'unknown field "http3"',
    );
    // A well-known type with a non-object JSON form is packed as {"@type": ..., "value": ...}.
    const packed = { "@type": typeUrl("google.protobuf.Duration"), value: "5m" };
    assertProblem(
      validateMessage("google.protobuf.Any", packed),
      "(google.protobuf.Duration).value",
      "Duration",
    );
  });

  it("reports malformed Duration strings", () => {
    const problems = problemsAfter((c) => {
      cluster(c).connect_timeout = "5";
      at(route(c), "route").timeout = "5m";
      cluster(c).dns_refresh_rate = 5;
    });
    assertProblem(problems, `${CLUSTER_PATH}.connect_timeout`, "Duration", 'string "5"');
    assertProblem(problems, `${ROUTE_PATH}.route.timeout`, "Duration", 'string "5m"');
    assertProblem(problems, `${CLUSTER_PATH}.dns_refresh_rate`, "Duration", "number 5");
    for (const ok of ["0s", "1.5s", "600s", "0.000000001s"]) {
      assert.deepEqual(
        problemsAfter((c) => {
          cluster(c).connect_timeout = ok;
        }),
        [],
        ok,
      );
    }
  });

  it("reports a missing member of a required oneof", () => {
    const problems = problemsAfter((c) => {
      delete route(c).route; // Route.action is (validate.required)
      delete upstreamAddress(c).socket_address; // Address.address is (validate.required)
      delete at(c, "admin", "address", "socket_address").port_value; // port_specifier too
    });
    assertProblem(problems, ROUTE_PATH, 'missing required oneof "action"', "direct_response");
    assertProblem(problems, ADDRESS_PATH, 'missing required oneof "address"', "socket_address");
    assertProblem(
      problems,
      "admin.address.socket_address",
      'missing required oneof "port_specifier"',
    );
  });

  it("reports two members of one oneof set at once", () => {
    const problems = problemsAfter((c) => {
      route(c).direct_response = { status: 200 };
      at(upstreamAddress(c), "socket_address").named_port = "https";
    });
    assertProblem(
      problems,
      ROUTE_PATH,
      'oneof "action"',
      "several members set: route, direct_response",
    );
    assertProblem(
      problems,
      `${ADDRESS_PATH}.socket_address`,
      'oneof "port_specifier"',
      "port_value, named_port",
    );
  });

  it("reports deprecated fields", () => {
    const problems = problemsAfter((c) => {
      cluster(c).http2_protocol_options = {}; // moved to typed_extension_protocol_options in v3
    });
    assertProblem(
      problems,
      CLUSTER_PATH,
      'deprecated field "http2_protocol_options"',
      "envoy.config.cluster.v3.Cluster",
    );
  });

  it("reports missing required fields (message required, string min_len)", () => {
    const problems = problemsAfter((c) => {
      delete route(c).match; // (validate.rules).message.required
      delete hcm(c).stat_prefix; // (validate.rules).string.min_len = 1
      cluster(c).name = "";
    });
    assertProblem(problems, ROUTE_PATH, 'missing required field "match"');
    assertProblem(problems, HCM_PATH, 'missing required field "stat_prefix"', "min_len 1");
    assertProblem(problems, `${CLUSTER_PATH}.name`, "shorter than min_len 1");
  });

  it("treats null as an unset field, as the JSON mapping does", () => {
    assert.deepEqual(
      problemsAfter((c) => {
        cluster(c).lb_policy = null;
      }),
      [],
    );
  });

  it("collects every problem in one run, and assertValidEnvoyBootstrap lists them all", () => {
    const broken = structuredClone(validBootstrap());
    cluster(broken).type = "STRICT";
    cluster(broken).connect_timeout = 5;
    at(tls(broken), "common_tls_context").tls_certificate = [];
    delete route(broken).route;
    const problems = validateEnvoyBootstrap(broken);
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.throws(
      () => assertValidEnvoyBootstrap(broken),
      (err: Error) =>
        problems.every((p) => err.message.includes(p)) && /4 problem/.test(err.message),
    );
  });

  describe("SDS files (validateSdsFile)", () => {
    const SECRET = typeUrl("envoy.extensions.transport_sockets.tls.v3.Secret");
    const secret = (name: string) => ({
      "@type": SECRET,
      name,
      validation_context: { trusted_ca: { inline_string: "PEM" } },
    });

    it("accepts one Secret of the expected name and kind", () => {
      assert.deepEqual(
        validateSdsFile({ resources: [secret("leaf-a-ca")] }, "leaf-a-ca", "validation_context"),
        [],
      );
    });

    it("reports two resources in one file", () => {
      const file = { resources: [secret("leaf-a-ca"), secret("leaf-b-ca")] };
      assert.deepEqual(validateSdsFile(file, "leaf-a-ca", "validation_context"), [
        "resources: SDS takes exactly one resource, got 2",
      ]);
      assert.deepEqual(validateSdsFile({}, "leaf-a-ca", "validation_context"), [
        "resources: SDS takes exactly one resource, got 0",
      ]);
    });

    it("reports a Secret whose name is not the one the bootstrap asks for", () => {
      const file = { resources: [secret("leaf-b-ca")] };
      assert.deepEqual(validateSdsFile(file, "leaf-a-ca", "validation_context"), [
        'resources[0].name: string "leaf-b-ca", but the bootstrap asks for "leaf-a-ca"',
      ]);
    });

    it("reports a Secret of the wrong kind, or a resource that is not a Secret", () => {
      const file = { resources: [secret("leaf-a-ca")] };
      assert.deepEqual(validateSdsFile(file, "leaf-a-ca", "tls_certificate"), [
        "resources[0]: no tls_certificate, which the bootstrap's reference to it needs",
      ]);
      const cluster = { "@type": typeUrl("envoy.config.cluster.v3.Cluster"), name: "leaf-a-ca" };
      assert.deepEqual(validateSdsFile({ resources: [cluster] }, "leaf-a-ca", "tls_certificate"), [
        "resources[0]: its @type must be envoy.extensions.transport_sockets.tls.v3.Secret",
      ]);
    });

    it("reports unknown fields in the DiscoveryResponse and in the Secret inside its Any", () => {
      const inner = secret("leaf-a-ca");
      (inner.validation_context as Record<string, unknown>).trusted_cas = {};
      const problems = validateSdsFile(
        { resources: [inner], version: "1" },
        "leaf-a-ca",
        "validation_context",
      );
      assertProblem(problems, "<root>", 'unknown field "version"', "DiscoveryResponse");
      assertProblem(
        problems,
        "resources[0](envoy.extensions.transport_sockets.tls.v3.Secret).validation_context",
        'unknown field "trusted_cas"',
        "CertificateValidationContext",
      );
      assert.equal(problems.length, 2, problems.join("\n"));
    });
  });

  it("refuses a message type it does not know", () => {
    assert.throws(() => validateMessage("envoy.config.cluster.v3.Clusterr", {}), /no message type/);
  });
});
