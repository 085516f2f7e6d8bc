// Stand-ins for the two provider plugins that cannot be built here, served to the real Pulumi
// engine through the SDK's own provider server (@pulumi/pulumi/provider `main`):
// - pulumi-tls 5.6.1 (its Terraform provider's modules are not served): the four resources the
//   program uses, backed by FakeTls, so keys and certificates are real;
// - @pulumiverse/time's Rotating (github.com/pulumiverse/pulumi-time/provider is not served,
//   and terraform-provider-time only at v0.14.2, not the v0.12.1 its shim wraps).
// Tokens, input and output names and types are those of the npm SDKs (test/plugin-standins.test.ts
// reads them from the SDKs' declarations). Check, diff and replace follow the Terraform providers
// for the properties the program sets. "Now" is THANOS_BRIDGE_TEST_NOW (RFC 3339) when set, so
// that tests can move weeks ahead; nothing but the tests sets it.
import { createHash, randomUUID } from "node:crypto";
import * as provider from "@pulumi/pulumi/provider";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { CERTIFICATE_TYPES, FakeTls, readyForRenewal } from "../../support/fake-tls";

type Values = Record<string, unknown>;
export type Kind = "string" | "number" | "boolean" | "string[]" | "object" | "map";

export interface ResourceTable {
  /** Input properties and their kinds. */
  readonly inputs: Readonly<Record<string, Kind>>;
  readonly required: readonly string[];
  /** Inputs a change of which updates the resource in place; any other change replaces it. */
  readonly updatable: readonly string[];
  /** Optional inputs the resource computes when unset: leaving them unset changes nothing. */
  readonly computed?: readonly string[];
  /** Output-only properties the stand-in computes, and their kinds. */
  readonly outputs: Readonly<Record<string, Kind>>;
  /** Properties whose values are secret. */
  readonly secrets: readonly string[];
}

const SUBJECT = "object";
const CERT_INPUTS = {
  allowedUses: "string[]",
  earlyRenewalHours: "number",
  isCaCertificate: "boolean",
  maxPathLength: "number",
  setSubjectKeyId: "boolean",
  validityPeriodHours: "number",
} as const;
const CERT_OUTPUTS = {
  certPem: "string",
  readyForRenewal: "boolean",
  validityEndTime: "string",
  validityStartTime: "string",
} as const;

/** The pulumi-tls resources the program uses. */
export const TLS_TABLES: Readonly<Record<string, ResourceTable>> = {
  "tls:index/privateKey:PrivateKey": {
    inputs: { algorithm: "string", ecdsaCurve: "string", rsaBits: "number" },
    required: ["algorithm"],
    updatable: [],
    outputs: { privateKeyPem: "string", privateKeyPemPkcs8: "string", publicKeyPem: "string" },
    secrets: ["privateKeyPem", "privateKeyPemPkcs8"],
  },
  "tls:index/certRequest:CertRequest": {
    inputs: {
      dnsNames: "string[]",
      ipAddresses: "string[]",
      privateKeyPem: "string",
      subject: SUBJECT,
      uris: "string[]",
    },
    required: ["privateKeyPem"],
    updatable: [],
    outputs: { certRequestPem: "string", keyAlgorithm: "string" },
    secrets: ["privateKeyPem"],
  },
  "tls:index/selfSignedCert:SelfSignedCert": {
    inputs: {
      ...CERT_INPUTS,
      dnsNames: "string[]",
      ipAddresses: "string[]",
      privateKeyPem: "string",
      setAuthorityKeyId: "boolean",
      subject: SUBJECT,
      uris: "string[]",
    },
    required: ["allowedUses", "privateKeyPem", "validityPeriodHours"],
    updatable: ["earlyRenewalHours"],
    outputs: { ...CERT_OUTPUTS, keyAlgorithm: "string" },
    secrets: ["privateKeyPem"],
  },
  "tls:index/locallySignedCert:LocallySignedCert": {
    inputs: {
      ...CERT_INPUTS,
      caCertPem: "string",
      caPrivateKeyPem: "string",
      certRequestPem: "string",
    },
    required: [
      "allowedUses",
      "caCertPem",
      "caPrivateKeyPem",
      "certRequestPem",
      "validityPeriodHours",
    ],
    updatable: ["earlyRenewalHours"],
    outputs: { ...CERT_OUTPUTS, caKeyAlgorithm: "string" },
    secrets: ["caPrivateKeyPem"],
  },
};

export const ROTATING = "time:index/rotating:Rotating";

/** @pulumiverse/time's Rotating. */
export const TIME_TABLES: Readonly<Record<string, ResourceTable>> = {
  [ROTATING]: {
    inputs: {
      rfc3339: "string",
      rotationDays: "number",
      rotationHours: "number",
      rotationMinutes: "number",
      rotationMonths: "number",
      rotationRfc3339: "string",
      rotationYears: "number",
      triggers: "map",
    },
    required: [],
    computed: ["rfc3339", "rotationRfc3339"],
    updatable: [
      "rotationDays",
      "rotationHours",
      "rotationMinutes",
      "rotationMonths",
      "rotationRfc3339",
      "rotationYears",
    ],
    outputs: {
      day: "number",
      hour: "number",
      minute: "number",
      month: "number",
      second: "number",
      unix: "number",
      year: "number",
    },
    secrets: [],
  },
};

