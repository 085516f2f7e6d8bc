// FakeTls on its own: the certificates it makes must carry what the Terraform tls provider (Go's
// crypto/x509) would put in them, since other tests trust them as stand-ins for the real thing.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { FakeTls, TLS_TYPES, issueCertificate, selfSignedCa } from "./support/fake-tls";

const KEY = "tls:index/privateKey:PrivateKey";
const SELF = "tls:index/selfSignedCert:SelfSignedCert";
const CSR = "tls:index/certRequest:CertRequest";
const SIGNED = "tls:index/locallySignedCert:LocallySignedCert";

type Outputs = Record<string, unknown>;

interface Extension {
  readonly critical: boolean;
  readonly value: string;
}

/** The named X.509v3 extensions of a certificate, as `openssl x509 -ext` prints them. */
function extensions(pem: string, names: string): Map<string, Extension> {
  const text = execFileSync("openssl", ["x509", "-noout", "-ext", names], {
    input: pem,
    encoding: "utf8",
    stdio: ["pipe", "pipe", "ignore"],
  });
  const found = new Map<string, Extension>();
  let current: { name: string; critical: boolean; lines: string[] } | undefined;
  const flush = () => {
    if (current !== undefined) {
      found.set(current.name, { critical: current.critical, value: current.lines.join("\n") });
    }
  };
  for (const line of text.split("\n")) {
    const header = /^X509v3 (.+?):( critical)?\s*$/.exec(line);
    if (header !== null) {
      flush();
      current = { name: header[1], critical: header[2] !== undefined, lines: [] };
    } else if (current !== undefined && line.trim() !== "") {
      current.lines.push(line.trim());
    }
  }
  flush();
  return found;
}

function extension(pem: string, name: string, opensslName: string): Extension | undefined {
  return extensions(pem, opensslName).get(name);
}

const keyUsage = (pem: string) => extension(pem, "Key Usage", "keyUsage");
const basicConstraints = (pem: string) => extension(pem, "Basic Constraints", "basicConstraints");
const ski = (pem: string) =>
  extension(pem, "Subject Key Identifier", "subjectKeyIdentifier")?.value;
const aki = (pem: string) =>
  extension(pem, "Authority Key Identifier", "authorityKeyIdentifier")?.value;

function keyUsageNames(pem: string): string[] {
  const ku = keyUsage(pem);
  return ku === undefined ? [] : ku.value.split(", ").sort();
}

/** Extended key usage OIDs (node reports them as `keyUsage`). */
function ekus(pem: string): string[] {
  return [...(new X509Certificate(pem).keyUsage ?? [])].sort();
}

function text(pem: string): string {
  return execFileSync("openssl", ["x509", "-noout", "-text"], { input: pem, encoding: "utf8" });
}

function pem(outputs: Outputs, field: string): string {
  const v = outputs[field];
  assert.equal(typeof v, "string", `${field} is not a string`);
  return v as string;
}

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** A leaf's PKI as components/leaf/pki/index.ts declares it: a CA, then a CSR signed by it. */
class Pki {
  readonly caKey: Outputs;
  readonly ca: Outputs;

  constructor(
    readonly tls: FakeTls,
    readonly prefix: string,
    key: Outputs = { algorithm: "ECDSA", ecdsaCurve: "P256" },
    caExtra: Outputs = {},
  ) {
    this.caKey = tls.create(KEY, `${prefix}-ca-key`, key);
    this.ca = tls.create(SELF, `${prefix}-ca`, {
      privateKeyPem: this.caKey.privateKeyPem,
      subject: {
        commonName: `thanos-bridge ${prefix} CA`,
        organization: "thanos-bridge",
        organizationalUnit: prefix,
      },
      isCaCertificate: true,
      allowedUses: ["cert_signing", "crl_signing"],
      validityPeriodHours: 8760,
      earlyRenewalHours: 720,
      setSubjectKeyId: true,
      setAuthorityKeyId: true,
      ...caExtra,
    });
  }

