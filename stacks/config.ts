// Typed, validated stack configuration. Pure: the raw values come in as the strings Pulumi
// stores (numbers and booleans as text, arrays as JSON), so the same code serves the real
// program (stacks/index.ts) and the tests. Every problem is reported at once, each naming the
// key, the value and what is allowed, before any resource is declared.

import { isAbsolute, relative, resolve } from "node:path";
import type {
  CertificateLifetime,
  KeyAlgorithm,
  PkiSettings,
} from "../components/leaf/pki/certspecs";
import type { DataPathName as DataPath } from "../components/observer";
import type {
  ContainerResources,
  EnvoyAccessLog,
  EnvoyIpFamily,
  EnvoySettings,
  QuerierSettings,
} from "../components/observer/settings";
import {
  isDnsLabel,
  isDnsSubdomain,
  isFqdn,
  isGrpcServiceName,
  isServiceName,
} from "../components/common/validate";
import {
  CONFIG_SCHEMA,
  ConfigKey,
  ExposureKind,
  IngressPathType,
  ConfigKeySpec,
  PROJECT,
  REQUIRED_SERVICES,
  ROLES,
  Role,
  THANOS_SERVICES,
  specOf,
} from "./keys";

export {
  CONFIG_SCHEMA,
  DATA_PATHS,
  EXPOSURES,
  INGRESS_PATH_TYPES,
  KEY_ALGORITHMS,
  PROJECT,
  ROLES,
} from "./keys";
export type { ConfigKey, ExposureKind, IngressPathType, Role } from "./keys";
export type { CertificateLifetime, DataPath, KeyAlgorithm };

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

export interface PkiConfig extends PkiSettings {
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
  readonly querier: QuerierSettings;
  readonly envoy: EnvoySettings;
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
/** Longest value a message repeats in full; a longer one is cut, with its length. */
const SHOWN_CHARACTERS = 60;

/** A value as messages quote it: JSON, cut after SHOWN_CHARACTERS with its length said. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  if (typeof value !== "string" || value.length <= SHOWN_CHARACTERS) return text;
  return `${JSON.stringify(value.slice(0, SHOWN_CHARACTERS)).slice(0, -1)}..." (${value.length} characters)`;
}

/** Levenshtein distance, for "did you mean" on keys and values. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The candidate `value` was most likely meant as: the same but for case, dashes and
 * underscores, else the nearest within a third of its length (at most 3 edits); none if two are
 * equally near.
 */
export function closest(value: string, candidates: readonly string[]): string | undefined {
  const fold = (v: string) => v.toLowerCase().replace(/[-_ ]/g, "");
  const same = candidates.filter((c) => fold(c) === fold(value));
  if (same.length === 1) return same[0];
  const limit = Math.min(3, Math.max(1, Math.floor(value.length / 3)));
  const scored = candidates
    .map((c) => ({ c, d: editDistance(fold(value), fold(c)) }))
    .filter((x) => x.d <= limit)
    .sort((x, y) => x.d - y.d);
  if (scored.length === 0 || (scored.length > 1 && scored[1].d === scored[0].d)) return undefined;
  return scored[0].c;
}

const didYouMean = (value: string, candidates: readonly string[]): string => {
  const near = closest(value, candidates);
  return near === undefined ? "" : ` (did you mean ${near}?)`;
};

/** Collects problems while reading typed values; each reader returns the default on error. */
class Reader {
  private readonly found: { readonly key: ConfigKey; readonly text: string }[] = [];

  constructor(private readonly raw: RawConfig) {}

  get problems(): readonly string[] {
    return this.found.map((p) => p.text);
  }

  /** The problems about keys the stack sets (the others are only defaults, or missing). */
  problemsOfSetKeys(): readonly string[] {
    return this.found.filter((p) => this.raw[fullKey(p.key)] !== undefined).map((p) => p.text);
  }

  hasProblem(key: ConfigKey): boolean {
    return this.found.some((p) => p.key === key);
  }

  problem(key: ConfigKey, message: string): void {
    const text = `${fullKey(key)}: ${message}`;
    if (!this.found.some((p) => p.text === text)) this.found.push({ key, text });
  }