/** The stand-ins' clock: THANOS_BRIDGE_TEST_NOW if set, else the system's. */
export function now(env: NodeJS.ProcessEnv = process.env): number {
  const set = env["THANOS_BRIDGE_TEST_NOW"];
  if (set === undefined || set === "") return Date.now();
  const parsed = Date.parse(set);
  if (Number.isNaN(parsed)) throw new Error(`THANOS_BRIDGE_TEST_NOW is not a time: ${set}`);
  return parsed;
}

/** The resource's own type: the URN's type part is its parents' types and its own, `$`-joined. */
const typeOf = (urn: string): string => (urn.split("::")[2] ?? "").split("$").pop() ?? "";

const isSecret = (v: unknown): v is { value: unknown } =>
  typeof v === "object" && v !== null && (v as Values)[specialSigKey] === specialSecretSig;

function reveal(v: unknown): unknown {
  if (isSecret(v)) return reveal(v.value);
  if (Array.isArray(v)) return v.map(reveal);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
  }
  return v;
}

const secret = (value: unknown): Values => ({ [specialSigKey]: specialSecretSig, value });

function containsUnknown(v: unknown): boolean {
  if (v === unknownValue) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (typeof v === "object" && v !== null) return Object.values(v).some(containsUnknown);
  return false;
}

function kindMatches(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case "string[]":
      return Array.isArray(v) && v.every((x) => typeof x === "string");
    case "object":
    case "map":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    default:
      return typeof v === kind;
  }
}

/** The Terraform providers' checks: known names, required ones set, values of the right type. */
export function checkInputs(table: ResourceTable, news: Values): provider.CheckFailure[] {
  const failures: provider.CheckFailure[] = [];
  for (const [name, raw] of Object.entries(news)) {
    const kind = table.inputs[name];
    const v = reveal(raw);
    if (kind === undefined) {
      failures.push({ property: name, reason: `${name} is not an input of this resource` });
    } else if (v !== undefined && v !== null && !containsUnknown(v) && !kindMatches(kind, v)) {
      failures.push({ property: name, reason: `${name} must be a ${kind}` });
    }
  }
  for (const name of table.required) {
    if (news[name] === undefined || news[name] === null) {
      failures.push({ property: name, reason: `Missing required property '${name}'` });
    }
  }
  return failures;
}

const same = (a: unknown, b: unknown): boolean =>
  JSON.stringify(reveal(a) ?? null) === JSON.stringify(reveal(b) ?? null);

/** Which inputs changed, and which of the changes replace the resource. */
export function diffInputs(
  table: ResourceTable,
  olds: Values,
  news: Values,
): { changed: string[]; replaces: string[] } {
  const changed = Object.keys(table.inputs)
    .filter((k) => !(table.computed?.includes(k) === true && news[k] === undefined))
    .filter((k) => containsUnknown(news[k]) || !same(olds[k], news[k]))
    .sort();
  return { changed, replaces: changed.filter((k) => !table.updatable.includes(k)) };
}

/** Inputs and outputs as the engine keeps them: the secret properties marked secret. */
function withSecrets(table: ResourceTable, values: Values): Values {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [
      k,
      table.secrets.includes(k) && !isSecret(v) ? secret(v) : v,
    ]),
  );
}

function inputsOf(table: ResourceTable, props: Values): Values {
  return Object.fromEntries(Object.entries(props).filter(([k]) => k in table.inputs));
}

function idOf(outs: Values): string {
  return createHash("sha256").update(JSON.stringify(outs)).update(randomUUID()).digest("hex");
}

/** pulumi-tls 5.6.1's four resources over FakeTls. */
export function tlsProvider(version: string): provider.Provider {
  const tls = new FakeTls(() => now());
  const table = (urn: string): ResourceTable => {
    const t = TLS_TABLES[typeOf(urn)];
    if (t === undefined) throw new Error(`the pulumi-tls stand-in has no resource ${typeOf(urn)}`);
    return t;
  };
  const renewal = (urn: string, props: Values, earlyRenewalHours: unknown): Values =>
    CERTIFICATE_TYPES.includes(typeOf(urn))
      ? { readyForRenewal: readyForRenewal(props.validityEndTime, earlyRenewalHours ?? 0, now()) }
      : {};
  return {
    version,
    check: (urn, _olds, news: Values) =>
      Promise.resolve({ inputs: news, failures: checkInputs(table(urn), news) }),
    diff: (_id, urn, olds: Values, news: Values) => {
      const t = table(urn);
      const { changed, replaces } = diffInputs(t, olds, news);
      // As the Terraform provider plans it: a certificate inside its early renewal window is
      // replaced.
      const due =
        CERTIFICATE_TYPES.includes(typeOf(urn)) &&
        !containsUnknown(news.earlyRenewalHours) &&
        readyForRenewal(olds.validityEndTime, reveal(news.earlyRenewalHours) ?? 0, now());
      const all = due ? [...replaces, "readyForRenewal"] : replaces;
      return Promise.resolve({ changes: changed.length > 0 || due, replaces: all });
    },
    create: (urn, inputs: Values) => {
      const t = table(urn);
      const plain = reveal(inputs) as Values;
      const issued = tls.issue(typeOf(urn), plain);
      const outs = { ...plain, ...issued, ...renewal(urn, issued, plain.earlyRenewalHours) };
      return Promise.resolve({ id: idOf(outs), outs: withSecrets(t, outs) });
    },
    read: (id, urn, props: Values) => {
      const t = table(urn);
      const outs = { ...props, ...renewal(urn, props, reveal(props.earlyRenewalHours)) };
      return Promise.resolve({ id, props: withSecrets(t, outs), inputs: inputsOf(t, props) });
    },
    update: (_id, urn, olds: Values, news: Values) => {
      const t = table(urn);
      const outs = { ...olds, ...news };
      return Promise.resolve({
        outs: withSecrets(t, { ...outs, ...renewal(urn, olds, reveal(news.earlyRenewalHours)) }),
      });
    },
  };
}

