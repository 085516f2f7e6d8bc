// Pure certificate specifications for a leaf's PKI: subjects, SANs, usages and validity.
// The PKI component turns these into @pulumi/tls resources; tests check them directly.

export type KeySpec =
  | { readonly algorithm: "ECDSA"; readonly ecdsaCurve: "P256" | "P384" }
  | { readonly algorithm: "RSA"; readonly rsaBits: 2048 | 3072 | 4096 };

/** Values of the tls provider's `allowedUses` (Terraform tls provider names). */
export type AllowedUse =
  | "cert_signing"
  | "crl_signing"
  | "digital_signature"
  | "key_encipherment"
  | "server_auth"
  | "client_auth";

export interface Subject {
  readonly commonName: string;
  readonly organization: string;
  readonly organizationalUnit: string;
}

export interface CertSpec {
  readonly key: KeySpec;
  readonly subject: Subject;
  readonly dnsNames: readonly string[];
  readonly allowedUses: readonly AllowedUse[];
  readonly isCaCertificate: boolean;
  readonly validityPeriodHours: number;
  readonly earlyRenewalHours: number;
}

export interface LeafPkiSpec {
  readonly ca: CertSpec;
  readonly server: CertSpec;
  readonly client: CertSpec;
}

export type KeyAlgorithm = "ECDSA-P256" | "ECDSA-P384" | "RSA-2048" | "RSA-3072" | "RSA-4096";

export interface LeafPkiInput {
  readonly clusterName: string;
  readonly hostname: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly caValidityHours: number;
  readonly certValidityHours: number;
  readonly renewBeforeHours: number;
}

export const ORGANIZATION = "thanos-bridge";
/** Common name of the client certificate every leaf issues to the observer. */
export const OBSERVER_COMMON_NAME = "thanos-bridge-observer";

export function keySpec(algorithm: KeyAlgorithm): KeySpec {
  switch (algorithm) {
    case "ECDSA-P256":
      return { algorithm: "ECDSA", ecdsaCurve: "P256" };
    case "ECDSA-P384":
      return { algorithm: "ECDSA", ecdsaCurve: "P384" };
    case "RSA-2048":
      return { algorithm: "RSA", rsaBits: 2048 };
    case "RSA-3072":
      return { algorithm: "RSA", rsaBits: 3072 };
    case "RSA-4096":
      return { algorithm: "RSA", rsaBits: 4096 };
  }
}

/**
 * The three certificates of a leaf:
 * - its CA, which signs the other two and is the only CA the leaf's ingress trusts for clients;
 * - the server certificate of the ingress, SAN = the public hostname (the SNI the observer sends);
 * - the client certificate the leaf issues to the observer (clientAuth only).
 *
 * The RSA server certificate also allows key encipherment (RSA key exchange); ECDSA keys can
 * only sign, and a TLS client only ever signs, so the others carry digital signature alone. The CA renews once less than one leaf-certificate lifetime is left,
 * so a freshly issued certificate never outlives its CA.
 */
export function leafPkiSpec(input: LeafPkiInput): LeafPkiSpec {
  const key = keySpec(input.keyAlgorithm);
  const serverUses: AllowedUse[] =
    key.algorithm === "RSA"
      ? ["digital_signature", "key_encipherment", "server_auth"]
      : ["digital_signature", "server_auth"];
  const unit = input.clusterName;
  return {
    ca: {
      key,
      subject: {
        commonName: `thanos-bridge ${input.clusterName} CA`,
        organization: ORGANIZATION,
        organizationalUnit: unit,
      },
      dnsNames: [],
      allowedUses: ["cert_signing", "crl_signing"],
      isCaCertificate: true,
      validityPeriodHours: input.caValidityHours,
      earlyRenewalHours: input.certValidityHours,
    },
    server: {
      key,
      subject: { commonName: input.hostname, organization: ORGANIZATION, organizationalUnit: unit },
      dnsNames: [input.hostname],
      allowedUses: serverUses,
      isCaCertificate: false,
      validityPeriodHours: input.certValidityHours,
      earlyRenewalHours: input.renewBeforeHours,
    },
    client: {
      key,
      subject: {
        commonName: OBSERVER_COMMON_NAME,
        organization: ORGANIZATION,
        organizationalUnit: unit,
      },
      dnsNames: [],
      allowedUses: ["digital_signature", "client_auth"],
      isCaCertificate: false,
      validityPeriodHours: input.certValidityHours,
      earlyRenewalHours: input.renewBeforeHours,
    },
  };
}
