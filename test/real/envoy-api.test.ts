// The Envoy config the program writes, checked by Envoy's own Go API (test/envoy-validate):
// strict decoding plus the protoc-gen-validate rules, which the TypeScript walker
// (test/support/envoy-validator.ts) checks only in part. The breaks below show rules the
// walker misses and the Go API catches.
import assert from "node:assert/strict";
import { parse } from "yaml";
import { leafCertFiles } from "../../components/observer/envoy/sds";
import { envoyFileReads } from "../support/envoy-files";
import { stableYaml } from "../../components/common/yaml";
import { validateEnvoyBootstrap, validateSdsFile } from "../support/envoy-validator";
import { LEAF_A, LEAF_B, runLeaf, shippedLeafConfig } from "../support/leaf";
import { OBSERVER, ObserverRun, mountedFile, runObserver, stacksOf } from "../support/observer";
import { realBinary } from "./support/bench";
import { EnvoyApiFile, envoyApiProblems } from "./support/envoy-validate";

/** The validator: ENVOY_VALIDATE_BINARY if set (a build of one's own), else the bench's. */
const validator = (): string => process.env.ENVOY_VALIDATE_BINARY ?? realBinary("envoy-validate");

type Json = Record<string, unknown>;

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A problem at exactly this path whose text starts with `what`. */
const problem = (path: string, what: string): RegExp =>
  new RegExp(`^${escape(path)}: ${escape(what)}`);

/** The object at a path of keys and indices; fails the test if there is none. */
function at(value: unknown, path: readonly (string | number)[]): Json {
  const found = path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], value);
  assert.ok(typeof found === "object" && found !== null, `nothing at ${path.join(".")}`);
  return found as Json;
}

/** Every `path_config_source.path` in a config: the files Envoy reads as xDS responses. */
function pathConfigSources(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(pathConfigSources);
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value as Json).flatMap(([key, child]) => {
    const path = (child as { path?: unknown } | null)?.path;
    return key === "path_config_source" && typeof path === "string"
      ? [path]
      : pathConfigSources(child);
  });
}

/** The file the Envoy container reads as its bootstrap, through its mounts. */
function bootstrapOf(run: ObserverRun): string {
  const args = run.pod.initContainers?.find((c) => c.name === "envoy")?.args ?? [];
  const i = args.indexOf("--config-path");
  assert.ok(i >= 0, "the envoy container has no --config-path");
  return mountedFile(run, "envoy", args[i + 1]);
}

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";
const SHIPPED = "organization/thanos-bridge";

async function testObserver(extra: Record<string, string> = {}): Promise<ObserverRun> {
  const a = await runLeaf(LEAF_A, "leaf-a");
  const b = await runLeaf(LEAF_B, "leaf-b");
  return runObserver({ ...OBSERVER, ...extra }, stacksOf({ [STACK_A]: a, [STACK_B]: b }));
}

