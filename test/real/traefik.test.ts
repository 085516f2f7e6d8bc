// The mutual-TLS matrix (test/support/mtls-matrix.ts, run through nginx by test/tls.test.ts)
// through a real Traefik: each leaf's IngressRoute and TLSOption (exposure traefik), and
// separately the program's own Ingress (exposure ingress-nginx) through Traefik's
// kubernetesIngressNGINX provider, all read by Traefik from the bench's real kube-apiserver. The
// sidecar Service's EndpointSlice points at a gRPC backend on 127.0.0.1; the client uses exactly
// what the observer's Envoy config gives each leaf (invariants 2 and 3 of docs/ARCHITECTURE.md).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { component, componentVersion } from "./build/components";
import {
  Backend,
  callInfo,
  callRules,
  callSeries,
  servedCertificate,
  startBackend,
} from "../support/grpc";
import { LEAF_A, LeafRun, runLeaf } from "../support/leaf";
import { FakeState } from "../support/mocks";
import {
  IngressAnswers,
  MatrixLeaves,
  caChangeRuns,
  callsThroughCaChange,
  foreignClient,
  matrixLeaves,
  mtlsMatrix,
  serverTls,
} from "../support/mtls-matrix";
import { ApiServer, startApiServer } from "./support/apiserver";
import { applyAll, installCrds } from "./support/apply";
import { crdsOf, kubernetesObjects } from "./support/declared";
import { KubeClient } from "./support/kube";
import { Traefik, assertRefusedInHandshake, exposeBackend, startTraefik } from "./support/traefik";

/** How Traefik says no: Go's TLS server ends the handshake and logs why. */
const TRAEFIK: IngressAnswers<Traefik> = {
  name: "Traefik",
  refused: assertRefusedInHandshake,
  logged: {
    noCertificate: /tls: client didn't provide a certificate/,
    unknownCa: /tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    expired: /tls: failed to verify certificate: x509: certificate has expired or is not yet valid/,
    purpose:
      /tls: failed to verify certificate: x509: certificate specifies an incompatible key usage/,
  },
  defaultCertificate: /CN=TRAEFIK DEFAULT CERT/,
  // SNI names the leaf, the Host header another name. Where nginx answers 404, Traefik refuses a
  // Host other than the SNI's once that SNI chose TLS options of its own: 421 Misdirected
  // Request, which gRPC reports as UNKNOWN.
  misdirected: { code: grpc.status.UNKNOWN, details: /^Received HTTP status code 421$/ },
};

