import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import {
  certificateExpiryRuleSpec,
  envoyPodMonitorSpec,
} from "../components/observer/envoy/alerts";
import { ENVOY_PORTS } from "../components/observer/envoy/bootstrap";
import { leafSdsFiles } from "../components/observer/envoy/sds";
import { envoyFileReads } from "./support/envoy-files";
import { configHash } from "../components/observer/envoy/pod";
import { stableYaml } from "../components/common/yaml";
import { loadConfig } from "../stacks/config";
import { observerStack } from "../stacks/observer";
import { assertValidEnvoyBootstrap } from "./support/envoy-validator";
import { expectGolden } from "./support/golden";
import { LEAF_A, LEAF_B, LeafRun, leafRawConfig, runLeaf } from "./support/leaf";
import {
  FakeState,
  RecordedResource,
  RecordingMocks,
  StackOutputs,
  forgetPendingRegistrations,
  isSecretValue,
  runOnMocks,
  unwrapSecrets,
} from "./support/mocks";
import { fileReadProblems } from "./support/mounts";
import {
  OBSERVER,
  ObserverRun,
  SdsSecretConfig,
  envoyUpstreamTls,
  mountedFile,
  runObserver,
  sdsSecret,
  stacksOf,
} from "./support/observer";
import { restrictedViolations } from "./support/pss";

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";
const POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor";
const PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule";

type Inputs = Record<string, unknown>;
const plain = (r: RecordedResource): Inputs => unwrapSecrets(r.inputs) as Inputs;
const metadata = (r: RecordedResource) => plain(r).metadata as { name: string; namespace: string };

interface EnvoyCluster {
  name: string;
  load_assignment: {
    endpoints: {
      lb_endpoints: {
        endpoint: { address: { socket_address: { address: string; port_value: number } } };
      }[];
    }[];
  };
  transport_socket?: {
    typed_config: {
      sni: string;
      common_tls_context: {
        alpn_protocols: string[];
        tls_certificate_sds_secret_configs: SdsSecretConfig[];
        combined_validation_context: {
          default_validation_context: {
            match_typed_subject_alt_names: { san_type: string; matcher: { exact: string } }[];
          };
          validation_context_sds_secret_config: SdsSecretConfig;
        };
      };
    };
  };
  [key: string]: unknown;
}

interface Listener {
  name: string;
  address: { socket_address: { address: string; port_value: number } };
  filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[];
}

function envoyParts(run: ObserverRun) {
  const resources = run.envoy.static_resources as {
    clusters: EnvoyCluster[];
    listeners: Listener[];
  };
  return {
    clusters: new Map(resources.clusters.map((c) => [c.name, c])),
    listeners: resources.listeners,
    admin: run.envoy.admin as { address: { socket_address: { address: string } } },
  };
}