  /** True when the key holds a value other than its default (so it was set on purpose). */
  isSet(key: ConfigKey): boolean {
    const text = this.text(key);
    if (text === undefined) return false;
    const spec = specOf(key);
    const asText = Array.isArray(spec.default)
      ? JSON.stringify(spec.default)
      : String(spec.default);
    return text !== asText;
  }

  /** The raw text, or undefined for unset or empty. Whitespace around it is a problem. */
  private text(key: ConfigKey): string | undefined {
    const value = this.raw[fullKey(key)];
    if (value === undefined || value === "") return undefined;
    // Kubeconfig contents are a document: their line breaks are theirs.
    if (key === "kubeconfig") return value;
    const trimmed = value.trim();
    if (trimmed !== value && specOf(key).type !== "array") {
      this.problem(
        key,
        `${show(value)} has whitespace around it; remove it (${show(trimmed)} is what was meant)`,
      );
    }
    return trimmed === "" ? undefined : trimmed;
  }

  string(key: ConfigKey): string {
    return this.text(key) ?? String(specOf(key).default);
  }

  /** One of the key's `allowed` values. */
  oneOf<T extends string>(key: ConfigKey): T {
    const allowed = specOf(key).allowed ?? [];
    const value = this.string(key);
    if (allowed.includes(value)) return value as T;
    this.problem(
      key,
      `${show(value)} is not allowed; use one of ${allowed.join(", ")}${didYouMean(value, allowed)}`,
    );
    return allowed[0] as T;
  }

  /** A whole number in the key's range; `allowed` words the range in the message if set. */
  integer(key: ConfigKey, allowed?: string): number {
    const spec = specOf(key);
    const [min, max] = [spec.min ?? 0, spec.max ?? Number.MAX_SAFE_INTEGER];
    const text = this.text(key);
    if (text === undefined) return spec.default as number;
    const value = /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      const use = allowed ?? `a whole number from ${min} to ${max}`;
      const unit = /^[0-9]+ ?[a-z]+$/i.test(text) ? ", without a unit" : "";
      this.problem(key, `${show(text)} is not allowed; use ${use}${unit}`);
      return spec.default as number;
    }
    return value;
  }

  boolean(key: ConfigKey): boolean {
    const spec = specOf(key);
    const text = this.text(key);
    if (text === undefined) return spec.default as boolean;
    if (text === "true" || text === "false") return text === "true";
    const meant = /^(true|yes|on|1)$/i.test(text)
      ? " (did you mean true?)"
      : /^(false|no|off|0)$/i.test(text)
        ? " (did you mean false?)"
        : "";
    this.problem(key, `${show(text)} is not allowed; use true or false${meant}`);
    return spec.default as boolean;
  }

  stringList(key: ConfigKey): readonly string[] {
    const spec = specOf(key);
    const text = this.text(key);
    if (text === undefined) return spec.default as readonly string[];
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (typeof value === "string" || (value === undefined && !text.startsWith("["))) {
      // A list written as a string: `key: a,b` or `pulumi config set key a`.
      this.problem(
        key,
        `${show(typeof value === "string" ? value : text)} is a string, not a list; write it in the stack file as a YAML list ` +
          `(one "- item" per line), or \`pulumi config set --path '${key}[0]' <item>\``,
      );
      return spec.default as readonly string[];
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      this.problem(key, `${show(text)} is not allowed; use a YAML list of strings`);
      return spec.default as readonly string[];
    }
    for (const item of value) {
      if (item.trim() !== item) {
        this.problem(key, `${show(item)} has whitespace around it; remove it`);
      }
    }
    return value.map((v) => v.trim());
  }
}

/** Reads `role`, or says what is wrong with it. */
function readRole(raw: RawConfig): { role?: Role; problem?: string } {
  const role = raw[fullKey("role")] ?? "";
  if ((ROLES as readonly string[]).includes(role)) return { role: role as Role };
  return {
    problem:
      role === ""
        ? `${fullKey("role")} is not set; run \`pulumi config set role leaf\` (or observer) on this stack`
        : `${fullKey("role")}: ${show(role)} is not allowed; use one of ${ROLES.join(", ")}` +
          didYouMean(role, ROLES),
  };
}

/** Keys earlier releases read, and what replaced them. */
const REPLACED_KEYS: Readonly<Record<string, readonly ConfigKey[]>> = {
  certValidityHours: ["serverValidityHours", "clientValidityHours"],
  renewBeforeHours: ["serverRenewBeforeHours", "clientRenewBeforeHours"],
};

