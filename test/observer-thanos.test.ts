// The observer program with `dataPath: thanos` on Pulumi's mock runtime, fed with the real
// outputs of leaf runs through mocked StackReferences: Querier originates the mutual TLS itself.
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { splitPemBundle } from "../components/common/contract";
import {
  caBundleFingerprint,
  shardNames,
  thanosLeafAddress,
  thanosLeafFiles,
} from "../components/observer/thanos/endpoints";
import { stableYaml } from "../components/common/yaml";
import { loadConfig } from "../stacks/config";
import { observerStack } from "../stacks/observer";
import { expectGolden } from "./support/golden";
import {
  LEAF_A,
  LEAF_B,
  LeafRun,
  STEADY_NOW,
  intoGeneration,
  leafRawConfig,
  runLeaf,
} from "./support/leaf";
import {
  FakeState,
  RecordedResource,
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
  createdKeys,
  mountedFile,
  querierEndpoints,
  runObserver,
  stacksOf,
  thanosUpstreamTls,
} from "./support/observer";
import { restrictedViolations } from "./support/pss";
import { thanosFilePaths } from "./support/thanos-files";

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";
const STACK_C = "acme/thanos-bridge/leaf-c";
const LEAF_C = { role: "leaf", hostname: "thanos.leaf-c.example.org", kubeContext: "leaf-c" };
const THANOS = { ...OBSERVER, dataPath: "thanos" };
const OBSERVER_EXTRA = "dnssrv+_grpc._tcp.thanos-store.thanos.svc.cluster.local";
const DAY_MS = 24 * 3_600_000;
const SECRET = "kubernetes:core/v1:Secret";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";

type Inputs = Record<string, unknown>;
const plain = (r: RecordedResource): Inputs => unwrapSecrets(r.inputs) as Inputs;
const metadata = (r: RecordedResource) => plain(r).metadata as { name: string; namespace: string };
/** Inputs as the engine receives them, secret wrappers and all: equal means no update. */
const inputs = (r: RecordedResource) => JSON.stringify(r.inputs);
const leavesOf = (stacks: string[]) => ({ ...THANOS, leaves: JSON.stringify(stacks) });

/** Each shard Secret's data, by Kubernetes name. */
function shardData(run: ObserverRun): Record<string, Record<string, string>> {
  return Object.fromEntries(
    run.mocks
      .ofType(SECRET)
      .map((s) => [metadata(s).name, (plain(s).stringData ?? {}) as Record<string, string>]),
  );
}

