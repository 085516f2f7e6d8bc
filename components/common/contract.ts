// The leaf→observer contract: what a leaf stack exports and how the observer reads it back.
// Pure (node:crypto only). The leaf builds its outputs with `leafBridgeOutput`; the observer
// checks them with `parseLeafBridge`, so both sides share one typed interface.
//
// Two outputs, kept apart on purpose: an output object holding one secret becomes secret as a
// whole (pulumi#17422), so the public part (`bridge`) and the private key (`bridgeClientKey`,
// a secret) travel separately.

import { X509Certificate, createPrivateKey } from "node:crypto";
import { isDnsLabel, isFqdn, isPort, isRfc3339 } from "./validate";

/**
 * Version 2 (thanos-bridge 0.2): `caCerts` is a bundle, so a CA change can overlap, and each
 * expiry says when the certificate is due for renewal as well as when it expires.
 */
export const CONTRACT_VERSION = 2;
export const BRIDGE_OUTPUT = "bridge";
export const CLIENT_KEY_OUTPUT = "bridgeClientKey";

/** OID of the extended key usage id-kp-clientAuth (RFC 5280, 4.2.1.12). */
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

/** When a certificate expires, and from when on it should have been renewed; RFC 3339. */
export interface CertificateTimes {
  readonly notAfter: string;
  /** notAfter minus the certificate kind's renew-before time. */
  readonly renewAfter: string;
}

/** Each certificate kind of the leaf. `ca` is the newest CA, the one the next CA replaces. */
export interface LeafExpiry {
  readonly ca: CertificateTimes;
  readonly server: CertificateTimes;
  readonly client: CertificateTimes;
}

export const CERTIFICATE_KINDS = ["ca", "server", "client"] as const;

/**
 * The leaf's `streamTimeoutSeconds`: its default, which an observer assumes for a leaf whose
 * output predates the field, and its largest value.
 */
export const STREAM_TIMEOUT_SECONDS = { default: 600, max: 86400 } as const;

/** The `bridge` output of a leaf stack (CONTRACT_VERSION). Holds no secret. */
export interface LeafBridgeOutput {
  readonly version: typeof CONTRACT_VERSION;
  /** The leaf's cluster name (a DNS label), unique among the observer's leaves. */
  readonly cluster: string;
  /** `host:port` of the leaf's ingress. */
  readonly endpoint: string;
  /** The name the ingress's server certificate carries; the observer sends it as SNI. */
  readonly serverName: string;
  /**
   * PEM bundle of every CA the leaf trusts, newest first: one, or two while a CA change
   * overlaps. The observer trusts all of them for the leaf's server certificate. Newest first,
   * because tools that look at a bundle's first certificate only (Envoy's expiry statistics)
   * should see the CA that matters from now on, not the one being retired.
   */
  readonly caCerts: string;
  /** PEM of the client certificate the leaf issued to the observer. */
  readonly clientCert: string;
  readonly expiry: LeafExpiry;
  /**
   * The longest silence, in seconds, the leaf's ingress allows on a gRPC stream; the observer's
   * Envoy closes a leaf's streams after the same. Added in 0.3 without a version change: an
   * observer reads a leaf without it as the default, and an earlier observer ignores it.
   */
  readonly streamTimeoutSeconds: number;
}

/**
 * A leaf as this program knows it: its `bridge` output once checked, with the stack it came
 * from and its endpoint split. The one model of a leaf; each generator takes the fields it reads
 * (`Pick<Leaf, ...>`). Holds no secret: the client key travels apart (`LeafCredentials`).
 */
export interface Leaf extends LeafBridgeOutput {
  /** The stack the values came from, for messages. */
  readonly stack: string;
  readonly host: string;
  readonly port: number;
}

/** What the observer presents to a leaf and trusts of it. `clientKey` is private key material. */
export type LeafCredentials = Pick<Leaf, "cluster" | "clientCert" | "caCerts"> & {
  readonly clientKey: string;
};

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, each as its own PEM block (without surrounding text). */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(PEM_CERTIFICATE) ?? [];
}

