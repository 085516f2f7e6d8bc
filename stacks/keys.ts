// Every config key the program reads, declared once: its type, default, the role that reads it,
// its allowed values or range, and its description. The type of each key's value derives from
// its entry (`ConfigValues`), and the loader (stacks/config/) reads and checks values by it, so a
// key with no rule of its own is this entry alone: its role's config gets it as a field.
// `Pulumi.yaml`'s config section and docs/CONFIG.md are generated from these (`npm run
// config:docs`), and a test fails when either is stale. Rules over one key's value or several
// keys (names, PKI lifetimes, the target, the other role's keys) are code, in the loader.

import type { KeyAlgorithm } from "../components/leaf/pki/certspecs";
import { STREAM_TIMEOUT_SECONDS } from "../components/common/contract";
import type { DataPathName as DataPath } from "../components/observer";
import { ENVOY_ACCESS_LOGS, ENVOY_IP_FAMILIES } from "../components/observer/settings";

export const PROJECT = "thanos-bridge";

export type Role = "leaf" | "observer";
export const ROLES: readonly Role[] = ["leaf", "observer"];

const KEY_ALGORITHMS: readonly KeyAlgorithm[] = [
  "ECDSA-P256",
  "ECDSA-P384",
  "RSA-2048",
  "RSA-3072",
  "RSA-4096",
];

const DATA_PATHS: readonly DataPath[] = ["envoy", "thanos"];

/** The gRPC services Querier calls on every store: a leaf that does not route them is no store. */
export const REQUIRED_SERVICES: readonly string[] = ["thanos.Store", "thanos.info.Info"];
/** Thanos' other gRPC services a leaf may route, as their proto packages spell them. */
export const THANOS_SERVICES: readonly string[] = [
  ...REQUIRED_SERVICES,
  "thanos.Rules",
  "thanos.Targets",
  "thanos.Metadata",
  "thanos.Exemplars",
];

const HUNDRED_YEARS_HOURS = 100 * 365 * 24;

type KeyType = "string" | "integer" | "boolean" | "array";
type DefaultValue = string | number | boolean | readonly string[];

export interface ConfigKeySpec {
  readonly type: KeyType;
  readonly default: DefaultValue;
  /** Which role reads the key; `all` for both. */
  readonly roles: "all" | Role;
  /** For a string key with a fixed set of values: those values. */
  readonly allowed?: readonly string[];
  /** For an integer key: its range, both ends included. */
  readonly min?: number;
  readonly max?: number;
  /** May be set encrypted (`pulumi config set --secret`); every other key is plain text. */
  readonly secret?: true;
  /** For the user: Pulumi.yaml and docs/CONFIG.md. */
  readonly description: string;
}

