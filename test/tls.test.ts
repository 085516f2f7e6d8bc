// The data path with real TLS: the leaf's Ingress served by Debian's nginx (configured from the
// program's own Ingress and Secrets), a gRPC backend standing in for the Thanos sidecar, and a
// client using exactly what the observer's Envoy config gives that leaf. Everything listens on
// 127.0.0.1 and stops at the end. Without nginx these tests are skipped outside CI, and fail
// under CI=true (.ci/run installs it).

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { FakeTls, issueCertificate, selfSignedCa } from "./support/fake-tls";
import {
  Backend,
  CallResult,
  UpstreamTls,
  callInfo,
  callRules,
  callSeries,
  startBackend,
} from "./support/grpc";
import { LEAF_A, LEAF_B, LeafRun, runLeaf } from "./support/leaf";
import { unwrapSecrets } from "./support/mocks";
import { Nginx, leafIngressObjects, nginxAvailable, startLeafNginx } from "./support/nginx";
import { OBSERVER, ObserverRun, envoyUpstreamTls, runObserver, stacksOf } from "./support/observer";

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";

/** The CA key the leaf signed with (an input of its LocallySignedCert resources). */
function caKeyOf(run: LeafRun): string {
  const cert = unwrapSecrets(run.mocks.named(`${run.bridge.cluster}-client-cert`).inputs) as {
    caPrivateKeyPem: string;
  };
  return cert.caPrivateKeyPem;
}

/**
 * Refused by the ingress for its client certificate: with `ssl_verify_client on`, nginx finishes
 * the handshake and answers 400, which gRPC reports as INTERNAL.
 */
function assertRefusedByIngress(result: CallResult): void {
  assert.ok(
    !result.ok &&
      result.code === grpc.status.INTERNAL &&
      result.details.includes("HTTP status code 400"),
    JSON.stringify(result),
  );
}

/** The certificate a TLS server presents for a server name. */
function servedCertificate(port: number, serverName: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: serverName,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      const raw = socket.getPeerX509Certificate();
      socket.destroy();
      if (raw === undefined) reject(new Error("no certificate"));
      else resolve(raw);
    });
    socket.once("error", reject);
  });
}

