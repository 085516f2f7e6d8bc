import assert from "node:assert/strict";
import {
  CaSchedule,
  OBSERVER_COMMON_NAME,
  PkiSettings,
  caGenerationHours,
  caSchedule,
  keySpec,
  leafPkiSpec,
} from "../components/leaf/pki/certspecs";
import { caGenerationStart } from "./support/leaf";

const STEADY: CaSchedule = {
  phase: "steady",
  trusted: [15],
  signer: 15,
  nextChange: "2033-12-16T00:00:00.000Z",
};

const SETTINGS: PkiSettings = {
  keyAlgorithm: "ECDSA-P256",
  ca: { validityHours: 43800, renewBeforeHours: 8760 },
  server: { validityHours: 2160, renewBeforeHours: 720 },
  client: { validityHours: 1440, renewBeforeHours: 480 },
  caEpoch: 0,
};
const LEAF = { clusterName: "leaf-a", hostname: "thanos.leaf-a.example.com" };

describe("leaf certificate specs", () => {
  const spec = leafPkiSpec(SETTINGS, STEADY, LEAF);
  const [ca] = spec.cas;

  it("makes each CA a CA that can sign certificates and nothing else, named by generation", () => {
    assert.equal(spec.cas.length, 1);
    assert.equal(ca.generation, 15);
    assert.equal(ca.isCaCertificate, true);
    assert.deepEqual([...ca.allowedUses].sort(), ["cert_signing", "crl_signing"]);
    assert.deepEqual(ca.dnsNames, []);
    assert.deepEqual(ca.subject, {
      commonName: "thanos-bridge leaf-a CA 15",
      organization: "thanos-bridge",
      organizationalUnit: "leaf-a",
    });
  });

  it("declares every trusted generation, oldest first, and the schedule's signer", () => {
    const overlap = leafPkiSpec(
      SETTINGS,
      { phase: "introduced", trusted: [14, 15], signer: 14, nextChange: "x" },
      LEAF,
    );
    assert.deepEqual(
      overlap.cas.map((c) => [c.generation, c.subject.commonName]),
      [
        [14, "thanos-bridge leaf-a CA 14"],
        [15, "thanos-bridge leaf-a CA 15"],
      ],
    );
    assert.equal(overlap.signer, 14);
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
    const rsa = leafPkiSpec({ ...SETTINGS, keyAlgorithm: "RSA-2048" }, STEADY, LEAF);
    assert.deepEqual([...rsa.server.allowedUses].sort(), [
      "digital_signature",
      "key_encipherment",
      "server_auth",
    ]);
    assert.deepEqual([...rsa.client.allowedUses].sort(), ["client_auth", "digital_signature"]);
    assert.deepEqual([...rsa.cas[0].allowedUses].sort(), ["cert_signing", "crl_signing"]);
  });

  // The tls and time providers' names for these (and the CA's early renewal of 0) are checked on
  // the resources, in test/leaf.test.ts.
  it("uses each kind's validity and renewal window", () => {
    assert.equal(ca.validityHours, 43800);
    assert.equal(spec.server.validityHours, 2160);
    assert.equal(spec.server.renewBeforeHours, 720);
    assert.equal(spec.client.validityHours, 1440);
    assert.equal(spec.client.renewBeforeHours, 480);
  });

  it("maps every key algorithm to the tls provider's key arguments", () => {
    assert.deepEqual(keySpec("ECDSA-P256"), { algorithm: "ECDSA", ecdsaCurve: "P256" });
    assert.deepEqual(keySpec("ECDSA-P384"), { algorithm: "ECDSA", ecdsaCurve: "P384" });
    assert.deepEqual(keySpec("RSA-2048"), { algorithm: "RSA", rsaBits: 2048 });
    assert.deepEqual(keySpec("RSA-3072"), { algorithm: "RSA", rsaBits: 3072 });
    assert.deepEqual(keySpec("RSA-4096"), { algorithm: "RSA", rsaBits: 4096 });
    for (const cert of [ca, spec.server, spec.client]) {
      assert.deepEqual(cert.key, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    }
  });
});

describe("CA schedule", () => {
  const CA = { validityHours: 43800, renewBeforeHours: 8760 };
  const DAY = 24 * 3_600_000;
  const at = (generation: number, days: number) =>
    new Date(caGenerationStart(CA, generation).getTime() + days * DAY);

  it("starts a generation every validity minus renew-before hours, counted from the epoch", () => {
    assert.equal(caGenerationHours(CA), 35040);
    assert.equal(caGenerationStart(CA, 0).toISOString(), "1970-01-01T00:00:00.000Z");
    assert.equal(caGenerationStart(CA, 15).toISOString(), "2029-12-17T00:00:00.000Z");
  });

  it("walks through introduce, switch and retire, each half of renew-before long", () => {
    // renew-before is 365 days: the new CA is trusted for 182.5 days, then signs.
    assert.deepEqual(caSchedule(CA, at(15, 0)), {
      phase: "introduced",
      trusted: [14, 15],
      signer: 14,
      nextChange: "2030-06-17T12:00:00.000Z",
    });
    assert.deepEqual(caSchedule(CA, at(15, 182)), caSchedule(CA, at(15, 0)));
    assert.deepEqual(caSchedule(CA, at(15, 183)), {
      phase: "switched",
      trusted: [14, 15],
      signer: 15,
      nextChange: "2030-12-17T00:00:00.000Z",
    });
    assert.deepEqual(caSchedule(CA, at(15, 364)), caSchedule(CA, at(15, 183)));
    assert.deepEqual(caSchedule(CA, at(15, 365)), {
      phase: "steady",
      trusted: [15],
      signer: 15,
      nextChange: "2033-12-16T00:00:00.000Z",
    });
    assert.deepEqual(caSchedule(CA, at(15, 1459)), caSchedule(CA, at(15, 365)));
    assert.equal(caSchedule(CA, at(16, 0)).phase, "introduced");
    assert.deepEqual(caSchedule(CA, at(16, 0)).trusted, [15, 16]);
  });

  it("never retires a CA before its certificates are re-issued by the next (invariant 2)", () => {
    // Hour by hour over two generations: whatever signs is trusted, and a CA that signed in the
    // previous hour is still trusted now, so a change never strands the observer's certificate.
    let previous = caSchedule(CA, at(14, 0));
    for (let hour = 1; hour <= 2 * 35040; hour += 1) {
      const now = caSchedule(CA, new Date(at(14, 0).getTime() + hour * 3_600_000));
      assert.ok(now.trusted.includes(now.signer), `hour ${hour}`);
      assert.ok(now.trusted.includes(previous.signer), `hour ${hour}: previous signer retired`);
      // And a new CA is trusted before it signs: a signer switch is to a CA already trusted.
      if (now.signer !== previous.signer) {
        assert.ok(previous.trusted.includes(now.signer), `hour ${hour}: signs before trusted`);
      }
      previous = now;
    }
  });

  it("has one CA in generation 0, with no predecessor", () => {
    assert.deepEqual(caSchedule(CA, new Date(0)).trusted, [0]);
  });
});