  issue(
    part: string,
    opts: {
      commonName?: string;
      dnsNames?: string[];
      ipAddresses?: string[];
      uris?: string[];
      allowedUses: string[];
      validityPeriodHours?: number;
      earlyRenewalHours?: number;
      key?: Outputs;
      subject?: Outputs;
      extra?: Outputs;
    },
  ): { key: Outputs; csr: Outputs; cert: Outputs } {
    const key = this.tls.create(
      KEY,
      `${this.prefix}-${part}-key`,
      opts.key ?? { algorithm: "ECDSA", ecdsaCurve: "P256" },
    );
    const csr = this.tls.create(CSR, `${this.prefix}-${part}-csr`, {
      privateKeyPem: key.privateKeyPem,
      subject: opts.subject ?? {
        commonName: opts.commonName ?? `${part}.example.net`,
        organization: "thanos-bridge",
        organizationalUnit: this.prefix,
      },
      dnsNames: opts.dnsNames ?? [],
      ...(opts.ipAddresses !== undefined ? { ipAddresses: opts.ipAddresses } : {}),
      ...(opts.uris !== undefined ? { uris: opts.uris } : {}),
    });
    const cert = this.tls.create(SIGNED, `${this.prefix}-${part}-cert`, {
      certRequestPem: csr.certRequestPem,
      caCertPem: this.ca.certPem,
      caPrivateKeyPem: this.caKey.privateKeyPem,
      isCaCertificate: false,
      allowedUses: opts.allowedUses,
      validityPeriodHours: opts.validityPeriodHours ?? 2160,
      earlyRenewalHours: opts.earlyRenewalHours ?? 720,
      setSubjectKeyId: true,
      ...opts.extra,
    });
    return { key, csr, cert };
  }
}