export const CONFIG_SCHEMA = {
  role: {
    type: "string",
    default: "",
    roles: "all",
    allowed: ROLES,
    description:
      'What this stack deploys: "leaf" (a cluster whose Thanos sidecar is exposed) or "observer" (the cluster running Thanos Querier). Required on every stack.',
  },
  kubeconfig: {
    type: "string",
    default: "",
    roles: "all",
    secret: true,
    description:
      "Kubeconfig path or contents for the target cluster. Empty uses the ambient kubeconfig ($KUBECONFIG or ~/.kube/config). Set contents with --secret.",
  },
  kubeContext: {
    type: "string",
    default: "",
    roles: "all",
    description: "Kubeconfig context to use. Empty uses the kubeconfig's current context.",
  },
  renderDir: {
    type: "string",
    default: "",
    roles: "all",
    description:
      "Render the Kubernetes manifests into this directory instead of deploying them (the provider's renderYamlToDirectory). Secrets are written there in plain text. Cannot be combined with kubeconfig or kubeContext.",
  },
  skipAwait: {
    type: "boolean",
    default: false,
    roles: "all",
    description:
      "Do not wait for the Querier Deployment to roll out, its Service to have endpoints or the leaf's Ingress to get an address (the Kubernetes provider's pulumi.com/skipAwait annotation), for clusters where something else watches readiness. Deletions are still awaited. Cannot be combined with renderDir.",
  },
  clusterName: {
    type: "string",
    default: "",
    roles: "leaf",
    description:
      "Leaf only. Name of the leaf cluster, a DNS label unique among the observer's leaves. Empty uses the stack name.",
  },
  hostname: {
    type: "string",
    default: "",
    roles: "leaf",
    description:
      "Leaf only, required. Public DNS name of the leaf's ingress; the server certificate's SAN and the SNI the observer sends.",
  },
  publicPort: {
    type: "integer",
    default: 443,
    roles: "leaf",
    min: 1,
    max: 65535,
    description: "Leaf only. Port on which the ingress controller serves HTTPS for the hostname.",
  },
  namespace: {
    type: "string",
    default: "monitoring",
    roles: "all",
    description:
      "On a leaf, the namespace of the Thanos sidecar Service; the Ingress and its Secrets go there. On the observer, the namespace of Querier, Envoy and their objects.",
  },
  createNamespace: {
    type: "boolean",
    default: false,
    roles: "all",
    description:
      "Create the namespace instead of using an existing one. The observer's is labelled to enforce the restricted Pod Security Standard.",
  },
  sidecarService: {
    type: "string",
    default: "kube-prometheus-stack-thanos-discovery",
    roles: "leaf",
    description:
      "Leaf only. Service in front of the Thanos sidecar's gRPC port. The default is the one kube-prometheus-stack creates with prometheus.thanosService.enabled for a release named kube-prometheus-stack.",
  },
  sidecarPort: {
    type: "integer",
    default: 10901,
    roles: "leaf",
    min: 1,
    max: 65535,
    description: "Leaf only. The sidecar Service's gRPC port.",
  },
  ingressClass: {
    type: "string",
    default: "nginx",
    roles: "leaf",
    description:
      "Leaf only. IngressClass of the ingress-nginx controller that serves the hostname.",
  },
  ingressPathType: {
    type: "string",
    default: "Prefix",
    roles: "leaf",
    allowed: ["Prefix", "ImplementationSpecific"],
    description:
      "Leaf only. pathType of the Ingress paths, Prefix or ImplementationSpecific. Use ImplementationSpecific on ingress-nginx v1.12.0 to v1.13.1, whose strict path validation rejects the dots in gRPC paths.",
  },
  exposure: {
    type: "string",
    default: "ingress-nginx",
    roles: "leaf",
    // How a leaf's StoreAPI is published (components/leaf/exposures/).
    allowed: ["ingress-nginx", "gateway-api", "traefik"],
    description:
      "Leaf only. What publishes the sidecar's StoreAPI: ingress-nginx (an Ingress), gateway-api (the leaf's own Gateway with client-certificate validation, and a GRPCRoute) or traefik (an IngressRoute and a TLSOption). Changing it changes no certificate and nothing the observer reads. See docs/EXPOSURES.md.",
  },
  gatewayClassName: {
    type: "string",
    default: "",
    roles: "leaf",
    description:
      "Leaf only; required with exposure gateway-api. The GatewayClass of the cluster's Gateway API implementation, which must support frontend client-certificate validation and GRPCRoute (e.g. eg for Envoy Gateway's quickstart, nginx for NGINX Gateway Fabric).",
  },
  gatewayNamespace: {
    type: "string",
    default: "",
    roles: "leaf",
    description:
      "Leaf only, exposure gateway-api. Namespace of the leaf's Gateway. Empty puts it in the leaf's namespace; another namespace gets a ReferenceGrant for the certificate Secret and the CA ConfigMap, and the Gateway admits routes from the leaf's namespace only.",
  },
  traefikEntryPoint: {
    type: "string",
    default: "websecure",
    roles: "leaf",
    description:
      "Leaf only, exposure traefik. The Traefik entry point (static configuration) that serves HTTPS on publicPort; websecure in Traefik's Helm chart.",
  },
  allowedServices: {
    type: "array",
    default: ["thanos.Store", "thanos.info.Info"],
    roles: "leaf",
    description:
      "Leaf only. Fully qualified gRPC services the ingress routes (one path prefix each); every other path is refused. Querier needs thanos.info.Info and thanos.Store, so both must be listed; add thanos.Rules, thanos.Targets, thanos.Metadata or thanos.Exemplars for those APIs. Names are case-sensitive, as gRPC paths are.",
  },
  streamTimeoutSeconds: {
    type: "integer",
    default: STREAM_TIMEOUT_SECONDS.default,
    roles: "leaf",
    min: 1,
    max: STREAM_TIMEOUT_SECONDS.max,
    description:
      "Leaf only. Longest silence, in seconds, the ingress allows on a gRPC stream in either direction (proxy-read-timeout and proxy-send-timeout), 1 to 86400. The leaf publishes it, and the observer's Envoy closes that leaf's silent streams after the same time.",
  },
  keyAlgorithm: {
    type: "string",
    default: "ECDSA-P256",
    roles: "leaf",
    allowed: KEY_ALGORITHMS,
    description:
      "Leaf only. Key algorithm of the CA and certificates: ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072 or RSA-4096.",
  },
  caValidityHours: {
    type: "integer",
    default: 43800,
    roles: "leaf",
    min: 1,
    max: HUNDRED_YEARS_HOURS,
    description:
      "Leaf only. Validity of each CA generation, in hours (default 5 years); at least twice caRenewBeforeHours.",
  },
  caRenewBeforeHours: {
    type: "integer",
    default: 8760,
    roles: "leaf",
    min: 1,
    max: HUNDRED_YEARS_HOURS,
    description:
      "Leaf only. How long before a CA expires the next generation takes over, in hours (default 1 year): trusted for the first half, signing for the second, then the old CA goes. At least 4 times rotationIntervalHours. See docs/ROTATION.md.",
  },
  serverValidityHours: {
    type: "integer",
    default: 2160,
    roles: "leaf",
    min: 1,
    max: HUNDRED_YEARS_HOURS,
    description: "Leaf only. Validity of the ingress's server certificate, in hours (90 days).",
  },
  serverRenewBeforeHours: {
    type: "integer",
    default: 720,
    roles: "leaf",
    min: 1,
    max: HUNDRED_YEARS_HOURS,
    description:
      "Leaf only. The server certificate and key are replaced this many hours before expiry (30 days); shorter than serverValidityHours, at least twice rotationIntervalHours.",
  },
  clientValidityHours: {
    type: "integer",
    default: 2160,
    roles: "leaf",
    min: 1,
    max: HUNDRED_YEARS_HOURS,
    description: "Leaf only. Validity of the observer's client certificate, in hours (90 days).",
  },
  clientRenewBeforeHours: {
    type: "integer",
    default: 720,
    roles: "leaf",
    min: 1,
    max: HUNDRED_YEARS_HOURS,
    description:
      "Leaf only. The client certificate and key are replaced this many hours before expiry (30 days); shorter than clientValidityHours, at least twice rotationIntervalHours.",
  },
  rotationIntervalHours: {
    type: "integer",
    default: 24,
    roles: "leaf",
    min: 1,
    max: 744,
    description:
      "Leaf only. Hours between two scheduled rotation runs (`npm run rotate`), 1 to 744; the renewal windows are checked against it.",
  },
  caEpoch: {
    type: "integer",
    default: 0,
    roles: "leaf",
    min: 0,
    max: 1000,
    description:
      "Leaf only. The leaf's CA lineage, 0 to 1000. Raising it is the emergency CA change of docs/KEY-COMPROMISE.md: the next run replaces every CA of the leaf (no overlap), and the server and client certificates with them, so nothing the old CAs signed is trusted any more; the observer's next run picks the new ones up. Never lower it: npm run deploy and rotate refuse a value lower than the one the leaf's state runs.",
  },
  leaves: {
    type: "array",
    default: [],
    roles: "observer",
    description:
      "Observer only, required. Fully qualified names (<organization>/<project>/<stack>) of the leaf stacks to query, read through StackReferences.",
  },
  dataPath: {
    type: "string",
    default: "envoy",
    roles: "observer",
    allowed: DATA_PATHS,
    description:
      "Observer only. How Querier reaches the leaves: envoy (an Envoy sidecar originates the mutual TLS; Querier speaks plain gRPC on loopback) or thanos (Querier's own per-endpoint TLS, Thanos v0.42 or later, no Envoy; up to 1,000 leaves and more per observer, and leaves come and go without restarting Querier). With thanos, endpointSuffix, envoyImage, envoyCpu, envoyMemory, envoyIpFamily, envoyAccessLog and expiryAlertDays stay at their defaults.",
  },
  endpointSuffix: {
    type: "string",
    default: "thanos-bridge.internal",
    roles: "observer",
    description:
      "Observer only. Querier dials leaf x as x.<endpointSuffix>, an alias of 127.0.0.1 in the pod where Envoy listens. Use a suffix no real DNS zone serves.",
  },
  querierImage: {
    type: "string",
    default: "quay.io/thanos/thanos:v0.42.5",
    roles: "observer",
    description: "Observer only. Thanos image for Querier, pinned to a tag or digest.",
  },
  querierReplicas: {
    type: "integer",
    default: 2,
    roles: "observer",
    min: 1,
    max: 100,
    description: "Observer only. Querier pods (each with its own Envoy), 1 to 100.",
  },
  replicaLabels: {
    type: "array",
    default: ["prometheus_replica"],
    roles: "observer",
    description:
      "Observer only. External labels that tell HA Prometheus replicas apart; Querier deduplicates along them. kube-prometheus-stack's default is prometheus_replica.",
  },
  extraEndpoints: {
    type: "array",
    default: [],
    roles: "observer",
    description:
      "Observer only. In-cluster StoreAPI endpoints Querier reaches directly, without Envoy: host:port, dns+host:port or dnssrv+_grpc._tcp.<service>.",
  },
  clientNamespaces: {
    type: "array",
    default: [],
    roles: "observer",
    description:
      "Observer only. Namespaces, besides the observer's own, whose pods may reach Querier (10902, 10901) and Envoy's metrics (9902), e.g. those of Grafana and Prometheus. Enforced by a NetworkPolicy where the network plugin supports them.",
  },
  querierCpu: {
    type: "string",
    default: "500m",
    roles: "observer",
    description: "Observer only. CPU request of each Querier container (no CPU limit is set).",
  },
  querierMemory: {
    type: "string",
    default: "1Gi",
    roles: "observer",
    description: "Observer only. Memory request and limit of each Querier container.",
  },
  envoyImage: {
    type: "string",
    default: "envoyproxy/envoy:v1.38.3",
    roles: "observer",
    description: "Observer only. Envoy image for the sidecar, pinned to a tag or digest.",
  },
  envoyCpu: {
    type: "string",
    default: "100m",
    roles: "observer",
    description: "Observer only. CPU request of each Envoy sidecar (no CPU limit is set).",
  },
  envoyMemory: {
    type: "string",
    default: "256Mi",
    roles: "observer",
    description: "Observer only. Memory request and limit of each Envoy sidecar.",
  },
  envoyIpFamily: {
    type: "string",
    default: "IPv4",
    roles: "observer",
    allowed: ENVOY_IP_FAMILIES,
    description:
      "Observer only, dataPath envoy. The pod network's IP family, which decides where Envoy's stats listener (probes and metrics) binds: IPv4 (0.0.0.0; works where nodes have IPv6 disabled), IPv6 (::, for IPv6-only clusters) or DualStack (:: taking IPv4 too, for dual-stack clusters, IPv6-first ones included).",
  },
  envoyAccessLog: {
    type: "string",
    default: "errors",
    roles: "observer",
    allowed: ENVOY_ACCESS_LOGS,
    description:
      "Observer only, dataPath envoy. Which gRPC calls to a leaf Envoy logs on stdout: errors (calls that end with a gRPC status other than OK), all, or none.",
  },
  expiryAlertDays: {
    type: "integer",
    default: 0,
    roles: "observer",
    min: 0,
    max: 365,
    description:
      "Observer only. 0: no alert. 1 to 365: also declare a PodMonitor for Envoy's metrics and a PrometheusRule (prometheus-operator CRDs) that warns when a leaf's client certificate or CA used by an Envoy expires in fewer than this many days. Prometheus' namespace must be in clientNamespaces to reach Envoy's metrics port.",
  },
} as const satisfies Record<string, ConfigKeySpec>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