describe("the data path with real TLS (nginx as the leaf ingress)", function () {
  this.timeout(60_000);
  let a: LeafRun;
  let b: LeafRun;
  let tlsA: FakeTls;
  let observer: ObserverRun;
  let backend: Backend;
  let nginx: Nginx;
  let address: string;
  let envoyA: UpstreamTls;

  before(async function () {
    if (!nginxAvailable()) {
      const message =
        "nginx is not installed (apt-get install nginx-light): the real-TLS tests cannot run";
      if (process.env.CI === "true") throw new Error(message);
      console.warn(`\n  !!! SKIPPED: ${message}\n`);
      this.skip();
    }
    tlsA = new FakeTls();
    a = await runLeaf(LEAF_A, "leaf-a", tlsA);
    b = await runLeaf(LEAF_B, "leaf-b");
    observer = await runObserver(OBSERVER, stacksOf({ [STACK_A]: a, [STACK_B]: b }));
    envoyA = envoyUpstreamTls(observer, "leaf-a");
    backend = await startBackend();
    nginx = await startLeafNginx(a, backend.address);
    address = `127.0.0.1:${nginx.port}`;
  });

  after(async () => {
    await nginx?.stop();
    await backend?.close();
  });

  it("a valid client: Info and a Series stream succeed, with Envoy's settings for leaf-a", async () => {
    assert.equal(envoyA.serverName, "thanos.leaf-a.example.com");
    assert.deepEqual(await callInfo(address, envoyA), { ok: true, messages: 1 });
    assert.deepEqual(await callSeries(address, envoyA), { ok: true, messages: 3 });
    assert.deepEqual(backend.calls.slice(-2), ["/thanos.info.Info/Info", "/thanos.Store/Series"]);
  });

  it("no client certificate: refused before the backend", async () => {
    const before = backend.calls.length;
    const result = await callInfo(address, { serverName: envoyA.serverName, ca: envoyA.ca });
    assertRefusedByIngress(result);
    assert.equal(backend.calls.length, before);
  });

  it("leaf-b's client certificate at leaf-a: refused", async () => {
    const envoyB = envoyUpstreamTls(observer, "leaf-b");
    const before = backend.calls.length;
    const result = await callInfo(address, { ...envoyA, cert: envoyB.cert, key: envoyB.key });
    assertRefusedByIngress(result);
    assert.equal(backend.calls.length, before);
  });

  it("a client certificate from an unrelated CA: refused", async () => {
    const other = selfSignedCa("unrelated CA");
    const now = Date.now();
    const foreign = issueCertificate({
      caCertPem: other.certPem,
      caKeyPem: other.keyPem,
      commonName: "thanos-bridge-observer",
      allowedUses: ["digital_signature", "client_auth"],
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 3600_000),
    });
    const result = await callInfo(address, {
      ...envoyA,
      cert: foreign.certPem,
      key: foreign.keyPem,
    });
    assertRefusedByIngress(result);
  });

  it("an expired client certificate from leaf-a's own CA: refused", async () => {
    const now = Date.now();
    const expired = issueCertificate({
      caCertPem: a.bridge.caCert,
      caKeyPem: caKeyOf(a),
      commonName: "thanos-bridge-observer",
      allowedUses: ["digital_signature", "client_auth"],
      notBefore: new Date(now - 48 * 3600_000),
      notAfter: new Date(now - 24 * 3600_000),
    });
    assert.ok(
      new X509Certificate(expired.certPem).checkIssued(new X509Certificate(a.bridge.caCert)),
    );
    const result = await callInfo(address, {
      ...envoyA,
      cert: expired.certPem,
      key: expired.keyPem,
    });
    assertRefusedByIngress(result);
  });

  it("a wrong server name: the client refuses the server", async () => {
    const result = await callInfo(address, { ...envoyA, serverName: "thanos.leaf-b.example.net" });
    assert.ok(
      !result.ok &&
        result.code === grpc.status.UNAVAILABLE &&
        result.details.includes("ERR_TLS_CERT_ALTNAME_INVALID"),
      JSON.stringify(result),
    );
  });

  it("the server certificate presented as a client certificate: refused", async () => {
    const { secrets } = leafIngressObjects(a);
    const server = secrets["monitoring/thanos-bridge-server-tls"];
    const before = backend.calls.length;
    const result = await callInfo(address, {
      ...envoyA,
      cert: server["tls.crt"],
      key: server["tls.key"],
    });
    assertRefusedByIngress(result);
    assert.equal(backend.calls.length, before);
  });

  it("a gRPC path outside the allowlist: not routed", async () => {
    const before = backend.calls.length;
    const result = await callRules(address, envoyA);
    // nginx answers 404, which gRPC reports as UNIMPLEMENTED.
    assert.ok(!result.ok && result.code === grpc.status.UNIMPLEMENTED, JSON.stringify(result));
    assert.equal(backend.calls.length, before, "the backend must not see /thanos.Rules/Rules");
  });

  it("renews the server and client certificates (same CA) under load with zero failed calls", async () => {
    const servedBefore = await servedCertificate(nginx.port, envoyA.serverName);
    let settings = envoyA;
    const results: Promise<CallResult>[] = [];
    const total = 200;
    const spacingMs = 25;
    let renewed: Promise<void> | undefined;
    for (let i = 0; i < total; i++) {
      results.push(callInfo(address, settings, 10_000));
      if (i === total / 2) {
        renewed = (async () => {
          // Re-issue leaf-a's server and client certificates; its CA stays, as in Pulumi state.
          tlsA.forget((name) => /^leaf-a-(server|client)-(key|csr|cert)$/.test(name));
          const next = await runLeaf(LEAF_A, "leaf-a", tlsA);
          assert.equal(next.bridge.caCert, a.bridge.caCert);
          assert.notEqual(next.bridge.clientCert, a.bridge.clientCert);
          const objects = leafIngressObjects(next);
          await nginx.reload(objects.ingress, objects.secrets);
          // The observer's side: the new client certificate, through the same wiring.
          const nextObserver = await runObserver(
            OBSERVER,
            stacksOf({ [STACK_A]: next, [STACK_B]: b }),
          );
          settings = envoyUpstreamTls(nextObserver, "leaf-a");
        })();
      }
      await new Promise((resolve) => setTimeout(resolve, spacingMs));
    }
    await renewed;
    const outcomes = await Promise.all(results);
    const failed = outcomes.filter((r) => !r.ok);
    console.log(`      rotation: ${total} calls, ${failed.length} failed`);
    assert.deepEqual(failed, []);
    const servedAfter = await servedCertificate(nginx.port, envoyA.serverName);
    assert.notEqual(
      servedAfter.serialNumber,
      servedBefore.serialNumber,
      "nginx still serves the old certificate",
    );
    assert.notEqual(settings.cert, envoyA.cert, "the client never switched to its new certificate");
    assert.deepEqual(await callInfo(address, settings), { ok: true, messages: 1 });
  });
});
