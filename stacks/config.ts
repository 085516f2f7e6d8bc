// Typed, validated stack configuration. Pure: the raw values come in as the strings Pulumi
// stores (numbers and booleans as text, arrays as JSON), so the same code serves the real
// program (stacks/index.ts) and the tests. Every problem is reported at once, each naming the
// key, the value and what is allowed, before any resource is declared.

import {
  isDnsLabel,
  isDnsSubdomain,
  isFqdn,
  isGrpcServiceName,
  isServiceName,
} from "../components/validate";

export const PROJECT = "thanos-bridge";

export type Role = "leaf" | "observer";
export const ROLES: readonly Role[] = ["leaf", "observer"];

export type KeyAlgorithm = "ECDSA-P256" | "ECDSA-P384" | "RSA-2048" | "RSA-3072" | "RSA-4096";
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = [
  "ECDSA-P256",
  "ECDSA-P384",
  "RSA-2048",
  "RSA-3072",
  "RSA-4096",
];

export type IngressPathType = "Prefix" | "ImplementationSpecific";
export const INGRESS_PATH_TYPES: readonly IngressPathType[] = ["Prefix", "ImplementationSpecific"];

type KeyType = "string" | "integer" | "boolean" | "array";
type DefaultValue = string | number | boolean | readonly string[];

interface KeySpec {
  readonly type: KeyType;
  readonly default: DefaultValue;
  /** Which role reads the key; `all` for both. */
  readonly roles: "all" | Role;
}

/**
 * Every config key the program reads, with its type and default. `Pulumi.yaml` declares the same
 * keys (a test keeps the two equal); its descriptions are the user-facing documentation.
 */
