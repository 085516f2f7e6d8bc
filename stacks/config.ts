// Typed, validated stack configuration. Pure: the raw values come in as the strings Pulumi
// stores (numbers and booleans as text, arrays as JSON), so the same code serves the real
// program (stacks/index.ts) and the tests. Every problem is reported at once, each naming the
// key, the value and what is allowed, before any resource is declared.

import type { CertificateLifetime, KeyAlgorithm } from "../components/certspecs";
import type { DataPath } from "../components/thanos";
import { STREAM_TIMEOUT_SECONDS } from "../components/contract";
import {
  ENVOY_ACCESS_LOGS,
  ENVOY_IP_FAMILIES,
  EnvoyAccessLog,
  EnvoyIpFamily,
} from "../components/envoy";
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

export type { CertificateLifetime, KeyAlgorithm };
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = [
  "ECDSA-P256",
  "ECDSA-P384",
  "RSA-2048",
  "RSA-3072",
  "RSA-4096",
];

export type IngressPathType = "Prefix" | "ImplementationSpecific";
export const INGRESS_PATH_TYPES: readonly IngressPathType[] = ["Prefix", "ImplementationSpecific"];

/** How a leaf's StoreAPI is published (components/exposure.ts). */
export type ExposureKind = "ingress-nginx" | "gateway-api" | "traefik";
export const EXPOSURES: readonly ExposureKind[] = ["ingress-nginx", "gateway-api", "traefik"];

export type { DataPath };
export const DATA_PATHS: readonly DataPath[] = ["envoy", "thanos"];

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
  skipAwait: { type: "boolean", default: false, roles: "all" },
  clusterName: { type: "string", default: "", roles: "leaf" },
  hostname: { type: "string", default: "", roles: "leaf" },
  publicPort: { type: "integer", default: 443, roles: "leaf" },
  namespace: { type: "string", default: "monitoring", roles: "all" },
  createNamespace: { type: "boolean", default: false, roles: "all" },
  sidecarService: {
    type: "string",
    default: "kube-prometheus-stack-thanos-discovery",
    roles: "leaf",
  },
  sidecarPort: { type: "integer", default: 10901, roles: "leaf" },
  ingressClass: { type: "string", default: "nginx", roles: "leaf" },
  ingressPathType: { type: "string", default: "Prefix", roles: "leaf" },
  exposure: { type: "string", default: "ingress-nginx", roles: "leaf" },
  gatewayClassName: { type: "string", default: "", roles: "leaf" },
  gatewayNamespace: { type: "string", default: "", roles: "leaf" },
  traefikEntryPoint: { type: "string", default: "websecure", roles: "leaf" },
  allowedServices: { type: "array", default: ["thanos.Store", "thanos.info.Info"], roles: "leaf" },
  streamTimeoutSeconds: {
    type: "integer",
    default: STREAM_TIMEOUT_SECONDS.default,
    roles: "leaf",
  },
  keyAlgorithm: { type: "string", default: "ECDSA-P256", roles: "leaf" },
  caValidityHours: { type: "integer", default: 43800, roles: "leaf" },
  caRenewBeforeHours: { type: "integer", default: 8760, roles: "leaf" },
  serverValidityHours: { type: "integer", default: 2160, roles: "leaf" },
  serverRenewBeforeHours: { type: "integer", default: 720, roles: "leaf" },
  clientValidityHours: { type: "integer", default: 2160, roles: "leaf" },
  clientRenewBeforeHours: { type: "integer", default: 720, roles: "leaf" },
  rotationIntervalHours: { type: "integer", default: 24, roles: "leaf" },
  leaves: { type: "array", default: [], roles: "observer" },
  dataPath: { type: "string", default: "envoy", roles: "observer" },
  endpointSuffix: { type: "string", default: "thanos-bridge.internal", roles: "observer" },
  querierImage: { type: "string", default: "quay.io/thanos/thanos:v0.42.4", roles: "observer" },
  querierReplicas: { type: "integer", default: 2, roles: "observer" },
  replicaLabels: { type: "array", default: ["prometheus_replica"], roles: "observer" },
  extraEndpoints: { type: "array", default: [], roles: "observer" },
  clientNamespaces: { type: "array", default: [], roles: "observer" },
  querierCpu: { type: "string", default: "500m", roles: "observer" },
  querierMemory: { type: "string", default: "1Gi", roles: "observer" },
  envoyImage: { type: "string", default: "envoyproxy/envoy:v1.38.3", roles: "observer" },
  envoyCpu: { type: "string", default: "100m", roles: "observer" },
  envoyMemory: { type: "string", default: "256Mi", roles: "observer" },
  envoyIpFamily: { type: "string", default: "IPv4", roles: "observer" },
  envoyAccessLog: { type: "string", default: "errors", roles: "observer" },
  expiryAlertDays: { type: "integer", default: 0, roles: "observer" },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

