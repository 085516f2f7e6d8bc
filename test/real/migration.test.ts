// The exposure migration for real: a leaf deployed with ingress-nginx (the default) and an
// observer reading it, both by `npm run deploy` of a project copy on the real Pulumi CLI (the
// Node.js language host and the tls and time plugins are stand-ins) and the real Kubernetes
// provider against the bench's kube-apiserver; then one line added to the leaf's stack file
// (`thanos-bridge:exposure: traefik`) and one `pulumi up --refresh` of the leaf. The promise of
// docs/ARCHITECTURE.md ("The exposure is the leaf's own business"): the Ingress gives way to an
// IngressRoute and a TLSOption, the certificate Secrets are the same objects with the same
// bytes, the contract outputs are identical, and the observer has nothing to do. Real Traefik
// then serves the leaf from those objects, and the observer's client certificate from before the
// switch still gets through, with the same server certificate (invariants 2 and 3 of
// docs/ARCHITECTURE.md).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { BRIDGE_OUTPUT, CLIENT_KEY_OUTPUT } from "../../components/common/contract";
import {
  Backend,
  UpstreamTls,
  callInfo,
  callSeries,
  servedCertificate,
  startBackend,
} from "../support/grpc";
import { RecordedResource, RecordingMocks } from "../support/mocks";
import { ObserverRun, PodSpec, envoyUpstreamTls } from "../support/observer";
import { ApiServer, startApiServer } from "./support/apiserver";
import { installCrds } from "./support/apply";
import { crdsOf } from "./support/declared";
import { KubeClient, KubeObject } from "./support/kube";
import { PulumiProject, RunResult, pulumiProject } from "./support/pulumi";
import { stepByStep } from "./support/steps";
import { Traefik, assertRefusedInHandshake, exposeBackend, startTraefik } from "./support/traefik";

const REPO = join(__dirname, "..", "..");
const LEAF = "leaf-a";
/** leaf-a as shipped: kube-prometheus-stack in "monitoring". */
const LEAF_NAMESPACE = "monitoring";
const SIDECAR_SERVICE = "kube-prometheus-stack-thanos-discovery";
const OBSERVER_NAMESPACE = "thanos-bridge";
/** The one line the migration adds to the leaf's stack file. */
const SWITCH_LINE = "  thanos-bridge:exposure: traefik";

const shipped = (stack: string): string => readFileSync(join(REPO, `Pulumi.${stack}.yaml`), "utf8");