export const CONFIG_SCHEMA = {
  role: { type: "string", default: "", roles: "all" },
  kubeconfig: { type: "string", default: "", roles: "all" },
  kubeContext: { type: "string", default: "", roles: "all" },
  renderDir: { type: "string", default: "", roles: "all" },
  clusterName: { type: "string", default: "", roles: "leaf" },
  hostname: { type: "string", default: "", roles: "leaf" },
  publicPort: { type: "integer", default: 443, roles: "leaf" },
  namespace: { type: "string", default: "monitoring", roles: "leaf" },
  createNamespace: { type: "boolean", default: false, roles: "leaf" },
  sidecarService: {
    type: "string",
    default: "kube-prometheus-stack-thanos-discovery",
    roles: "leaf",
  },
  sidecarPort: { type: "integer", default: 10901, roles: "leaf" },
  ingressClass: { type: "string", default: "nginx", roles: "leaf" },
  ingressPathType: { type: "string", default: "Prefix", roles: "leaf" },
  allowedServices: { type: "array", default: ["thanos.Store", "thanos.info.Info"], roles: "leaf" },
  streamTimeoutSeconds: { type: "integer", default: 600, roles: "leaf" },
  keyAlgorithm: { type: "string", default: "ECDSA-P256", roles: "leaf" },
  caValidityHours: { type: "integer", default: 43800, roles: "leaf" },
  certValidityHours: { type: "integer", default: 2160, roles: "leaf" },
  renewBeforeHours: { type: "integer", default: 720, roles: "leaf" },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

/** Raw config as Pulumi hands it to the program: full keys (`thanos-bridge:hostname`) to text. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** Where Kubernetes objects go: a cluster (ambient kubeconfig unless set) or a render directory. */
export type KubernetesTarget =
  | { readonly kind: "cluster"; readonly kubeconfig?: string; readonly context?: string }
  | { readonly kind: "render"; readonly directory: string };

export interface PkiConfig {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly caValidityHours: number;
  readonly certValidityHours: number;
  readonly renewBeforeHours: number;
}

export interface LeafConfig {
  readonly role: "leaf";
  readonly clusterName: string;
  readonly hostname: string;
  readonly publicPort: number;
  readonly namespace: string;
  readonly createNamespace: boolean;
  readonly sidecarService: string;
  readonly sidecarPort: number;
  readonly ingressClass: string;
  readonly ingressPathType: IngressPathType;
  /** Sorted, without duplicates. */
  readonly allowedServices: readonly string[];
  readonly streamTimeoutSeconds: number;
  readonly pki: PkiConfig;
  readonly kubernetes: KubernetesTarget;
}

export type StackConfig = LeafConfig;

export class ConfigError extends Error {
  constructor(
    readonly stack: string,
    readonly problems: readonly string[],
  ) {
    super(
      `invalid configuration for stack "${stack}" (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

const fullKey = (key: string): string => `${PROJECT}:${key}`;
const show = (value: unknown): string => JSON.stringify(value);

/** Collects problems while reading typed values; each reader returns the default on error. */
class Reader {
  readonly problems: string[] = [];

  constructor(private readonly raw: RawConfig) {}

  problem(key: ConfigKey, message: string): void {
    this.problems.push(`${fullKey(key)}: ${message}`);
  }

  private text(key: ConfigKey): string | undefined {
    const value = this.raw[fullKey(key)];
    return value === undefined || value === "" ? undefined : value;
  }

  string(key: ConfigKey): string {
    const spec = CONFIG_SCHEMA[key];
    return this.text(key) ?? String(spec.default);
  }

  oneOf<T extends string>(key: ConfigKey, allowed: readonly T[]): T {
    const value = this.string(key);
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problem(key, `${show(value)} is not allowed; use one of ${allowed.join(", ")}`);
    return allowed[0];
  }

  integer(key: ConfigKey, min: number, max: number): number {
    const spec = CONFIG_SCHEMA[key];
    const text = this.text(key);
    if (text === undefined) return spec.default as number;
    const value = /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.problem(key, `${show(text)} is not allowed; use a whole number from ${min} to ${max}`);
      return spec.default as number;
    }
    return value;
  }

  boolean(key: ConfigKey): boolean {
    const spec = CONFIG_SCHEMA[key];
    const text = this.text(key);
    if (text === undefined) return spec.default as boolean;
    if (text === "true" || text === "false") return text === "true";
    this.problem(key, `${show(text)} is not allowed; use true or false`);
    return spec.default as boolean;
  }

  stringList(key: ConfigKey): readonly string[] {
    const spec = CONFIG_SCHEMA[key];
    const text = this.text(key);
    if (text === undefined) return spec.default as readonly string[];
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      this.problem(key, `${show(text)} is not allowed; use a YAML list of strings`);
      return spec.default as readonly string[];
    }
    return value;
  }
}

/** Reads `role`: the one key every stack must set. */
export function readRole(raw: RawConfig, stack: string): Role {
  const role = raw[fullKey("role")] ?? "";
  if ((ROLES as readonly string[]).includes(role)) return role as Role;
  const problem =
    role === ""
      ? `${fullKey("role")} is not set; run \`pulumi config set role leaf\` (or observer) on this stack`
      : `${fullKey("role")}: ${show(role)} is not allowed; use one of ${ROLES.join(", ")}`;
  throw new ConfigError(stack, [problem]);
}

/** Rejects keys in the project's namespace that the program does not know (typos). */
function unknownKeys(raw: RawConfig): string[] {
  const prefix = `${PROJECT}:`;
  return Object.keys(raw)
    .filter((k) => k.startsWith(prefix) && !(k.slice(prefix.length) in CONFIG_SCHEMA))
    .sort()
    .map(
      (k) =>
        `${k} is not a known key; known keys are ${Object.keys(CONFIG_SCHEMA).sort().join(", ")}`,
    );
}

function readKubernetesTarget(r: Reader): KubernetesTarget {
  const kubeconfig = r.string("kubeconfig");
  const context = r.string("kubeContext");
  const renderDir = r.string("renderDir");
  if (renderDir !== "") {
    if (kubeconfig !== "" || context !== "") {
      r.problem(
        "renderDir",
        `${show(renderDir)} renders manifests instead of deploying, so it cannot be combined with ` +
          `${fullKey("kubeconfig")} or ${fullKey("kubeContext")}; set one or the other`,
      );
    }
    return { kind: "render", directory: renderDir };
  }
  return {
    kind: "cluster",
    ...(kubeconfig !== "" ? { kubeconfig } : {}),
    ...(context !== "" ? { context } : {}),
  };
}

function readPki(r: Reader): PkiConfig {
  const keyAlgorithm = r.oneOf("keyAlgorithm", KEY_ALGORITHMS);
  const hundredYears = 100 * 365 * 24;
  const caValidityHours = r.integer("caValidityHours", 1, hundredYears);
  const certValidityHours = r.integer("certValidityHours", 1, hundredYears);
  const renewBeforeHours = r.integer("renewBeforeHours", 1, hundredYears);
  if (renewBeforeHours >= certValidityHours) {
    r.problem(
      "renewBeforeHours",
      `${renewBeforeHours} is not allowed; it must be shorter than ${fullKey("certValidityHours")} ` +
        `(${certValidityHours}), or certificates would be renewed on every run`,
    );
  }
  if (caValidityHours <= certValidityHours) {
    r.problem(
      "caValidityHours",
      `${caValidityHours} is not allowed; it must be longer than ${fullKey("certValidityHours")} ` +
        `(${certValidityHours}), because no certificate may outlive the CA that signed it`,
    );
  }
  return { keyAlgorithm, caValidityHours, certValidityHours, renewBeforeHours };
}

function readAllowedServices(r: Reader): readonly string[] {
  const services = r.stringList("allowedServices");
  if (services.length === 0) {
    r.problem("allowedServices", `[] is not allowed; list at least one gRPC service`);
  }
  for (const service of services) {
    if (!isGrpcServiceName(service)) {
      r.problem(
        "allowedServices",
        `${show(service)} is not a fully qualified gRPC service name; use <package>.<Service>, ` +
          `e.g. thanos.Store or thanos.info.Info`,
      );
    }
  }
  const duplicates = services.filter((s, i) => services.indexOf(s) !== i);
  for (const service of [...new Set(duplicates)]) {
    r.problem("allowedServices", `${show(service)} is listed more than once`);
  }
  return [...new Set(services)].sort();
}

function readLeaf(r: Reader, stack: string): LeafConfig {
  let clusterName = r.string("clusterName");
  if (clusterName === "") {
    clusterName = stack;
    if (!isDnsLabel(stack)) {
      r.problem(
        "clusterName",
        `is not set, and the stack name ${show(stack)} is not a DNS label to default to; ` +
          `set it to lowercase letters, digits and "-" (at most 63), e.g. leaf-a`,
      );
    }
  } else if (!isDnsLabel(clusterName)) {
    r.problem(
      "clusterName",
      `${show(clusterName)} is not allowed; use a DNS label: lowercase letters, digits and "-", ` +
        `starting and ending with a letter or digit, at most 63 characters`,
    );
  }

  const hostname = r.string("hostname");
  if (hostname === "") {
    r.problem(
      "hostname",
      `is required for a leaf: the public DNS name of its ingress, e.g. thanos.leaf-a.example.com`,
    );
  } else if (!isFqdn(hostname)) {
    r.problem(
      "hostname",
      `${show(hostname)} is not allowed; use a fully qualified lowercase DNS name with no ` +
        `wildcard or trailing dot, e.g. thanos.leaf-a.example.com`,
    );
  }

  const namespace = r.string("namespace");
  if (!isDnsLabel(namespace)) {
    r.problem(
      "namespace",
      `${show(namespace)} is not allowed; use a DNS label (lowercase letters, digits and "-", at most 63)`,
    );
  }
  const sidecarService = r.string("sidecarService");
  if (!isServiceName(sidecarService)) {
    r.problem(
      "sidecarService",
      `${show(sidecarService)} is not allowed; a Service name starts with a lowercase letter and ` +
        `has only lowercase letters, digits and "-" (at most 63)`,
    );
  }
  const ingressClass = r.string("ingressClass");
  if (!isDnsSubdomain(ingressClass)) {
    r.problem(
      "ingressClass",
      `${show(ingressClass)} is not allowed; use the name of an IngressClass (a lowercase DNS subdomain)`,
    );
  }

  return {
    role: "leaf",
    clusterName,
    hostname,
    publicPort: r.integer("publicPort", 1, 65535),
    namespace,
    createNamespace: r.boolean("createNamespace"),
    sidecarService,
    sidecarPort: r.integer("sidecarPort", 1, 65535),
    ingressClass,
    ingressPathType: r.oneOf("ingressPathType", INGRESS_PATH_TYPES),
    allowedServices: readAllowedServices(r),
    streamTimeoutSeconds: r.integer("streamTimeoutSeconds", 1, 86400),
    pki: readPki(r),
    kubernetes: readKubernetesTarget(r),
  };
}

/**
 * Reads and validates the whole stack config. Throws a ConfigError listing every problem;
 * returns a typed object only when the config is entirely valid.
 */
export function loadConfig(raw: RawConfig, stack: string): StackConfig {
  const role = readRole(raw, stack);
  if (role === "observer") {
    throw new ConfigError(stack, [
      `${fullKey("role")}: "observer" is not available in this release of thanos-bridge yet; ` +
        `only leaf stacks can be deployed (see README, "Roadmap")`,
    ]);
  }
  const reader = new Reader(raw);
  reader.problems.push(...unknownKeys(raw));
  const config = readLeaf(reader, stack);
  if (reader.problems.length > 0) throw new ConfigError(stack, reader.problems);
  return config;
}
