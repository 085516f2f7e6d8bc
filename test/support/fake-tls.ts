// Test-side stand-in for the @pulumi/tls provider: produces real keys (node:crypto) and real
// certificates (Debian's openssl) from the inputs the program passes, so tests can parse and
// verify what a leaf exports. Results are cached by resource name and inputs, the way Pulumi
// state keeps them across runs of an unchanged program.

import { execFileSync } from "node:child_process";
import { X509Certificate, createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/** keyUsage bits and extendedKeyUsage purposes of the tls provider's `allowed_uses` names. */
const KEY_USAGE: Record<string, string> = {
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
const EXT_KEY_USAGE: Record<string, string> = {
  server_auth: "serverAuth",
  client_auth: "clientAuth",
  code_signing: "codeSigning",
  email_protection: "emailProtection",
  timestamping: "timeStamping",
  ocsp_signing: "OCSPSigning",
};

function openssl(args: string[], dir: string): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function subjectArg(subject: unknown): string {
  const s = (subject ?? {}) as Record<string, string | undefined>;
  const parts: [string, string | undefined][] = [
    ["O", s.organization],
    ["OU", s.organizationalUnit],
    ["CN", s.commonName],
  ];
  const escape = (v: string) => v.replace(/[/=\\]/g, (c) => `\\${c}`);
  return (
    parts
      .filter(([, v]) => v !== undefined && v !== "")
      .map(([k, v]) => `/${k}=${escape(v as string)}`)
      .join("") || "/"
  );
}

function extensions(inputs: Inputs, sans: readonly string[]): string {
  const uses = (inputs.allowedUses as string[] | undefined) ?? [];
  for (const use of uses) {
    if (!(use in KEY_USAGE) && !(use in EXT_KEY_USAGE)) {
      throw new Error(`fake tls: allowed use ${JSON.stringify(use)} is not a tls provider value`);
    }
  }
  const ku = uses.filter((u) => u in KEY_USAGE).map((u) => KEY_USAGE[u]);
  const eku = uses.filter((u) => u in EXT_KEY_USAGE).map((u) => EXT_KEY_USAGE[u]);
  const lines = [
    `basicConstraints = critical, CA:${inputs.isCaCertificate === true ? "TRUE" : "FALSE"}`,
    "subjectKeyIdentifier = hash",
  ];
  if (ku.length > 0) lines.push(`keyUsage = critical, ${ku.join(", ")}`);
  if (eku.length > 0) lines.push(`extendedKeyUsage = ${eku.join(", ")}`);
  if (sans.length > 0) lines.push(`subjectAltName = ${sans.map((n) => `DNS:${n}`).join(", ")}`);
  return lines.join("\n") + "\n";
}

function validity(certPem: string): Outputs {
  const cert = new X509Certificate(certPem);
  const rfc3339 = (d: string) => new Date(d).toISOString().replace(/\.000Z$/, "Z");
  return {
    certPem,
    validityStartTime: rfc3339(cert.validFrom),
    validityEndTime: rfc3339(cert.validTo),
    readyForRenewal: false,
  };
}

export class FakeTls {
  private readonly state = new Map<string, Outputs>();

  handles(type: string): boolean {
    return (TLS_TYPES as readonly string[]).includes(type);
  }

  create(type: string, name: string, inputs: Inputs): Outputs {
    const key = createHash("sha256")
      .update(JSON.stringify([type, name, inputs]))
      .digest("hex");
    let outputs = this.state.get(key);
    if (outputs === undefined) {
      outputs = { ...inputs, ...this.issue(type, inputs) };
      this.state.set(key, outputs);
    }
    return outputs;
  }

  private issue(type: string, inputs: Inputs): Outputs {
    if (type === "tls:index/privateKey:PrivateKey") return this.privateKey(inputs);
    const dir = mkdtempSync(join(tmpdir(), "fake-tls-"));
    try {
      switch (type) {
        case "tls:index/certRequest:CertRequest": {
          writeFileSync(join(dir, "key.pem"), String(inputs.privateKeyPem));
          const sans = (inputs.dnsNames as string[] | undefined) ?? [];
          const args = [
            "req",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            subjectArg(inputs.subject),
            "-out",
            "csr.pem",
          ];
          if (sans.length > 0)
            args.push("-addext", `subjectAltName=${sans.map((n) => `DNS:${n}`).join(",")}`);
          openssl(args, dir);
          return { certRequestPem: readFileSync(join(dir, "csr.pem"), "utf8") };
        }
        case "tls:index/selfSignedCert:SelfSignedCert": {
          writeFileSync(join(dir, "key.pem"), String(inputs.privateKeyPem));
          writeFileSync(
            join(dir, "ext.cnf"),
            extensions(inputs, (inputs.dnsNames as string[]) ?? []),
          );
          // A CSR first, then self-sign it with the extension file, as openssl 3.0 allows.
          openssl(
            [
              "req",
              "-new",
              "-key",
              "key.pem",
              "-subj",
              subjectArg(inputs.subject),
              "-out",
              "csr.pem",
            ],
            dir,
          );
          openssl(
            [
              "x509",
              "-req",
              "-in",
              "csr.pem",
              "-key",
              "key.pem",
              "-days",
              days(inputs),
              "-extfile",
              "ext.cnf",
              "-set_serial",
              serial(),
              "-out",
              "cert.pem",
            ],
            dir,
          );
          return validity(readFileSync(join(dir, "cert.pem"), "utf8"));
        }
        case "tls:index/locallySignedCert:LocallySignedCert": {
          writeFileSync(join(dir, "csr.pem"), String(inputs.certRequestPem));
          writeFileSync(join(dir, "ca.pem"), String(inputs.caCertPem));
          writeFileSync(join(dir, "ca-key.pem"), String(inputs.caPrivateKeyPem));
          const csrSans = sansOfCsr(dir);
          writeFileSync(
            join(dir, "ext.cnf"),
            extensions(inputs, csrSans) + "authorityKeyIdentifier = keyid\n",
          );
          openssl(
            [
              "x509",
              "-req",
              "-in",
              "csr.pem",
              "-CA",
              "ca.pem",
              "-CAkey",
              "ca-key.pem",
              "-days",
              days(inputs),
              "-extfile",
              "ext.cnf",
              "-set_serial",
              serial(),
              "-out",
              "cert.pem",
            ],
            dir,
          );
          return validity(readFileSync(join(dir, "cert.pem"), "utf8"));
        }
        default:
          throw new Error(`fake tls: unknown resource type ${type}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private privateKey(inputs: Inputs): Outputs {
    const algorithm = inputs.algorithm;
    if (algorithm === "ECDSA") {
      const curves: Record<string, string> = {
        P256: "prime256v1",
        P384: "secp384r1",
        P521: "secp521r1",
      };
      // The provider's default curve is P224, which no TLS peer here accepts: fail on it.
      const name = typeof inputs.ecdsaCurve === "string" ? inputs.ecdsaCurve : "P224";
      const curve = curves[name];
      if (curve === undefined) throw new Error(`fake tls: unsupported ecdsaCurve ${name}`);
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      return {
        privateKeyPem: privateKey.export({ type: "sec1", format: "pem" }),
        privateKeyPemPkcs8: privateKey.export({ type: "pkcs8", format: "pem" }),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }),
      };
    }
    if (algorithm === "RSA") {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", {
        modulusLength: Number(inputs.rsaBits ?? 2048),
      });
      return {
        privateKeyPem: privateKey.export({ type: "pkcs1", format: "pem" }),
        privateKeyPemPkcs8: privateKey.export({ type: "pkcs8", format: "pem" }),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }),
      };
    }
    throw new Error(`fake tls: unsupported algorithm ${String(algorithm)}`);
  }
}

function days(inputs: Inputs): string {
  const hours = Number(inputs.validityPeriodHours);
  if (!Number.isInteger(hours) || hours < 1)
    throw new Error(`fake tls: bad validityPeriodHours ${hours}`);
  return String(Math.ceil(hours / 24));
}

function serial(): string {
  return `0x${createHash("sha256").update(String(Math.random())).digest("hex").slice(0, 30)}`;
}

/** DNS names requested in a CSR: the tls provider copies them into the signed certificate. */
function sansOfCsr(dir: string): string[] {
  const text = execFileSync("openssl", ["req", "-in", "csr.pem", "-noout", "-text"], {
    cwd: dir,
    encoding: "utf8",
  });
  const m = /X509v3 Subject Alternative Name:\s*\n\s*(.+)/.exec(text);
  return m === null ? [] : m[1].split(",").map((s) => s.trim().replace(/^DNS:/, ""));
}