describe("observer stack with dataPath thanos, on the mock runtime", () => {
  let stateA: FakeState;
  let a: LeafRun;
  let b: LeafRun;
  let stacks: Record<string, StackOutputs>;
  let run: ObserverRun;
  before(async () => {
    stateA = new FakeState();
    a = await runLeaf(LEAF_A, "leaf-a", stateA);
    b = await runLeaf(LEAF_B, "leaf-b");
    stacks = stacksOf({ [STACK_A]: a, [STACK_B]: b });
    run = await runObserver(THANOS, stacks);
  });

  it("runs Querier alone: no Envoy container, no envoy.yaml, no host aliases", () => {
    assert.deepEqual(
      run.pod.containers.map((c) => c.name),
      ["querier"],
    );
    assert.equal(run.pod.initContainers, undefined);
    assert.equal(run.pod.hostAliases, undefined);
    assert.deepEqual(Object.keys(run.files), ["endpoints.yaml"]);
    for (const r of run.mocks.resources) {
      assert.doesNotMatch(JSON.stringify(unwrapSecrets(r.inputs)), /envoy/i, `${r.type} ${r.name}`);
    }
  });

  it("points Querier at each leaf's public endpoint with that leaf's TLS, then at the extra endpoints", () => {
    const tls = (leaf: LeafRun) => ({
      server_name: leaf.bridge.serverName,
      tls_config: {
        enabled: true,
        cert_file: `/etc/thanos/${leaf.bridge.cluster}.tls.crt`,
        key_file: `/etc/thanos/${leaf.bridge.cluster}.tls.key`,
        ca_file: `/etc/thanos/${leaf.bridge.cluster}.ca.crt`,
        min_version: "1.2",
      },
    });
    assert.deepEqual(querierEndpoints(run), [
      { address: thanosLeafAddress(a.bridge), strict: true, client_config: tls(a) },
      { address: thanosLeafAddress(b.bridge), strict: true, client_config: tls(b) },
      { address: "dnssrv+_grpc._tcp.thanos-store.thanos.svc.cluster.local" },
    ]);
    assert.deepEqual(
      querierEndpoints(run)
        .map((e) => e.address)
        .slice(0, 2),
      ["thanos.leaf-a.example.com:443", "thanos.leaf-b.example.net:443"].map(
        (endpoint, i) => `dns:///${endpoint}?ca=${caBundleFingerprint([a, b][i].bridge.caCerts)}`,
      ),
    );
  });

  it("resolves every file the endpoints file names to that leaf's Secret, mounted whole (invariants 2, 3, 4)", () => {
    const paths = thanosFilePaths(parse(run.files["endpoints.yaml"]));
    assert.deepEqual(
      paths,
      ["leaf-a", "leaf-b"].flatMap((l) =>
        ["ca.crt", "tls.crt", "tls.key"].map((f) => `/etc/thanos/${l}.${f}`),
      ),
    );
    // Re-read by path (on a timer, or at a handshake), so the volume must be one the kubelet
    // updates: no subPath; and every file must come from an object the program creates.
    const reads = ["/etc/thanos/endpoints.yaml", ...paths].map((path) => ({ path, polled: true }));
    assert.deepEqual(fileReadProblems(run.pod, "querier", reads, createdKeys(run)), []);
    const querier = run.pod.containers[0];
    assert.ok(querier.args?.includes("--endpoint.sd-config-file=/etc/thanos/endpoints.yaml"));
    assert.equal(
      mountedFile(run, "querier", "/etc/thanos/endpoints.yaml"),
      run.files["endpoints.yaml"],
    );
    for (const leaf of [a, b]) {
      const upstream = thanosUpstreamTls(run, thanosLeafAddress(leaf.bridge));
      assert.equal(upstream.serverName, leaf.bridge.serverName);
      assert.equal(upstream.authority, leaf.bridge.endpoint);
      assert.equal(upstream.ca, leaf.bridge.caCerts);
      assert.equal(upstream.cert, leaf.bridge.clientCert);
      assert.equal(upstream.key, leaf.clientKey);
      const ca = new X509Certificate(upstream.ca);
      const cert = new X509Certificate(upstream.cert ?? "");
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), leaf.bridge.cluster);
      assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
      assert.ok(cert.checkPrivateKey(createPrivateKey(upstream.key ?? "")));
      // Each leaf's files come from the shard of its name.
      assert.deepEqual(
        Object.keys(shardData(run)[thanosLeafFiles(leaf.bridge.cluster).shard]).sort(),
        ["ca.crt", "tls.crt", "tls.key"].map((f) => `${leaf.bridge.cluster}.${f}`),
      );
    }
    // leaf-b's client certificate does not chain to leaf-a's CA.
    const bCert = new X509Certificate(b.bridge.clientCert);
    assert.equal(bCert.verify(new X509Certificate(a.bridge.caCerts).publicKey), false);
  });

  it("would catch a file the endpoints file names but no Secret holds", () => {
    const broken = [{ path: "/etc/thanos/leaf-c.tls.crt", polled: true }];
    assert.deepEqual(fileReadProblems(run.pod, "querier", broken, createdKeys(run)), [
      "/etc/thanos/leaf-c.tls.crt: volume querier-config has no item for leaf-c.tls.crt",
    ]);
  });

  it("generates the endpoints file the golden file holds", () => {
    // The fingerprints are of this run's CAs (new keys every run), checked exactly above.
    expectGolden(
      "observer-thanos-endpoints.yaml",
      run.files["endpoints.yaml"].replace(
        /\?ca=[0-9a-f]{16}$/gm,
        "?ca=<the CA bundle's fingerprint>",
      ),
    );
  });

  it("meets the restricted Pod Security Standard (invariant 5), with Querier's probes", () => {
    assert.deepEqual(restrictedViolations(run.pod), []);
    assert.equal(run.pod.automountServiceAccountToken, false);
    const querier = run.pod.containers[0];
    assert.deepEqual((querier.readinessProbe as { httpGet: unknown }).httpGet, {
      path: "/-/ready",
      port: "http",
    });
    assert.deepEqual((querier.livenessProbe as { httpGet: unknown }).httpGet, {
      path: "/-/healthy",
      port: "http",
    });
  });

  it("admits only the observer's and the client namespaces, to Querier's ports alone", () => {
    const policy = plain(run.mocks.one("kubernetes:networking.k8s.io/v1:NetworkPolicy")).spec as {
      podSelector: { matchLabels: Record<string, string> };
      ingress: {
        from: { namespaceSelector: { matchExpressions: { values: string[] }[] } }[];
        ports: { port: number }[];
      }[];
    };
    const labels = (
      plain(run.deployment).spec as { template: { metadata: { labels: Record<string, string> } } }
    ).template.metadata.labels;
    for (const [k, v] of Object.entries(policy.podSelector.matchLabels)) assert.equal(labels[k], v);
    assert.deepEqual(policy.ingress[0].from[0].namespaceSelector.matchExpressions[0].values, [
      "thanos",
    ]);
    assert.deepEqual(
      policy.ingress[0].ports.map((p) => p.port),
      [10902, 10901],
    );
    const service = plain(run.mocks.one("kubernetes:core/v1:Service")).spec as {
      ports: { port: number }[];
    };
    assert.deepEqual(
      service.ports.map((p) => p.port),
      [10902, 10901],
    );
  });

  it("holds the client keys only in Secrets, as secret values (invariant 1)", () => {
    for (const r of run.mocks.resources) {
      if (!JSON.stringify(unwrapSecrets(r.inputs)).includes("PRIVATE KEY")) continue;
      assert.equal(r.type, SECRET, `private key in ${r.type} ${r.name}`);
      assert.ok(isSecretValue(r.inputs.stringData), `${r.name}: stringData is not a secret value`);
      assert.doesNotMatch(JSON.stringify(r.inputs.metadata), /PRIVATE KEY/);
    }
    const withKeys = run.mocks
      .ofType(SECRET)
      .filter((s) => JSON.stringify(plain(s)).includes("PRIVATE KEY"))
      .map((s) => metadata(s).name)
      .sort();
    assert.deepEqual(
      withKeys,
      [thanosLeafFiles("leaf-b").shard, thanosLeafFiles("leaf-a").shard].sort(),
    );
    assert.doesNotMatch(run.files["endpoints.yaml"], /PRIVATE KEY/);
    assert.doesNotMatch(JSON.stringify(run.leaves), /PRIVATE KEY/);
  });

  it("declares byte-identical objects on a re-run and whatever the order of the leaves (invariant 6)", async () => {
    const dump = (r: ObserverRun) =>
      [...r.mocks.resources]
        .filter((x) => x.type.startsWith("kubernetes:"))
        .sort((x, y) => (x.name < y.name ? -1 : 1))
        .map((x) => `${x.name} ${JSON.stringify(x.inputs)}`)
        .join("\n");
    const again = await runObserver(THANOS, stacks);
    const reordered = await runObserver(leavesOf([STACK_B, STACK_A]), stacks);
    assert.equal(dump(again), dump(run));
    assert.equal(dump(reordered), dump(run));
    assert.equal(stableYaml(parse(run.files["endpoints.yaml"])), run.files["endpoints.yaml"]);
  });

  it("exports each leaf's endpoint (the address Querier dials) and certificate expiry", () => {
    assert.deepEqual(
      run.leaves.map((l) => [l.stack, l.cluster, l.endpoint, l.upstream]),
      [
        [STACK_A, "leaf-a", thanosLeafAddress(a.bridge), "thanos.leaf-a.example.com:443"],
        [STACK_B, "leaf-b", thanosLeafAddress(b.bridge), "thanos.leaf-b.example.net:443"],
      ],
    );
    assert.deepEqual(run.leaves[0].expiry, a.bridge.expiry);
    assert.deepEqual(run.leaves[1].expiry, b.bridge.expiry);
  });

  it("applies every shard before the endpoints file, and both before the Deployment", () => {
    const shards = run.mocks
      .ofType(SECRET)
      .map((s) => s.name)
      .sort();
    assert.deepEqual(
      run.mocks
        .ofType(SECRET)
        .map((s) => metadata(s).name)
        .sort(),
      shardNames(),
    );
    const config = run.mocks.one(CONFIG_MAP);
    for (const shard of shards) {
      assert.ok(config.dependsOn.includes(shard), `the endpoints file does not wait for ${shard}`);
      assert.ok(
        run.deployment.dependsOn.includes(shard),
        `the Deployment does not wait for ${shard}`,
      );
      assert.ok(
        !run.mocks.named(shard).dependsOn.includes(config.name),
        `${shard} waits for the endpoints file`,
      );
    }
    assert.ok(run.deployment.dependsOn.includes(config.name));
    // The pod template names no leaf: the Deployment waits for no leaf's stack.
    assert.deepEqual(
      run.deployment.dependsOn.filter((d) => d.startsWith("acme/")),
      [],
    );
  });

  describe("changes without a restart: the pod template stays byte for byte", () => {
    it("adding and removing a leaf changes the endpoints file and a shard, in place", async () => {
      const c = await runLeaf(LEAF_C, "leaf-c");
      const all = { ...stacks, ...stacksOf({ [STACK_C]: c }) };
      const one = await runObserver(leavesOf([STACK_A]), all);
      const three = await runObserver(leavesOf([STACK_A, STACK_B, STACK_C]), all);
      for (const other of [one, three]) {
        assert.equal(inputs(other.deployment), inputs(run.deployment));
        // The same objects by kind and name: only their contents change.
        const names = (r: ObserverRun) =>
          r.mocks.resources
            .filter((x) => x.type.startsWith("kubernetes:"))
            .map((x) => `${x.type} ${metadata(x).name}`)
            .sort();
        assert.deepEqual(names(other), names(run));
      }
      const addresses = (r: ObserverRun) => querierEndpoints(r).map((e) => e.address);
      assert.deepEqual(addresses(one), [thanosLeafAddress(a.bridge), OBSERVER_EXTRA]);
      assert.deepEqual(addresses(three), [
        thanosLeafAddress(a.bridge),
        thanosLeafAddress(b.bridge),
        thanosLeafAddress(c.bridge),
        OBSERVER_EXTRA,
      ]);
      // leaf-c's files are in its shard, and resolve through the unchanged pod.
      const upstream = thanosUpstreamTls(three, thanosLeafAddress(c.bridge));
      assert.equal(upstream.cert, c.bridge.clientCert);
      assert.equal(upstream.key, c.clientKey);
      assert.ok(
        thanosLeafFiles("leaf-c").key.key in shardData(three)[thanosLeafFiles("leaf-c").shard],
      );
      // Removed: leaf-b's files are gone from every shard.
      assert.doesNotMatch(JSON.stringify(shardData(one)), /leaf-b\./);
    });

    it("renewed certificates (same CA) change only the leaf's shard", async () => {
      const renewed = await runLeaf(
        LEAF_A,
        "leaf-a",
        stateA,
        new Date(STEADY_NOW.getTime() + 61 * DAY_MS),
      );
      assert.notEqual(renewed.bridge.clientCert, a.bridge.clientCert);
      assert.notEqual(renewed.clientKey, a.clientKey);
      assert.equal(renewed.bridge.caCerts, a.bridge.caCerts);
      const again = await runObserver(THANOS, stacksOf({ [STACK_A]: renewed, [STACK_B]: b }));
      assert.equal(inputs(again.deployment), inputs(run.deployment));
      assert.equal(inputs(again.mocks.one(CONFIG_MAP)), inputs(run.mocks.one(CONFIG_MAP)));
      const files = thanosLeafFiles("leaf-a");
      const before = shardData(run);
      const after = shardData(again);
      assert.deepEqual(after[files.shard], {
        ...before[files.shard],
        [files.cert.key]: renewed.bridge.clientCert,
        [files.key.key]: renewed.clientKey,
      });
      for (const shard of shardNames().filter((s) => s !== files.shard)) {
        assert.deepEqual(after[shard], before[shard], shard);
      }
    });

    it("a CA change with overlap re-addresses the leaf when its bundle changes, and never the pod", async () => {
      // As in the leaf's own test: certificates for a year, so only the CA schedule re-issues them.
      const state = new FakeState();
      const config = { ...LEAF_A, serverValidityHours: "8760", clientValidityHours: "8760" };
      const steps: { leaf: LeafRun; observer: ObserverRun }[] = [];
      for (const day of [-1, 1, 183, 366]) {
        const leaf = await runLeaf(config, "leaf-a", state, intoGeneration(16, day));
        const observer = await runObserver(THANOS, stacksOf({ [STACK_A]: leaf, [STACK_B]: b }));
        steps.push({ leaf, observer });
      }
      const endpoint = steps[0].leaf.bridge.endpoint;
      assert.deepEqual(
        steps.map((s) => splitPemBundle(s.leaf.bridge.caCerts).length),
        [1, 2, 2, 1],
      );
      // A new address when the bundle changes (introduced, retired), so Querier opens a new
      // connection with the new CAs; none when it does not (switched).
      const address = (s: (typeof steps)[number]) => querierEndpoints(s.observer)[0].address;
      const [first, introduced, switched, retired] = steps.map(address);
      assert.equal(switched, introduced);
      assert.equal(new Set([first, introduced, retired]).size, 3, steps.map(address).join(" "));
      assert.deepEqual(
        steps.map(address),
        steps.map((s) => `dns:///${endpoint}?ca=${caBundleFingerprint(s.leaf.bridge.caCerts)}`),
      );
      assert.deepEqual(
        steps.map((s) => s.observer.leaves[0].endpoint),
        steps.map(address),
      );
      for (const s of steps) {
        assert.equal(inputs(s.observer.deployment), inputs(run.deployment));
        const tls = thanosUpstreamTls(s.observer, address(s));
        assert.equal(tls.ca, s.leaf.bridge.caCerts);
        assert.equal(tls.cert, s.leaf.bridge.clientCert);
        assert.equal(tls.serverName, s.leaf.bridge.serverName);
      }
      const configMap = (i: number) => inputs(steps[i].observer.mocks.one(CONFIG_MAP));
      assert.notEqual(configMap(1), configMap(0));
      assert.equal(configMap(2), configMap(1));
      assert.notEqual(configMap(3), configMap(2));
    });

    it("an emergency CA change (caEpoch) re-addresses the leaf too: one CA replaced by another", async () => {
      // One CA before and one after, so the bundle's size does not change; its CA does.
      const state = new FakeState();
      const before = await runLeaf(LEAF_A, "leaf-a", state);
      const anHourOn = new Date(STEADY_NOW.getTime() + 3_600_000);
      const after = await runLeaf({ ...LEAF_A, caEpoch: "1" }, "leaf-a", state, anHourOn);
      assert.deepEqual(
        [before, after].map((r) => splitPemBundle(r.bridge.caCerts).length),
        [1, 1],
      );
      assert.notEqual(after.bridge.caCerts, before.bridge.caCerts);
      const was = await runObserver(THANOS, stacksOf({ [STACK_A]: before, [STACK_B]: b }));
      const now = await runObserver(THANOS, stacksOf({ [STACK_A]: after, [STACK_B]: b }));
      const address = (r: ObserverRun) => querierEndpoints(r)[0].address;
      assert.notEqual(address(now), address(was));
      assert.equal(address(now), thanosLeafAddress(after.bridge));
      assert.equal(thanosUpstreamTls(now, address(now)).ca, after.bridge.caCerts);
      assert.equal(inputs(now.deployment), inputs(was.deployment));
    });
  });

  describe("refuses what it cannot do", () => {
    after(forgetPendingRegistrations);

    it("two leaves with the same cluster name: no shard, no endpoints file, no Deployment", async () => {
      const config = loadConfig(leafRawConfig(THANOS), "observer");
      assert.ok(config.role === "observer" && config.dataPath === "thanos");
      const { result, mocks } = await runOnMocks(() => observerStack(config), {
        stack: "observer",
        stacks: { ...stacks, [STACK_B]: stacks[STACK_A] },
        drain: false,
      });
      const output = result.outputs.leaves as pulumi.Output<unknown>;
      // Output#promise is internal to the SDK, but the only way to see an apply's failure.
      const e = await (output as unknown as { promise(): Promise<unknown> }).promise().then(
        () => assert.fail("the observer accepted the leaves"),
        (error: unknown) => error as Error,
      );
      assert.match(
        e.message,
        /has the same cluster name "leaf-a" as stack acme\/thanos-bridge\/leaf-[ab]; every leaf needs its own/,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(mocks.ofType(SECRET), []);
      assert.deepEqual(mocks.ofType(CONFIG_MAP), []);
      assert.deepEqual(mocks.ofType("kubernetes:apps/v1:Deployment"), []);
    });

    it("an expiry alert, which needs Envoy's metrics, even past the config check", async () => {
      const config = loadConfig(leafRawConfig(THANOS), "observer");
      assert.ok(config.role === "observer");
      await assert.rejects(
        runOnMocks(() => observerStack({ ...config, expiryAlertDays: 14 }), {
          stack: "observer",
          stacks,
          drain: false,
        }),
        (e: Error) =>
          e.message ===
          "expiryAlertDays alerts on Envoy's certificate-expiry gauge, and dataPath thanos has no Envoy",
      );
    });
  });
});
