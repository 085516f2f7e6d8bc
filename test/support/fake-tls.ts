// Test-side stand-in for the @pulumi/tls provider: produces real keys (node:crypto) and real
// certificates (Debian's openssl) from the inputs the program passes, so tests can parse and
// verify what a leaf exports. Results are cached by resource name and inputs, the way Pulumi
// state keeps them across runs of an unchanged program.
//
// What goes into a certificate follows the Terraform tls provider (hashicorp/terraform-provider-tls,
// internal/provider: common_cert.go `createCertificate`, resource_self_signed_cert.go and
// resource_locally_signed_cert.go `Create`) and what Go's crypto/x509 `CreateCertificate` makes of
// its template:
// - allowed_uses: each name sets a keyUsage bit or appends an extendedKeyUsage purpose; keyUsage is
//   marked critical and left out when no bit is set, extendedKeyUsage is not critical;
// - basicConstraints is always present and critical, CA:TRUE only for is_ca_certificate; a path
//   length is written only when max_path_length > 0 (0 and the default -1 both mean "none"), and a
//   non-CA certificate with a path length is an error;
// - a subject key identifier (SHA-1 of the public key bits) for a CA or with set_subject_key_id;
// - an authority key identifier: for a self-signed certificate only with set_authority_key_id
//   (and then it needs a subject key identifier); for a locally signed one Go copies the CA's
//   subject key identifier whenever the CA has one and the subject differs from the CA's;
// - a random serial below 2^128, notBefore = now, notAfter = notBefore + validity_period_hours;
// - a locally signed certificate takes the CSR's subject, DNS names, IP addresses and URIs;
// - the subjectAltName extension is critical only when the subject is empty;
// - the signature hash follows the signing key: SHA-384 for P-384, SHA-512 for P-521, else SHA-256;
// - ready_for_renewal is true once now >= validity_end_time - early_renewal_hours.
//
// Known differences from the provider: times are whole seconds in UTC (the provider keeps
// nanoseconds and its local offset); ready_for_renewal is computed on every create (the provider
// stores false on creation and flips it on the next refresh); the automatic authority key id
// compares openssl's text form of the names, not their encoding; several street addresses become
// separate name components; empty subject fields are left out; an Ed25519 CA's subject key id
// differs; SANs are read from `openssl req -text`; OpenSSH and fingerprint outputs are not made.

import { execFileSync } from "node:child_process";
import {
  KeyObject,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
} from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Inputs = Record<string, unknown>;
type Outputs = Record<string, unknown>;

export const TLS_TYPES = [
  "tls:index/privateKey:PrivateKey",
  "tls:index/selfSignedCert:SelfSignedCert",
  "tls:index/certRequest:CertRequest",
  "tls:index/locallySignedCert:LocallySignedCert",
] as const;

/** keyUsage bits (openssl names) of the tls provider's `allowed_uses` names. */
const KEY_USAGE: Readonly<Record<string, string>> = {
  digital_signature: "digitalSignature",
  content_commitment: "nonRepudiation",
  key_encipherment: "keyEncipherment",
  data_encipherment: "dataEncipherment",
  key_agreement: "keyAgreement",
  cert_signing: "keyCertSign",
  crl_signing: "cRLSign",
  encipher_only: "encipherOnly",
  decipher_only: "decipherOnly",
};

