// The observer's config: the leaves it queries, its data path, and Querier's and Envoy's
// settings, with the rules across these keys.

import type { EnvoySettings, QuerierSettings } from "../../components/observer/settings";
import type { DataPathName as DataPath } from "../../components/observer";
import { isDnsLabel, isFqdn } from "../../components/common/validate";
import { CONFIG_SCHEMA, ConfigKey, ConfigValues } from "../keys";
import { RESOURCE_FLOORS, readResources } from "./quantities";
import { RawConfig, Reader, fieldKeys, fullKey, show } from "./reader";
import { KubernetesTarget, TARGET_KEYS, checkNamespace, readKubernetesTarget } from "./target";

/** Observer keys read into a structure of ObserverConfig; each other one is a field of its own. */
const GROUPED = [
  "role",
  "dataPath",
  "querierImage",
  "querierReplicas",
  "replicaLabels",
  "extraEndpoints",
  "clientNamespaces",
  "querierCpu",
  "querierMemory",
  "envoyImage",
  "envoyCpu",
  "envoyMemory",
  "envoyIpFamily",
  "envoyAccessLog",
  ...TARGET_KEYS,
] as const;
const FIELDS = fieldKeys("observer", GROUPED);

export interface ObserverConfig extends Pick<ConfigValues, (typeof FIELDS)[number]> {
  readonly role: "observer";
  /**
   * How Querier reaches the leaves: `thanos`, Querier's own mutual TLS with no Envoy. Present
   * only then: absent means `envoy`, the default, so a stack that leaves the key alone reads
   * exactly as before the key existed.
   */
  readonly dataPath?: DataPath;
  readonly querier: QuerierSettings;
  readonly envoy: EnvoySettings;
  readonly kubernetes: KubernetesTarget;
}

/** `org/project/stack`, as StackReference names a stack on any backend. */
const QUALIFIED_STACK = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
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
  key: "leaves" | "replicaLabels" | "extraEndpoints" | "clientNamespaces",
  valid: (value: string) => boolean,
  allowed: string,
): readonly string[] {
  const values = r.value(key);
  for (const value of values) {
    if (!valid(value)) r.problem(key, `${show(value)} is not allowed; use ${allowed}`);
  }
  return uniqueSorted(r, key, values);
}

function readImage(r: Reader, key: "querierImage" | "envoyImage"): string {
  const image = r.value(key);
  if (!PINNED_IMAGE.test(image) || /:latest$/.test(image)) {
    r.problem(
      key,
      `${show(image)} is not allowed; pin the image to a release tag or a sha256 digest, ` +
        `e.g. ${String(CONFIG_SCHEMA[key].default)}`,
    );
  }
  return image;
}

/** Fully qualified leaf stack names (`org/project/stack`), sorted, without duplicates. */
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

/** In the order of readLeafConfig: the keys with a rule of their own, the others, the structures. */
export function readObserverConfig(r: Reader): ObserverConfig {
  const leaves = readLeavesWith(r);
  // Leaf `x` is reached by Querier as `x.<endpointSuffix>`, an alias of 127.0.0.1 in the pod.
  const endpointSuffix = r.value("endpointSuffix");
  if (!isFqdn(endpointSuffix)) {
    r.problem(
      "endpointSuffix",
      `${show(endpointSuffix)} is not allowed; use a lowercase DNS suffix of at least two labels ` +
        `that no real zone uses, e.g. thanos-bridge.internal`,
    );
  }
  const dataPath = r.value("dataPath");
  checkNamespace(r);
  // 0 turns the alert off; otherwise a day count up to a year.
  r.value("expiryAlertDays", "0 (no alert) or a whole number of days from 1 to 365");
  const config: ObserverConfig = {
    ...r.values(FIELDS),
    role: "observer",
    leaves,
    ...(dataPath === "thanos" ? { dataPath } : {}),
    querier: {
      image: readImage(r, "querierImage"),
      replicas: r.value("querierReplicas"),
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
      ipFamily: r.value("envoyIpFamily"),
      accessLog: r.value("envoyAccessLog"),
    },
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
