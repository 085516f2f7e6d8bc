// The key-compromise runbook (docs/KEY-COMPROMISE.md) on the mock runtime, with real TLS: a
// leaked client key, server key or CA key is made useless by raising the leaf's caEpoch and
// running the leaf, then the observer (one `npm run rotate`). The leaf's ingress (nginx, the
// ingress-nginx stand-in, rendered from the leaf's own objects) and the observer's TLS settings
// are the program's (invariants 2 and 3 of docs/ARCHITECTURE.md).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { splitPemBundle } from "../components/common/contract";
import { Backend, UpstreamTls, callInfo, startBackend } from "./support/grpc";
import { LEAF_A, LeafRun, STEADY_NOW, runLeaf } from "./support/leaf";
import { FakeState, unwrapSecrets } from "./support/mocks";
import { Nginx, startLeafNginx } from "./support/nginx";
import { nginxAvailable } from "./support/nginx-process";
import { OBSERVER, envoyUpstreamTls, runObserver, stacksOf } from "./support/observer";

const STACK_A = "acme/thanos-bridge/leaf-a";
const inCi = process.env.CI === "true";

const serial = (pem: string) => new X509Certificate(pem).serialNumber;
const cas = (run: LeafRun) => splitPemBundle(run.bridge.caCerts).map((p) => new X509Certificate(p));
const issuedBy = (pem: string, ca: X509Certificate) => {
  const cert = new X509Certificate(pem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
};

/** The leaf's server certificate and the client CA bundle its ingress verifies against. */
function ingressSecrets(run: LeafRun): { serverCert: string; clientCa: string } {
  const data = (name: string) =>
    (unwrapSecrets(run.mocks.named(name).inputs) as { stringData: Record<string, string> })
      .stringData;
  return {
    serverCert: data("leaf-a-server-tls")["tls.crt"],
    clientCa: data("leaf-a-client-ca")["ca.crt"],
  };
}

describe("key compromise: an emergency CA change (caEpoch) in two runs", function () {
  this.timeout(120_000);
  let earlier: LeafRun;
  let later: LeafRun;
  let oldObserver: UpstreamTls;
  let newObserver: UpstreamTls;
  let backend: Backend | undefined;
  const started: Nginx[] = [];

  before(async function () {
    const state = new FakeState();
    const observer = { ...OBSERVER, leaves: `["${STACK_A}"]` };
    earlier = await runLeaf(LEAF_A, "leaf-a", state);
    oldObserver = envoyUpstreamTls(
      await runObserver(observer, stacksOf({ [STACK_A]: earlier })),
      "leaf-a",
    );
    // Run 1: the leaf, with caEpoch raised. Run 2: the observer, reading its new outputs.
    // An hour on: the rotation clocks a new signer restarts take a new time, as in any real run.
    const anHourOn = new Date(STEADY_NOW.getTime() + 3_600_000);
    later = await runLeaf({ ...LEAF_A, caEpoch: "1" }, "leaf-a", state, anHourOn);
    newObserver = envoyUpstreamTls(
      await runObserver(observer, stacksOf({ [STACK_A]: later })),
      "leaf-a",
    );
    if (!nginxAvailable()) {
      const message = "nginx is not installed (apt-get install nginx-light): cannot run";
      if (inCi) throw new Error(message);
      console.warn(`\n  !!! SKIPPED: ${message}\n`);
      this.skip();
    }
    backend = await startBackend();
  });

  after(async () => {
    for (const nginx of started) await nginx.stop();
    await backend?.close();
  });

  async function ingress(run: LeafRun): Promise<string> {
    const nginx = await startLeafNginx(run, (backend as Backend).address);
    started.push(nginx);
    return `127.0.0.1:${nginx.port}`;
  }

  it("replaces every CA at once: the new bundle holds one new CA and none of the old", () => {
    const [oldCas, newCas] = [cas(earlier), cas(later)];
    assert.equal(newCas.length, 1);
    const oldKeys = oldCas.map((c) =>
      c.publicKey.export({ format: "der", type: "spki" }).toString("hex"),
    );
    const newKey = newCas[0].publicKey.export({ format: "der", type: "spki" }).toString("hex");
    assert.ok(!oldKeys.includes(newKey), "the new CA reuses an old CA's key");
    assert.match(newCas[0].subject, /CN=thanos-bridge leaf-a CA \d+ \(epoch 1\)/);
    // The ingress verifies clients against the new CA alone.
    assert.deepEqual(
      splitPemBundle(ingressSecrets(later).clientCa).map(serial),
      newCas.map((c) => c.serialNumber),
    );
  });

  it("keeps the CA resources' names of earlier releases at caEpoch 0, and names a new lineage apart", () => {
    const caNames = (run: LeafRun) =>
      run.mocks.resources
        .filter((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert")
        .map((r) => r.name);
    const generation = cas(earlier)[0].subject.match(/CA (\d+)/)?.[1];
    assert.deepEqual(caNames(earlier), [`leaf-a-ca-${generation}`]);
    assert.deepEqual(caNames(later), [`leaf-a-ca-e1-${generation}`]);
  });

  it("re-issues the server and client certificates and keys from the new CA in the same run", () => {
    const [oldCa, newCa] = [cas(earlier)[0], cas(later)[0]];
    for (const [what, pem, oldPem] of [
      ["client", later.bridge.clientCert, earlier.bridge.clientCert],
      ["server", ingressSecrets(later).serverCert, ingressSecrets(earlier).serverCert],
    ] as const) {
      assert.notEqual(serial(pem), serial(oldPem), `${what} certificate not re-issued`);
      assert.ok(issuedBy(pem, newCa), `${what} certificate not from the new CA`);
      assert.ok(!issuedBy(pem, oldCa), `${what} certificate still from the old CA`);
    }
    assert.notEqual(later.clientKey, earlier.clientKey, "the client key was kept");
  });

  it("a leaked client key or CA key is useless after run 1: the leaf's ingress refuses the old client certificate", async () => {
    const address = await ingress(later);
    // The old client certificate (and any an old CA key could sign) against the new ingress.
    const old = await callInfo(address, {
      ...newObserver,
      cert: oldObserver.cert,
      key: oldObserver.key,
    });
    assert.equal(old.ok, false, "the ingress accepted the old client certificate");
    // Until run 2 the observer still holds the old one: queries to this leaf fail in between.
    assert.equal((await callInfo(address, { ...oldObserver, ca: newObserver.ca })).ok, false);
    // After run 2: the observer's new credentials work.
    assert.deepEqual(await callInfo(address, newObserver), { ok: true, messages: 1 });
  });

  it("a leaked server key is useless after run 2: the observer no longer trusts the old server certificate", async () => {
    // Someone holding the old server key serves the old certificate for the leaf's hostname.
    const impostor = await ingress(earlier);
    assert.deepEqual(await callInfo(impostor, oldObserver), { ok: true, messages: 1 });
    const refused = await callInfo(impostor, newObserver);
    assert.equal(refused.ok, false, "the observer accepted the old server certificate");
  });

  it("leaves the observer holding the new client certificate and CA only", () => {
    assert.equal(serial(newObserver.cert as string), serial(later.bridge.clientCert));
    assert.deepEqual(
      splitPemBundle(newObserver.ca).map(serial),
      cas(later).map((c) => c.serialNumber),
    );
  });
});