describe("observer stack on the mock runtime", () => {
  let a: LeafRun;
  let b: LeafRun;
  let stacks: Record<string, StackOutputs>;
  let run: ObserverRun;
  before(async () => {
    a = await runLeaf(LEAF_A, "leaf-a");
    b = await runLeaf(LEAF_B, "leaf-b");
    stacks = stacksOf({ [STACK_A]: a, [STACK_B]: b });
    run = await runObserver(OBSERVER, stacks);
  });

  it("reads each leaf through a StackReference to its fully qualified stack", () => {
    const refs = run.mocks.ofType("pulumi:pulumi:StackReference");
    assert.deepEqual(refs.map((r) => r.inputs.name).sort(), [STACK_A, STACK_B]);
  });

  it("points Querier at every leaf through Envoy, then at the extra endpoints", () => {
    assert.deepEqual(parse(run.files["endpoints.yaml"]), {
      endpoints: [
        { address: "leaf-a.thanos-bridge.internal:10000", strict: true },
        { address: "leaf-b.thanos-bridge.internal:10000", strict: true },
        { address: "dnssrv+_grpc._tcp.thanos-store.thanos.svc.cluster.local" },
      ],
    });
    const querier = run.pod.containers.find((c) => c.name === "querier");
    assert.ok(querier?.args?.includes("--endpoint.sd-config-file=/etc/thanos/endpoints.yaml"));
    assert.equal(
      mountedFile(run, "querier", "/etc/thanos/endpoints.yaml"),
      run.files["endpoints.yaml"],
    );
    assert.deepEqual(run.pod.hostAliases, [
      {
        ip: "127.0.0.1",
        hostnames: ["leaf-a.thanos-bridge.internal", "leaf-b.thanos-bridge.internal"],
      },
    ]);
  });

  it("gives each leaf an Envoy cluster with its address, SNI, SAN, CA and client certificate (invariants 2, 3)", () => {
    const { clusters } = envoyParts(run);
    for (const [leaf, cluster] of [
      [a, "leaf-a"],
      [b, "leaf-b"],
    ] as const) {
      const c = clusters.get(cluster);
      assert.ok(c, `no Envoy cluster ${cluster}`);
      const address =
        c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      assert.equal(`${address.address}:${address.port_value}`, leaf.bridge.endpoint);
      const tls = c.transport_socket?.typed_config;
      assert.ok(tls, `Envoy cluster ${cluster} has no TLS`);
      assert.equal(tls.sni, leaf.bridge.serverName);
      const validation = tls.common_tls_context.combined_validation_context;
      assert.deepEqual(validation.default_validation_context.match_typed_subject_alt_names, [
        { san_type: "DNS", matcher: { exact: leaf.bridge.serverName } },
      ]);
      assert.deepEqual(tls.common_tls_context.alpn_protocols, ["h2"]);

      // Follow each SDS file through the pod's mounts to the Secret the program wrote.
      const { ca, cert, key } = envoyUpstreamTls(run, cluster);
      assert.equal(ca, leaf.bridge.caCerts);
      assert.equal(cert, leaf.bridge.clientCert);
      assert.equal(key, leaf.clientKey);
      const caCert = new X509Certificate(ca);
      const clientCert = new X509Certificate(cert);
      assert.ok(clientCert.checkIssued(caCert) && clientCert.verify(caCert.publicKey));
      assert.deepEqual(clientCert.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
      assert.ok(clientCert.checkPrivateKey(createPrivateKey(key)));
    }
    // leaf-b's client certificate does not chain to leaf-a's CA.
    const bCert = new X509Certificate(b.bridge.clientCert);
    assert.equal(bCert.verify(new X509Certificate(a.bridge.caCerts).publicKey), false);
  });

  it("resolves every file envoy.yaml reads to a key it creates, watched at its volume's root (invariant 4)", () => {
    const reads = envoyFileReads(run.envoy);
    assert.deepEqual(
      reads.map((r) => r.path),
      ["leaf-a", "leaf-b"].flatMap((leaf) => [
        `/etc/envoy/certs/${leaf}/tls-certificate.yaml`,
        `/etc/envoy/certs/${leaf}/validation-context.yaml`,
      ]),
    );
    assert.deepEqual(fileReadProblems(run.pod, "envoy", reads), []);
    for (const read of reads) mountedFile(run, "envoy", read.path);
    const envoy = run.pod.initContainers?.find((c) => c.name === "envoy");
    const configPath = envoy?.args?.[envoy.args.indexOf("--config-path") + 1] ?? "";
    assert.equal(mountedFile(run, "envoy", configPath), run.files["envoy.yaml"]);
  });

  it("gives every SDS reference a file of one Secret with its name, valid against Envoy's protos", () => {
    const { clusters } = envoyParts(run);
    for (const cluster of ["leaf-a", "leaf-b"]) {
      const ctx = clusters.get(cluster)?.transport_socket?.typed_config.common_tls_context;
      assert.ok(ctx, `no TLS cluster ${cluster}`);
      // sdsSecret checks the file with validateSdsFile: one resource, that name, strict protos.
      const certificate = sdsSecret(
        run,
        ctx.tls_certificate_sds_secret_configs[0],
        "tls_certificate",
      );
      const trusted = sdsSecret(
        run,
        ctx.combined_validation_context.validation_context_sds_secret_config,
        "validation_context",
      );
      assert.deepEqual(Object.keys(certificate).sort(), ["certificate_chain", "private_key"]);
      assert.deepEqual(Object.keys(trusted), ["trusted_ca"]);
    }
  });

  it("would catch a watched directory inside the volume, which never sees the kubelet's update", () => {
    const broken = structuredClone(run.envoy);
    const { clusters } = broken.static_resources as { clusters: EnvoyCluster[] };
    for (const c of clusters) {
      const ctx = c.transport_socket?.typed_config.common_tls_context;
      if (ctx === undefined) continue;
      const refs = [
        ...ctx.tls_certificate_sds_secret_configs,
        ctx.combined_validation_context.validation_context_sds_secret_config,
      ];
      for (const ref of refs) {
        ref.sds_config.path_config_source.watched_directory = {
          path: `/etc/envoy/certs/${c.name}`,
        };
      }
    }
    const problem = (leaf: string, file: string) =>
      `/etc/envoy/certs/${leaf}/${file}: watched directory /etc/envoy/certs/${leaf} is not ` +
      "/etc/envoy/certs, the root of the volume holding it, where the kubelet swaps ..data";
    assert.deepEqual(
      fileReadProblems(run.pod, "envoy", envoyFileReads(broken)),
      ["leaf-a", "leaf-b"].flatMap((leaf) => [
        problem(leaf, "tls-certificate.yaml"),
        problem(leaf, "validation-context.yaml"),
      ]),
    );
  });

  it("generates an Envoy config that Envoy's own v3 protos accept", () => {
    assertValidEnvoyBootstrap(run.envoy);
  });

  it("generates the envoy.yaml the golden file holds", () => {
    expectGolden("observer-envoy.yaml", run.files["envoy.yaml"]);
  });

  it("keeps Envoy on loopback but for the stats listener, which forwards two admin paths", () => {
    const { listeners, admin } = envoyParts(run);
    assert.equal(admin.address.socket_address.address, "127.0.0.1");
    const byName = new Map(listeners.map((l) => [l.name, l]));
    assert.deepEqual([...byName.keys()].sort(), ["leaves", "stats"]);
    assert.deepEqual(byName.get("leaves")?.address.socket_address, {
      address: "127.0.0.1",
      port_value: ENVOY_PORTS.listener,
    });
    const stats = byName.get("stats")?.filter_chains[0].filters[0].typed_config as {
      route_config: {
        virtual_hosts: { routes: { match: { path: string }; route: { cluster: string } }[] }[];
      };
    };
    const routes = stats.route_config.virtual_hosts.flatMap((v) => v.routes);
    assert.deepEqual(
      routes.map((r) => [r.match.path, r.route.cluster]),
      [
        ["/stats/prometheus", "_admin"],
        ["/ready", "_admin"],
      ],
    );
    // Only the stats port is declared on the pod; the listener and admin ports are not.
    const envoy = run.pod.initContainers?.find((c) => c.name === "envoy");
    assert.deepEqual(
      envoy?.ports?.map((p) => p.containerPort),
      [ENVOY_PORTS.stats],
    );
  });

  it("admits only the observer's and the client namespaces to Querier's pods", () => {
    const policy = plain(run.mocks.one("kubernetes:networking.k8s.io/v1:NetworkPolicy")).spec as {
      podSelector: { matchLabels: Record<string, string> };
      ingress: { from: { namespaceSelector: { matchExpressions: { values: string[] }[] } }[] }[];
    };
    const template = (
      plain(run.deployment).spec as { template: { metadata: { labels: Record<string, string> } } }
    ).template.metadata.labels;
    for (const [k, v] of Object.entries(policy.podSelector.matchLabels))
      assert.equal(template[k], v);
    assert.deepEqual(policy.ingress[0].from[0].namespaceSelector.matchExpressions[0].values, [
      "thanos",
    ]);
  });

  it("exposes Querier's HTTP and gRPC ports through its Service, and no Envoy port", () => {
    const service = plain(run.mocks.one("kubernetes:core/v1:Service"));
    const spec = service.spec as {
      ports: { name: string; port: number; targetPort: string }[];
      type: string;
    };
    assert.equal(spec.type, "ClusterIP");
    assert.deepEqual(
      spec.ports.map((p) => [p.name, p.port, p.targetPort]),
      [
        ["http", 10902, "http"],
        ["grpc", 10901, "grpc"],
      ],
    );
  });

  it("runs Envoy as a native sidecar that must be ready before Querier starts", () => {
    const envoy = run.pod.initContainers?.find((c) => c.name === "envoy");
    assert.equal(envoy?.restartPolicy, "Always");
    assert.deepEqual((envoy?.startupProbe as { httpGet: unknown }).httpGet, {
      path: "/ready",
      port: "envoy-stats",
    });
    const querier = run.pod.containers.find((c) => c.name === "querier");
    assert.deepEqual((querier?.readinessProbe as { httpGet: unknown }).httpGet, {
      path: "/-/ready",
      port: "http",
    });
    assert.deepEqual((querier?.livenessProbe as { httpGet: unknown }).httpGet, {
      path: "/-/healthy",
      port: "http",
    });
  });

  it("meets the restricted Pod Security Standard in every container (invariant 5)", () => {
    assert.deepEqual(restrictedViolations(run.pod), []);
    assert.equal(run.pod.automountServiceAccountToken, false);
  });

  it("closes a leaf's silent streams after the leaf's own streamTimeoutSeconds, end to end", async () => {
    const slow = await runLeaf({ ...LEAF_B, streamTimeoutSeconds: "7200" }, "leaf-b");
    const observer = await runObserver(OBSERVER, stacksOf({ [STACK_A]: a, [STACK_B]: slow }));
    const hcm = envoyParts(observer).listeners.find((l) => l.name === "leaves")?.filter_chains[0]
      .filters[0].typed_config as { route_config: { virtual_hosts: Inputs[] } };
    const idle = hcm.route_config.virtual_hosts.map((v) => [
      v.name,
      (v.routes as { route: { idle_timeout: string } }[])[0].route.idle_timeout,
    ]);
    assert.deepEqual(idle, [
      ["leaf-a", "600s"],
      ["leaf-b", "7200s"],
    ]);
    // The leaf's own ingress allows the same silence.
    const ingress = plain(slow.mocks.one("kubernetes:networking.k8s.io/v1:Ingress")).metadata as {
      annotations: Record<string, string>;
    };
    assert.equal(ingress.annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"], "7200");
  });

  it("rolls the pods onto a new immutable ConfigMap when the config changes", async () => {
    const revision = (r: ObserverRun) => {
      const configMap = plain(r.mocks.one("kubernetes:core/v1:ConfigMap"));
      const volume = r.pod.volumes?.find((v) => v.name === "envoy-config") as {
        configMap: { name: string };
      };
      return {
        configMap: (configMap.metadata as { name: string }).name,
        mounted: volume.configMap.name,
        immutable: configMap.immutable,
      };
    };
    const first = revision(run);
    assert.equal(first.configMap, `thanos-bridge-observer-${configHash(run.files).slice(0, 10)}`);
    assert.equal(first.mounted, first.configMap);
    assert.equal(first.immutable, true);
    // One leaf fewer: a new ConfigMap, which the pods mount.
    const fewer = revision(await runObserver({ ...OBSERVER, leaves: `["${STACK_A}"]` }, stacks));
    assert.notEqual(fewer.configMap, first.configMap);
    assert.equal(fewer.mounted, fewer.configMap);
  });

  it("takes renewed certificates, keys and CAs into the Secrets alone: the pods do not roll", async () => {
    // Both leaves from a fresh state: every CA, certificate and key is new.
    const renewed = {
      [STACK_A]: await runLeaf(LEAF_A, "leaf-a", new FakeState()),
      [STACK_B]: await runLeaf(LEAF_B, "leaf-b", new FakeState()),
    };
    for (const [stack, old] of [
      [STACK_A, a],
      [STACK_B, b],
    ] as const) {
      assert.notEqual(renewed[stack].bridge.caCerts, old.bridge.caCerts);
      assert.notEqual(renewed[stack].bridge.clientCert, old.bridge.clientCert);
      assert.notEqual(renewed[stack].clientKey, old.clientKey);
    }
    const again = await runObserver(OBSERVER, stacksOf(renewed));
    const inputs = (r: RecordedResource) => JSON.stringify(r.inputs);
    assert.equal(inputs(again.deployment), inputs(run.deployment));
    const configMap = (r: ObserverRun) => r.mocks.one("kubernetes:core/v1:ConfigMap");
    assert.equal(inputs(configMap(again)), inputs(configMap(run)));

    // Each leaf's Secret is named after its stack.
    const secretData = (r: ObserverRun, stack: string) =>
      plain(r.mocks.named(`observer-leaf-${stack}`)).stringData as Record<string, string>;
    for (const [stack, cluster] of [
      [STACK_A, "leaf-a"],
      [STACK_B, "leaf-b"],
    ] as const) {
      const leaf = renewed[stack];
      assert.deepEqual(
        secretData(again, stack),
        leafSdsFiles({
          cluster,
          clientCert: leaf.bridge.clientCert,
          clientKey: leaf.clientKey,
          caCerts: leaf.bridge.caCerts,
        }),
      );
      const before = secretData(run, stack);
      for (const [key, text] of Object.entries(secretData(again, stack))) {
        assert.notEqual(text, before[key], `${cluster}: ${key} did not change`);
      }
    }
  });

  it("declares no alert objects unless expiryAlertDays is set", () => {
    assert.deepEqual(run.mocks.ofType(POD_MONITOR), []);
    assert.deepEqual(run.mocks.ofType(PROMETHEUS_RULE), []);
  });

  it("declares a PodMonitor for Envoy and a PrometheusRule with expiryAlertDays set, nothing else changed", async () => {
    const alerting = await runObserver({ ...OBSERVER, expiryAlertDays: "21" }, stacks);
    const metadata = {
      name: "thanos-bridge-querier",
      namespace: "thanos",
      labels: {
        "app.kubernetes.io/component": "querier",
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/name": "thanos-bridge",
      },
    };
    const monitor = alerting.mocks.one(POD_MONITOR);
    const rule = alerting.mocks.one(PROMETHEUS_RULE);
    assert.deepEqual(plain(monitor), {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PodMonitor",
      metadata,
      spec: envoyPodMonitorSpec(),
    });
    assert.deepEqual(plain(rule), {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata,
      spec: certificateExpiryRuleSpec("thanos", 21),
    });
    for (const r of [monitor, rule]) {
      assert.match(r.provider ?? "", /::pulumi:providers:kubernetes::observer-kubernetes::/);
    }
    const others = (r: ObserverRun) =>
      r.mocks.resources
        .filter((x) => x.type !== POD_MONITOR && x.type !== PROMETHEUS_RULE)
        .map((x) => `${x.type} ${x.name} ${JSON.stringify(x.inputs)}`)
        .sort();
    assert.deepEqual(others(alerting), others(run));
  });

  it("keeps one Querier unavailable at most, spreads replicas, and never surges below the replica count", () => {
    const deployment = plain(run.deployment).spec as Record<string, unknown>;
    assert.equal(deployment.replicas, 2);
    assert.deepEqual(deployment.strategy, {
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    const pdb = plain(run.mocks.one("kubernetes:policy/v1:PodDisruptionBudget")).spec as Record<
      string,
      unknown
    >;
    assert.equal(pdb.maxUnavailable, 1);
    const spread = run.pod.topologySpreadConstraints as { topologyKey: string }[];
    assert.deepEqual(
      spread.map((s) => s.topologyKey),
      ["kubernetes.io/hostname", "topology.kubernetes.io/zone"],
    );
  });

  it("declares every Kubernetes object in the observer's namespace with its own provider", () => {
    for (const r of run.mocks.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
      assert.equal(metadata(r).namespace, "thanos", r.name);
      assert.match(
        r.provider ?? "",
        /::pulumi:providers:kubernetes::observer-kubernetes::/,
        r.name,
      );
    }
  });

  it("holds the client keys only in Secrets, as secret values (invariant 1)", () => {
    for (const r of run.mocks.resources) {
      const text = JSON.stringify(unwrapSecrets(r.inputs));
      if (!text.includes("PRIVATE KEY")) continue;
      assert.equal(r.type, "kubernetes:core/v1:Secret", `private key in ${r.type} ${r.name}`);
      assert.ok(!JSON.stringify(r.inputs.metadata).includes("PRIVATE KEY"));
    }
    const secrets = run.mocks.ofType("kubernetes:core/v1:Secret");
    assert.equal(secrets.filter((s) => JSON.stringify(plain(s)).includes("PRIVATE KEY")).length, 2);
    assert.doesNotMatch(run.files["envoy.yaml"] + run.files["endpoints.yaml"], /PRIVATE KEY/);
    assert.doesNotMatch(JSON.stringify(run.leaves), /PRIVATE KEY/);
  });

  it("exports each leaf's endpoint and certificate expiry", () => {
    assert.deepEqual(
      run.leaves.map((l) => [l.stack, l.cluster, l.endpoint, l.upstream]),
      [
        [STACK_A, "leaf-a", "leaf-a.thanos-bridge.internal:10000", "thanos.leaf-a.example.com:443"],
        [STACK_B, "leaf-b", "leaf-b.thanos-bridge.internal:10000", "thanos.leaf-b.example.net:443"],
      ],
    );
    assert.deepEqual(run.leaves[0].expiry, a.bridge.expiry);
  });

  it("creates a namespace that enforces the restricted Pod Security Standard when asked", async () => {
    const created = await runObserver({ ...OBSERVER, createNamespace: "true" }, stacks);
    const namespace = plain(created.mocks.one("kubernetes:core/v1:Namespace")).metadata as {
      name: string;
      labels: Record<string, string>;
    };
    assert.equal(namespace.name, "thanos");
    assert.equal(namespace.labels["pod-security.kubernetes.io/enforce"], "restricted");
  });

  it("declares byte-identical objects on a re-run and whatever the order of the leaves (invariant 6)", async () => {
    const dump = (r: ObserverRun) =>
      [...r.mocks.resources]
        .filter((x) => x.type.startsWith("kubernetes:"))
        .sort((x, y) => (x.name < y.name ? -1 : 1))
        .map((x) => JSON.stringify(x.inputs))
        .join("\n");
    const again = await runObserver(OBSERVER, stacks);
    const reordered = await runObserver(
      { ...OBSERVER, leaves: `["${STACK_B}","${STACK_A}"]` },
      stacks,
    );
    assert.equal(dump(again), dump(run));
    assert.equal(dump(reordered), dump(run));
    assert.equal(stableYaml(parse(run.files["envoy.yaml"])), run.files["envoy.yaml"]);
  });

  describe("refuses leaves it cannot use, naming the stack", () => {
    after(forgetPendingRegistrations);

    /** Runs the observer and returns the error its leaf parsing raised. */
    async function failure(
      leafStacks: Record<string, StackOutputs>,
      leaves = [STACK_A, STACK_B],
      where: "leaves" | "key" = "leaves",
    ): Promise<Error> {
      return (await failureRun(leafStacks, leaves, where)).e;
    }

    async function failureRun(
      leafStacks: Record<string, StackOutputs>,
      leaves = [STACK_A, STACK_B],
      where: "leaves" | "key" = "leaves",
    ): Promise<{ e: Error; mocks: RecordingMocks }> {
      const config = loadConfig(
        leafRawConfig({ ...OBSERVER, leaves: JSON.stringify(leaves) }),
        "observer",
      );
      assert.equal(config.role, "observer");
      const { result, mocks } = await runOnMocks(() => observerStack(config), {
        stack: "observer",
        stacks: leafStacks,
        drain: false,
      });
      // A bad key fails that leaf's key output (the Secret's data); anything else the leaf list.
      const output: pulumi.Output<unknown> =
        where === "leaves"
          ? result.outputs.leaves
          : result.leaves[result.leaves.length - 1].clientKey;
      // Output#promise is internal to the SDK, but the only way to see an apply's failure.
      const settle = (output as unknown as { promise(): Promise<unknown> }).promise();
      const e = await settle.then(
        () => assert.fail("the observer accepted the leaves"),
        (error: unknown) => error as Error,
      );
      return { e, mocks };
    }

    it("a leaf stack with no outputs yet", async () => {
      const e = await failure({ [STACK_A]: stacks[STACK_A] });
      assert.ok(
        e.message.endsWith(
          `stack ${STACK_B}: has no output 'bridge': run \`pulumi up\` on that stack first (is its role leaf?)`,
        ),
        e.message,
      );
      // A RunError: Pulumi prints its message alone, with no stack trace.
      assert.ok(pulumi.RunError.isInstance(e), `${e.name} is not a RunError`);
    });

    it("an unknown contract version", async () => {
      const future = {
        ...stacks[STACK_B],
        outputs: { ...stacks[STACK_B].outputs, bridge: { ...b.bridge, version: 3 } },
      };
      const e = await failure({ ...stacks, [STACK_B]: future });
      assert.ok(
        e.message.endsWith(
          `stack ${STACK_B}: output 'bridge' has contract version 3, but this program reads version 2: upgrade thanos-bridge on the observer`,
        ),
        e.message,
      );
    });

    it("a malformed value", async () => {
      const broken = {
        ...stacks[STACK_B],
        outputs: { ...stacks[STACK_B].outputs, bridge: { ...b.bridge, endpoint: "nowhere" } },
      };
      const e = await failure({ ...stacks, [STACK_B]: broken });
      assert.match(
        e.message,
        /stack acme\/thanos-bridge\/leaf-b: output 'bridge' field 'endpoint' is the string "nowhere"; expected host:port/,
      );
    });

    it("a client key from another leaf", async () => {
      const swapped = {
        ...stacks[STACK_B],
        outputs: { ...stacks[STACK_B].outputs, bridgeClientKey: a.clientKey },
      };
      const e = await failure({ ...stacks, [STACK_B]: swapped }, [STACK_A, STACK_B], "key");
      assert.equal(
        e.message,
        `stack ${STACK_B}: output 'bridgeClientKey' does not match the public key of 'clientCert': the outputs are from different runs; run \`pulumi up\` on that stack again`,
      );
      assert.ok(pulumi.RunError.isInstance(e), `${e.name} is not a RunError`);
    });

    it("two leaves with the same cluster name, declaring neither leaf's Secret", async () => {
      const { e, mocks } = await failureRun({ ...stacks, [STACK_B]: stacks[STACK_A] });
      // The ConfigMap's data failed; give the SDK time to register anything it still would.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(mocks.ofType("kubernetes:core/v1:Secret"), []);
      assert.deepEqual(mocks.ofType("kubernetes:core/v1:ConfigMap"), []);
      assert.match(
        e.message,
        /has the same cluster name "leaf-a" as stack acme\/thanos-bridge\/leaf-[ab]; every leaf needs its own/,
      );
    });
  });

  it("keeps each leaf's client key a secret value in its Secret", () => {
    const secrets = run.mocks.ofType("kubernetes:core/v1:Secret");
    assert.deepEqual(secrets.map((x) => metadata(x).name).sort(), [
      "thanos-bridge-leaf-leaf-a",
      "thanos-bridge-leaf-leaf-b",
    ]);
    for (const secret of secrets) {
      const data = secret.inputs.stringData;
      assert.ok(isSecretValue(data), `${secret.name}: stringData is not a secret value`);
      const files = data.value as Record<string, string>;
      assert.deepEqual(Object.keys(files).sort(), [
        "tls-certificate.yaml",
        "validation-context.yaml",
      ]);
      assert.match(
        files["tls-certificate.yaml"],
        /private_key:\n\s+inline_string: \|\n\s+-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/,
      );
      assert.doesNotMatch(files["validation-context.yaml"], /PRIVATE KEY/);
    }
  });
});