/** Joins PEM certificates into one bundle, one block per line group, ending in a newline. */
export function joinPemBundle(pems: readonly string[]): string {
  return pems.map((p) => `${p.trim()}\n`).join("");
}

/** A certificate's expiry, and its renewal time `renewBeforeHours` earlier (RFC 3339, UTC). */
export function certificateTimes(notAfter: string, renewBeforeHours: number): CertificateTimes {
  return {
    notAfter,
    renewAfter: new Date(Date.parse(notAfter) - renewBeforeHours * 3_600_000).toISOString(),
  };
}

/** Builds the `bridge` output of a leaf, keys in a fixed order. */
export function leafBridgeOutput(
  leaf: Omit<Leaf, "version" | "stack" | "endpoint" | "serverName">,
): LeafBridgeOutput {
  return {
    version: CONTRACT_VERSION,
    cluster: leaf.cluster,
    endpoint: `${leaf.host}:${leaf.port}`,
    serverName: leaf.host,
    caCerts: leaf.caCerts,
    clientCert: leaf.clientCert,
    expiry: {
      ca: times(leaf.expiry.ca),
      server: times(leaf.expiry.server),
      client: times(leaf.expiry.client),
    },
    streamTimeoutSeconds: leaf.streamTimeoutSeconds,
  };
}

function times(t: CertificateTimes): CertificateTimes {
  return { notAfter: t.notAfter, renewAfter: t.renewAfter };
}

export class ContractError extends Error {
  constructor(
    readonly stack: string,
    message: string,
  ) {
    super(`stack ${stack}: ${message}`);
    this.name = "ContractError";
  }
}

/** A plain object (not null, not an array), as JSON outputs and YAML maps parse to. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string"
    ? `the string ${JSON.stringify(value.slice(0, 40))}`
    : `a ${typeof value}`;
}

function certificate(stack: string, field: string, value: unknown): X509Certificate {
  const where = `output '${BRIDGE_OUTPUT}' field '${field}'`;
  if (typeof value !== "string" || !value.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ContractError(stack, `${where} must be a PEM certificate, got ${describe(value)}`);
  }
  try {
    return new X509Certificate(value);
  } catch (e) {
    throw new ContractError(
      stack,
      `${where} is not a valid X.509 certificate (${(e as Error).message})`,
    );
  }
}

/**
 * Checks a leaf's public output `bridge` and returns it typed. Every failure names the stack and
 * the output and says how to fix it.
 */