describe("Envoy's Go API (go-control-plane v1.40.0)", () => {
  describe("passes every file Envoy reads", () => {
    const scenarios: [string, () => Promise<ObserverRun>][] = [
      ["the test stacks (ECDSA leaves)", () => testObserver()],
      [
        "the shipped stacks (Pulumi.*.yaml: leaf-b with RSA-3072 keys)",
        async () => {
          const a = await runLeaf(shippedLeafConfig("Pulumi.leaf-a.yaml"), "leaf-a");
          const b = await runLeaf(shippedLeafConfig("Pulumi.leaf-b.yaml"), "leaf-b");
          return runObserver(
            shippedLeafConfig("Pulumi.observer.yaml"),
            stacksOf({ [`${SHIPPED}/leaf-a`]: a, [`${SHIPPED}/leaf-b`]: b }),
          );
        },
      ],
      // The alerts scrape Envoy's stats listener, which is always there; checked all the same.
      ["the test stacks with expiryAlertDays set", () => testObserver({ expiryAlertDays: "21" })],
    ];
    for (const [title, observer] of scenarios) {
      it(`${title}: envoy.yaml and each leaf's SDS files, with no problem`, async () => {
        const run = await observer();
        assert.equal(run.leaves.length, 2);
        // Every SDS file envoy.yaml reads is validated below, and it reads each leaf's two: a file
        // dropped from either side, or one of another kind, fails here rather than going unchecked.
        const written = run.leaves.flatMap((l) => {
          const files = leafCertFiles(l.cluster);
          return [files.tlsCertificate.path, files.validationContext.path];
        });
        const referenced = [...new Set(pathConfigSources(run.envoy))].sort();
        assert.deepEqual([...written].sort(), referenced);
        assert.deepEqual(
          envoyFileReads(run.envoy).map((r) => r.path),
          referenced,
          "envoy.yaml reads a file that is not an SDS file",
        );
        const files: EnvoyApiFile[] = [
          { kind: "bootstrap", name: "envoy.yaml", content: bootstrapOf(run) },
          ...referenced.map((path): EnvoyApiFile => {
            return { kind: "sds", name: path, content: mountedFile(run, "envoy", path) };
          }),
        ];
        assert.deepEqual(
          await envoyApiProblems(validator(), files),
          Object.fromEntries(files.map((f) => [f.name, []])),
        );
      });
    }
  });

  describe("catches a broken envoy.yaml", () => {
    /** A break: one field changed in the generated envoy.yaml. */
    interface Break {
      readonly title: string;
      readonly mutate: (config: Json) => void;
      /** The one problem the Go API must report: it names the field broken. */
      readonly go: RegExp;
      /** What the walker says: a problem matching this, or nothing (it misses the break). */
      readonly walker?: RegExp;
    }
    const CLUSTERS = ["static_resources", "clusters"];
    const LEAF_A_CLUSTER = [...CLUSTERS, 1]; // [0] is _admin; leaves follow in name order
    const TLS = [...LEAF_A_CLUSTER, "transport_socket", "typed_config"];
    const PROTOCOL = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    const LEAVES_HCM = ["static_resources", "listeners", 0, "filter_chains", 0, "filters", 0];
    const VHOST = [...LEAVES_HCM, "typed_config", "route_config", "virtual_hosts", 0];
    const SOCKET_ADDRESS = [
      ...["load_assignment", "endpoints", 0, "lb_endpoints", 0],
      ...["endpoint", "address", "socket_address"],
    ];
    const SAN_MATCHER = [
      ...["common_tls_context", "combined_validation_context", "default_validation_context"],
      ...["match_typed_subject_alt_names", 0],
    ];
    const LUA = "envoy.extensions.filters.http.lua.v3.Lua";
    // Paths as the Go validator writes them.
    const goCluster = "static_resources.clusters[1]";
    const goHcm =
      "static_resources.listeners[0].filter_chains[0].filters[0].typed_config" +
      "(envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager)";
    const goTls = `${goCluster}.transport_socket.typed_config(envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext)`;
    const goVhost = `${goHcm}.route_config.virtual_hosts[0]`;
    const HEADER_VALUE = String.raw`value does not match regex pattern "^[^\x00\n\r]*$"`;
    const ACCESS_LOG = [...LEAVES_HCM, "typed_config", "access_log", 0, "typed_config"];

    const breaks: Break[] = [
      {
        // PGV duration gt 0s; the walker checks only a Duration's syntax.
        title: "a zero connect_timeout on a cluster",
        mutate: (c) => (at(c, LEAF_A_CLUSTER).connect_timeout = "0s"),
        go: problem(`${goCluster}.connect_timeout`, "value must be greater than 0s"),
      },
      {
        // string min_len 1, which the walker checks too.
        title: "an empty cluster name",
        mutate: (c) => (at(c, LEAF_A_CLUSTER).name = ""),
        go: problem(`${goCluster}.name`, "value length must be at least 1 runes"),
        walker: problem("static_resources.clusters[1].name", "string shorter than min_len 1"),
      },
      {
        // In the walker's place: a header value rule (http_header_value: no NUL, CR or LF).
        title: "a host_rewrite_literal that would smuggle a header in",
        mutate: (c) =>
          (at(c, [...VHOST, "routes", 0, "route"]).host_rewrite_literal =
            "thanos.leaf-a.example.com\r\nx-injected: 1"),
        go: problem(`${goVhost}.routes[0].route.host_rewrite_literal`, HEADER_VALUE),
      },
      {
        // uint32 lte 65535, which the walker checks too.
        title: "a port_value of 70000",
        mutate: (c) => (at(c, [...LEAF_A_CLUSTER, ...SOCKET_ADDRESS]).port_value = 70000),
        go: problem(
          `${goCluster}.${SOCKET_ADDRESS.join(".").replace(/\.(\d+)/g, "[$1]")}.port_value`,
          "value must be less than or equal to 65535",
        ),
        walker: problem(
          "static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value",
          "must be lte 65535, got 70000",
        ),
      },
      {
        // In the walker's place: duration gte 1ms, in an Any of typed_extension_protocol_options.
        title: "a zero HTTP/2 keepalive timeout (inside an Any in a map)",
        mutate: (c) =>
          (at(c, [
            ...LEAF_A_CLUSTER,
            "typed_extension_protocol_options",
            PROTOCOL,
            "explicit_http_config",
            "http2_protocol_options",
            "connection_keepalive",
          ]).timeout = "0s"),
        go: problem(
          `${goCluster}.typed_extension_protocol_options["${PROTOCOL}"](${PROTOCOL})` +
            ".explicit_http_config.http2_protocol_options.connection_keepalive.timeout",
          "value must be greater than or equal to 1ms",
        ),
      },
      {
        // In place of a regex that does not compile (see the test below): a repeated-items rule.
        title: "a domains entry with a line break",
        mutate: (c) => {
          const domains = at(c, VHOST).domains as string[];
          domains.push("leaf-a.thanos-bridge.internal\n");
        },
        go: problem(`${goVhost}.domains[2]`, HEADER_VALUE),
      },
      {
        // Inside an Any: UpstreamTlsContext.sni, string max_bytes 255.
        title: "an SNI longer than 255 bytes (inside the TLS transport socket's Any)",
        mutate: (c) => (at(c, TLS).sni = `${"a".repeat(63)}.`.repeat(4) + "example.com"),
        go: problem(`${goTls}.sni`, "value length must be at most 255 bytes"),
      },
      {
        // Inside an Any: SubjectAltNameMatcher.san_type, enum not_in [SAN_TYPE_UNSPECIFIED].
        title: "a SAN matcher without a SAN type (inside the TLS transport socket's Any)",
        mutate: (c) => (at(c, [...TLS, ...SAN_MATCHER]).san_type = "SAN_TYPE_UNSPECIFIED"),
        go: problem(
          `${goTls}.${SAN_MATCHER.join(".").replace(/\.(\d+)/g, "[$1]")}.san_type`,
          "value must not be in list [SAN_TYPE_UNSPECIFIED]",
        ),
      },
      {
        // An Any inside an Any: the access log's content_type, an http_header_value.
        title: "an access log content_type with a line break (an Any inside an Any)",
        mutate: (c) =>
          (at(c, ACCESS_LOG).log_format = {
            text_format_source: { inline_string: "%REQ(:PATH)%\n" },
            content_type: "text/plain\r\n",
          }),
        go: problem(
          `${goHcm}.access_log[0].typed_config(envoy.extensions.access_loggers.stream.v3.StdoutAccessLog)` +
            ".log_format.content_type",
          HEADER_VALUE,
        ),
      },
      {
        // A misspelt field inside an Any: decoding is strict there too.
        title: "an unknown field (inside the TLS transport socket's Any)",
        mutate: (c) => (at(c, [...TLS, "common_tls_context"]).alpn_protocol = ["h2"]),
        go: problem(`${goTls}.common_tls_context`, 'unknown field "alpn_protocol"'),
        walker: problem(
          "static_resources.clusters[1].transport_socket.typed_config(envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext).common_tls_context",
          'unknown field "alpn_protocol"',
        ),
      },
      {
        // A real Envoy type, but not one the program uses, so not linked into the validator.
        title: "an @type that does not resolve",
        mutate: (c) => (at(c, ACCESS_LOG)["@type"] = `type.googleapis.com/${LUA}`),
        go: problem(
          `${goHcm}.access_log[0].typed_config`,
          `unable to resolve "type.googleapis.com/${LUA}"`,
        ),
        walker: problem(
          "static_resources.listeners[0].filter_chains[0].filters[0].typed_config(envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager).access_log[0].typed_config",
          `unknown @type "type.googleapis.com/${LUA}"`,
        ),
      },
    ];

    let generated: Json;
    let goProblems: Record<string, string[]>;
    const broken = new Map<string, Json>();
    before(async () => {
      generated = parse(bootstrapOf(await testObserver())) as Json;
      for (const b of breaks) {
        const config = structuredClone(generated);
        b.mutate(config);
        broken.set(b.title, config);
      }
      // One run for all of them; the unbroken config goes along as the control.
      goProblems = await envoyApiProblems(validator(), [
        { kind: "bootstrap", name: "generated", content: stableYaml(generated) },
        ...breaks.map((b): EnvoyApiFile => {
          return { kind: "bootstrap", name: b.title, content: stableYaml(broken.get(b.title)) };
        }),
      ]);
    });

    it("passes the generated envoy.yaml itself, in both validators", () => {
      assert.deepEqual(goProblems.generated, []);
      assert.deepEqual(validateEnvoyBootstrap(generated), []);
    });

    for (const b of breaks) {
      const walker = b.walker === undefined ? "the walker misses" : "the walker catches it too";
      it(`${b.title}: the Go API names the field (${walker})`, () => {
        const problems = goProblems[b.title];
        assert.equal(problems.length, 1, problems.join("\n"));
        assert.match(problems[0], b.go);
        const walkerProblems = validateEnvoyBootstrap(broken.get(b.title));
        if (b.walker === undefined) assert.deepEqual(walkerProblems, []);
        else {
          assert.equal(walkerProblems.length, 1, walkerProblems.join("\n"));
          assert.match(walkerProblems[0], b.walker);
        }
      });
    }

    it('does not check regex syntax: a safe_regex of "(" passes both (only Envoy compiles it)', async () => {
      // RegexMatcher.regex has only min_len 1; Envoy's RE2 compiles it when it loads the config.
      // This records the limit; "a domains entry with a line break" stands in above.
      const config = structuredClone(generated);
      const routes = at(config, [...VHOST, "routes"]) as unknown as Json[];
      routes.unshift({
        match: { safe_regex: { regex: "(" } },
        route: { cluster: "leaf-a" },
      });
      const problems = await envoyApiProblems(validator(), [
        { kind: "bootstrap", name: "regex", content: stableYaml(config) },
      ]);
      assert.deepEqual(problems, { regex: [] });
      assert.deepEqual(validateEnvoyBootstrap(config), []);
    });
  });

  describe("catches a broken SDS file", () => {
    let validation: Json;
    const VALIDATION_PATH = leafCertFiles("leaf-a").validationContext.path;
    const SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret";
    before(async () => {
      validation = parse(mountedFile(await testObserver(), "envoy", VALIDATION_PATH)) as Json;
    });
    const sds = async (file: Json): Promise<string[]> =>
      (
        await envoyApiProblems(validator(), [
          { kind: "sds", name: "sds", content: stableYaml(file) },
        ])
      ).sds;

    it("a certificate pin of the wrong length in the Secret (the walker misses)", async () => {
      // CertificateValidationContext.verify_certificate_spki items: string min_len 44, max_bytes 44.
      const file = structuredClone(validation);
      at(file, ["resources", 0, "validation_context"]).verify_certificate_spki = ["c2hvcnQ="];
      assert.deepEqual(await sds(validation), []);
      const problems = await sds(file);
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(
        problems[0],
        problem(
          `resources[0](${SECRET}).validation_context.verify_certificate_spki[0]`,
          "value length must be at least 44 runes",
        ),
      );
      const secretName = leafCertFiles("leaf-a").validationContext.secretName;
      assert.deepEqual(validateSdsFile(file, secretName, "validation_context"), []);
    });

    it("a resource that is not a Secret, and a second resource", async () => {
      const notSecret = structuredClone(validation);
      const resource = at(notSecret, ["resources", 0]);
      notSecret.resources = [
        { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: resource.name },
      ];
      assert.deepEqual(await sds(notSecret), [
        `resources[0]: @type must be ${SECRET}, got "envoy.config.cluster.v3.Cluster"`,
      ]);
      const two = structuredClone(validation);
      two.resources = [resource, resource];
      assert.deepEqual(await sds(two), ["resources: SDS takes exactly one resource, got 2"]);
    });

    it("an empty Secret name passes the Go API (Secret.name has no rule): the walker's check stays", async () => {
      const file = structuredClone(validation);
      at(file, ["resources", 0]).name = "";
      assert.deepEqual(await sds(file), []);
      const secretName = leafCertFiles("leaf-a").validationContext.secretName;
      assert.deepEqual(validateSdsFile(file, secretName, "validation_context"), [
        `resources[0].name: string "", but the bootstrap asks for "${secretName}"`,
      ]);
    });
  });

  it("throws, with the validator's stderr, when it cannot check the files", async () => {
    const bad = { kind: "nonsense", name: "x", content: "{}" } as unknown as EnvoyApiFile;
    await assert.rejects(envoyApiProblems(validator(), [bad]), /exited 2[\s\S]*bad argument/);
  });
});
