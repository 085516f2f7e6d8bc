// The mutual-TLS matrix of test/tls.test.ts through a real Traefik instead of nginx: each leaf's
// IngressRoute and TLSOption (exposure traefik), and separately the program's own Ingress
// (exposure ingress-nginx) through Traefik's kubernetesIngressNGINX provider, all read by Traefik
// from the bench's real kube-apiserver. The sidecar Service's EndpointSlice points at a gRPC
// backend on 127.0.0.1; the client uses exactly what the observer's Envoy config gives each leaf
// (invariants 2 and 3 of docs/ARCHITECTURE.md).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { component, componentVersion } from "./build/components";
import { issueCertificate, selfSignedCa } from "../support/fake-tls";
import {
  Backend,
  CallResult,
  UpstreamTls,
  callInfo,
  callRules,
  callSeries,
  openConnection,
  servedCertificate,
  startBackend,
} from "../support/grpc";
import { LEAF_A, LeafRun, intoGeneration, runLeaf, shippedLeafConfig } from "../support/leaf";
import { FakeState, unwrapSecrets } from "../support/mocks";
import { OBSERVER, envoyUpstreamTls, runObserver, stacksOf } from "../support/observer";
import { ApiServer, startApiServer } from "./support/apiserver";
import { applyAll, installCrds } from "./support/apply";
import { crdsOf, kubernetesObjects } from "./support/declared";
import { KubeClient } from "./support/kube";
import { Traefik, assertRefusedInHandshake, exposeBackend, startTraefik } from "./support/traefik";

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";

/** The CA key the leaf signed with (an input of its LocallySignedCert resources). */
function caKeyOf(run: LeafRun): string {
  return (
    unwrapSecrets(run.mocks.named(`${run.bridge.cluster}-client-cert`).inputs) as {
      caPrivateKeyPem: string;
    }
  ).caPrivateKeyPem;
}

function serverTls(run: LeafRun): { cert: string; key: string } {
  const data = (
    unwrapSecrets(run.mocks.named(`${run.bridge.cluster}-server-tls`).inputs) as {
      stringData: Record<string, string>;
    }
  ).stringData;
  return { cert: data["tls.crt"], key: data["tls.key"] };
}

const now = Date.now();
const foreignClient = () => {
  const other = selfSignedCa("unrelated CA");
  return issueCertificate({
    caCertPem: other.certPem,
    caKeyPem: other.keyPem,
    commonName: "thanos-bridge-observer",
    allowedUses: ["digital_signature", "client_auth"],
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 3600_000),
  });
};