/** Raw config as Pulumi hands it to the program: full keys (`thanos-bridge:hostname`) to text. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** Where Kubernetes objects go: a cluster (ambient kubeconfig unless set) or a render directory. */
export type KubernetesTarget =
  | {
      readonly kind: "cluster";
      readonly kubeconfig?: string;
      readonly context?: string;
      /** Do not wait for rollouts, endpoints and addresses (`pulumi.com/skipAwait`). */
      readonly skipAwait: boolean;
    }
  | { readonly kind: "render"; readonly directory: string };

export interface PkiConfig {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly ca: CertificateLifetime;
  readonly server: CertificateLifetime;
  readonly client: CertificateLifetime;
  /** Hours between two scheduled rotation runs. */
  readonly rotationIntervalHours: number;
}

/**
 * The leaf's exposure and the settings only it reads. The keys of the other exposures may stay
 * set (they are checked, not used): switching is then one line, and so is switching back.
 */
export type LeafExposureConfig =
  | { readonly kind: "ingress-nginx" }
  | {
      readonly kind: "gateway-api";
      readonly gatewayClassName: string;
      /** Where the leaf's own Gateway goes: the leaf's namespace unless set. */
      readonly gatewayNamespace: string;
    }
  | { readonly kind: "traefik"; readonly entryPoint: string };

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
  readonly exposure: LeafExposureConfig;
  readonly pki: PkiConfig;
  readonly kubernetes: KubernetesTarget;
}

/** CPU and memory of one container: requests, and a memory limit equal to the request. */
export interface ContainerResources {
  readonly cpu: string;
  readonly memory: string;
}

export interface ObserverConfig {
  readonly role: "observer";
  /** Fully qualified leaf stack names (`org/project/stack`), sorted, without duplicates. */
  readonly leaves: readonly string[];
  readonly namespace: string;
  readonly createNamespace: boolean;
  /**
   * How Querier reaches the leaves: `thanos`, Querier's own mutual TLS with no Envoy. Present
   * only then: absent means `envoy`, the default, so a stack that leaves the key alone reads
   * exactly as before the key existed.
   */
  readonly dataPath?: DataPath;
  /** Leaf `x` is reached by Querier as `x.<endpointSuffix>`, an alias of 127.0.0.1 in the pod. */
  readonly endpointSuffix: string;
  readonly querier: {
    readonly image: string;
    readonly replicas: number;
    /** Sorted, without duplicates. */
    readonly replicaLabels: readonly string[];
    /** In-cluster StoreAPI endpoints Querier reaches directly, sorted. */
    readonly extraEndpoints: readonly string[];
    /** Namespaces besides its own whose pods may query it (NetworkPolicy), sorted. */
    readonly clientNamespaces: readonly string[];
    readonly resources: ContainerResources;
  };
  readonly envoy: {
    readonly image: string;
    readonly resources: ContainerResources;
    /** The pod network's IP family: where Envoy's stats listener binds. */
    readonly ipFamily: EnvoyIpFamily;
    readonly accessLog: EnvoyAccessLog;
  };
  /**
   * Alert when a certificate Envoy uses expires in fewer than this many days (PodMonitor and
   * PrometheusRule); 0: no alert objects.
   */
  readonly expiryAlertDays: number;
  readonly kubernetes: KubernetesTarget;
}