describe("FakeTls", function () {
  // RSA 3072 key generation takes a moment.
  this.timeout(60_000);

  const tls = new FakeTls();
  let pki: Pki;

  before(() => {
    pki = new Pki(tls, "leaf-x");
  });

  it("handles exactly the four tls resource types", () => {
    for (const type of TLS_TYPES) assert.ok(tls.handles(type), type);
    assert.equal(tls.handles("kubernetes:core/v1:Secret"), false);
    assert.equal(tls.handles("tls:index/getCertificate:getCertificate"), false);
  });

  describe("allowed_uses", () => {
    it("client_auth only: clientAuth and no serverAuth", () => {
      const { cert } = pki.issue("client", {
        commonName: "thanos-bridge-observer",
        allowedUses: ["digital_signature", "client_auth"],
      });
      assert.deepEqual(ekus(pem(cert, "certPem")), [CLIENT_AUTH]);
    });

    it("server_auth only: serverAuth and no clientAuth", () => {
      const { cert } = pki.issue("server", {
        dnsNames: ["thanos.leaf-x.example.net"],
        allowedUses: ["digital_signature", "server_auth"],
      });
      assert.deepEqual(ekus(pem(cert, "certPem")), [SERVER_AUTH]);
    });

    it("every extended key usage name maps to the OID Go writes", () => {
      const expected: Record<string, string> = {
        any_extended: "2.5.29.37.0",
        server_auth: SERVER_AUTH,
        client_auth: CLIENT_AUTH,
        code_signing: "1.3.6.1.5.5.7.3.3",
        email_protection: "1.3.6.1.5.5.7.3.4",
        ipsec_end_system: "1.3.6.1.5.5.7.3.5",
        ipsec_tunnel: "1.3.6.1.5.5.7.3.6",
        ipsec_user: "1.3.6.1.5.5.7.3.7",
        timestamping: "1.3.6.1.5.5.7.3.8",
        ocsp_signing: "1.3.6.1.5.5.7.3.9",
        microsoft_server_gated_crypto: "1.3.6.1.4.1.311.10.3.3",
        netscape_server_gated_crypto: "2.16.840.1.113730.4.1",
        microsoft_commercial_code_signing: "1.3.6.1.4.1.311.2.1.22",
        microsoft_kernel_code_signing: "1.3.6.1.4.1.311.61.1.1",
      };
      const { cert } = pki.issue("all-eku", { allowedUses: Object.keys(expected) });
      const p = pem(cert, "certPem");
      assert.deepEqual(ekus(p), Object.values(expected).sort());
      assert.equal(extension(p, "Extended Key Usage", "extendedKeyUsage")?.critical, false);
      // Only extended usages asked: no keyUsage extension at all (Go omits a zero KeyUsage).
      assert.equal(keyUsage(p), undefined);
    });

    it("keyUsage bits are exactly the asked ones, in a critical extension", () => {
      const cases: [string[], string[]][] = [
        [["digital_signature"], ["Digital Signature"]],
        [
          ["digital_signature", "key_encipherment", "server_auth"],
          ["Digital Signature", "Key Encipherment"],
        ],
        [
          [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "cert_signing",
            "crl_signing",
            "encipher_only",
            "decipher_only",
          ],
          [
            "Digital Signature",
            "Non Repudiation",
            "Key Encipherment",
            "Data Encipherment",
            "Key Agreement",
            "Certificate Sign",
            "CRL Sign",
            "Encipher Only",
            "Decipher Only",
          ],
        ],
        [["key_agreement", "client_auth"], ["Key Agreement"]],
      ];
      cases.forEach(([uses, names], i) => {
        const { cert } = pki.issue(`ku-${i}`, { allowedUses: uses });
        const p = pem(cert, "certPem");
        assert.deepEqual(keyUsageNames(p), [...names].sort(), uses.join(","));
        assert.equal(keyUsage(p)?.critical, true, uses.join(","));
      });
    });

    it("an unknown allowed use is refused", () => {
      assert.throws(
        () => pki.issue("bad-use", { allowedUses: ["digital_signature", "serverAuth"] }),
        /allowed use "serverAuth"/,
      );
      assert.throws(
        () =>
          issueCertificate({
            caCertPem: pem(pki.ca, "certPem"),
            caKeyPem: pem(pki.caKey, "privateKeyPem"),
            commonName: "x",
            allowedUses: ["tls_client"],
            notBefore: new Date(),
            notAfter: new Date(Date.now() + 3600_000),
          }),
        /allowed use "tls_client"/,
      );
    });
  });

  describe("basic constraints and key identifiers", () => {
    it("a CA: critical CA:TRUE, keyCertSign and cRLSign, a subject key id", () => {
      const p = pem(pki.ca, "certPem");
      assert.deepEqual(basicConstraints(p), { critical: true, value: "CA:TRUE" });
      assert.deepEqual(keyUsageNames(p), ["CRL Sign", "Certificate Sign"]);
      assert.equal(keyUsage(p)?.critical, true);
      assert.equal(new X509Certificate(p).ca, true);
      assert.match(ski(p) ?? "", /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    });

    it("a CA asked for cert_signing only has no cRLSign", () => {
      const only = new Pki(new FakeTls(), "only-certsign", undefined, {
        allowedUses: ["cert_signing"],
      });
      assert.deepEqual(keyUsageNames(pem(only.ca, "certPem")), ["Certificate Sign"]);
    });

    it("a self-signed CA with set_authority_key_id: its authority key id is its subject key id", () => {
      const p = pem(pki.ca, "certPem");
      assert.equal(aki(p), ski(p));
    });

    it("a self-signed certificate without set_authority_key_id has no authority key id", () => {
      const t = new FakeTls();
      const other = new Pki(t, "no-aki", undefined, { setAuthorityKeyId: false });
      const p = pem(other.ca, "certPem");
      assert.equal(aki(p), undefined);
      // A CA always gets a subject key id, even without set_subject_key_id.
      const bare = new Pki(t, "no-ski", undefined, {
        setSubjectKeyId: false,
        setAuthorityKeyId: false,
      });
      assert.notEqual(ski(pem(bare.ca, "certPem")), undefined);
    });

    it("a non-CA certificate: critical CA:FALSE", () => {
      const { cert } = pki.issue("server", {
        dnsNames: ["thanos.leaf-x.example.net"],
        allowedUses: ["digital_signature", "server_auth"],
      });
      const p = pem(cert, "certPem");
      assert.deepEqual(basicConstraints(p), { critical: true, value: "CA:FALSE" });
      assert.equal(new X509Certificate(p).ca, false);
    });

    it("a non-CA certificate has a subject key id only with set_subject_key_id", () => {
      const withSki = pki.issue("client", {
        commonName: "thanos-bridge-observer",
        allowedUses: ["digital_signature", "client_auth"],
      });
      assert.notEqual(ski(pem(withSki.cert, "certPem")), undefined);
      const without = pki.issue("no-ski", {
        allowedUses: ["digital_signature", "client_auth"],
        extra: { setSubjectKeyId: false },
      });
      assert.equal(ski(pem(without.cert, "certPem")), undefined);
    });

    it("max_path_length: written for a CA above 0, refused on a non-CA", () => {
      const t = new FakeTls();
      const two = new Pki(t, "path-2", undefined, { maxPathLength: 2 });
      assert.deepEqual(basicConstraints(pem(two.ca, "certPem")), {
        critical: true,
        value: "CA:TRUE, pathlen:2",
      });
      // Go leaves MaxPathLen 0 without MaxPathLenZero out: no path length at all.
      const zero = new Pki(t, "path-0", undefined, { maxPathLength: 0 });
      assert.equal(basicConstraints(pem(zero.ca, "certPem"))?.value, "CA:TRUE");
      assert.throws(
        () =>
          two.issue("leaf", { allowedUses: ["digital_signature"], extra: { maxPathLength: 1 } }),
        /only CAs/,
      );
    });
  });

  describe("subjects and SANs", () => {
    it("a locally signed certificate has the CSR's subject and SANs (DNS, IP, URI)", () => {
      const { cert } = pki.issue("sans", {
        commonName: "thanos.leaf-x.example.net",
        dnsNames: ["thanos.leaf-x.example.net", "alt.leaf-x.example.net"],
        ipAddresses: ["192.0.2.10", "2001:db8::1"],
        uris: ["spiffe://leaf-x/thanos"],
        allowedUses: ["digital_signature", "server_auth"],
      });
      const x = new X509Certificate(pem(cert, "certPem"));
      assert.equal(
        x.subjectAltName,
        "DNS:thanos.leaf-x.example.net, DNS:alt.leaf-x.example.net, " +
          "IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:1, URI:spiffe://leaf-x/thanos",
      );
      assert.equal(x.subject, "O=thanos-bridge\nOU=leaf-x\nCN=thanos.leaf-x.example.net");
      assert.equal(x.issuer, new X509Certificate(pem(pki.ca, "certPem")).subject);
      assert.equal(
        extension(x.toString(), "Subject Alternative Name", "subjectAltName")?.critical,
        false,
      );
    });

    it("no dns_names: no subjectAltName extension", () => {
      const { cert } = pki.issue("client", {
        commonName: "thanos-bridge-observer",
        allowedUses: ["digital_signature", "client_auth"],
      });
      assert.equal(new X509Certificate(pem(cert, "certPem")).subjectAltName, undefined);
    });

    it("a self-signed certificate has its dns_names and ip_addresses", () => {
      const t = new FakeTls();
      const key = t.create(KEY, "ss-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
      const cert = t.create(SELF, "ss", {
        privateKeyPem: key.privateKeyPem,
        subject: { commonName: "self" },
        dnsNames: ["self.example.net"],
        ipAddresses: ["10.1.2.3"],
        allowedUses: ["digital_signature", "server_auth"],
        validityPeriodHours: 24,
      });
      const x = new X509Certificate(pem(cert, "certPem"));
      assert.equal(x.subjectAltName, "DNS:self.example.net, IP Address:10.1.2.3");
      assert.equal(x.ca, false);
      assert.equal(x.issuer, x.subject);
      assert.ok(x.verify(x.publicKey));
      // Without cert_signing it may not sign even itself: no keyCertSign, no self-issue check.
      assert.equal(x.checkIssued(x), false);
    });

    it("an empty subject makes the subjectAltName critical, as Go does", () => {
      const { cert } = pki.issue("no-subject", {
        subject: {},
        dnsNames: ["anon.example.net"],
        allowedUses: ["digital_signature", "server_auth"],
      });
      const p = pem(cert, "certPem");
      assert.ok(["", undefined].includes(new X509Certificate(p).subject));
      assert.equal(extension(p, "Subject Alternative Name", "subjectAltName")?.critical, true);
    });

    it("a CA without a subject is refused", () => {
      assert.throws(() => new Pki(new FakeTls(), "anon", undefined, { subject: {} }), /subject/);
    });
  });

  describe("chain", () => {
    it("a locally signed certificate chains to its CA, with the CA's subject key id as AKI", () => {
      const { cert } = pki.issue("server", {
        dnsNames: ["thanos.leaf-x.example.net"],
        allowedUses: ["digital_signature", "server_auth"],
      });
      const leaf = new X509Certificate(pem(cert, "certPem"));
      const ca = new X509Certificate(pem(pki.ca, "certPem"));
      assert.ok(leaf.checkIssued(ca));
      assert.ok(leaf.verify(ca.publicKey));
      const caSki = ski(ca.toString());
      assert.notEqual(caSki, undefined);
      assert.equal(aki(leaf.toString()), caSki);
    });

    it("does not chain to another CA", () => {
      const { cert } = pki.issue("server", {
        dnsNames: ["thanos.leaf-x.example.net"],
        allowedUses: ["digital_signature", "server_auth"],
      });
      const other = new Pki(new FakeTls(), "leaf-y");
      const leaf = new X509Certificate(pem(cert, "certPem"));
      const ca = new X509Certificate(pem(other.ca, "certPem"));
      assert.equal(leaf.checkIssued(ca), false);
      assert.equal(leaf.verify(ca.publicKey), false);
      assert.notEqual(aki(leaf.toString()), ski(ca.toString()));
    });

    it("serial numbers are random, positive and at most 128 bits", () => {
      const a = pki.issue("serial-a", { allowedUses: ["digital_signature"] });
      const b = pki.issue("serial-b", { allowedUses: ["digital_signature"] });
      const sa = new X509Certificate(pem(a.cert, "certPem")).serialNumber;
      const sb = new X509Certificate(pem(b.cert, "certPem")).serialNumber;
      assert.notEqual(sa, sb);
      for (const s of [sa, sb]) {
        const n = BigInt(`0x${s}`);
        assert.ok(n > 0n && n < 1n << 128n, s);
      }
    });

    it("signs with the hash Go picks for the CA key (SHA-384 for P-384)", () => {
      const p384 = new Pki(new FakeTls(), "p384", { algorithm: "ECDSA", ecdsaCurve: "P384" });
      const { cert } = p384.issue("leaf", { allowedUses: ["digital_signature"] });
      assert.match(text(pem(cert, "certPem")), /Signature Algorithm: ecdsa-with-SHA384/);
      assert.match(text(pem(pki.ca, "certPem")), /Signature Algorithm: ecdsa-with-SHA256/);
    });
  });

  describe("keys", () => {
    const cases: [Outputs, string, Record<string, unknown>][] = [
      [{ algorithm: "ECDSA", ecdsaCurve: "P256" }, "EC PRIVATE KEY", { namedCurve: "prime256v1" }],
      [{ algorithm: "ECDSA", ecdsaCurve: "P384" }, "EC PRIVATE KEY", { namedCurve: "secp384r1" }],
      [{ algorithm: "RSA", rsaBits: 2048 }, "RSA PRIVATE KEY", { modulusLength: 2048 }],
      [{ algorithm: "RSA", rsaBits: 3072 }, "RSA PRIVATE KEY", { modulusLength: 3072 }],
    ];
    for (const [inputs, pemType, details] of cases) {
      it(`${JSON.stringify(inputs)}: ${pemType}, ${JSON.stringify(details)}`, () => {
        const key = new FakeTls().create(KEY, "k", inputs);
        const privateKeyPem = pem(key, "privateKeyPem");
        assert.ok(privateKeyPem.startsWith(`-----BEGIN ${pemType}-----\n`), privateKeyPem);
        assert.ok(pem(key, "privateKeyPemPkcs8").startsWith("-----BEGIN PRIVATE KEY-----\n"));
        assert.ok(pem(key, "publicKeyPem").startsWith("-----BEGIN PUBLIC KEY-----\n"));
        const k = createPrivateKey(privateKeyPem);
        for (const [field, value] of Object.entries(details)) {
          assert.equal(k.asymmetricKeyDetails?.[field as "namedCurve"], value, field);
        }
        // All three encodings are the same key.
        const spki = createPublicKey(k).export({ type: "spki", format: "pem" });
        assert.equal(spki, pem(key, "publicKeyPem"));
        assert.equal(
          createPublicKey(createPrivateKey(pem(key, "privateKeyPemPkcs8"))).export({
            type: "spki",
            format: "pem",
          }),
          spki,
        );
      });
    }

    it("a certificate carries its CSR's key", () => {
      const { key, cert } = pki.issue("rsa", {
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
        key: { algorithm: "RSA", rsaBits: 2048 },
      });
      const x = new X509Certificate(pem(cert, "certPem"));
      assert.ok(x.checkPrivateKey(createPrivateKey(pem(key, "privateKeyPem"))));
      assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    });

    it("an ECDSA key without a curve (the provider's P224 default) is refused", () => {
      assert.throws(() => new FakeTls().create(KEY, "p224", { algorithm: "ECDSA" }), /P224/);
    });
  });

  describe("validity and renewal", () => {
    const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

    it("validity ends validityPeriodHours after it starts, which is now", () => {
      const { cert } = pki.issue("validity", {
        allowedUses: ["digital_signature"],
        validityPeriodHours: 37,
      });
      const start = pem(cert, "validityStartTime");
      const end = pem(cert, "validityEndTime");
      assert.match(start, RFC3339);
      assert.match(end, RFC3339);
      const x = new X509Certificate(pem(cert, "certPem"));
      assert.equal(Date.parse(x.validFrom), Date.parse(start));
      assert.equal(Date.parse(x.validTo), Date.parse(end));
      assert.ok(Math.abs(Date.parse(end) - Date.parse(start) - 37 * 3600_000) < 60_000);
      assert.ok(Math.abs(Date.parse(start) - Date.now()) < 60_000);
    });

    it("hours, not whole days: a 1-hour self-signed certificate", () => {
      const t = new FakeTls();
      const key = t.create(KEY, "short-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
      const cert = t.create(SELF, "short", {
        privateKeyPem: key.privateKeyPem,
        subject: { commonName: "short" },
        allowedUses: ["digital_signature"],
        validityPeriodHours: 1,
      });
      const x = new X509Certificate(pem(cert, "certPem"));
      assert.ok(Math.abs(Date.parse(x.validTo) - Date.parse(x.validFrom) - 3600_000) < 60_000);
    });

    it("readyForRenewal: false for a fresh certificate", () => {
      const { cert } = pki.issue("fresh", {
        allowedUses: ["digital_signature"],
        validityPeriodHours: 48,
        earlyRenewalHours: 24,
      });
      assert.equal(cert.readyForRenewal, false);
      assert.equal(pki.ca.readyForRenewal, false);
    });

    it("readyForRenewal: true once earlyRenewalHours reaches validityPeriodHours", () => {
      for (const early of [48, 100]) {
        const { cert } = pki.issue(`due-${early}`, {
          allowedUses: ["digital_signature"],
          validityPeriodHours: 48,
          earlyRenewalHours: early,
        });
        assert.equal(cert.readyForRenewal, true, `early ${early}`);
      }
      const due = new Pki(new FakeTls(), "due-ca", undefined, {
        validityPeriodHours: 10,
        earlyRenewalHours: 10,
      });
      assert.equal(due.ca.readyForRenewal, true);
    });
  });

  describe("state", () => {
    it("the same name and inputs give the same key and certificate", () => {
      const t = new FakeTls();
      const first = new Pki(t, "state").issue("server", { allowedUses: ["server_auth"] });
      const again = new Pki(t, "state").issue("server", { allowedUses: ["server_auth"] });
      assert.equal(again.key.privateKeyPem, first.key.privateKeyPem);
      assert.equal(again.csr.certRequestPem, first.csr.certRequestPem);
      assert.equal(again.cert.certPem, first.cert.certPem);
    });

    it("other inputs or another name issue anew", () => {
      const t = new FakeTls();
      const p = new Pki(t, "state");
      const first = p.issue("server", { allowedUses: ["server_auth"] });
      const changed = p.issue("server", { allowedUses: ["server_auth", "client_auth"] });
      assert.equal(changed.key.privateKeyPem, first.key.privateKeyPem);
      assert.notEqual(changed.cert.certPem, first.cert.certPem);
      const renamed = p.issue("server2", { allowedUses: ["server_auth"] });
      assert.notEqual(renamed.key.privateKeyPem, first.key.privateKeyPem);
    });

    it("forget re-issues the matching resources and keeps the others", () => {
      const t = new FakeTls();
      const before = new Pki(t, "leaf-f");
      const first = before.issue("client", { allowedUses: ["client_auth"] });
      t.forget((name) => /^leaf-f-client-(key|csr|cert)$/.test(name));
      const after = new Pki(t, "leaf-f");
      const second = after.issue("client", { allowedUses: ["client_auth"] });
      assert.equal(after.caKey.privateKeyPem, before.caKey.privateKeyPem);
      assert.equal(after.ca.certPem, before.ca.certPem);
      assert.notEqual(second.key.privateKeyPem, first.key.privateKeyPem);
      assert.notEqual(second.cert.certPem, first.cert.certPem);
      // The re-issued certificate still chains to the kept CA.
      const x = new X509Certificate(pem(second.cert, "certPem"));
      assert.ok(x.checkIssued(new X509Certificate(pem(after.ca, "certPem"))));
    });
  });
});

describe("issueCertificate and selfSignedCa", function () {
  this.timeout(60_000);

  it("an expired client certificate from a given CA", () => {
    const ca = selfSignedCa("test CA");
    const now = Date.now();
    const expired = issueCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      commonName: "thanos-bridge-observer",
      allowedUses: ["digital_signature", "client_auth"],
      notBefore: new Date(now - 48 * 3600_000),
      notAfter: new Date(now - 24 * 3600_000),
    });
    const x = new X509Certificate(expired.certPem);
    assert.ok(Date.parse(x.validTo) < now);
    assert.ok(Math.abs(Date.parse(x.validTo) - (now - 24 * 3600_000)) < 2_000);
    assert.ok(Math.abs(Date.parse(x.validFrom) - (now - 48 * 3600_000)) < 2_000);
    assert.equal(x.subject, "CN=thanos-bridge-observer");
    assert.deepEqual(ekus(expired.certPem), [CLIENT_AUTH]);
    assert.deepEqual(keyUsageNames(expired.certPem), ["Digital Signature"]);
    assert.deepEqual(basicConstraints(expired.certPem), { critical: true, value: "CA:FALSE" });
    const caX = new X509Certificate(ca.certPem);
    assert.ok(x.checkIssued(caX));
    assert.ok(x.verify(caX.publicKey));
    assert.equal(aki(expired.certPem), ski(ca.certPem));
    assert.ok(expired.keyPem.startsWith("-----BEGIN EC PRIVATE KEY-----\n"));
    assert.ok(x.checkPrivateKey(createPrivateKey(expired.keyPem)));
  });

  it("dnsNames and an RSA key when asked", () => {
    const ca = selfSignedCa("rsa CA", { algorithm: "RSA", bits: 2048 });
    const now = Date.now();
    const cert = issueCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      commonName: "srv",
      dnsNames: ["srv.example.net"],
      allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
      notBefore: new Date(now),
      notAfter: new Date(now + 3600_000),
      key: { algorithm: "RSA", bits: 3072 },
    });
    const x = new X509Certificate(cert.certPem);
    assert.equal(x.subjectAltName, "DNS:srv.example.net");
    assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
    assert.ok(cert.keyPem.startsWith("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert.ok(x.checkIssued(new X509Certificate(ca.certPem)));
  });

  it("selfSignedCa: a CA of its own, unrelated to another", () => {
    const a = selfSignedCa("CA a");
    const b = selfSignedCa("CA b", { algorithm: "ECDSA", curve: "P384" });
    const xa = new X509Certificate(a.certPem);
    const xb = new X509Certificate(b.certPem);
    assert.equal(xa.ca, true);
    assert.equal(xa.subject, "CN=CA a");
    assert.ok(xa.checkIssued(xa));
    assert.equal(xa.checkIssued(xb), false);
    assert.deepEqual(basicConstraints(a.certPem), { critical: true, value: "CA:TRUE" });
    assert.deepEqual(keyUsageNames(a.certPem), ["CRL Sign", "Certificate Sign"]);
    assert.equal(createPrivateKey(b.keyPem).asymmetricKeyDetails?.namedCurve, "secp384r1");
    assert.ok(Date.parse(xa.validTo) > Date.now());
  });

  it("a window that ends before it starts is refused", () => {
    const ca = selfSignedCa("CA");
    assert.throws(
      () =>
        issueCertificate({
          caCertPem: ca.certPem,
          caKeyPem: ca.keyPem,
          commonName: "x",
          allowedUses: ["client_auth"],
          notBefore: new Date(),
          notAfter: new Date(Date.now() - 3600_000),
        }),
      /notAfter/,
    );
  });
});
