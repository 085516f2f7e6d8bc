// The mutual-TLS matrix, declared once and run against each leaf ingress the tests serve for
// real: nginx as ingress-nginx (test/tls.test.ts) and Traefik (test/real/traefik.test.ts). Two
// leaves, leaf-a and leaf-b as shipped (RSA-3072, thanos.Rules routed), behind an ingress each,
// and a client using exactly what the observer's Envoy config gives each leaf (invariants 2 and
// 3 of docs/ARCHITECTURE.md). Only how each ingress says no differs, which each test file states
// in its IngressAnswers; a case only one ingress has stays in its file.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { issueCertificate, selfSignedCa } from "./fake-tls";
import {
  Backend,
  CallResult,
  UpstreamTls,
  callInfo,
  callRules,
  callSeries,
  openConnection,
  servedCertificate,
} from "./grpc";
import { LEAF_A, LeafRun, intoGeneration, runLeaf, shippedLeafConfig } from "./leaf";
import { FakeState, unwrapSecrets } from "./mocks";
import { OBSERVER, envoyUpstreamTls, runObserver, stacksOf } from "./observer";

export const STACK_A = "acme/thanos-bridge/leaf-a";
export const STACK_B = "acme/thanos-bridge/leaf-b";

/** The two leaves of the matrix and the observer's Envoy settings for each. */
export interface MatrixLeaves {
  readonly a: LeafRun;
  readonly b: LeafRun;
  readonly envoyA: UpstreamTls;
  readonly envoyB: UpstreamTls;
}

/**
 * leaf-a (LEAF_A, in the stack state `stateA`, kept for later runs) and leaf-b as shipped, both
 * with `overrides`, and the observer's run over the two.
 */
export async function matrixLeaves(
  overrides: Readonly<Record<string, string>>,
  stateA: FakeState,
): Promise<MatrixLeaves> {
  const a = await runLeaf({ ...LEAF_A, ...overrides }, "leaf-a", stateA);
  const b = await runLeaf({ ...shippedLeafConfig("Pulumi.leaf-b.yaml"), ...overrides }, "leaf-b");
  const observer = await runObserver(OBSERVER, stacksOf({ [STACK_A]: a, [STACK_B]: b }));
  return {
    a,
    b,
    envoyA: envoyUpstreamTls(observer, "leaf-a"),
    envoyB: envoyUpstreamTls(observer, "leaf-b"),
  };
}

/** The CA key the leaf signed with (an input of its LocallySignedCert resources). */
function caKeyOf(run: LeafRun): string {
  const cert = unwrapSecrets(run.mocks.named(`${run.bridge.cluster}-client-cert`).inputs) as {
    caPrivateKeyPem: string;
  };
  return cert.caPrivateKeyPem;
}

/** The leaf's server certificate and key, as its Secret holds them. */
export function serverTls(run: LeafRun): { cert: string; key: string } {
  const data = (
    unwrapSecrets(run.mocks.named(`${run.bridge.cluster}-server-tls`).inputs) as {
      stringData: Record<string, string>;
    }
  ).stringData;
  return { cert: data["tls.crt"], key: data["tls.key"] };
}

/** A client certificate for the observer's name from a CA no leaf knows. */
export function foreignClient(): { certPem: string; keyPem: string } {
  const other = selfSignedCa("unrelated CA");
  const now = Date.now();
  return issueCertificate({
    caCertPem: other.certPem,
    caKeyPem: other.keyPem,
    commonName: "thanos-bridge-observer",
    allowedUses: ["digital_signature", "client_auth"],
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 3600_000),
  });
}

/** How an ingress (one in front of one leaf, on 127.0.0.1:`port`) says no. */
export interface IngressAnswers<I extends { readonly port: number }> {
  readonly name: string;
  /**
   * Calls `call`, then checks `ingress` refused it for its client certificate, logging
   * `logged`, and the backend (its `calls`) saw nothing.
   */
  readonly refused: (
    ingress: I,
    backend: { readonly calls: readonly string[] },
    call: () => Promise<CallResult>,
    logged: RegExp,
  ) => Promise<void>;
  /** What it logs for a client certificate that is missing, unknown, expired, or not a client's. */
  readonly logged: {
    readonly noCertificate: RegExp;
    readonly unknownCa: RegExp;
    readonly expired: RegExp;
    readonly purpose: RegExp;
  };
  /** The subject of the certificate it serves for a name no route has. */
  readonly defaultCertificate: RegExp;
  /** Its answer to a request whose :authority is not the name the handshake gave (SNI). */
  readonly misdirected: { readonly code: grpc.status; readonly details: RegExp };
}

/**
 * Declares the matrix's tests in the current mocha suite, against the ingresses in front of
 * leaf-a and leaf-b and the backend behind both. `bench` is called as each test runs, so the
 * suite's `before` hook can start them.
 */