export type StackConfig = LeafConfig | ObserverConfig;

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

  /** True when the key holds a value other than its default (so it was set on purpose). */
  isSet(key: ConfigKey): boolean {
    const text = this.text(key);
    if (text === undefined) return false;
    const spec = CONFIG_SCHEMA[key];
    const asText = Array.isArray(spec.default)
      ? JSON.stringify(spec.default)
      : String(spec.default);
    return text !== asText;
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

  /** A whole number from `min` to `max`; `allowed` says so in the message if set. */
  integer(key: ConfigKey, min: number, max: number, allowed?: string): number {
    const spec = CONFIG_SCHEMA[key];
    const text = this.text(key);
    if (text === undefined) return spec.default as number;
    const value = /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      const use = allowed ?? `a whole number from ${min} to ${max}`;
      this.problem(key, `${show(text)} is not allowed; use ${use}`);
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

/** Keys earlier releases read, and what replaced them. */
const REPLACED_KEYS: Readonly<Record<string, readonly ConfigKey[]>> = {
  certValidityHours: ["serverValidityHours", "clientValidityHours"],
  renewBeforeHours: ["serverRenewBeforeHours", "clientRenewBeforeHours"],
};

/** Rejects keys in the project's namespace that the program does not know (typos). */
function unknownKeys(raw: RawConfig): string[] {
  const prefix = `${PROJECT}:`;
  return Object.keys(raw)
    .filter((k) => k.startsWith(prefix) && !(k.slice(prefix.length) in CONFIG_SCHEMA))
    .sort()
    .map((k) => {
      const replaced = REPLACED_KEYS[k.slice(prefix.length)];
      return replaced
        ? `${k} was replaced by ${replaced.map(fullKey).join(" and ")}; set those instead`
        : `${k} is not a known key; known keys are ${Object.keys(CONFIG_SCHEMA).sort().join(", ")}`;
    });
}

function readKubernetesTarget(r: Reader): KubernetesTarget {
  const kubeconfig = r.string("kubeconfig");
  const context = r.string("kubeContext");
  const renderDir = r.string("renderDir");
  const skipAwait = r.boolean("skipAwait");
  if (renderDir !== "") {
    if (skipAwait) {
      r.problem(
        "skipAwait",
        `true has no effect with ${fullKey("renderDir")} (rendering never waits); leave it unset`,
      );
    }
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
    skipAwait,
  };
}

function readPki(r: Reader): PkiConfig {
  const keyAlgorithm = r.oneOf("keyAlgorithm", KEY_ALGORITHMS);
  const hundredYears = 100 * 365 * 24;
  const interval = r.integer("rotationIntervalHours", 1, 24 * 31);
  const lifetime = (kind: "ca" | "server" | "client"): CertificateLifetime => {
    const validityKey = `${kind}ValidityHours` as const;
    const renewKey = `${kind}RenewBeforeHours` as const;
    const validityHours = r.integer(validityKey, 1, hundredYears);
    const renewBeforeHours = r.integer(renewKey, 1, hundredYears);
    if (renewBeforeHours >= validityHours) {
      r.problem(
        renewKey,
        `${renewBeforeHours} is not allowed; it must be shorter than ${fullKey(validityKey)} ` +
          `(${validityHours}), or the certificate would be renewed on every run`,
      );
    }
    return { validityHours, renewBeforeHours };
  };
  const ca = lifetime("ca");
  const server = lifetime("server");
  const client = lifetime("client");
  for (const [kind, l] of [
    ["server", server],
    ["client", client],
  ] as const) {
    if (l.renewBeforeHours < 2 * interval) {
      r.problem(
        `${kind}RenewBeforeHours`,
        `${l.renewBeforeHours} is not allowed; it must be at least twice ` +
          `${fullKey("rotationIntervalHours")} (${2 * interval}), so that a certificate due for ` +
          `renewal meets two scheduled runs before it expires and one failed run does no harm`,
      );
    }
  }
  // See caSchedule: the new CA is trusted for the first half of the renew-before window and
  // signs in the second; each half must span two scheduled runs.
  if (ca.renewBeforeHours < 4 * interval) {
    r.problem(
      "caRenewBeforeHours",
      `${ca.renewBeforeHours} is not allowed; it must be at least 4 times ` +
        `${fullKey("rotationIntervalHours")} (${4 * interval}): a CA change has two halves (the ` +
        `new CA trusted, then signing), and each must span two scheduled runs`,
    );
  }
  // A generation lasts validity - renewBefore; it must not end before its overlap with the
  // previous generation has, or three CAs would overlap.
  if (ca.validityHours < 2 * ca.renewBeforeHours) {
    r.problem(
      "caValidityHours",
      `${ca.validityHours} is not allowed; it must be at least twice ` +
        `${fullKey("caRenewBeforeHours")} (${2 * ca.renewBeforeHours}), so that a CA change ` +
        `ends before the next one begins`,
    );
  }
  return { keyAlgorithm, ca, server, client, rotationIntervalHours: interval };
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

/** GRPCRoute allows 16 rules, and the gateway-api exposure gives each allowed service one. */
export const GRPC_ROUTE_MAX_RULES = 16;
/** A Traefik entry point's name, as its static configuration names it. */
const ENTRY_POINT = /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

function readExposure(r: Reader, allowedServices: readonly string[]): LeafExposureConfig {
  const kind = r.oneOf("exposure", EXPOSURES);
  // Every exposure's keys are checked whatever the exposure, so a prepared switch is valid.
  const gatewayClassName = r.string("gatewayClassName");
  if (gatewayClassName !== "" && !isDnsSubdomain(gatewayClassName)) {
    r.problem(
      "gatewayClassName",
      `${show(gatewayClassName)} is not allowed; use the name of a GatewayClass (a lowercase DNS subdomain)`,
    );
  }
  const gatewayNamespace = r.string("gatewayNamespace");
  if (gatewayNamespace !== "" && !isDnsLabel(gatewayNamespace)) {
    r.problem(
      "gatewayNamespace",
      `${show(gatewayNamespace)} is not allowed; use a namespace name (a DNS label), or leave it ` +
        `empty for the leaf's own namespace`,
    );
  }
  const entryPoint = r.string("traefikEntryPoint");
  if (!ENTRY_POINT.test(entryPoint)) {
    r.problem(
      "traefikEntryPoint",
      `${show(entryPoint)} is not allowed; use the name of an entry point of Traefik's static ` +
        `configuration (letters, digits, "-" and "_"), e.g. websecure`,
    );
  }
  switch (kind) {
    case "ingress-nginx":
      return { kind };
    case "traefik":
      return { kind, entryPoint };
    case "gateway-api":
      if (gatewayClassName === "") {
        r.problem(
          "gatewayClassName",
          `is required with ${fullKey("exposure")} gateway-api: the GatewayClass of the ` +
            `cluster's Gateway API implementation (\`kubectl get gatewayclass\`), e.g. eg`,
        );
      }
      if (allowedServices.length > GRPC_ROUTE_MAX_RULES) {
        r.problem(
          "allowedServices",
          `${allowedServices.length} services are not allowed with ${fullKey("exposure")} ` +
            `gateway-api; a GRPCRoute holds at most ${GRPC_ROUTE_MAX_RULES} rules, one per service`,
        );
      }
      return { kind, gatewayClassName, gatewayNamespace };
  }
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

  const namespace = readNamespace(r);
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

  const allowedServices = readAllowedServices(r);
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
    allowedServices,
    streamTimeoutSeconds: r.integer("streamTimeoutSeconds", 1, STREAM_TIMEOUT_SECONDS.max),
    exposure: readExposure(r, allowedServices),
    pki: readPki(r),
    kubernetes: readKubernetesTarget(r),
  };
}

/** `org/project/stack`, as StackReference names a stack on any backend. */
const QUALIFIED_STACK = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
/** A Kubernetes quantity without exponent forms: `500m`, `2`, `1.5`, `256Mi`, `1G`. */
const CPU_QUANTITY = /^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$/;
const MEMORY_QUANTITY = /^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
/** An image reference pinned to a tag or digest (`latest` does not count). */
const PINNED_IMAGE =
  /^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$/;
/**
 * A Querier endpoint: `host:port` or `dns+host:port` (A/AAAA lookup), or `dnssrv+name` /
 * `dnssrvnoa+name` (SRV lookup, which carries the port), as Thanos' DNS discovery accepts them.
 */
const STORE_ENDPOINT =
  /^((dns\+)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?:[0-9]{1,5}|(dnssrv|dnssrvnoa)\+_[a-z0-9-]+\._tcp\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$/;
/** Prometheus label name. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function uniqueSorted(r: Reader, key: ConfigKey, values: readonly string[]): readonly string[] {
  for (const value of new Set(values.filter((v, i) => values.indexOf(v) !== i))) {
    r.problem(key, `${show(value)} is listed more than once`);
  }
  return [...new Set(values)].sort();
}

function readList(
  r: Reader,
  key: ConfigKey,
  valid: (value: string) => boolean,
  allowed: string,
): readonly string[] {
  const values = r.stringList(key);
  for (const value of values) {
    if (!valid(value)) r.problem(key, `${show(value)} is not allowed; use ${allowed}`);
  }
  return uniqueSorted(r, key, values);
}

function readImage(r: Reader, key: ConfigKey): string {
  const image = r.string(key);
  if (!PINNED_IMAGE.test(image) || /:latest$/.test(image)) {
    r.problem(
      key,
      `${show(image)} is not allowed; pin the image to a release tag or a sha256 digest, ` +
        `e.g. ${String(CONFIG_SCHEMA[key].default)}`,
    );
  }
  return image;
}

function readResources(r: Reader, cpuKey: ConfigKey, memoryKey: ConfigKey): ContainerResources {
  const cpu = r.string(cpuKey);
  if (!CPU_QUANTITY.test(cpu) || /^0+m?$/.test(cpu)) {
    r.problem(
      cpuKey,
      `${show(cpu)} is not allowed; use a CPU quantity above zero such as 250m or 1`,
    );
  }
  const memory = r.string(memoryKey);
  if (!MEMORY_QUANTITY.test(memory) || /^0+[A-Za-z]*$/.test(memory)) {
    r.problem(
      memoryKey,
      `${show(memory)} is not allowed; use a memory quantity above zero such as 512Mi or 2Gi`,
    );
  }
  return { cpu, memory };
}

function readNamespace(r: Reader): string {
  const namespace = r.string("namespace");
  if (!isDnsLabel(namespace)) {
    r.problem(
      "namespace",
      `${show(namespace)} is not allowed; use a DNS label (lowercase letters, digits and "-", at most 63)`,
    );
  }
  return namespace;
}

function readObserver(r: Reader): ObserverConfig {
  const leaves = readList(
    r,
    "leaves",
    (v) => QUALIFIED_STACK.test(v),
    "a fully qualified stack name <organization>/<project>/<stack>, e.g. acme/thanos-bridge/leaf-a",
  );
  if (leaves.length === 0 && r.problems.every((p) => !p.startsWith(fullKey("leaves")))) {
    r.problem(
      "leaves",
      `is empty; list the leaf stacks this observer queries, e.g. ` +
        `\`pulumi config set --path 'leaves[0]' acme/thanos-bridge/leaf-a\``,
    );
  }
  const endpointSuffix = r.string("endpointSuffix");
  if (!isFqdn(endpointSuffix)) {
    r.problem(
      "endpointSuffix",
      `${show(endpointSuffix)} is not allowed; use a lowercase DNS suffix of at least two labels ` +
        `that no real zone uses, e.g. thanos-bridge.internal`,
    );
  }
  const dataPath = r.oneOf("dataPath", DATA_PATHS);
  const config: ObserverConfig = {
    role: "observer",
    leaves,
    namespace: readNamespace(r),
    createNamespace: r.boolean("createNamespace"),
    ...(dataPath === "thanos" ? { dataPath } : {}),
    endpointSuffix,
    querier: {
      image: readImage(r, "querierImage"),
      replicas: r.integer("querierReplicas", 1, 100),
      replicaLabels: readList(
        r,
        "replicaLabels",
        (v) => LABEL_NAME.test(v),
        "a Prometheus label name",
      ),
      extraEndpoints: readList(
        r,
        "extraEndpoints",
        (v) => STORE_ENDPOINT.test(v),
        "host:port, dns+host:port or dnssrv+_<port name>._tcp.<service>, e.g. dnssrv+_grpc._tcp.thanos-store.monitoring.svc",
      ),
      clientNamespaces: readList(
        r,
        "clientNamespaces",
        isDnsLabel,
        "a namespace name (a DNS label), e.g. grafana",
      ),
      resources: readResources(r, "querierCpu", "querierMemory"),
    },
    envoy: {
      image: readImage(r, "envoyImage"),
      resources: readResources(r, "envoyCpu", "envoyMemory"),
      ipFamily: r.oneOf("envoyIpFamily", ENVOY_IP_FAMILIES),
      accessLog: r.oneOf("envoyAccessLog", ENVOY_ACCESS_LOGS),
    },
    // 0 turns the alert off; otherwise a day count up to a year.
    expiryAlertDays: r.integer(
      "expiryAlertDays",
      0,
      365,
      "0 (no alert) or a whole number of days from 1 to 365",
    ),
    kubernetes: readKubernetesTarget(r),
  };
  if (dataPath === "thanos") thanosDataPathKeys(r, config);
  return config;
}

/** Keys only the Envoy data path reads, refused with `dataPath: thanos` unless at their default. */
const ENVOY_ONLY_KEYS: readonly ConfigKey[] = [
  "endpointSuffix",
  "envoyImage",
  "envoyCpu",
  "envoyMemory",
  "envoyIpFamily",
  "envoyAccessLog",
];

/** What `dataPath: thanos` cannot do: Envoy's settings, and the alert on Envoy's metrics. */
function thanosDataPathKeys(r: Reader, config: ObserverConfig): void {
  for (const key of ENVOY_ONLY_KEYS) {
    if (r.isSet(key)) {
      r.problem(
        key,
        `applies only to ${fullKey("dataPath")} envoy, but this stack's is thanos, which has ` +
          `no Envoy; remove it`,
      );
    }
  }
  if (config.expiryAlertDays !== 0) {
    r.problem(
      "expiryAlertDays",
      `${config.expiryAlertDays} is not allowed with ${fullKey("dataPath")} thanos: the alert ` +
        `reads Envoy's certificate-expiry gauge, and that data path has no Envoy; set it to 0, ` +
        `and watch expiry with \`npm run rotate\` (its check fails on a certificate due for ` +
        `renewal or expired) or the observer's \`leaves[].expiry\` output ` +
        `(\`pulumi stack output leaves\`)`,
    );
  }
}

/** Keys of the other role that were set anyway: likely a stack file meant for another stack. */
function otherRoleKeys(r: Reader, role: Role): void {
  for (const [key, spec] of Object.entries(CONFIG_SCHEMA) as [ConfigKey, KeySpec][]) {
    if (spec.roles !== "all" && spec.roles !== role && r.isSet(key)) {
      r.problem(
        key,
        `applies only to role ${spec.roles}, but this stack's role is ${role}; remove it`,
      );
    }
  }
}

/**
 * Reads and validates the whole stack config. Throws a ConfigError listing every problem;
 * returns a typed object only when the config is entirely valid.
 */
export function loadConfig(raw: RawConfig, stack: string): StackConfig {
  const role = readRole(raw, stack);
  const reader = new Reader(raw);
  reader.problems.push(...unknownKeys(raw));
  otherRoleKeys(reader, role);
  const config = role === "leaf" ? readLeaf(reader, stack) : readObserver(reader);
  if (reader.problems.length > 0) throw new ConfigError(stack, reader.problems);
  return config;
}