/** extendedKeyUsage purposes of the other `allowed_uses` names, as the OIDs Go writes. */
const EXT_KEY_USAGE: Readonly<Record<string, string>> = {
  any_extended: "2.5.29.37.0",
  server_auth: "1.3.6.1.5.5.7.3.1",
  client_auth: "1.3.6.1.5.5.7.3.2",
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

/** The certificate subject block of the tls resources (Pulumi's camelCase names). */
interface Subject {
  readonly commonName?: string;
  readonly organization?: string;
  readonly organizationalUnit?: string;
  readonly streetAddresses?: readonly string[];
  readonly locality?: string;
  readonly province?: string;
  readonly country?: string;
  readonly postalCode?: string;
  readonly serialNumber?: string;
  readonly emailAddress?: string;
}

interface Sans {
  readonly dns: readonly string[];
  readonly ip: readonly string[];
  readonly uri: readonly string[];
}

/** What the provider puts on the certificate template besides subject, SANs and key. */
interface Template {
  readonly allowedUses: readonly string[];
  readonly isCa: boolean;
  /** -1 (the default) or 0: no path length; > 0: that path length (CA only). */
  readonly maxPathLength: number;
  readonly setSubjectKeyId: boolean;
  /** Self-signed certificates only: the locally signed resource has no such input. */
  readonly setAuthorityKeyId: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

type Signing =
  | {
      readonly kind: "self";
      readonly keyPem: string;
      readonly subject: Subject;
      readonly sans: Sans;
    }
  | {
      readonly kind: "ca";
      readonly csrPem: string;
      readonly caCertPem: string;
      readonly caKeyPem: string;
    };

export type KeyChoice =
  { algorithm: "ECDSA"; curve: "P256" | "P384" } | { algorithm: "RSA"; bits: number };

interface KeyPems {
  readonly privateKeyPem: string;
  readonly privateKeyPemPkcs8: string;
  readonly publicKeyPem: string;
}

const CURVES: Readonly<Record<string, string>> = {
  P256: "prime256v1",
  P384: "secp384r1",
  P521: "secp521r1",
};

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * A key pair encoded as the provider encodes it: SEC1 "EC PRIVATE KEY" for ECDSA, PKCS#1
 * "RSA PRIVATE KEY" for RSA, PKCS#8 for Ed25519; plus PKCS#8 and the SPKI public key.
 */
function newKey(choice: { algorithm: string; curve?: string; bits?: number }): KeyPems {
  const pems = (privateKey: KeyObject, publicKey: KeyObject, type: "sec1" | "pkcs1" | "pkcs8") => ({
    privateKeyPem: privateKey.export({ type, format: "pem" }) as string,
    privateKeyPemPkcs8: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }) as string,
  });
  switch (choice.algorithm) {
    case "ECDSA": {
      // The provider's default curve is P224, which no TLS peer here accepts: fail on it.
      const name = choice.curve ?? "P224";
      const curve = CURVES[name];
      if (curve === undefined) throw new Error(`fake tls: unsupported ecdsaCurve ${name}`);
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      return pems(privateKey, publicKey, "sec1");
    }
    case "RSA": {
      const bits = choice.bits ?? 2048;
      if (!Number.isInteger(bits) || bits < 1024) {
        throw new Error(`fake tls: unsupported rsaBits ${bits}`);
      }
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
      return pems(privateKey, publicKey, "pkcs1");
    }
    case "ED25519": {
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      return pems(privateKey, publicKey, "pkcs8");
    }
    default:
      throw new Error(`fake tls: unsupported algorithm ${choice.algorithm}`);
  }
}

/** The provider's name for a key's algorithm (its `key_algorithm` outputs). */
function keyAlgorithm(keyPem: string): string {
  const type = createPrivateKey(keyPem).asymmetricKeyType;
  if (type === "ec") return "ECDSA";
  if (type === "rsa") return "RSA";
  if (type === "ed25519") return "ED25519";
  throw new Error(`fake tls: unsupported key type ${String(type)}`);
}

/** The `openssl -md` value matching Go's choice of signature hash for a signing key. */
function digestFor(keyPem: string): string {
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType === "ed25519") return "default";
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === "secp384r1") return "sha384";
  if (curve === "secp521r1") return "sha512";
  return "sha256";
}

// ---------------------------------------------------------------------------------------------
// openssl plumbing