/** Rejects keys in the project's namespace that the program does not know (typos). */
function unknownKeys(raw: RawConfig): string[] {
  const prefix = `${PROJECT}:`;
  const known = Object.keys(CONFIG_SCHEMA);
  return Object.keys(raw)
    .filter((k) => k.startsWith(prefix) && !(k.slice(prefix.length) in CONFIG_SCHEMA))
    .sort()
    .map((k) => {
      const name = k.slice(prefix.length);
      const replaced = REPLACED_KEYS[name];
      if (replaced) {
        return `${k} was replaced by ${replaced.map(fullKey).join(" and ")}; set those instead`;
      }
      const near = closest(name, known);
      return near !== undefined
        ? `${k} is not a known key; did you mean ${fullKey(near)}?`
        : `${k} is not a known key; known keys are ${[...known].sort().join(", ")}`;
    });
}

/**
 * Keys of another namespace that are ours misspelt (`thanos_bridge:`, `thanos-brigde:`): Pulumi
 * keeps them, and the program would never read them.
 */
function nearNamespaceKeys(raw: RawConfig): string[] {
  return Object.keys(raw)
    .filter((k) => {
      const namespace = k.split(":")[0];
      return namespace !== PROJECT && closest(namespace, [PROJECT]) !== undefined;
    })
    .sort()
    .map((k) => {
      const [namespace, ...rest] = k.split(":");
      return (
        `${k}: the namespace ${namespace} is not this project's, so the program would never ` +
        `read it; did you mean ${fullKey(rest.join(":"))}?`
      );
    });
}

/**
 * The Kubernetes provider's own config keys. The program passes every resource its own provider,
 * which reads none of them, so `pulumi config set kubernetes:context X` would change nothing:
 * `context` and `kubeconfig` are taken as this project's keys (as Pulumi users expect), every
 * other one is refused with the key to use instead.
 */
const KUBERNETES_KEYS: Readonly<Record<string, ConfigKey>> = {
  "kubernetes:context": "kubeContext",
  "kubernetes:kubeconfig": "kubeconfig",
};
const KUBERNETES_INSTEAD: Readonly<Record<string, ConfigKey>> = {
  "kubernetes:namespace": "namespace",
  "kubernetes:renderYamlToDirectory": "renderDir",
};