describe("real Traefik as the leaf's ingress: the mTLS matrix", function () {
  this.timeout(180_000);
  let server: ApiServer;
  let kube: KubeClient;
  let backend: Backend;
  let a: LeafRun;
  let b: LeafRun;
  let envoyA: UpstreamTls;
  let envoyB: UpstreamTls;
  const traefiks: Traefik[] = [];
  let traefikA: Traefik;
  let traefikB: Traefik;
  let addressA: string;
  let addressB: string;
  const stateA = new FakeState();
  /** What the API server said about the bench's own Service and EndpointSlice objects. */
  const bridgeWarnings: string[] = [];

  before(async function () {
    [server, backend] = await Promise.all([startApiServer(), startBackend()]);
    kube = server.client;
    await installCrds(kube, crdsOf("traefik-crds"));
    a = await runLeaf({ ...LEAF_A, exposure: "traefik" }, "leaf-a", stateA);
    // leaf-b as shipped (RSA-3072, thanos.Rules routed), behind Traefik.
    b = await runLeaf(
      { ...shippedLeafConfig("Pulumi.leaf-b.yaml"), exposure: "traefik" },
      "leaf-b",
    );
    const observer = await runObserver(OBSERVER, stacksOf({ [STACK_A]: a, [STACK_B]: b }));
    envoyA = envoyUpstreamTls(observer, "leaf-a");
    envoyB = envoyUpstreamTls(observer, "leaf-b");
    for (const [run, namespace, service] of [
      [a, "monitoring", "kube-prometheus-stack-thanos-discovery"],
      [b, "observability", "prometheus-kube-prometheus-thanos-discovery"],
    ] as const) {
      await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
      const { warnings } = await applyAll(kube, kubernetesObjects(run.mocks));
      assert.deepEqual(warnings, []);
      bridgeWarnings.push(
        ...(await exposeBackend(kube, namespace, service, 10901, backend.address)),
      );
    }
    // One Traefik per leaf, as each leaf is its own cluster; each watches its leaf's namespace.
    traefikA = await startTraefik(
      "traefik-leaf-a",
      {
        kubeconfig: server.kubeconfig,
        provider: "kubernetesCRD",
        namespace: "monitoring",
        entryPoint: "websecure",
      },
      2,
    );
    traefiks.push(traefikA);
    traefikB = await startTraefik(
      "traefik-leaf-b",
      {
        kubeconfig: server.kubeconfig,
        provider: "kubernetesCRD",
        namespace: "observability",
        entryPoint: "websecure",
      },
      3,
    );
    traefiks.push(traefikB);
    addressA = `127.0.0.1:${traefikA.port}`;
    addressB = `127.0.0.1:${traefikB.port}`;
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

  it("a valid client: Info and a Series stream succeed at each leaf, with Envoy's settings", async () => {
    assert.deepEqual(await callInfo(addressA, envoyA), { ok: true, messages: 1 });
    assert.deepEqual(await callSeries(addressA, envoyA), { ok: true, messages: 3 });
    assert.deepEqual(backend.calls.slice(-2), ["/thanos.info.Info/Info", "/thanos.Store/Series"]);
    assert.match(new X509Certificate(b.bridge.caCerts).publicKey.asymmetricKeyType ?? "", /^rsa$/);
    assert.deepEqual(await callInfo(addressB, envoyB), { ok: true, messages: 1 });
    assert.deepEqual(await callRules(addressB, envoyB), { ok: true, messages: 1 });
  });

  it("serves the leaf's server certificate for its hostname", async () => {
    const served = await servedCertificate(traefikA.port, envoyA.serverName);
    assert.equal(served.fingerprint256, new X509Certificate(serverTls(a).cert).fingerprint256);
  });

  it("no client certificate: refused in the handshake", async () => {
    await assertRefusedInHandshake(
      traefikA,
      backend,
      () => callInfo(addressA, { serverName: envoyA.serverName, ca: envoyA.ca }),
      /tls: client didn't provide a certificate/,
    );
  });

  it("leaf-b's client certificate at leaf-a, and leaf-a's at leaf-b: refused", async () => {
    await assertRefusedInHandshake(
      traefikA,
      backend,
      () => callInfo(addressA, { ...envoyA, cert: envoyB.cert, key: envoyB.key }),
      /tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    );
    await assertRefusedInHandshake(
      traefikB,
      backend,
      () => callInfo(addressB, { ...envoyB, cert: envoyA.cert, key: envoyA.key }),
      /tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    );
  });

  it("a client certificate from an unrelated CA: refused", async () => {
    const foreign = foreignClient();
    await assertRefusedInHandshake(
      traefikA,
      backend,
      () => callInfo(addressA, { ...envoyA, cert: foreign.certPem, key: foreign.keyPem }),
      /tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    );
  });

  it("an expired client certificate from leaf-a's own CA: refused", async () => {
    const expired = issueCertificate({
      caCertPem: a.bridge.caCerts,
      caKeyPem: caKeyOf(a),
      commonName: "thanos-bridge-observer",
      allowedUses: ["digital_signature", "client_auth"],
      notBefore: new Date(now - 48 * 3600_000),
      notAfter: new Date(now - 24 * 3600_000),
    });
    await assertRefusedInHandshake(
      traefikA,
      backend,
      () => callInfo(addressA, { ...envoyA, cert: expired.certPem, key: expired.keyPem }),
      /tls: failed to verify certificate: x509: certificate has expired or is not yet valid/,
    );
  });

  it("the server certificate presented as a client certificate: refused", async () => {
    const { cert, key } = serverTls(a);
    await assertRefusedInHandshake(
      traefikA,
      backend,
      () => callInfo(addressA, { ...envoyA, cert, key }),
      /tls: failed to verify certificate: x509: certificate specifies an incompatible key usage/,
    );
  });

  it("a wrong server name: the client refuses the server", async () => {
    const before = backend.calls.length;
    // Another name gets Traefik's default certificate, which leaf-a's CA did not sign.
    const served = await servedCertificate(traefikA.port, "thanos.leaf-b.example.net");
    assert.match(served.subject, /CN=TRAEFIK DEFAULT CERT/);
    const result = await callInfo(addressA, { ...envoyA, serverName: "thanos.leaf-b.example.net" });
    assert.ok(!result.ok && result.code === grpc.status.UNAVAILABLE, JSON.stringify(result));
    // The right server's certificate, but another name expected: the SAN check refuses it.
    const san = await callInfo(addressA, {
      ...envoyA,
      authority: envoyA.serverName,
      serverName: "thanos.leaf-a.example.com.",
    });
    assert.ok(!san.ok && san.code === grpc.status.UNAVAILABLE, JSON.stringify(san));
    assert.equal(backend.calls.length, before);
  });

  it("a gRPC path outside the allowlist: not routed", async () => {
    const before = backend.calls.length;
    const result = await callRules(addressA, envoyA);
    // Traefik answers 404, which gRPC reports as UNIMPLEMENTED.
    assert.ok(
      !result.ok && result.code === grpc.status.UNIMPLEMENTED && result.details.includes("404"),
      JSON.stringify(result),
    );
    assert.equal(backend.calls.length, before, "the backend must not see /thanos.Rules/Rules");
  });

  it("Querier's alias as :authority (no rewrite in Envoy): not routed", async () => {
    const before = backend.calls.length;
    const result = await callInfo(addressA, {
      ...envoyA,
      authority: "leaf-a.thanos-bridge.internal:10000",
    });
    // SNI names the leaf, the Host header another name. Where nginx answers 404, Traefik
    // refuses a Host other than the SNI's once that SNI chose TLS options of its own: 421
    // Misdirected Request, which gRPC reports as UNKNOWN.
    assert.ok(
      !result.ok &&
        result.code === grpc.status.UNKNOWN &&
        result.details === "Received HTTP status code 421",
      JSON.stringify(result),
    );
    assert.equal(backend.calls.length, before);
  });

  describe("the program's Ingress through Traefik's kubernetesIngressNGINX provider", () => {
    let traefik: Traefik;
    let address: string;
    let nginxRun: LeafRun;

    before(async () => {
      // The same stack state: the Secrets are byte-identical to the IngressRoute's.
      nginxRun = await runLeaf(LEAF_A, "leaf-a", stateA);
      assert.equal(JSON.stringify(nginxRun.bridge), JSON.stringify(a.bridge));
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
        /tls: client didn't provide a certificate/,
      );
    });
  });

  describe("a CA change under load, run by run, with Traefik reloading from the API server", () => {
    it("no call fails; Traefik takes each state without a restart", async () => {
      // leaf-a over a CA change (steady, introduced, switched, retired), each run applied to the
      // API server as the rotation runner leaves it: the leaf first (Traefik watches its
      // Secrets), then the observer (the client takes the credentials Envoy would load).
      const state = new FakeState();
      const config = {
        ...LEAF_A,
        exposure: "traefik",
        serverValidityHours: "8760",
        clientValidityHours: "8760",
      };
      const leaves: LeafRun[] = [];
      const observers: UpstreamTls[] = [];
      for (const day of [-1, 1, 183, 366]) {
        const leaf = await runLeaf(config, "leaf-a", state, intoGeneration(16, day));
        const observer = await runObserver(OBSERVER, stacksOf({ [STACK_A]: leaf, [STACK_B]: b }));
        leaves.push(leaf);
        observers.push(envoyUpstreamTls(observer, "leaf-a"));
      }
      const apply = async (run: LeafRun) => {
        const { warnings } = await applyAll(kube, kubernetesObjects(run.mocks));
        assert.deepEqual(warnings, []);
      };
      /** Waits until Traefik serves the run's server certificate. */
      const serving = async (run: LeafRun) => {
        const expected = new X509Certificate(serverTls(run).cert).fingerprint256;
        const deadline = Date.now() + 15_000;
        let served = "";
        while (Date.now() < deadline) {
          served = (await servedCertificate(traefikA.port, envoyA.serverName)).fingerprint256;
          if (served === expected) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.fail(`Traefik still serves ${served}, not ${expected}`);
      };
      await apply(leaves[0]);
      await serving(leaves[0]);
      let settings = observers[0];
      const outcomes: Promise<CallResult>[] = [];
      for (let step = 1; step < leaves.length; step++) {
        const connection = openConnection(addressA, settings);
        outcomes.push(connection.series(40, 100));
        for (let i = 0; i < 90; i++) {
          outcomes.push(i % 2 === 0 ? callInfo(addressA, settings, 10_000) : connection.info());
          if (i === 30) {
            await apply(leaves[step]);
            await serving(leaves[step]);
            // Between the leaf's run and the observer's: the old credentials still work.
            assert.deepEqual(
              await callInfo(addressA, settings),
              { ok: true, messages: 1 },
              `step ${step}`,
            );
          }
          if (i === 60) settings = observers[step];
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        await Promise.all(outcomes);
        connection.close();
      }
      const results = await Promise.all(outcomes);
      const failed = results.filter((r) => !r.ok);
      console.log(
        `      CA change through Traefik: ${results.length} calls over 3 runs, ${failed.length} failed`,
      );
      assert.deepEqual(failed, []);
      // The retired state refuses the old CA's client certificate once Traefik has the new
      // bundle (it reloads the TLSOption's Secret asynchronously: poll, then insist).
      const old = { ...observers[3], cert: observers[0].cert, key: observers[0].key };
      const deadline = Date.now() + 15_000;
      while ((await callInfo(addressA, old)).ok && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      await assertRefusedInHandshake(
        traefikA,
        backend,
        () => callInfo(addressA, old),
        /tls: failed to verify certificate: x509: certificate signed by unknown authority/,
      );
      assert.deepEqual(await callInfo(addressA, observers[3]), { ok: true, messages: 1 });
    });
  });
});