/** What a failed command printed, for an assertion message. */
const show = (r: RunResult): string =>
  `exit ${r.code}\n--- stdout (end)\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;

type Items = { items: KubeObject[] };

/** A namespace's objects of one collection (`secrets`, `configmaps`, ...), by name. */
async function listed(kube: KubeClient, path: string): Promise<Map<string, KubeObject>> {
  const list = await kube.call<Items>("GET", path);
  return new Map(list.body.items.map((o) => [o.metadata.name, o]));
}

/**
 * An object's identity and content: replaced or rewritten, it differs. A Deployment's status
 * (and so its resourceVersion) is the controller's; its generation moves with its spec.
 */
function fingerprint(o: KubeObject): Record<string, unknown> {
  return o.kind === "Deployment"
    ? { uid: o.metadata.uid, generation: o.metadata.generation, spec: o.spec }
    : {
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        type: o.type,
        data: o.data,
      };
}

/** A Secret's data, decoded. */
function decoded(secret: KubeObject): Record<string, string> {
  const data = (secret.data ?? {}) as Record<string, string>;
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
  );
}

/**
 * The observer as the real provider left it in the cluster, in the shape `envoyUpstreamTls`
 * reads: its Deployment's pod, the ConfigMap holding envoy.yaml and every Secret of its
 * namespace. The Envoy settings for a leaf are then followed from envoy.yaml through the pod's
 * mounts to the stored Secrets, as Envoy would read them (invariant 4 of docs/ARCHITECTURE.md).
 */
async function deployedObserver(kube: KubeClient, namespace: string): Promise<ObserverRun> {
  const mocks = new RecordingMocks();
  const record = (type: string, o: KubeObject, inputs: Record<string, unknown>) =>
    mocks.resources.push({ type, name: o.metadata.name, inputs, dependsOn: [] });
  for (const s of (await listed(kube, `/api/v1/namespaces/${namespace}/secrets`)).values()) {
    record("kubernetes:core/v1:Secret", s, { metadata: s.metadata, stringData: decoded(s) });
  }
  let files: Record<string, string> | undefined;
  for (const c of (await listed(kube, `/api/v1/namespaces/${namespace}/configmaps`)).values()) {
    const data = (c.data ?? {}) as Record<string, string>;
    record("kubernetes:core/v1:ConfigMap", c, { metadata: c.metadata, data });
    if ("envoy.yaml" in data) files = data;
  }
  assert.ok(files !== undefined, `no ConfigMap in ${namespace} holds envoy.yaml`);
  const deployment = await kube.get("apps/v1", "Deployment", namespace, "thanos-bridge-querier");
  const recorded: RecordedResource = {
    type: "kubernetes:apps/v1:Deployment",
    name: deployment.metadata.name,
    inputs: deployment,
    dependsOn: [],
  };
  return {
    mocks,
    leaves: [],
    files,
    envoy: parse(files["envoy.yaml"]) as Record<string, unknown>,
    deployment: recorded,
    pod: (deployment.spec as { template: { spec: PodSpec } }).template.spec,
  };
}

describe("migrating a leaf from ingress-nginx to traefik on the real Pulumi CLI and Kubernetes provider (stand-in language host, tls and time plugins): one line, one run", function () {
  this.timeout(300_000);
  const failed = stepByStep();
  let server: ApiServer;
  let kube: KubeClient;
  let backend: Backend;
  let project: PulumiProject;
  const traefiks: Traefik[] = [];
  /** The leaf's stack file before the switch: as shipped, pointed at the bench's API server. */
  let leafFile: string;
  /** What the observer's Envoy presents to and expects of the leaf, read before the switch. */
  let envoy: UpstreamTls;
  const seen: {
    outputs?: Record<string, unknown>;
    observerOutputs?: Record<string, unknown>;
    objects?: Map<string, Record<string, unknown>>;
    observerObjects?: Map<string, Record<string, unknown>>;
    serial?: string;
  } = {};

  /** Every output of a stack, secrets in clear. */
  async function outputsOf(stack: string): Promise<Record<string, unknown>> {
    const r = await project.pulumi([
      "stack",
      "output",
      "--json",
      "--show-secrets",
      "--stack",
      stack,
    ]);
    assert.equal(r.code, 0, show(r));
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** A namespace's Secrets, ConfigMaps and Deployments, by `Kind/name`. */
  async function objectsIn(namespace: string): Promise<Map<string, Record<string, unknown>>> {
    const found = new Map<string, Record<string, unknown>>();
    for (const [kind, path] of [
      ["Secret", `/api/v1/namespaces/${namespace}/secrets`],
      ["ConfigMap", `/api/v1/namespaces/${namespace}/configmaps`],
      ["Deployment", `/apis/apps/v1/namespaces/${namespace}/deployments`],
    ] as const) {
      for (const [name, o] of await listed(kube, path)) {
        found.set(`${kind}/${name}`, fingerprint({ ...o, kind }));
      }
    }
    return found;
  }

  /** The names of the leaf namespace's objects of a kind. */
  async function namesOf(apiVersion: string, kind: string): Promise<string[]> {
    const path = await kube.path(apiVersion, kind, LEAF_NAMESPACE);
    return [...(await listed(kube, path)).keys()].sort();
  }

  before(async () => {
    [server, backend] = await Promise.all([
      startApiServer({ controllerManager: true }),
      startBackend(),
    ]);
    kube = server.client;
    await installCrds(kube, crdsOf("traefik-crds"));
    // What the leaf cluster has before thanos-bridge: the namespace, the sidecar's Service (its
    // EndpointSlice on the stand-in sidecar here) and ingress-nginx's IngressClass.
    await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: LEAF_NAMESPACE } });
    await exposeBackend(kube, LEAF_NAMESPACE, SIDECAR_SERVICE, 10901, backend.address);
    await kube.apply({
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: "nginx" },
      spec: { controller: "k8s.io/ingress-nginx" },
    });
    const target = [
      `  thanos-bridge:kubeconfig: ${JSON.stringify(server.kubeconfig)}`,
      "  thanos-bridge:skipAwait: true",
      "",
    ].join("\n");
    // The shipped leaf renders; pointed at the API server instead.
    leafFile = `${shipped(LEAF)
      .replace(/^ {2}thanos-bridge:renderDir: .*\n/m, "")
      .trimEnd()}\n${target}`;
    const observer = parse(shipped("observer")) as { config: Record<string, unknown> };
    Object.assign(observer.config, {
      "thanos-bridge:leaves": [`organization/thanos-bridge/${LEAF}`],
      "thanos-bridge:renderDir": undefined,
      "thanos-bridge:kubeconfig": server.kubeconfig,
      "thanos-bridge:skipAwait": true,
    });
    project = pulumiProject({ [LEAF]: leafFile, observer: stringify(observer) });
  });

  after(async () => {
    for (const t of traefiks) await t.stop();
    await backend?.close();
    await server?.stop();
    project?.remove();
  });

  it("npm run deploy: the leaf with exposure ingress-nginx (the default), the observer reading it", async () => {
    assert.doesNotMatch(leafFile, /exposure/);
    const r = await project.npm("deploy");
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(await namesOf("networking.k8s.io/v1", "Ingress"), ["thanos-bridge"]);
    assert.deepEqual(await namesOf("traefik.io/v1alpha1", "IngressRoute"), []);
    assert.deepEqual(await namesOf("traefik.io/v1alpha1", "TLSOption"), []);
    seen.outputs = await outputsOf(LEAF);
    seen.observerOutputs = await outputsOf("observer");
    seen.objects = await objectsIn(LEAF_NAMESPACE);
    seen.observerObjects = await objectsIn(OBSERVER_NAMESPACE);
    assert.deepEqual([...seen.objects.keys()].filter((k) => k.startsWith("Secret/")).sort(), [
      "Secret/thanos-bridge-client-ca",
      "Secret/thanos-bridge-server-tls",
    ]);
    envoy = envoyUpstreamTls(await deployedObserver(kube, OBSERVER_NAMESPACE), LEAF);
    // Envoy's settings for the leaf are the leaf's contract (invariants 2 and 3).
    const bridge = seen.outputs[BRIDGE_OUTPUT] as Record<string, string>;
    assert.equal(envoy.serverName, bridge.serverName);
    assert.equal(envoy.ca, bridge.caCerts);
    assert.equal(envoy.cert, bridge.clientCert);
    assert.equal(envoy.key, seen.outputs[CLIENT_KEY_OUTPUT]);
  });

  it("before the switch, the Ingress form is what is served (real Traefik's kubernetesIngressNGINX provider, stand-in sidecar; no mTLS claim: v3.6 ignores auth-tls-*)", async () => {
    const traefik = await startTraefik(
      "traefik-ingress-nginx",
      {
        kubeconfig: server.kubeconfig,
        provider: "kubernetesIngressNGINX",
        namespace: LEAF_NAMESPACE,
        entryPoint: "websecure",
      },
      2,
    );
    traefiks.push(traefik);
    const address = `127.0.0.1:${traefik.port}`;
    assert.deepEqual(await callInfo(address, envoy), { ok: true, messages: 1 });
    assert.deepEqual(await callSeries(address, envoy), { ok: true, messages: 3 });
    const served = await servedCertificate(traefik.port, envoy.serverName);
    const stored = decoded(
      await kube.get("v1", "Secret", LEAF_NAMESPACE, "thanos-bridge-server-tls"),
    );
    assert.equal(served.fingerprint256, new X509Certificate(stored["tls.crt"]).fingerprint256);
    seen.serial = served.serialNumber;
    await traefik.stop();
  });

  it("the switch: one line added to the leaf's stack file, one `pulumi up --refresh` of the leaf", async () => {
    const switched = `${leafFile}${SWITCH_LINE}\n`;
    const added = switched.split("\n").filter((l) => !leafFile.split("\n").includes(l));
    assert.deepEqual(added, [SWITCH_LINE]);
    assert.equal(switched.replace(`${SWITCH_LINE}\n`, ""), leafFile);
    project.stackFile(LEAF, switched);
    // deploy runs every stack that has a stack file; the leaf alone is its `pulumi up --refresh`.
    const r = await project.pulumi([
      "up",
      "--yes",
      "--refresh",
      "--non-interactive",
      "--stack",
      LEAF,
    ]);
    assert.equal(r.code, 0, show(r));
    // The engine's own summary: the routing objects change, nothing else is touched.
    const summary = r.stdout.slice(r.stdout.lastIndexOf("Resources:"));
    assert.match(summary, /^\s+\+ 2 created$/m, summary);
    assert.match(summary, /^\s+- 1 deleted$/m, summary);
    assert.doesNotMatch(summary, /updated|replaced/, summary);
    console.log(
      `      the switch, as the engine summed it up: ${summary.split(/\s*\n\s*/).join(" ")}`,
    );
  });

  it("the Ingress is gone; the IngressRoute and the TLSOption are there", async () => {
    assert.deepEqual(await namesOf("networking.k8s.io/v1", "Ingress"), []);
    assert.deepEqual(await namesOf("traefik.io/v1alpha1", "IngressRoute"), ["thanos-bridge"]);
    assert.deepEqual(await namesOf("traefik.io/v1alpha1", "TLSOption"), ["thanos-bridge"]);
  });

  it("the certificate Secrets are the same objects, byte for byte (uid, resourceVersion, data)", async () => {
    assert.deepEqual(await objectsIn(LEAF_NAMESPACE), seen.objects);
  });

  it("the contract outputs are identical: bridge and bridgeClientKey", async () => {
    const after = await outputsOf(LEAF);
    assert.deepEqual(after[BRIDGE_OUTPUT], seen.outputs?.[BRIDGE_OUTPUT]);
    assert.deepEqual(after[CLIENT_KEY_OUTPUT], seen.outputs?.[CLIENT_KEY_OUTPUT]);
    assert.deepEqual(Object.keys(after).sort(), Object.keys(seen.outputs ?? {}).sort());
  });

  it("the observer is untouched: its next run, up --refresh --expect-no-changes, has no step; its outputs and objects are as before", async () => {
    // The run the next `npm run deploy` would make, with the preview's check. The check counts
    // resource steps only, not stack outputs (the observer's `leaves[].expiry` repeats the
    // leaf's), so the outputs are compared after the run.
    const r = await project.pulumi([
      "up",
      "--yes",
      "--refresh",
      "--expect-no-changes",
      "--non-interactive",
      "--stack",
      "observer",
    ]);
    assert.equal(r.code, 0, show(r));
    const summary = r.stdout.slice(r.stdout.lastIndexOf("Resources:"));
    assert.match(summary, /^Resources:\s+\d+ unchanged\s/, summary);
    assert.deepEqual(await outputsOf("observer"), seen.observerOutputs);
    assert.deepEqual(await objectsIn(OBSERVER_NAMESPACE), seen.observerObjects);
  });

  describe("real Traefik (kubernetescrd provider) serving the switched leaf, in front of the stand-in sidecar", () => {
    let traefik: Traefik;
    let address: string;

    before(async function () {
      if (failed()) this.skip();
      traefik = await startTraefik(
        "traefik-crd",
        {
          kubeconfig: server.kubeconfig,
          provider: "kubernetesCRD",
          namespace: LEAF_NAMESPACE,
          entryPoint: "websecure",
        },
        2,
      );
      traefiks.push(traefik);
      address = `127.0.0.1:${traefik.port}`;
    });

    it("the observer's client certificate from before the switch: Info and a Series stream succeed", async () => {
      const calls = backend.calls.length;
      assert.deepEqual(await callInfo(address, envoy), { ok: true, messages: 1 });
      assert.deepEqual(await callSeries(address, envoy), { ok: true, messages: 3 });
      assert.deepEqual(backend.calls.slice(calls), [
        "/thanos.info.Info/Info",
        "/thanos.Store/Series",
      ]);
    });

    it("serves the same server certificate as before the switch", async () => {
      const served = await servedCertificate(traefik.port, envoy.serverName);
      assert.equal(served.serialNumber, seen.serial);
    });

    it("a client without a certificate: refused in the handshake", async () => {
      await assertRefusedInHandshake(
        traefik,
        backend,
        () => callInfo(address, { serverName: envoy.serverName, ca: envoy.ca }),
        /tls: client didn't provide a certificate/,
      );
    });
  });
});