/** The value a key's entry gives it: one of its `allowed` values, else its type's. */
type ValueOf<S extends ConfigKeySpec> = S["type"] extends "integer"
  ? number
  : S["type"] extends "boolean"
    ? boolean
    : S["type"] extends "array"
      ? readonly string[]
      : S extends { readonly allowed: readonly (infer V)[] }
        ? V
        : string;

/** Every key's value as the loader reads it, typed by the key's entry: the one place it is. */
export type ConfigValues = { readonly [K in ConfigKey]: ValueOf<(typeof CONFIG_SCHEMA)[K]> };

/** The keys a role reads: its own and those of both roles. */
export type KeyOf<R extends Role> = {
  [K in ConfigKey]: (typeof CONFIG_SCHEMA)[K]["roles"] extends R | "all" ? K : never;
}[ConfigKey];

export function keysOf<R extends Role>(role: R): KeyOf<R>[] {
  return (Object.keys(CONFIG_SCHEMA) as ConfigKey[]).filter(
    (key): key is KeyOf<R> => specOf(key).roles === "all" || specOf(key).roles === role,
  );
}

/** A key's spec, typed as the general shape (the table's literal types are narrower). */
export function specOf(key: ConfigKey): ConfigKeySpec {
  return CONFIG_SCHEMA[key];
}