export function mtlsMatrix<I extends { readonly port: number }>(
  answers: IngressAnswers<I>,
  bench: () => MatrixLeaves & { readonly ingressA: I; readonly ingressB: I; backend: Backend },
): void {
  /** The bench as the test finds it, with each leaf's address and a refusal at each. */
  const now = () => {
    const { ingressA, ingressB, backend, ...leaves } = bench();
    return {
      ...leaves,
      backend,
      portA: ingressA.port,
      addressA: `127.0.0.1:${ingressA.port}`,
      addressB: `127.0.0.1:${ingressB.port}`,
      refused: (leaf: "a" | "b", call: () => Promise<CallResult>, logged: RegExp) =>
        answers.refused(leaf === "a" ? ingressA : ingressB, backend, call, logged),
    };
  };

  it("a valid client: Info and a Series stream succeed at each leaf, with Envoy's settings", async () => {
    const { b, envoyA, envoyB, addressA, addressB, backend } = now();
    assert.deepEqual(
      [envoyA.serverName, envoyA.authority],
      ["thanos.leaf-a.example.com", "thanos.leaf-a.example.com"],
    );
    assert.deepEqual(await callInfo(addressA, envoyA), { ok: true, messages: 1 });
    assert.deepEqual(await callSeries(addressA, envoyA), { ok: true, messages: 3 });
    assert.deepEqual(backend.calls.slice(-2), ["/thanos.info.Info/Info", "/thanos.Store/Series"]);
    // leaf-b: RSA-3072 certificates, and thanos.Rules on its allowlist.
    assert.match(new X509Certificate(b.bridge.caCerts).publicKey.asymmetricKeyType ?? "", /^rsa$/);
    assert.deepEqual(await callInfo(addressB, envoyB), { ok: true, messages: 1 });
    assert.deepEqual(await callRules(addressB, envoyB), { ok: true, messages: 1 });
  });

  it("serves the leaf's server certificate for its hostname", async () => {
    const { a, envoyA, portA } = now();
    const served = await servedCertificate(portA, envoyA.serverName);
    assert.equal(served.fingerprint256, new X509Certificate(serverTls(a).cert).fingerprint256);
  });

  it("no client certificate: refused", async () => {
    const { envoyA, addressA, refused } = now();
    await refused(
      "a",
      () => callInfo(addressA, { serverName: envoyA.serverName, ca: envoyA.ca }),
      answers.logged.noCertificate,
    );
  });

  it("leaf-b's client certificate at leaf-a, and leaf-a's at leaf-b: refused", async () => {
    const { envoyA, envoyB, addressA, addressB, refused } = now();
    await refused(
      "a",
      () => callInfo(addressA, { ...envoyA, cert: envoyB.cert, key: envoyB.key }),
      answers.logged.unknownCa,
    );
    await refused(
      "b",
      () => callInfo(addressB, { ...envoyB, cert: envoyA.cert, key: envoyA.key }),
      answers.logged.unknownCa,
    );
  });

  it("a client certificate from an unrelated CA: refused", async () => {
    const { envoyA, addressA, refused } = now();
    const foreign = foreignClient();
    await refused(
      "a",
      () => callInfo(addressA, { ...envoyA, cert: foreign.certPem, key: foreign.keyPem }),
      answers.logged.unknownCa,
    );
  });

  it("an expired client certificate from leaf-a's own CA: refused", async () => {
    const { a, envoyA, addressA, refused } = now();
    const expired = issueCertificate({
      caCertPem: a.bridge.caCerts,
      caKeyPem: caKeyOf(a),
      commonName: "thanos-bridge-observer",
      allowedUses: ["digital_signature", "client_auth"],
      notBefore: new Date(Date.now() - 48 * 3600_000),
      notAfter: new Date(Date.now() - 24 * 3600_000),
    });
    assert.ok(
      new X509Certificate(expired.certPem).checkIssued(new X509Certificate(a.bridge.caCerts)),
    );
    await refused(
      "a",
      () => callInfo(addressA, { ...envoyA, cert: expired.certPem, key: expired.keyPem }),
      answers.logged.expired,
    );
  });

  it("the server certificate presented as a client certificate: refused", async () => {
    const { a, envoyA, addressA, refused } = now();
    const { cert, key } = serverTls(a);
    await refused("a", () => callInfo(addressA, { ...envoyA, cert, key }), answers.logged.purpose);
  });

  it("a wrong server name: the client refuses the server", async () => {
    const { envoyA, portA, addressA, backend } = now();
    const before = backend.calls.length;
    // Another name gets the ingress's default certificate, which leaf-a's CA did not sign.
    const served = await servedCertificate(portA, "thanos.leaf-b.example.net");
    assert.match(served.subject, answers.defaultCertificate);
    const result = await callInfo(addressA, { ...envoyA, serverName: "thanos.leaf-b.example.net" });
    assert.ok(
      !result.ok &&
        result.code === grpc.status.UNAVAILABLE &&
        result.details.startsWith("No connection established"),
      JSON.stringify(result),
    );
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
    const { envoyA, addressA, backend } = now();
    const before = backend.calls.length;
    const result = await callRules(addressA, envoyA);
    // The ingress answers 404, which gRPC reports as UNIMPLEMENTED.
    assert.ok(
      !result.ok && result.code === grpc.status.UNIMPLEMENTED && result.details.includes("404"),
      JSON.stringify(result),
    );
    assert.equal(backend.calls.length, before, "the backend must not see /thanos.Rules/Rules");
  });

  it("Querier's alias as :authority (no rewrite in Envoy): not routed", async () => {
    const { envoyA, addressA, backend } = now();
    const before = backend.calls.length;
    const result = await callInfo(addressA, {
      ...envoyA,
      authority: "leaf-a.thanos-bridge.internal:10000",
    });
    const { code, details } = answers.misdirected;
    assert.ok(
      !result.ok && result.code === code && details.test(result.details),
      JSON.stringify(result),
    );
    assert.equal(backend.calls.length, before);
  });
}

