import assert from "node:assert/strict";
import {
  CLIENT_KEY_OUTPUT,
  CONTRACT_VERSION,
  ContractError,
  distinctLeaves,
  parseLeafBridge,
  parseLeafClientKey,
} from "../components/common/contract";
import { LEAF_A, LEAF_B, LeafRun, runLeaf } from "./support/leaf";
import { unwrapSecrets } from "./support/mocks";

const STACK = "acme/thanos-bridge/leaf-a";

/** Parses both outputs as the observer does: the public part, then the key against it. */
function parseBoth(bridge: unknown, key: unknown): void {
  parseLeafClientKey(parseLeafBridge(STACK, bridge), key);
}

function rejects(bridge: unknown, key: unknown, message: string): void {
  assert.throws(
    () => parseBoth(bridge, key),
    (e: unknown) => {
      assert.ok(e instanceof ContractError, `expected a ContractError, got ${String(e)}`);
      assert.equal(e.message, message);
      return true;
    },
  );
}

describe("leaf→observer contract", () => {
  let a: LeafRun;
  let b: LeafRun;
  before(async () => {
    a = await runLeaf(LEAF_A, "leaf-a");
    b = await runLeaf(LEAF_B, "leaf-b");
  });

  const withField = (field: string, value: unknown): Record<string, unknown> => ({
    ...a.bridge,
    [field]: value,
  });

  it("accepts a leaf's real outputs and returns them typed", () => {
    const leaf = parseLeafBridge(STACK, a.bridge);
    assert.equal(leaf.stack, STACK);
    assert.equal(leaf.version, CONTRACT_VERSION);
    assert.equal(leaf.cluster, "leaf-a");
    assert.equal(leaf.endpoint, "thanos.leaf-a.example.com:443");
    assert.equal(leaf.host, "thanos.leaf-a.example.com");
    assert.equal(leaf.port, 443);
    assert.equal(leaf.serverName, "thanos.leaf-a.example.com");
    assert.equal(leaf.caCerts, a.bridge.caCerts);
    assert.equal(leaf.clientCert, a.bridge.clientCert);
    assert.equal(parseLeafClientKey(leaf, a.clientKey), a.clientKey);
    assert.ok(!("clientKey" in leaf), "the public part must not carry the key");
    assert.deepEqual(leaf.expiry, a.bridge.expiry);
  });

  it("says to run `pulumi up` when the stack has no outputs yet", () => {
    rejects(
      undefined,
      undefined,
      `stack ${STACK}: has no output 'bridge': run \`pulumi up\` on that stack first (is its role leaf?)`,
    );
    rejects(
      a.bridge,
      undefined,
      `stack ${STACK}: has output 'bridge' but not its secret output '${CLIENT_KEY_OUTPUT}': the engine drops secret outputs it cannot decrypt, so that stack's state most likely uses another passphrase or secrets provider; run this stack with the leaf's (the same PULUMI_CONFIG_PASSPHRASE, or \`pulumi stack change-secrets-provider\` on one of them)`,
    );
  });

  it("rejects a bridge that is not an object", () => {
    rejects(
      "thanos.leaf-a.example.com",
      a.clientKey,
      `stack ${STACK}: output 'bridge' must be an object, got the string "thanos.leaf-a.example.com"`,
    );
    rejects(
      [a.bridge],
      a.clientKey,
      `stack ${STACK}: output 'bridge' must be an object, got an array`,
    );
  });

  it("rejects a missing or unknown contract version, saying which side to upgrade", () => {
    const { version: _unused, ...unversioned } = a.bridge;
    void _unused;
    rejects(
      unversioned,
      a.clientKey,
      `stack ${STACK}: output 'bridge' has no 'version'; it was not written by thanos-bridge`,
    );
    rejects(
      withField("version", 3),
      a.clientKey,
      `stack ${STACK}: output 'bridge' has contract version 3, but this program reads version 2: upgrade thanos-bridge on the observer`,
    );
    rejects(
      withField("version", 1),
      a.clientKey,
      `stack ${STACK}: output 'bridge' has contract version 1, but this program reads version 2: run \`pulumi up\` on that stack with this release of thanos-bridge`,
    );
  });

  it("rejects malformed names and endpoints", () => {
    rejects(
      withField("cluster", "Leaf A"),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'cluster' is the string "Leaf A"; expected a DNS label`,
    );
    rejects(
      withField("serverName", 42),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'serverName' is a number; expected a fully qualified DNS name`,
    );
    rejects(
      withField("endpoint", "thanos.leaf-a.example.com"),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'endpoint' is the string "thanos.leaf-a.example.com"; expected host:port with a DNS name and a port from 1 to 65535`,
    );
    rejects(
      withField("endpoint", "thanos.leaf-a.example.com:0"),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'endpoint' is the string "thanos.leaf-a.example.com:0"; expected host:port with a DNS name and a port from 1 to 65535`,
    );
  });

  it("rejects an endpoint whose host is not the server name", () => {
    rejects(
      withField("endpoint", "lb.leaf-a.example.com:443"),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'endpoint' host "lb.leaf-a.example.com" differs from 'serverName' "thanos.leaf-a.example.com"; they must be the leaf's one hostname`,
    );
  });

  it("rejects certificates that are not PEM, not a CA, or not from the leaf's CA", () => {
    rejects(
      withField("caCerts", "not a certificate"),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'caCerts' must be a PEM bundle of CA certificates, got the string "not a certificate"`,
    );
    const truncated = a.bridge.caCerts.replace(/\n[A-Za-z0-9+/=]+\n-----END/, "\n-----END");
    assert.throws(
      () => parseBoth(withField("caCerts", truncated), a.clientKey),
      /output 'bridge' field 'caCerts' is not a valid X.509 certificate/,
    );
    rejects(
      withField("caCerts", a.bridge.clientCert),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'caCerts' holds a certificate that is not a CA`,
    );
    rejects(
      withField("caCerts", a.bridge.caCerts + a.bridge.clientCert),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'caCerts' holds a certificate that is not a CA`,
    );
    // leaf-b's CA did not issue leaf-a's client certificate.
    assert.throws(
      () => parseBoth(withField("caCerts", b.bridge.caCerts), a.clientKey),
      /^ContractError: stack acme\/thanos-bridge\/leaf-a: output 'bridge' field 'clientCert' was not issued by a CA of its 'caCerts' \(.*CN=thanos-bridge leaf-a CA.*\)$/s,
    );
    // A bundle is accepted when any of its CAs issued the client certificate, in either order.
    for (const bundle of [
      a.bridge.caCerts + b.bridge.caCerts,
      b.bridge.caCerts + a.bridge.caCerts,
    ]) {
      assert.equal(parseLeafBridge(STACK, withField("caCerts", bundle)).caCerts, bundle);
    }
  });

  it("rejects a client certificate without clientAuth", () => {
    // The server certificate is issued by the same CA but carries serverAuth only.
    const secret = unwrapSecrets(a.mocks.named("leaf-a-server-tls").inputs) as {
      stringData: Record<string, string>;
    };
    const stringData = secret.stringData;
    rejects(
      withField("clientCert", stringData["tls.crt"]),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'clientCert' lacks the clientAuth extended key usage`,
    );
  });

  it("rejects malformed expiry times", () => {
    rejects(
      withField("expiry", "2030-01-01"),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'expiry' must be an object, got the string "2030-01-01"`,
    );
    rejects(
      withField("expiry", { ...a.bridge.expiry, server: "next year" }),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'expiry.server' must be an object, got the string "next year"`,
    );
    rejects(
      withField("expiry", {
        ...a.bridge.expiry,
        client: { ...a.bridge.expiry.client, renewAfter: "soon" },
      }),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'expiry.client.renewAfter' is the string "soon"; expected an RFC 3339 time`,
    );
    rejects(
      withField("expiry", {
        ...a.bridge.expiry,
        ca: { notAfter: "2030-01-01T00:00:00Z", renewAfter: "2030-01-02T00:00:00Z" },
      }),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'expiry.ca.renewAfter' 2030-01-02T00:00:00Z is after its notAfter 2030-01-01T00:00:00Z`,
    );
  });

  it("carries the leaf's stream timeout, the default for a leaf that predates it", () => {
    assert.equal(a.bridge.streamTimeoutSeconds, 600);
    assert.equal(
      parseLeafBridge(STACK, withField("streamTimeoutSeconds", 86400)).streamTimeoutSeconds,
      86400,
    );
    const older: Record<string, unknown> = { ...a.bridge };
    delete older.streamTimeoutSeconds;
    assert.equal(parseLeafBridge(STACK, older).streamTimeoutSeconds, 600);
    rejects(
      withField("streamTimeoutSeconds", "600"),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'streamTimeoutSeconds' is the string "600"; expected a whole number of seconds, at least 1`,
    );
    rejects(
      withField("streamTimeoutSeconds", 0),
      a.clientKey,
      `stack ${STACK}: output 'bridge' field 'streamTimeoutSeconds' is 0; expected a whole number of seconds, at least 1`,
    );
  });

  it("rejects a client key that is not a key, or not the client certificate's key", () => {
    rejects(
      a.bridge,
      42,
      `stack ${STACK}: output '${CLIENT_KEY_OUTPUT}' must be a PEM private key, got a number`,
    );
    rejects(
      a.bridge,
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      `stack ${STACK}: output '${CLIENT_KEY_OUTPUT}' is not a PEM private key`,
    );
    rejects(
      a.bridge,
      b.clientKey,
      `stack ${STACK}: output '${CLIENT_KEY_OUTPUT}' does not match the public key of 'clientCert': the outputs are from different runs; run \`pulumi up\` on that stack again`,
    );
  });

  it("never echoes key material in an error", () => {
    const badKeys = [
      b.clientKey,
      a.clientKey.slice(0, 120),
      a.clientKey.replace("KEY-----", "KEY----"),
    ];
    for (const key of badKeys) {
      assert.throws(
        () => parseBoth(a.bridge, key),
        (e: unknown) => e instanceof ContractError && !/PRIVATE KEY|MI[GH]/.test(e.message),
      );
    }
  });

  it("rejects two leaves with the same cluster name or hostname, naming both stacks", () => {
    const leafA = parseLeafBridge("acme/thanos-bridge/leaf-a", a.bridge);
    const leafB = parseLeafBridge("acme/thanos-bridge/leaf-b", b.bridge);
    assert.deepEqual(
      distinctLeaves([leafB, leafA]).map((l) => l.cluster),
      ["leaf-a", "leaf-b"],
    );
    const sameCluster = parseLeafBridge("acme/thanos-bridge/leaf-b", {
      ...b.bridge,
      cluster: "leaf-a",
    });
    assert.throws(
      () => distinctLeaves([leafA, sameCluster]),
      (e: unknown) =>
        e instanceof ContractError &&
        /^stack acme\/thanos-bridge\/leaf-[ab]: has the same cluster name "leaf-a" as stack acme\/thanos-bridge\/leaf-[ab]; every leaf needs its own/.test(
          e.message,
        ),
    );
    const sameHost = parseLeafBridge("acme/thanos-bridge/leaf-b", {
      ...b.bridge,
      serverName: a.bridge.serverName,
      endpoint: a.bridge.endpoint,
    });
    assert.throws(
      () => distinctLeaves([leafA, sameHost]),
      /has the same hostname "thanos.leaf-a.example.com" as stack/,
    );
  });
});