export function parseLeafBridge(stack: string, bridge: unknown): Leaf {
  if (bridge === undefined || bridge === null) {
    throw new ContractError(
      stack,
      `has no output '${BRIDGE_OUTPUT}': run \`pulumi up\` on that stack first (is its role leaf?)`,
    );
  }
  if (!isRecord(bridge)) {
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' must be an object, got ${describe(bridge)}`,
    );
  }
  const version = bridge["version"];
  if (version === undefined) {
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' has no 'version'; it was not written by thanos-bridge`,
    );
  }
  if (version !== CONTRACT_VERSION) {
    const fix =
      typeof version === "number" && version > CONTRACT_VERSION
        ? "upgrade thanos-bridge on the observer"
        : "run `pulumi up` on that stack with this release of thanos-bridge";
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' has contract version ${JSON.stringify(version)}, but this program ` +
        `reads version ${CONTRACT_VERSION}: ${fix}`,
    );
  }

  const field = (name: string, check: (v: string) => boolean, allowed: string): string => {
    const value = bridge[name];
    if (typeof value !== "string" || !check(value)) {
      throw new ContractError(
        stack,
        `output '${BRIDGE_OUTPUT}' field '${name}' is ${describe(value)}; expected ${allowed}`,
      );
    }
    return value;
  };

  const cluster = field("cluster", isDnsLabel, "a DNS label");
  const serverName = field("serverName", isFqdn, "a fully qualified DNS name");
  const endpoint = field(
    "endpoint",
    (v) => {
      const m = /^(.+):([0-9]{1,5})$/.exec(v);
      return m !== null && isFqdn(m[1]) && isPort(Number(m[2]));
    },
    "host:port with a DNS name and a port from 1 to 65535",
  );
  const separator = endpoint.lastIndexOf(":");
  const host = endpoint.slice(0, separator);
  const port = Number(endpoint.slice(separator + 1));
  // The observer sends the server name as SNI and requires it as the certificate's SAN; the
  // ingress serves that certificate for that host (invariant 3 of docs/ARCHITECTURE.md).
  if (host !== serverName) {
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' field 'endpoint' host ${JSON.stringify(host)} differs from ` +
        `'serverName' ${JSON.stringify(serverName)}; they must be the leaf's one hostname`,
    );
  }

  const caField = bridge["caCerts"];
  const caPems = typeof caField === "string" ? splitPemBundle(caField) : [];
  if (caPems.length === 0) {
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' field 'caCerts' must be a PEM bundle of CA certificates, got ${describe(caField)}`,
    );
  }
  const cas = caPems.map((pem) => certificate(stack, "caCerts", pem));
  if (cas.some((ca) => !ca.ca)) {
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' field 'caCerts' holds a certificate that is not a CA`,
    );
  }
  const client = certificate(stack, "clientCert", bridge["clientCert"]);
  if (!cas.some((ca) => client.checkIssued(ca) && client.verify(ca.publicKey))) {
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' field 'clientCert' was not issued by a CA of its 'caCerts' (${client.issuer.trim()})`,
    );
  }
  if (!(client.keyUsage ?? []).includes(CLIENT_AUTH_OID)) {
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' field 'clientCert' lacks the clientAuth extended key usage`,
    );
  }

  const expiry = parseLeafExpiry(stack, bridge["expiry"]);
  const timeout = bridge["streamTimeoutSeconds"] ?? STREAM_TIMEOUT_SECONDS.default;
  if (!Number.isSafeInteger(timeout) || (timeout as number) < 1) {
    const got = typeof timeout === "number" ? String(timeout) : describe(timeout);
    throw new ContractError(
      stack,
      `output '${BRIDGE_OUTPUT}' field 'streamTimeoutSeconds' is ${got}; expected a whole ` +
        `number of seconds, at least 1`,
    );
  }

  return {
    stack,
    version: CONTRACT_VERSION,
    cluster,
    endpoint,
    host,
    port,
    serverName,
    caCerts: joinPemBundle(caPems),
    clientCert: bridge["clientCert"] as string,
    expiry,
    streamTimeoutSeconds: timeout as number,
  };
}

/**
 * Checks the `expiry` field of a leaf's `bridge` output: for each certificate kind, RFC 3339
 * `notAfter` and `renewAfter`, the latter not after the former.
 */
export function parseLeafExpiry(stack: string, value: unknown): LeafExpiry {
  const where = (field: string) => `output '${BRIDGE_OUTPUT}' field '${field}'`;
  if (!isRecord(value)) {
    throw new ContractError(stack, `${where("expiry")} must be an object, got ${describe(value)}`);
  }
  const kind = (name: (typeof CERTIFICATE_KINDS)[number]): CertificateTimes => {
    const entry = value[name];
    if (!isRecord(entry)) {
      throw new ContractError(
        stack,
        `${where(`expiry.${name}`)} must be an object, got ${describe(entry)}`,
      );
    }
    const time = (field: keyof CertificateTimes): string => {
      const t = entry[field];
      if (typeof t !== "string" || !isRfc3339(t)) {
        throw new ContractError(
          stack,
          `${where(`expiry.${name}.${field}`)} is ${describe(t)}; expected an RFC 3339 time`,
        );
      }
      return t;
    };
    const times = { notAfter: time("notAfter"), renewAfter: time("renewAfter") };
    if (Date.parse(times.renewAfter) > Date.parse(times.notAfter)) {
      throw new ContractError(
        stack,
        `${where(`expiry.${name}.renewAfter`)} ${times.renewAfter} is after its notAfter ${times.notAfter}`,
      );
    }
    return times;
  };
  return { ca: kind("ca"), server: kind("server"), client: kind("client") };
}

