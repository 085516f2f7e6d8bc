// Pure certificate specifications for a leaf's PKI: subjects, SANs, usages and validity.
// The PKI component turns these into @pulumi/tls resources; tests check them directly.

export type KeySpec =
  | { readonly algorithm: "ECDSA"; readonly ecdsaCurve: "P256" | "P384" }
  | { readonly algorithm: "RSA"; readonly rsaBits: 2048 | 3072 | 4096 };

/** Values of the tls provider's `allowedUses` (Terraform tls provider names). */
type AllowedUse =
  | "cert_signing"
  | "crl_signing"
  | "digital_signature"
  | "key_encipherment"
  | "server_auth"
  | "client_auth";

interface Subject {
  readonly commonName: string;
  readonly organization: string;
  readonly organizationalUnit: string;
}

export type KeyAlgorithm = "ECDSA-P256" | "ECDSA-P384" | "RSA-2048" | "RSA-3072" | "RSA-4096";

/**
 * How long a kind of certificate is valid, and how long before its expiry it is due for
 * renewal: the names of the config keys (`serverValidityHours`, `serverRenewBeforeHours`), kept
 * down to the resources, which alone call them by the tls and time providers' names.
 */
export interface CertificateLifetime {
  readonly validityHours: number;
  readonly renewBeforeHours: number;
}

export interface CertSpec extends CertificateLifetime {
  readonly key: KeySpec;
  readonly subject: Subject;
  readonly dnsNames: readonly string[];
  readonly allowedUses: readonly AllowedUse[];
  readonly isCaCertificate: boolean;
}

/** A leaf's PKI as its config sets it: the one settings type, from the config to the resources. */
export interface PkiSettings {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly ca: CertificateLifetime;
  readonly server: CertificateLifetime;
  readonly client: CertificateLifetime;
  /**
   * The CA lineage. Its CAs are other resources than those of any other lineage, so raising it
   * replaces every CA in one run, with no overlap: the emergency CA change
   * (docs/KEY-COMPROMISE.md).
   */
  readonly caEpoch: number;
}

/** One CA of the leaf: its generation number names its resources. */
interface CaSpec extends CertSpec {
  readonly generation: number;
}

export interface LeafPkiSpec {
  /** Every CA the leaf trusts, oldest first: one, or two while a CA change overlaps. */
  readonly cas: readonly CaSpec[];
  /** The generation of the CA that signs the server and client certificates. */
  readonly signer: number;
  readonly server: CertSpec;
  readonly client: CertSpec;
}

/**
 * Where a leaf's CA change stands at a moment in time:
 * - `steady`: one CA, which signs;
 * - `introduced`: the new CA is trusted on both sides, the old one still signs;
 * - `switched`: the new CA signs, the old one is still trusted;
 * then back to `steady` without the old CA.
 */
type CaPhase = "steady" | "introduced" | "switched";

export interface CaSchedule {
  readonly phase: CaPhase;
  /** Generations whose CA exists and is trusted, oldest first. */
  readonly trusted: readonly number[];
  readonly signer: number;
  /** When the phase ends and the next begins, RFC 3339. */
  readonly nextChange: string;
}

const HOUR_MS = 3_600_000;

/**
 * Hours between the starts of two CA generations: a CA is replaced `renewBeforeHours` before it
 * expires, so each generation starts `validityHours - renewBeforeHours` after the previous one.
 */
export function caGenerationHours(ca: CertificateLifetime): number {
  return ca.validityHours - ca.renewBeforeHours;
}

/**
 * The CA generations a leaf declares at `now`, and which one signs. Generation `g` starts at
 * `g * (validity - renewBefore)` hours after the Unix epoch. For the first half of its
 * renew-before window the new CA is only trusted (the observer learns it on its next run); for
 * the second half it signs while the old CA stays trusted (the observer picks up certificates
 * from the new CA); then the old CA goes. Each half spans at least two scheduled runs (checked
 * by the config), so every change reaches the observer before the next one depends on it.
 * A pure function of the config and the clock: no state is needed to know where a leaf stands.
 */
export function caSchedule(ca: CertificateLifetime, now: Date): CaSchedule {
  const period = caGenerationHours(ca) * HOUR_MS;
  const current = Math.floor(now.getTime() / period);
  const elapsed = now.getTime() - current * period;
  const half = (ca.renewBeforeHours * HOUR_MS) / 2;
  const at = (offset: number) => new Date(current * period + offset).toISOString();
  if (current === 0 || elapsed >= 2 * half) {
    return { phase: "steady", trusted: [current], signer: current, nextChange: at(period) };
  }
  const trusted = [current - 1, current];
  return elapsed < half
    ? { phase: "introduced", trusted, signer: current - 1, nextChange: at(half) }
    : { phase: "switched", trusted, signer: current, nextChange: at(2 * half) };
}

const ORGANIZATION = "thanos-bridge";
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
 * The certificates of a leaf:
 * - its CAs (one per trusted generation), which sign the other two and are the only CAs the
 *   leaf's ingress trusts for clients;
 * - the server certificate of the ingress, SAN = the public hostname (the SNI the observer sends);
 * - the client certificate the leaf issues to the observer (clientAuth only).
 *
 * The RSA server certificate also allows key encipherment (RSA key exchange); ECDSA keys can
 * only sign, and a TLS client only ever signs, so the others carry digital signature alone.
 * Each certificate is due for renewal `renewBeforeHours` before it expires: server and client
 * certificates renew then, through a rotation clock and the tls provider's early renewal alike;
 * a CA never renews in place: a new generation replaces it (see `caSchedule`), because an
 * in-place renewal would drop the old CA at once.
 */
export function leafPkiSpec(
  settings: PkiSettings,
  schedule: CaSchedule,
  leaf: { readonly clusterName: string; readonly hostname: string },
): LeafPkiSpec {
  const key = keySpec(settings.keyAlgorithm);
  const serverUses: AllowedUse[] =
    key.algorithm === "RSA"
      ? ["digital_signature", "key_encipherment", "server_auth"]
      : ["digital_signature", "server_auth"];
  const unit = leaf.clusterName;
  const lineage = settings.caEpoch === 0 ? "" : ` (epoch ${settings.caEpoch})`;
  return {
    cas: schedule.trusted.map((generation) => ({
      generation,
      key,
      subject: {
        // The generation in the name tells overlapping CAs apart, in logs and in chain building.
        commonName: `thanos-bridge ${leaf.clusterName} CA ${generation}${lineage}`,
        organization: ORGANIZATION,
        organizationalUnit: unit,
      },
      dnsNames: [],
      allowedUses: ["cert_signing", "crl_signing"],
      isCaCertificate: true,
      ...settings.ca,
    })),
    signer: schedule.signer,
    server: {
      key,
      isCaCertificate: false,
      ...settings.server,
      subject: { commonName: leaf.hostname, organization: ORGANIZATION, organizationalUnit: unit },
      dnsNames: [leaf.hostname],
      allowedUses: serverUses,
    },
    client: {
      key,
      isCaCertificate: false,
      ...settings.client,
      subject: {
        commonName: OBSERVER_COMMON_NAME,
        organization: ORGANIZATION,
        organizationalUnit: unit,
      },
      dnsNames: [],
      allowedUses: ["digital_signature", "client_auth"],
    },
  };
}