/** `raw` with `kubernetes:context`/`kubeconfig` as this project's keys, and the problems. */
function kubernetesKeys(raw: RawConfig): { raw: RawConfig; problems: string[] } {
  const merged: Record<string, string | undefined> = { ...raw };
  const problems: string[] = [];
  for (const k of Object.keys(raw)
    .filter((k) => k.startsWith("kubernetes:"))
    .sort()) {
    const ours = KUBERNETES_KEYS[k];
    if (ours !== undefined) {
      const own = raw[fullKey(ours)];
      if (own !== undefined && own !== "" && own !== raw[k]) {
        problems.push(
          `${k} and ${fullKey(ours)} are both set, to different values; keep one (they mean ` +
            `the same here)`,
        );
      } else merged[fullKey(ours)] = raw[k];
      continue;
    }
    const instead = KUBERNETES_INSTEAD[k];
    problems.push(
      `${k} has no effect: this program gives its resources their own Kubernetes provider, ` +
        `which does not read the kubernetes: keys; ` +
        (instead !== undefined
          ? `set ${fullKey(instead)} instead`
          : `remove it (${PROJECT}'s keys are listed in docs/CONFIG.md)`),
    );
  }
  return { raw: merged, problems };
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
  const keyAlgorithm = r.oneOf<KeyAlgorithm>("keyAlgorithm");
  const interval = r.integer("rotationIntervalHours");
  const lifetime = (kind: "ca" | "server" | "client"): CertificateLifetime => {
    const validityKey = `${kind}ValidityHours` as const;
    const renewKey = `${kind}RenewBeforeHours` as const;
    const validityHours = r.integer(validityKey);
    const renewBeforeHours = r.integer(renewKey);
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
  const caEpoch = r.integer("caEpoch");
  return { keyAlgorithm, ca, server, client, rotationIntervalHours: interval, caEpoch };
}

function readAllowedServices(r: Reader): readonly string[] {
  const services = r.stringList("allowedServices");
  if (services.length === 0) {
    r.problem("allowedServices", `[] is not allowed; list at least one gRPC service`);
  }
  for (const service of services) {
    const known = THANOS_SERVICES.find((t) => t.toLowerCase() === service.toLowerCase());
    if (!isGrpcServiceName(service)) {
      r.problem(
        "allowedServices",
        `${show(service)} is not a fully qualified gRPC service name; use <package>.<Service>, ` +
          `e.g. thanos.Store or thanos.info.Info`,
      );
    } else if (known !== undefined && known !== service) {
      r.problem(
        "allowedServices",
        `${show(service)} is not allowed; gRPC paths are case-sensitive, so it would match no ` +
          `call: write ${known}`,
      );
    }
  }
  if (services.length > 0) {
    const missing = REQUIRED_SERVICES.filter((s) => !services.includes(s));
    if (missing.length > 0) {
      r.problem(
        "allowedServices",
        `${show(services)} leaves out ${missing.join(" and ")}, which Querier calls on every ` +
          `store, so the observer could not use this leaf; add ${missing.join(" and ")}`,
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
  const kind = r.oneOf<ExposureKind>("exposure");
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

function readLeafConfig(r: Reader, stack: string): LeafConfig {
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
    publicPort: r.integer("publicPort"),
    namespace,
    createNamespace: r.boolean("createNamespace"),
    sidecarService,
    sidecarPort: r.integer("sidecarPort"),
    ingressClass,
    ingressPathType: r.oneOf<IngressPathType>("ingressPathType"),
    allowedServices,
    streamTimeoutSeconds: r.integer("streamTimeoutSeconds"),
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
/** A `host:port` endpoint's port is 1 to 65535 (SRV endpoints carry none). */
function endpointPortValid(endpoint: string): boolean {
  const port = /:([0-9]+)$/.exec(endpoint);
  return port === null || (Number(port[1]) >= 1 && Number(port[1]) <= 65535);
}
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

/** Millicores of a CPU quantity (`CPU_QUANTITY`). */
function millicores(cpu: string): number {
  return cpu.endsWith("m") ? Number(cpu.slice(0, -1)) : Math.round(Number(cpu) * 1000);
}

const MEMORY_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Bytes of a memory quantity (`MEMORY_QUANTITY`). */
function bytes(memory: string): number {
  const [, digits, unit] = /^([0-9]+)([A-Za-z]*)$/.exec(memory) ?? ["", "0", ""];
  return Number(digits) * (MEMORY_UNITS[unit] ?? 0);
}

/**
 * The least a container is given: what it needs to start and serve one leaf. Below it the pod
 * is throttled to a stop or killed for memory, which the quantities alone would not say.
 */
const RESOURCE_FLOORS = {
  querier: { cpu: "100m", memory: "128Mi", what: "Querier" },
  envoy: { cpu: "10m", memory: "32Mi", what: "Envoy" },
} as const;

function readResources(
  r: Reader,
  cpuKey: ConfigKey,
  memoryKey: ConfigKey,
  floor: (typeof RESOURCE_FLOORS)[keyof typeof RESOURCE_FLOORS],
): ContainerResources {
  const cpu = r.string(cpuKey);
  if (!CPU_QUANTITY.test(cpu)) {
    r.problem(
      cpuKey,
      `${show(cpu)} is not allowed; use a CPU quantity such as 250m or 1 (at least ${floor.cpu})`,
    );
  } else if (millicores(cpu) < millicores(floor.cpu)) {
    r.problem(
      cpuKey,
      `${show(cpu)} is not allowed; ${floor.what} needs at least ${floor.cpu} of CPU`,
    );
  }
  const memory = r.string(memoryKey);
  if (!MEMORY_QUANTITY.test(memory)) {
    r.problem(
      memoryKey,
      `${show(memory)} is not allowed; use a memory quantity such as 512Mi or 2Gi (at least ` +
        `${floor.memory})`,
    );
  } else if (bytes(memory) < bytes(floor.memory)) {
    r.problem(
      memoryKey,
      `${show(memory)} is not allowed; ${floor.what} needs at least ${floor.memory} of memory` +
        (/^[0-9]+$/.test(memory) ? " (a quantity without a unit is bytes)" : ""),
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

function readLeavesWith(r: Reader): readonly string[] {
  const leaves = readList(
    r,
    "leaves",
    (v) => QUALIFIED_STACK.test(v),
    "a fully qualified stack name <organization>/<project>/<stack>, e.g. acme/thanos-bridge/leaf-a",
  );
  if (leaves.length === 0 && !r.hasProblem("leaves")) {
    r.problem(
      "leaves",
      `is empty; list the leaf stacks this observer queries, e.g. ` +
        `\`pulumi config set --path 'leaves[0]' acme/thanos-bridge/leaf-a\``,
    );
  }
  return leaves;
}

/**
 * An observer's `leaves`, read as its stack reads them: the fully qualified names among them
 * (sorted, distinct), and every problem of the list. The one parser of leaf lists, for the
 * program, `npm run check` (and so deploy) and `npm run rotate`.
 */
export function readLeaves(raw: RawConfig): {
  readonly leaves: readonly string[];
  readonly problems: readonly string[];
} {
  const r = new Reader(raw);
  const leaves = readLeavesWith(r).filter((l) => QUALIFIED_STACK.test(l));
  return { leaves, problems: r.problems };
}

function readObserverConfig(r: Reader): ObserverConfig {
  const leaves = readLeavesWith(r);
  const endpointSuffix = r.string("endpointSuffix");
  if (!isFqdn(endpointSuffix)) {
    r.problem(
      "endpointSuffix",
      `${show(endpointSuffix)} is not allowed; use a lowercase DNS suffix of at least two labels ` +
        `that no real zone uses, e.g. thanos-bridge.internal`,
    );
  }
  const dataPath = r.oneOf<DataPath>("dataPath");
  const config: ObserverConfig = {
    role: "observer",
    leaves,
    namespace: readNamespace(r),
    createNamespace: r.boolean("createNamespace"),
    ...(dataPath === "thanos" ? { dataPath } : {}),
    endpointSuffix,
    querier: {
      image: readImage(r, "querierImage"),
      replicas: r.integer("querierReplicas"),
      replicaLabels: readList(
        r,
        "replicaLabels",
        (v) => LABEL_NAME.test(v),
        "a Prometheus label name",
      ),
      extraEndpoints: readList(
        r,
        "extraEndpoints",
        (v) => STORE_ENDPOINT.test(v) && endpointPortValid(v),
        "host:port, dns+host:port or dnssrv+_<port name>._tcp.<service>, e.g. dnssrv+_grpc._tcp.thanos-store.monitoring.svc",
      ),
      clientNamespaces: readList(
        r,
        "clientNamespaces",
        isDnsLabel,
        "a namespace name (a DNS label), e.g. grafana",
      ),
      resources: readResources(r, "querierCpu", "querierMemory", RESOURCE_FLOORS.querier),
    },
    envoy: {
      image: readImage(r, "envoyImage"),
      resources: readResources(r, "envoyCpu", "envoyMemory", RESOURCE_FLOORS.envoy),
      ipFamily: r.oneOf<EnvoyIpFamily>("envoyIpFamily"),
      accessLog: r.oneOf<EnvoyAccessLog>("envoyAccessLog"),
    },
    // 0 turns the alert off; otherwise a day count up to a year.
    expiryAlertDays: r.integer(
      "expiryAlertDays",
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
  for (const [key, spec] of Object.entries(CONFIG_SCHEMA) as [ConfigKey, ConfigKeySpec][]) {
    if (spec.roles !== "all" && spec.roles !== role && r.isSet(key)) {
      r.problem(
        key,
        `applies only to role ${spec.roles}, but this stack's role is ${role}; remove it`,
      );
    }
  }
}

/** Kubeconfig contents rather than a path: a document (several lines, or JSON), not a file name. */
const KUBECONFIG_CONTENTS = /\n|^\s*\{|^\s*(apiVersion|clusters|contexts|users|kind)\s*:/;

/**
 * What the stack file keeps in the wrong form: a key encrypted (`secure:`) that the program uses
 * in plain text, in its outputs and objects, or kubeconfig contents, which hold credentials, in
 * plain text in a file meant for git. Needs to know which keys are encrypted: `npm run check`
 * does, from the stack file.
 */
function secrecyProblems(raw: RawConfig, encrypted: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const key of [...encrypted].sort()) {
    const name = key.startsWith(`${PROJECT}:`) ? key.slice(PROJECT.length + 1) : undefined;
    const ours =
      KUBERNETES_KEYS[key] ?? (name !== undefined && name in CONFIG_SCHEMA ? name : undefined);
    if (ours === undefined || specOf(ours).secret === true) continue;
    problems.push(
      `${key} is encrypted (secure:), but it is not a secret: the program uses it in plain text, ` +
        `in its outputs and objects; set it in plain text, \`pulumi config set ${ours} <value>\``,
    );
  }
  for (const key of [fullKey("kubeconfig"), "kubernetes:kubeconfig"]) {
    const value = raw[key];
    if (value === undefined || encrypted.has(key) || !KUBECONFIG_CONTENTS.test(value)) continue;
    problems.push(
      `${key} holds kubeconfig contents (${value.length} characters, credentials) in plain text, ` +
        `in a stack file meant for git; give a path instead, or set the contents encrypted: ` +
        `\`pulumi config set --secret ${key.startsWith(PROJECT) ? "kubeconfig" : key} < <file>\``,
    );
  }
  return problems;
}

/**
 * Reads and validates the whole stack config. Throws a ConfigError listing every problem;
 * returns a typed object only when the config is entirely valid. A bad or missing role hides
 * nothing: every key the stack sets is still checked on its own.
 */
export function loadConfig(
  input: RawConfig,
  stack: string,
  encrypted?: ReadonlySet<string>,
): StackConfig {
  const { raw, problems: kubernetes } = kubernetesKeys(input);
  const problems = [
    ...nearNamespaceKeys(raw),
    ...kubernetes,
    ...unknownKeys(raw),
    ...(encrypted !== undefined ? secrecyProblems(input, encrypted) : []),
  ];
  const { role, problem } = readRole(raw);
  if (role === undefined) {
    // Each role's reader checks the keys it reads; keep what they say about keys set here.
    const set = new Set<string>();
    for (const read of [(r: Reader) => readLeafConfig(r, stack), readObserverConfig]) {
      const reader = new Reader(raw);
      read(reader);
      for (const p of reader.problemsOfSetKeys()) set.add(p);
    }
    throw new ConfigError(stack, [problem as string, ...problems, ...[...set].sort()]);
  }
  const reader = new Reader(raw);
  otherRoleKeys(reader, role);
  const config = role === "leaf" ? readLeafConfig(reader, stack) : readObserverConfig(reader);
  problems.push(...reader.problems);
  if (problems.length > 0) throw new ConfigError(stack, problems);
  return config;
}

/**
 * Legal values that are most likely mistakes, each naming its key; they refuse nothing.
 * `npm run check` and deploy print them. `encrypted` as for loadConfig: a kubeconfig set
 * encrypted is a target, though its value cannot be read offline.
 */
export function configWarnings(
  config: StackConfig,
  projectDir: string,
  encrypted: ReadonlySet<string> = new Set(),
): string[] {
  const warnings: string[] = [];
  if (config.role === "leaf" && config.publicPort === 80) {
    warnings.push(
      `${fullKey("publicPort")}: 80 is the plain-HTTP port, but the observer speaks TLS to the ` +
        `leaf's ingress, usually on 443; set the port the ingress serves HTTPS on`,
    );
  }
  const target = config.kubernetes;
  if (target.kind === "render") {
    const where = relative(projectDir, resolve(projectDir, target.directory));
    if (where.startsWith("..") || isAbsolute(where)) {
      warnings.push(
        `${fullKey("renderDir")}: ${show(target.directory)} is outside the project directory; ` +
          `the manifests go there with their Secrets in plain text, where the project's ` +
          `.gitignore does not reach; e.g. out/<stack> keeps them in the project, ignored`,
      );
    }
  } else if (
    target.kubeconfig === undefined &&
    target.context === undefined &&
    ![fullKey("kubeconfig"), "kubernetes:kubeconfig"].some((k) => encrypted.has(k))
  ) {
    warnings.push(
      `none of ${fullKey("kubeContext")}, ${fullKey("kubeconfig")} or ${fullKey("renderDir")} ` +
        `is set: the stack deploys to the current context of the ambient kubeconfig, whichever ` +
        `cluster that is when it runs; name the cluster with ${fullKey("kubeContext")}`,
    );
  }
  return warnings;
}