describe("real Traefik as the leaf's ingress: the mTLS matrix", function () {
  this.timeout(180_000);
  let server: ApiServer;
  let kube: KubeClient;
  let backend: Backend;
  let matrix: MatrixLeaves;
  const traefiks: Traefik[] = [];
  let traefikA: Traefik;
  let traefikB: Traefik;
  let addressA: string;
  const stateA = new FakeState();
  /** What the API server said about the bench's own Service and EndpointSlice objects. */
  const bridgeWarnings: string[] = [];

  before(async function () {
    [server, backend] = await Promise.all([startApiServer(), startBackend()]);
    kube = server.client;
    await installCrds(kube, crdsOf("traefik-crds"));
    matrix = await matrixLeaves({ exposure: "traefik" }, stateA);
    for (const [run, namespace, service] of [
      [matrix.a, "monitoring", "kube-prometheus-stack-thanos-discovery"],
      [matrix.b, "observability", "prometheus-kube-prometheus-thanos-discovery"],
    ] as const) {
      await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
      const { warnings } = await applyAll(kube, kubernetesObjects(run.mocks));
      assert.deepEqual(warnings, []);
      bridgeWarnings.push(
        ...(await exposeBackend(kube, namespace, service, 10901, backend.address)),
      );
    }
    // One Traefik per leaf, as each leaf is its own cluster; each watches its leaf's namespace.
    const crd = (namespace: string) =>
      ({
        kubeconfig: server.kubeconfig,
        provider: "kubernetesCRD",
        namespace,
        entryPoint: "websecure",
      }) as const;
    traefikA = await startTraefik("traefik-leaf-a", crd("monitoring"), 2);
    traefiks.push(traefikA);
    traefikB = await startTraefik("traefik-leaf-b", crd("observability"), 3);
    traefiks.push(traefikB);
    addressA = `127.0.0.1:${traefikA.port}`;
  });

  after(async () => {
    for (const t of traefiks) await t.stop();
    await backend?.close();
    await server?.stop();
  });

  it("is the Traefik real:build pinned, with the program's routers and TLS option loaded", async () => {
    const routers = (await traefikA.routers()).filter((r) => !r.name.endsWith("@internal"));
    assert.deepEqual(routers.map((r) => [r.rule, r.status, r.tls?.options, r.entryPoints]).sort(), [
      [
        "Host(`thanos.leaf-a.example.com`) && PathPrefix(`/thanos.Store/`)",
        "enabled",
        "monitoring-thanos-bridge",
        ["websecure"],
      ],
      [
        "Host(`thanos.leaf-a.example.com`) && PathPrefix(`/thanos.info.Info/`)",
        "enabled",
        "monitoring-thanos-bridge",
        ["websecure"],
      ],
    ]);
    assert.match(
      traefikA.log(),
      new RegExp(`Traefik version ${componentVersion(component("traefik"))}`),
    );
  });

  it("the backend's EndpointSlice: loopback is refused as IPv4, so the bench names it as FQDN", async () => {
    // The bench's own objects, not the program's: their one warning is that deprecation.
    assert.deepEqual(bridgeWarnings, [
      "spec.addressType: FQDN endpoints are deprecated",
      "spec.addressType: FQDN endpoints are deprecated",
    ]);
    await assert.rejects(
      kube.apply(
        {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: { name: "loopback-ipv4", namespace: "monitoring" },
          addressType: "IPv4",
          ports: [{ name: "grpc", port: 10901, protocol: "TCP" }],
          endpoints: [{ addresses: ["127.0.0.1"] }],
        },
        { dryRun: true },
      ),
      /endpoints\[0\]\.addresses\[0\]: Invalid value: "127\.0\.0\.1": may not be in the loopback range/,
    );
    const services = (await fetch(`${traefikA.api}/api/http/services`).then((r) => r.json())) as {
      name: string;
      loadBalancer?: { servers?: { url: string }[] };
    }[];
    const urls = services.flatMap((s) => s.loadBalancer?.servers?.map((x) => x.url) ?? []);
    assert.deepEqual([...new Set(urls)], [`h2c://${backend.address}`]);
  });

  mtlsMatrix(TRAEFIK, () => ({ ...matrix, ingressA: traefikA, ingressB: traefikB, backend }));

  describe("the program's Ingress through Traefik's kubernetesIngressNGINX provider", () => {
    let traefik: Traefik;
    let address: string;
    let nginxRun: LeafRun;

    before(async () => {
      // The same stack state: the Secrets are byte-identical to the IngressRoute's.
      nginxRun = await runLeaf(LEAF_A, "leaf-a", stateA);
      assert.equal(JSON.stringify(nginxRun.bridge), JSON.stringify(matrix.a.bridge));
      await kube.apply({
        apiVersion: "networking.k8s.io/v1",
        kind: "IngressClass",
        metadata: { name: "nginx" },
        spec: { controller: "k8s.io/ingress-nginx" },
      });
      const { warnings } = await applyAll(kube, kubernetesObjects(nginxRun.mocks));
      assert.deepEqual(warnings, []);
      traefik = await startTraefik(
        "traefik-ingress-nginx",
        {
          kubeconfig: server.kubeconfig,
          provider: "kubernetesIngressNGINX",
          namespace: "monitoring",
          entryPoint: "websecure",
        },
        2,
      );
      traefiks.push(traefik);
      address = `127.0.0.1:${traefik.port}`;
    });

    it("serves the Ingress's gRPC paths over h2c (backend-protocol GRPC) with its TLS Secret", async () => {
      const { a, envoyA } = matrix;
      assert.deepEqual(await callInfo(address, envoyA), { ok: true, messages: 1 });
      assert.deepEqual(await callSeries(address, envoyA), { ok: true, messages: 3 });
      const served = await servedCertificate(traefik.port, envoyA.serverName);
      assert.equal(served.fingerprint256, new X509Certificate(serverTls(a).cert).fingerprint256);
      const before = backend.calls.length;
      const rules = await callRules(address, envoyA);
      assert.ok(!rules.ok && rules.code === grpc.status.UNIMPLEMENTED, JSON.stringify(rules));
      assert.equal(backend.calls.length, before);
    });

    it("does NOT verify client certificates: Traefik v3.6 ignores the auth-tls-* annotations", async () => {
      // What ingress-nginx refuses, this provider lets through to the sidecar: no certificate,
      // and a certificate from an unrelated CA. The Ingress must not be served this way.
      const { envoyA } = matrix;
      const before = backend.calls.length;
      assert.deepEqual(await callInfo(address, { serverName: envoyA.serverName, ca: envoyA.ca }), {
        ok: true,
        messages: 1,
      });
      const foreign = foreignClient();
      assert.deepEqual(
        await callInfo(address, { ...envoyA, cert: foreign.certPem, key: foreign.keyPem }),
        { ok: true, messages: 1 },
      );
      assert.equal(backend.calls.length, before + 2);
      // The same Traefik build, through the IngressRoute and TLSOption, refuses the same client.
      await assertRefusedInHandshake(
        traefikA,
        backend,
        () => callInfo(addressA, { serverName: envoyA.serverName, ca: envoyA.ca }),
        TRAEFIK.logged.noCertificate,
      );
    });
  });

  describe("a CA change under load, run by run, with Traefik reloading from the API server", () => {
    it("no call fails; Traefik takes each state without a restart", async () => {
      // Each run of leaf-a applied to the API server, which Traefik watches for its Secrets.
      const { leaves, observers } = await caChangeRuns(
        { ...LEAF_A, exposure: "traefik" },
        matrix.b,
      );
      /** Applies the run, then waits until Traefik serves its server certificate. */
      const apply = async (run: LeafRun) => {
        const { warnings } = await applyAll(kube, kubernetesObjects(run.mocks));
        assert.deepEqual(warnings, []);
        const expected = new X509Certificate(serverTls(run).cert).fingerprint256;
        const deadline = Date.now() + 15_000;
        let served = "";
        while (Date.now() < deadline) {
          served = (await servedCertificate(traefikA.port, matrix.envoyA.serverName))
            .fingerprint256;
          if (served === expected) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.fail(`Traefik still serves ${served}, not ${expected}`);
      };
      await apply(leaves[0]);
      await callsThroughCaChange(TRAEFIK, traefikA, backend, observers, (step) =>
        apply(leaves[step]),
      );
    });
  });
});
