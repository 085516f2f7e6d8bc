import assert from "node:assert/strict";
import { LeafPkiInput, OBSERVER_COMMON_NAME, keySpec, leafPkiSpec } from "../components/certspecs";

const INPUT: LeafPkiInput = {
  clusterName: "leaf-a",
  hostname: "thanos.leaf-a.example.com",
  keyAlgorithm: "ECDSA-P256",
  caValidityHours: 43800,
  certValidityHours: 2160,
  renewBeforeHours: 720,
};

describe("leaf certificate specs", () => {
  const spec = leafPkiSpec(INPUT);

  it("makes the CA a CA that can sign certificates and nothing else", () => {
    assert.equal(spec.ca.isCaCertificate, true);
    assert.deepEqual([...spec.ca.allowedUses].sort(), ["cert_signing", "crl_signing"]);
    assert.deepEqual(spec.ca.dnsNames, []);
    assert.deepEqual(spec.ca.subject, {
      commonName: "thanos-bridge leaf-a CA",
      organization: "thanos-bridge",
      organizationalUnit: "leaf-a",
    });
  });

  it("gives the server certificate SAN = hostname and serverAuth only", () => {
    assert.equal(spec.server.isCaCertificate, false);
    assert.deepEqual(spec.server.dnsNames, ["thanos.leaf-a.example.com"]);
    assert.equal(spec.server.subject.commonName, "thanos.leaf-a.example.com");
    assert.deepEqual([...spec.server.allowedUses].sort(), ["digital_signature", "server_auth"]);
  });

  it("gives the observer's client certificate clientAuth only and an observer subject", () => {
    assert.equal(spec.client.isCaCertificate, false);
    assert.deepEqual(spec.client.dnsNames, []);
    assert.deepEqual(spec.client.subject, {
      commonName: OBSERVER_COMMON_NAME,
      organization: "thanos-bridge",
      organizationalUnit: "leaf-a",
    });
    assert.deepEqual([...spec.client.allowedUses].sort(), ["client_auth", "digital_signature"]);
  });

  it("adds key encipherment to an RSA server certificate only", () => {
    const rsa = leafPkiSpec({ ...INPUT, keyAlgorithm: "RSA-2048" });
    assert.deepEqual([...rsa.server.allowedUses].sort(), [
      "digital_signature",
      "key_encipherment",
      "server_auth",
    ]);
    assert.deepEqual([...rsa.client.allowedUses].sort(), ["client_auth", "digital_signature"]);
    assert.deepEqual([...rsa.ca.allowedUses].sort(), ["cert_signing", "crl_signing"]);
  });

  it("uses the configured validity and renewal windows", () => {
    assert.equal(spec.ca.validityPeriodHours, 43800);
    assert.equal(spec.server.validityPeriodHours, 2160);
    assert.equal(spec.client.validityPeriodHours, 2160);
    assert.equal(spec.server.earlyRenewalHours, 720);
    assert.equal(spec.client.earlyRenewalHours, 720);
    // The CA renews while it still has one certificate lifetime left, so a certificate issued
    // just before the CA renews still expires before the CA does.
    assert.equal(spec.ca.earlyRenewalHours, 2160);
  });

  it("maps every key algorithm to the tls provider's key arguments", () => {
    assert.deepEqual(keySpec("ECDSA-P256"), { algorithm: "ECDSA", ecdsaCurve: "P256" });
    assert.deepEqual(keySpec("ECDSA-P384"), { algorithm: "ECDSA", ecdsaCurve: "P384" });
    assert.deepEqual(keySpec("RSA-2048"), { algorithm: "RSA", rsaBits: 2048 });
    assert.deepEqual(keySpec("RSA-3072"), { algorithm: "RSA", rsaBits: 3072 });
    assert.deepEqual(keySpec("RSA-4096"), { algorithm: "RSA", rsaBits: 4096 });
    for (const cert of [spec.ca, spec.server, spec.client]) {
      assert.deepEqual(cert.key, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    }
  });
});