/**
 * Checks a leaf's secret output `bridgeClientKey` against its parsed `bridge`: a PEM private key
 * whose public key is the client certificate's. Messages never echo key material.
 */
export function parseLeafClientKey(leaf: Leaf, clientKey: unknown): string {
  const stack = leaf.stack;
  const client = new X509Certificate(leaf.clientCert);
  // What the engine leaves of a secret it could not decrypt: nothing, or (CLI 3.248) an object.
  if (clientKey === undefined || clientKey === null || isRecord(clientKey)) {
    // Its public output is there, so the leaf ran: the engine drops a StackReference's secret
    // outputs that it cannot decrypt (pulumi#19533), which is what another passphrase or
    // secrets provider looks like from here.
    throw new ContractError(
      stack,
      `has output '${BRIDGE_OUTPUT}' but not its secret output '${CLIENT_KEY_OUTPUT}': the ` +
        `engine drops secret outputs it cannot decrypt, so that stack's state most likely uses ` +
        `another passphrase or secrets provider; run this stack with the leaf's (the same ` +
        `PULUMI_CONFIG_PASSPHRASE, or \`pulumi stack change-secrets-provider\` on one of them)`,
    );
  }
  if (typeof clientKey !== "string") {
    throw new ContractError(
      stack,
      `output '${CLIENT_KEY_OUTPUT}' must be a PEM private key, got ${describe(clientKey)}`,
    );
  }
  let key;
  try {
    key = createPrivateKey(clientKey);
  } catch {
    throw new ContractError(stack, `output '${CLIENT_KEY_OUTPUT}' is not a PEM private key`);
  }
  if (!client.checkPrivateKey(key)) {
    throw new ContractError(
      stack,
      `output '${CLIENT_KEY_OUTPUT}' does not match the public key of 'clientCert': the outputs ` +
        `are from different runs; run \`pulumi up\` on that stack again`,
    );
  }

  return clientKey;
}

declare const sortedByCluster: unique symbol;

/**
 * Leaves in the one order every list the program writes uses: by cluster name. Only
 * `sortLeaves` makes one, so a generator that takes it never sorts again.
 */
export type SortedLeaves<T extends { readonly cluster: string }> = readonly T[] & {
  readonly [sortedByCluster]: true;
};

/** The leaves sorted by cluster name. */
export function sortLeaves<T extends { readonly cluster: string }>(
  leaves: readonly T[],
): SortedLeaves<T> {
  return [...leaves].sort((a, b) =>
    a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0,
  ) as readonly T[] as SortedLeaves<T>;
}

/**
 * Leaves must differ in cluster name (it names their Envoy cluster, Secret and endpoint) and in
 * server name (each is one Envoy virtual host's upstream). Returns the leaves sorted by cluster,
 * the one time the observer sorts them.
 */
export function distinctLeaves(leaves: readonly Leaf[]): SortedLeaves<Leaf> {
  const sorted = sortLeaves(leaves);
  for (const [field, what] of [
    ["cluster", "cluster name"],
    ["serverName", "hostname"],
  ] as const) {
    const seen = new Map<string, string>();
    for (const leaf of sorted) {
      const other = seen.get(leaf[field]);
      if (other !== undefined) {
        throw new ContractError(
          leaf.stack,
          `has the same ${what} ${JSON.stringify(leaf[field])} as stack ${other}; every leaf ` +
            `needs its own (set clusterName or hostname on one of them)`,
        );
      }
      seen.set(leaf[field], leaf.stack);
    }
  }
  return sorted;
}