/**
 * leaf-a over a CA change with `config`, each state as the rotation runner leaves it (steady,
 * introduced, switched, retired), and the credentials the observer's Envoy takes from each run
 * (beside leaf-b's run `b`). Certificates valid for a year, so only the CA schedule re-issues
 * them between these runs.
 */
export async function caChangeRuns(
  config: Readonly<Record<string, string>>,
  b: LeafRun,
): Promise<{ leaves: LeafRun[]; observers: UpstreamTls[] }> {
  const state = new FakeState();
  const leaves: LeafRun[] = [];
  const observers: UpstreamTls[] = [];
  for (const day of [-1, 1, 183, 366]) {
    const leaf = await runLeaf(
      { ...config, serverValidityHours: "8760", clientValidityHours: "8760" },
      "leaf-a",
      state,
      intoGeneration(16, day),
    );
    const observer = await runObserver(OBSERVER, stacksOf({ [STACK_A]: leaf, [STACK_B]: b }));
    leaves.push(leaf);
    observers.push(envoyUpstreamTls(observer, "leaf-a"));
  }
  assert.notEqual(leaves[3].bridge.caCerts, leaves[0].bridge.caCerts, "the CA did not change");
  return { leaves, observers };
}

/**
 * Calls leaf-a's `ingress` through the CA change of caChangeRuns, run by run: the leaf's run
 * first (`applyLeaf(step)` gives the ingress that state and resolves once it serves it), then
 * the observer's (the client takes the credentials Envoy would load), with calls every 25 ms and
 * a connection, as Envoy's pool holds it, carrying a stream across each step. Checks that no
 * call failed, that the old credentials work between the leaf's run and the observer's, and
 * that the retired state takes the new ones and refuses the old CA's client certificate.
 */
export async function callsThroughCaChange<I extends { readonly port: number }>(
  answers: IngressAnswers<I>,
  ingress: I,
  backend: Backend,
  observers: readonly UpstreamTls[],
  applyLeaf: (step: number) => Promise<void>,
): Promise<void> {
  const address = `127.0.0.1:${ingress.port}`;
  let settings = observers[0];
  const outcomes: Promise<CallResult>[] = [];
  for (let step = 1; step < observers.length; step++) {
    // Opened with the credentials of the moment, it carries a stream across the leaf's run (and
    // reconnects with those credentials).
    const connection = openConnection(address, settings);
    outcomes.push(connection.series(40, 100));
    for (let i = 0; i < 90; i++) {
      outcomes.push(i % 2 === 0 ? callInfo(address, settings, 10_000) : connection.info());
      if (i === 30) {
        await applyLeaf(step);
        const ok = await callInfo(address, settings);
        assert.deepEqual(ok, { ok: true, messages: 1 }, `step ${step}`);
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
    `      CA change through ${answers.name}: ${results.length} calls over 3 runs (introduce, ` +
      `switch, retire), ${failed.length} failed`,
  );
  assert.deepEqual(failed, []);
  const last = observers[observers.length - 1];
  assert.deepEqual(await callInfo(address, last), { ok: true, messages: 1 });
  // Without the overlap it would fail: the retired state refuses the old CA's client certificate,
  // once the ingress has the new bundle (one may load it a moment later: poll, then insist).
  const old = { ...last, cert: observers[0].cert, key: observers[0].key };
  const deadline = Date.now() + 15_000;
  while ((await callInfo(address, old)).ok && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  await answers.refused(ingress, backend, () => callInfo(address, old), answers.logged.unknownCa);
}