function openssl(args: readonly string[], dir: string): string {
  return execFileSync("openssl", args, {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function withTempDir<T>(f: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "fake-tls-"));
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A value for the openssl config file, with its special characters escaped. */
function confValue(v: string): string {
  return v.replace(/[\\$#"']/g, (c) => `\\${c}`);
}

/** `-subj` for a subject, its attributes in the order Go's pkix.Name writes them. */
function subjectArg(subject: Subject): string {
  const parts: [string, string | undefined][] = [
    ["C", subject.country],
    ["ST", subject.province],
    ["L", subject.locality],
    ...(subject.streetAddresses ?? []).map((s): [string, string] => ["street", s]),
    ["postalCode", subject.postalCode],
    ["O", subject.organization],
    ["OU", subject.organizationalUnit],
    ["CN", subject.commonName],
    ["serialNumber", subject.serialNumber],
    ["emailAddress", subject.emailAddress],
  ];
  const escape = (v: string) => v.replace(/[/=\\+]/g, (c) => `\\${c}`);
  return (
    parts
      .filter((p): p is [string, string] => p[1] !== undefined && p[1] !== "")
      .map(([k, v]) => `/${k}=${escape(v)}`)
      .join("") || "/"
  );
}

function sanSection(sans: Sans): string {
  let n = 0;
  const line = (kind: string, value: string) => `${kind}.${++n} = ${confValue(value)}`;
  return [
    ...sans.dns.map((v) => line("DNS", v)),
    ...sans.ip.map((v) => line("IP", v)),
    ...sans.uri.map((v) => line("URI", v)),
  ].join("\n");
}

const noSans: Sans = { dns: [], ip: [], uri: [] };

const hasSans = (sans: Sans) => sans.dns.length + sans.ip.length + sans.uri.length > 0;

/** A minimal config for `openssl req` and `openssl ca`: no prompts, no defaults of its own. */
function config(extensions: string, sans: Sans, subjectEmpty: boolean): string {
  const dnFields = [
    "countryName",
    "stateOrProvinceName",
    "localityName",
    "streetAddress",
    "postalCode",
    "organizationName",
    "organizationalUnitName",
    "commonName",
    "serialNumber",
    "emailAddress",
  ];
  const sanLine = hasSans(sans)
    ? `subjectAltName = ${subjectEmpty ? "critical, " : ""}@fake_san\n`
    : "";
  return `[ca]
default_ca = fake_ca

[fake_ca]
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = fake_policy
preserve = yes
unique_subject = no
email_in_dn = yes
copy_extensions = none
# PrintableString where it can be, else UTF8String, as Go's encoding/asn1 does.
string_mask = MASK:0x2002
utf8 = yes

[fake_policy]
${dnFields.map((f) => `${f} = optional`).join("\n")}

[req]
distinguished_name = fake_dn
req_extensions = fake_req_ext
string_mask = MASK:0x2002
utf8 = yes

[fake_dn]

[fake_req_ext]
${sanLine}
[fake_ext]
${extensions}${sanLine}
[fake_san]
${sanSection(sans)}
`;
}

/** A CSR as the provider's cert request makes it: the subject and the SANs, nothing else. */
function certRequestPem(keyPem: string, subject: Subject, sans: Sans): string {
  for (const ip of sans.ip) {
    if (isIP(ip) === 0) throw new Error(`fake tls: invalid IP address ${JSON.stringify(ip)}`);
  }
  return withTempDir((dir) => {
    const subj = subjectArg(subject);
    writeFileSync(join(dir, "key.pem"), keyPem);
    writeFileSync(join(dir, "openssl.cnf"), config("", sans, subj === "/"));
    const args = ["req", "-config", "openssl.cnf", "-new", "-utf8", "-key", "key.pem"];
    const digest = digestFor(keyPem);
    // Ed25519 signs without a separate hash.
    if (digest !== "default") args.push(`-${digest}`);
    openssl([...args, "-subj", subj, "-out", "csr.pem"], dir);
    return readFileSync(join(dir, "csr.pem"), "utf8");
  });
}

/** Subject (RFC 2253 string, "" when empty) and the SANs Go copies (DNS, IP, URI) of a CSR. */
function inspectCsr(dir: string): { subject: string; sans: Sans } {
  const subject = openssl(
    ["req", "-in", "csr.pem", "-noout", "-subject", "-nameopt", "RFC2253"],
    dir,
  )
    .trim()
    .replace(/^subject=\s*/, "");
  const text = openssl(["req", "-in", "csr.pem", "-noout", "-text"], dir);
  const m = /X509v3 Subject Alternative Name:(?: critical)?\s*\n\s*(.+)/.exec(text);
  const entries = m === null ? [] : m[1].split(", ").map((s) => s.trim());
  const pick = (prefix: string) =>
    entries.filter((e) => e.startsWith(prefix)).map((e) => e.slice(prefix.length));
  return { subject, sans: { dns: pick("DNS:"), ip: pick("IP Address:"), uri: pick("URI:") } };
}

/** Subject (RFC 2253 string) of a certificate, and whether it has a subject key identifier. */
function inspectCa(dir: string): { subject: string; hasSki: boolean } {
  const out = openssl(
    [
      "x509",
      "-in",
      "ca.pem",
      "-noout",
      "-subject",
      "-nameopt",
      "RFC2253",
      "-ext",
      "subjectKeyIdentifier",
    ],
    dir,
  );
  const subject = (/^subject=\s*(.*)$/m.exec(out)?.[1] ?? "").trim();
  return { subject, hasSki: out.includes("Subject Key Identifier") };
}

/** openssl's -startdate/-enddate form: YYYYMMDDHHMMSSZ. */
function opensslTime(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
}

/** RFC 3339, seconds precision, UTC. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The extensions of the template, in the order Go writes them. */
function extensionLines(t: Template, ski: boolean, aki: "none" | "keyid" | "keyid:always"): string {
  for (const use of t.allowedUses) {
    if (!(use in KEY_USAGE) && !(use in EXT_KEY_USAGE)) {
      throw new Error(`fake tls: allowed use ${JSON.stringify(use)} is not a tls provider value`);
    }
  }
  const ku = [...new Set(t.allowedUses.filter((u) => u in KEY_USAGE).map((u) => KEY_USAGE[u]))];
  const eku = t.allowedUses.filter((u) => u in EXT_KEY_USAGE).map((u) => EXT_KEY_USAGE[u]);
  if (!Number.isInteger(t.maxPathLength) || t.maxPathLength < -1) {
    throw new Error(`fake tls: bad maxPathLength ${t.maxPathLength}`);
  }
  if (!t.isCa && t.maxPathLength > 0) {
    throw new Error("fake tls: only CAs are allowed to specify a max path length (Go's x509)");
  }
  const lines: string[] = [];
  if (ku.length > 0) lines.push(`keyUsage = critical, ${ku.join(", ")}`);
  if (eku.length > 0) lines.push(`extendedKeyUsage = ${eku.join(", ")}`);
  lines.push(
    `basicConstraints = critical, CA:${t.isCa ? "TRUE" : "FALSE"}` +
      (t.isCa && t.maxPathLength > 0 ? `, pathlen:${t.maxPathLength}` : ""),
  );
  // openssl 3 adds identifiers on its own unless told "none".
  lines.push(`subjectKeyIdentifier = ${ski ? "hash" : "none"}`);
  lines.push(`authorityKeyIdentifier = ${aki}`);
  return lines.join("\n") + "\n";
}

/** Signs a certificate from the template, either self-signed or by a CA from a CSR. */
function signCertificate(t: Template, signing: Signing): string {
  if (t.notAfter.getTime() < t.notBefore.getTime()) {
    throw new Error("fake tls: notAfter is before notBefore");
  }
  return withTempDir((dir) => {
    const ski = t.isCa || t.setSubjectKeyId;
    let subjectEmpty: boolean;
    let sans: Sans;
    let aki: "none" | "keyid" | "keyid:always";
    let signArgs: string[];
    if (signing.kind === "self") {
      const subj = subjectArg(signing.subject);
      subjectEmpty = subj === "/";
      sans = signing.sans;
      writeFileSync(join(dir, "csr.pem"), certRequestPem(signing.keyPem, signing.subject, noSans));
      writeFileSync(join(dir, "key.pem"), signing.keyPem);
      if (t.setAuthorityKeyId && !ski) {
        throw new Error(
          "fake tls: set_authority_key_id on a self-signed certificate needs a subject key id",
        );
      }
      aki = t.setAuthorityKeyId ? "keyid:always" : "none";
      signArgs = ["-selfsign", "-keyfile", "key.pem", "-md", digestFor(signing.keyPem)];
    } else {
      writeFileSync(join(dir, "csr.pem"), signing.csrPem);
      writeFileSync(join(dir, "ca.pem"), signing.caCertPem);
      writeFileSync(join(dir, "ca-key.pem"), signing.caKeyPem);
      const csr = inspectCsr(dir);
      const ca = inspectCa(dir);
      subjectEmpty = csr.subject === "";
      sans = csr.sans;
      aki = ca.hasSki && csr.subject !== ca.subject ? "keyid" : "none";
      signArgs = ["-cert", "ca.pem", "-keyfile", "ca-key.pem", "-md", digestFor(signing.caKeyPem)];
    }
    if (t.isCa && subjectEmpty) {
      throw new Error("fake tls: a CA certificate needs at least one subject attribute");
    }
    writeFileSync(
      join(dir, "openssl.cnf"),
      config(extensionLines(t, ski, aki), sans, subjectEmpty),
    );
    writeFileSync(join(dir, "index.txt"), "");
    // A random serial below 2^128, as the provider draws it (never 0).
    let serial = randomBytes(16);
    while (serial.every((b) => b === 0)) serial = randomBytes(16);
    writeFileSync(join(dir, "serial"), serial.toString("hex").toUpperCase() + "\n");
    openssl(
      [
        "ca",
        "-config",
        "openssl.cnf",
        "-batch",
        "-notext",
        "-utf8",
        "-in",
        "csr.pem",
        "-out",
        "cert.pem",
        "-extensions",
        "fake_ext",
        "-startdate",
        opensslTime(t.notBefore),
        "-enddate",
        opensslTime(t.notAfter),
        ...signArgs,
      ],
      dir,
    );
    return readFileSync(join(dir, "cert.pem"), "utf8");
  });
}

// ---------------------------------------------------------------------------------------------
// Inputs of the tls resources

function strings(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  const items: unknown[] = Array.isArray(v) ? v : [v];
  if (!Array.isArray(v) || !items.every((x): x is string => typeof x === "string")) {
    throw new Error(`fake tls: ${what} must be a list of strings`);
  }
  return items;
}

function hours(v: unknown, what: string, fallback?: number): number {
  const n = v === undefined || v === null ? fallback : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new Error(`fake tls: bad ${what} ${String(v)}`);
  }
  return n;
}

function subjectOf(v: unknown): Subject {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object") throw new Error("fake tls: subject must be an object");
  return v;
}

function sansOf(inputs: Inputs): Sans {
  return {
    dns: strings(inputs.dnsNames, "dnsNames"),
    ip: strings(inputs.ipAddresses, "ipAddresses"),
    uri: strings(inputs.uris, "uris"),
  };
}

/** notBefore = now (whole seconds, as the certificate holds it), notAfter = + the hours. */
function templateOf(inputs: Inputs, now: number): Template {
  const notBefore = new Date(Math.floor(now / 1000) * 1000);
  const period = hours(inputs.validityPeriodHours, "validityPeriodHours");
  return {
    allowedUses: strings(inputs.allowedUses, "allowedUses"),
    isCa: inputs.isCaCertificate === true,
    maxPathLength: typeof inputs.maxPathLength === "number" ? inputs.maxPathLength : -1,
    setSubjectKeyId: inputs.setSubjectKeyId === true,
    setAuthorityKeyId: inputs.setAuthorityKeyId === true,
    notBefore,
    notAfter: new Date(notBefore.getTime() + period * 3600_000),
  };
}

function certificateOutputs(certPem: string, t: Template): Outputs {
  return {
    certPem,
    validityStartTime: rfc3339(t.notBefore),
    validityEndTime: rfc3339(t.notAfter),
  };
}

/** The provider's rule: ready once now >= validity end - early renewal hours. */
export function readyForRenewal(
  validityEndTime: unknown,
  earlyRenewalHours: unknown,
  now: number = Date.now(),
): boolean {
  const end = Date.parse(String(validityEndTime));
  if (Number.isNaN(end))
    throw new Error(`fake tls: bad validityEndTime ${String(validityEndTime)}`);
  const early = hours(earlyRenewalHours, "earlyRenewalHours", 0);
  return now >= end - early * 3600_000;
}

export const CERTIFICATE_TYPES: readonly string[] = [
  "tls:index/selfSignedCert:SelfSignedCert",
  "tls:index/locallySignedCert:LocallySignedCert",
];

export class FakeTls {
  /** `now` is the clock certificates are issued by (milliseconds since the epoch). */
  constructor(private readonly now: () => number = Date.now) {}

  /** Pulumi state: outputs by (type, name, inputs), with the name kept for `forget`. */
  private readonly state = new Map<string, { readonly name: string; readonly outputs: Outputs }>();

  handles(type: string): boolean {
    return (TLS_TYPES as readonly string[]).includes(type);
  }

  create(type: string, name: string, inputs: Inputs): Outputs {
    const key = createHash("sha256")
      .update(JSON.stringify([type, name, inputs]))
      .digest("hex");
    let entry = this.state.get(key);
    if (entry === undefined) {
      entry = { name, outputs: { ...inputs, ...this.issue(type, inputs) } };
      this.state.set(key, entry);
    }
    if (!CERTIFICATE_TYPES.includes(type)) return entry.outputs;
    // Recomputed on every run, as the provider does when it refreshes the state.
    return {
      ...entry.outputs,
      readyForRenewal: readyForRenewal(
        entry.outputs.validityEndTime,
        inputs.earlyRenewalHours,
        this.now(),
      ),
    };
  }

  /** Drops the state of the resources whose name matches: the next `create` issues anew. */
  forget(predicate: (name: string) => boolean): void {
    for (const [key, entry] of this.state) {
      if (predicate(entry.name)) this.state.delete(key);
    }
  }

  /** The outputs a new resource of `type` gets for `inputs` (besides the inputs themselves). */
  issue(type: string, inputs: Inputs): Outputs {
    switch (type) {
      case "tls:index/privateKey:PrivateKey":
        return {
          ...newKey({
            algorithm: String(inputs.algorithm),
            curve: typeof inputs.ecdsaCurve === "string" ? inputs.ecdsaCurve : undefined,
            bits: typeof inputs.rsaBits === "number" ? inputs.rsaBits : undefined,
          }),
        };
      case "tls:index/certRequest:CertRequest": {
        const keyPem = String(inputs.privateKeyPem);
        return {
          certRequestPem: certRequestPem(keyPem, subjectOf(inputs.subject), sansOf(inputs)),
          keyAlgorithm: keyAlgorithm(keyPem),
        };
      }
      case "tls:index/selfSignedCert:SelfSignedCert": {
        const keyPem = String(inputs.privateKeyPem);
        const t = templateOf(inputs, this.now());
        const certPem = signCertificate(t, {
          kind: "self",
          keyPem,
          subject: subjectOf(inputs.subject),
          sans: sansOf(inputs),
        });
        return { ...certificateOutputs(certPem, t), keyAlgorithm: keyAlgorithm(keyPem) };
      }
      case "tls:index/locallySignedCert:LocallySignedCert": {
        const caKeyPem = String(inputs.caPrivateKeyPem);
        const t = { ...templateOf(inputs, this.now()), setAuthorityKeyId: false };
        const certPem = signCertificate(t, {
          kind: "ca",
          csrPem: String(inputs.certRequestPem),
          caCertPem: String(inputs.caCertPem),
          caKeyPem,
        });
        return { ...certificateOutputs(certPem, t), caKeyAlgorithm: keyAlgorithm(caKeyPem) };
      }
      default:
        throw new Error(`fake tls: unknown resource type ${type}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Certificates the program would never make, for tests (same mapping as above)

function keyOf(choice: KeyChoice | undefined): KeyPems {
  const c = choice ?? { algorithm: "ECDSA", curve: "P256" };
  return c.algorithm === "ECDSA"
    ? newKey({ algorithm: "ECDSA", curve: c.curve })
    : newKey({ algorithm: "RSA", bits: c.bits });
}

/**
 * A certificate signed by the given CA for a fresh key (ECDSA P-256 unless told otherwise), with
 * the given validity window, which may lie wholly in the past or the future. Like the program's
 * leaf certificates: not a CA, with a subject key identifier, issued through a CSR.
 */
export function issueCertificate(opts: {
  caCertPem: string;
  caKeyPem: string;
  commonName: string;
  dnsNames?: string[];
  allowedUses: string[];
  notBefore: Date;
  notAfter: Date;
  key?: KeyChoice;
}): { certPem: string; keyPem: string } {
  const key = keyOf(opts.key);
  const csrPem = certRequestPem(
    key.privateKeyPem,
    { commonName: opts.commonName },
    { dns: opts.dnsNames ?? [], ip: [], uri: [] },
  );
  const certPem = signCertificate(
    {
      allowedUses: opts.allowedUses,
      isCa: false,
      maxPathLength: -1,
      setSubjectKeyId: true,
      setAuthorityKeyId: false,
      notBefore: opts.notBefore,
      notAfter: opts.notAfter,
    },
    { kind: "ca", csrPem, caCertPem: opts.caCertPem, caKeyPem: opts.caKeyPem },
  );
  return { certPem, keyPem: key.privateKeyPem };
}

/**
 * A self-signed CA unrelated to anything the program made (cert_signing and crl_signing, subject
 * and authority key ids, valid from now for a year), with its key (ECDSA P-256 unless told).
 */
export function selfSignedCa(
  commonName: string,
  key?: KeyChoice,
): { certPem: string; keyPem: string } {
  const k = keyOf(key);
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  const certPem = signCertificate(
    {
      allowedUses: ["cert_signing", "crl_signing"],
      isCa: true,
      maxPathLength: -1,
      setSubjectKeyId: true,
      setAuthorityKeyId: true,
      notBefore,
      notAfter: new Date(notBefore.getTime() + 365 * 24 * 3600_000),
    },
    { kind: "self", keyPem: k.privateKeyPem, subject: { commonName }, sans: noSans },
  );
  return { certPem, keyPem: k.privateKeyPem };
}