const PERIODS: readonly (readonly [string, (d: Date, n: number) => void])[] = [
  ["rotationYears", (d, n) => d.setUTCFullYear(d.getUTCFullYear() + n)],
  ["rotationMonths", (d, n) => d.setUTCMonth(d.getUTCMonth() + n)],
  ["rotationDays", (d, n) => d.setUTCDate(d.getUTCDate() + n)],
  ["rotationHours", (d, n) => d.setUTCHours(d.getUTCHours() + n)],
  ["rotationMinutes", (d, n) => d.setUTCMinutes(d.getUTCMinutes() + n)],
];

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** When a Rotating whose base time is `base` turns: rotationRfc3339, or base plus the period. */
export function rotationTime(base: number, inputs: Values): number {
  if (typeof inputs.rotationRfc3339 === "string") return Date.parse(inputs.rotationRfc3339);
  const d = new Date(base);
  let set = false;
  for (const [key, add] of PERIODS) {
    if (typeof inputs[key] === "number") {
      add(d, inputs[key]);
      set = true;
    }
  }
  if (!set)
    throw new Error(
      "one of rotationDays, rotationHours, rotationMinutes, rotationMonths, rotationRfc3339 or rotationYears must be set",
    );
  return d.getTime();
}

function rotatingOutputs(base: number, inputs: Values): Values {
  const d = new Date(base);
  return {
    ...inputs,
    rfc3339: rfc3339(base),
    rotationRfc3339: rfc3339(rotationTime(base, inputs)),
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    unix: Math.floor(base / 1000),
  };
}

/**
 * @pulumiverse/time's Rotating: created at now (or its rfc3339 input); a refresh after its
 * rotation time finds it gone, so the next update creates it anew at the new now. A change of
 * triggers or rfc3339 replaces it; a change of period updates its rotation time in place.
 */
export function timeProvider(version: string): provider.Provider {
  const t = TIME_TABLES[ROTATING];
  const only = (urn: string): void => {
    if (typeOf(urn) !== ROTATING) {
      throw new Error(`the time stand-in has no resource ${typeOf(urn)}`);
    }
  };
  return {
    version,
    check: (urn, _olds, news: Values) => {
      only(urn);
      const failures = checkInputs(t, news);
      if (!PERIODS.some(([k]) => k in news) && !("rotationRfc3339" in news)) {
        failures.push({ property: "rotationHours", reason: "a rotation period must be set" });
      }
      return Promise.resolve({ inputs: news, failures });
    },
    diff: (_id, urn, olds: Values, news: Values) => {
      only(urn);
      const { changed, replaces } = diffInputs(t, olds, news);
      return Promise.resolve({ changes: changed.length > 0, replaces });
    },
    create: (urn, inputs: Values) => {
      only(urn);
      const plain = reveal(inputs) as Values;
      const base = typeof plain.rfc3339 === "string" ? Date.parse(plain.rfc3339) : now();
      const outs = rotatingOutputs(base, plain);
      return Promise.resolve({ id: String(outs.rfc3339), outs });
    },
    read: (id, urn, props: Values) => {
      only(urn);
      const gone = Date.parse(String(props.rotationRfc3339)) <= now();
      return Promise.resolve(
        gone ? { id: "", props: {} } : { id, props, inputs: inputsOf(t, props) },
      );
    },
    update: (_id, urn, olds: Values, news: Values) => {
      only(urn);
      const base = Date.parse(String(olds.rfc3339));
      return Promise.resolve({ outs: rotatingOutputs(base, reveal(news) as Values) });
    },
  };
}

/** Entry point: `standins.ts <tls|time> <version> [engine address]`. */
if (require.main === module) {
  const [which, version, ...args] = process.argv.slice(2);
  const serve =
    which === "tls" ? tlsProvider(version) : which === "time" ? timeProvider(version) : undefined;
  if (serve === undefined) {
    console.error(`usage: standins.ts <tls|time> <version> [engine address]`);
    process.exit(2);
  }
  void provider.main(serve, args);
}
