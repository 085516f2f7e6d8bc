import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ConfigError, LeafConfig, ObserverConfig, RawConfig, loadConfig } from "../stacks/config";
import { TARGET_KEYS } from "../stacks/config/target";
import { CONFIG_SCHEMA, ConfigKey, ConfigKeySpec, PROJECT, Role, keysOf } from "../stacks/keys";
import { CONFIG_DOC, configReference, pulumiYamlConfig } from "../ops/config-docs";
import { stackFileConfig } from "../ops/check";
import { parseStackFile } from "../ops/stackfiles";

const ROOT = join(__dirname, "..");

/** Raw config as Pulumi passes it: project-prefixed keys (unless one names its own), text values. */
function raw(values: Record<string, string>): RawConfig {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k.includes(":") ? k : `thanos-bridge:${k}`, v]),
  );
}

const LEAF = { role: "leaf", hostname: "thanos.leaf-a.example.com" };
const OBSERVER = { role: "observer", leaves: '["acme/thanos-bridge/leaf-a"]' };

/** The problems a config yields, or [] when it loads. */
/** `n` services a leaf may route: the two Querier needs, and more. */
const services = (n: number): string[] => [
  "thanos.Store",
  "thanos.info.Info",
  ...Array.from({ length: n - 2 }, (_, i) => `thanos.S${i}`),
];

function problems(values: Record<string, string>, stack = "leaf-a"): readonly string[] {
  try {
    loadConfig(raw(values), stack);
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
}

function loadLeaf(values: RawConfig, stack: string): LeafConfig {
  const config = loadConfig(values, stack);
  if (config.role !== "leaf") assert.fail(`expected a leaf config, got ${config.role}`);
  return config;
}

function loadObserver(values: RawConfig, stack: string): ObserverConfig {
  const config = loadConfig(values, stack);
  if (config.role !== "observer") assert.fail(`expected an observer config, got ${config.role}`);
  return config;
}

/** A shipped stack file's config as Pulumi hands it to the program (`npm run check`'s reading). */
function shippedConfig(file: string): RawConfig {
  const doc = parseStackFile(readFileSync(join(ROOT, file), "utf8")) as {
    config: Record<string, unknown>;
  };
  return stackFileConfig(doc.config);
}

/**
 * Keys a role reads into one of its config's structures (pki, exposure, querier, envoy, the
 * Kubernetes target) or derives by a rule; the defaults tests pin those structures.
 */
const LEAF_GROUPED: readonly ConfigKey[] = [
  ...["role", "exposure", "gatewayClassName", "gatewayNamespace", "traefikEntryPoint"],
  ...["keyAlgorithm", "caValidityHours", "caRenewBeforeHours", "serverValidityHours"],
  ...["serverRenewBeforeHours", "clientValidityHours", "clientRenewBeforeHours"],
  ...["rotationIntervalHours", "caEpoch", ...TARGET_KEYS],
] as ConfigKey[];
const OBSERVER_GROUPED: readonly ConfigKey[] = [
  ...["role", "dataPath", "querierImage", "querierReplicas", "replicaLabels", "extraEndpoints"],
  ...["clientNamespaces", "querierCpu", "querierMemory", "envoyImage", "envoyCpu", "envoyMemory"],
  ...["envoyIpFamily", "envoyAccessLog", ...TARGET_KEYS],
] as ConfigKey[];

/**
 * Every other key of `role` as a field at its registry default: a key added with no rule of its
 * own is expected here without touching the tests, and fails them if the loader leaves it out.
 */
function registryDefaults<C>(role: Role, grouped: readonly ConfigKey[]): C {
  return Object.fromEntries(
    keysOf(role)
      .filter((key) => !grouped.includes(key))
      .map((key) => [key, CONFIG_SCHEMA[key].default]),
  ) as C;
}

describe("leaf config", () => {
  it("fills every default from the schema, with only role and hostname set", () => {
    const config = loadLeaf(raw(LEAF), "leaf-a");
    const expected: LeafConfig = {
      ...registryDefaults<LeafConfig>("leaf", LEAF_GROUPED),
      role: "leaf",
      clusterName: "leaf-a",
      hostname: "thanos.leaf-a.example.com",
      publicPort: 443,
      namespace: "monitoring",
      createNamespace: false,
      sidecarService: "kube-prometheus-stack-thanos-discovery",
      sidecarPort: 10901,
      ingressClass: "nginx",
      ingressPathType: "Prefix",
      allowedServices: ["thanos.Store", "thanos.info.Info"],
      streamTimeoutSeconds: 600,
      exposure: { kind: "ingress-nginx" },
      pki: {
        keyAlgorithm: "ECDSA-P256",
        ca: { validityHours: 43800, renewBeforeHours: 8760 },
        server: { validityHours: 2160, renewBeforeHours: 720 },
        client: { validityHours: 2160, renewBeforeHours: 720 },
        caEpoch: 0,
      },
      kubernetes: { kind: "cluster", skipAwait: false },
    };
    assert.deepEqual(config, expected);
  });

  it("reads every key's text the way Pulumi stores it", () => {
    const config = loadLeaf(
      raw({
        ...LEAF,
        clusterName: "eu-1",
        publicPort: "8443",
        namespace: "observability",
        createNamespace: "true",
        sidecarService: "prometheus-thanos-discovery",
        sidecarPort: "10911",
        ingressClass: "nginx-internal",
        ingressPathType: "ImplementationSpecific",
        allowedServices: '["thanos.Rules","thanos.Store","thanos.info.Info"]',
        streamTimeoutSeconds: "3600",
        keyAlgorithm: "RSA-3072",
        caValidityHours: "87600",
        caRenewBeforeHours: "17520",
        serverValidityHours: "720",
        serverRenewBeforeHours: "240",
        clientValidityHours: "336",
        clientRenewBeforeHours: "120",
        rotationIntervalHours: "12",
        caEpoch: "2",
        kubeconfig: "/etc/kube/leaf.yaml",
        kubeContext: "eu-1",
      }),
      "leaf-a",
    );
    assert.equal(config.clusterName, "eu-1");
    assert.equal(config.publicPort, 8443);
    assert.equal(config.createNamespace, true);
    assert.equal(config.sidecarPort, 10911);
    assert.equal(config.ingressPathType, "ImplementationSpecific");
    assert.deepEqual(config.allowedServices, ["thanos.Rules", "thanos.Store", "thanos.info.Info"]);
    assert.equal(config.streamTimeoutSeconds, 3600);
    assert.deepEqual(config.pki, {
      keyAlgorithm: "RSA-3072",
      ca: { validityHours: 87600, renewBeforeHours: 17520 },
      server: { validityHours: 720, renewBeforeHours: 240 },
      client: { validityHours: 336, renewBeforeHours: 120 },
      caEpoch: 2,
    });
    assert.deepEqual(config.kubernetes, {
      kind: "cluster",
      kubeconfig: "/etc/kube/leaf.yaml",
      context: "eu-1",
      skipAwait: false,
    });
  });

  it("reads skipAwait for a cluster target", () => {
    const config = loadLeaf(raw({ ...LEAF, skipAwait: "true" }), "leaf-a");
    assert.deepEqual(config.kubernetes, { kind: "cluster", skipAwait: true });
  });

  it("sorts the allowed services, so their order in the config does not matter", () => {
    const a = loadLeaf(
      raw({ ...LEAF, allowedServices: '["thanos.info.Info","thanos.Store"]' }),
      "x",
    );
    const b = loadLeaf(
      raw({ ...LEAF, allowedServices: '["thanos.Store","thanos.info.Info"]' }),
      "x",
    );
    assert.deepEqual(a.allowedServices, b.allowedServices);
  });

  it("reads each exposure with the settings only it uses", () => {
    const prepared = {
      ...LEAF,
      gatewayClassName: "eg",
      gatewayNamespace: "gateways",
      traefikEntryPoint: "thanos",
    };
    // The other exposures' keys may stay set: the switch is the one line of `exposure`.
    assert.deepEqual(loadLeaf(raw(prepared), "leaf-a").exposure, { kind: "ingress-nginx" });
    assert.deepEqual(loadLeaf(raw({ ...prepared, exposure: "gateway-api" }), "leaf-a").exposure, {
      kind: "gateway-api",
      gatewayClassName: "eg",
      gatewayNamespace: "gateways",
    });
    assert.deepEqual(loadLeaf(raw({ ...prepared, exposure: "traefik" }), "leaf-a").exposure, {
      kind: "traefik",
      entryPoint: "thanos",
    });
    assert.deepEqual(
      loadLeaf(raw({ ...LEAF, exposure: "gateway-api", gatewayClassName: "nginx" }), "x").exposure,
      { kind: "gateway-api", gatewayClassName: "nginx", gatewayNamespace: "" },
    );
    assert.deepEqual(loadLeaf(raw({ ...LEAF, exposure: "traefik" }), "x").exposure, {
      kind: "traefik",
      entryPoint: "websecure",
    });
    // A GRPCRoute's 16 rules: 16 services fit, one per rule.
    const sixteen = services(16);
    const full = loadLeaf(
      raw({
        ...LEAF,
        ...prepared,
        exposure: "gateway-api",
        allowedServices: JSON.stringify(sixteen),
      }),
      "x",
    );
    assert.equal(full.allowedServices.length, 16);
  });

  it("renders to a directory when renderDir is set", () => {
    const config = loadLeaf(raw({ ...LEAF, renderDir: "out/leaf-a" }), "leaf-a");
    assert.deepEqual(config.kubernetes, { kind: "render", directory: "out/leaf-a" });
  });

  it("loads the shipped example stacks", () => {
    const a = loadLeaf(shippedConfig("Pulumi.leaf-a.yaml"), "leaf-a");
    assert.equal(a.hostname, "thanos.leaf-a.example.com");
    const b = loadLeaf(shippedConfig("Pulumi.leaf-b.yaml"), "leaf-b");
    assert.equal(b.pki.keyAlgorithm, "RSA-3072");
    assert.deepEqual(b.allowedServices, ["thanos.Rules", "thanos.Store", "thanos.info.Info"]);
    const c = loadLeaf(shippedConfig("Pulumi.leaf-c.yaml"), "leaf-c");
    assert.deepEqual(c.exposure, { kind: "traefik", entryPoint: "websecure" });
  });

  describe("rejects bad input with a message naming key, value and what is allowed", () => {
    const cases: [string, Record<string, string>, string, string?][] = [
      [
        "role unset",
        { hostname: "a.example.com" },
        "thanos-bridge:role is not set; run `pulumi config set role leaf` (or observer) on this stack",
      ],
      [
        "role unknown",
        { role: "edge" },
        'thanos-bridge:role: "edge" is not allowed; use one of leaf, observer',
      ],
      [
        "hostname unset",
        { role: "leaf" },
        "thanos-bridge:hostname: is required for a leaf: the public DNS name of its ingress, e.g. thanos.leaf-a.example.com",
      ],
      [
        "hostname uppercase",
        { ...LEAF, hostname: "Thanos.example.com" },
        'thanos-bridge:hostname: "Thanos.example.com" is not allowed; use a fully qualified lowercase DNS name with no wildcard or trailing dot, e.g. thanos.leaf-a.example.com',
      ],
      [
        "hostname wildcard",
        { ...LEAF, hostname: "*.example.com" },
        'thanos-bridge:hostname: "*.example.com" is not allowed; use a fully qualified lowercase DNS name with no wildcard or trailing dot, e.g. thanos.leaf-a.example.com',
      ],
      [
        "hostname single label",
        { ...LEAF, hostname: "thanos" },
        'thanos-bridge:hostname: "thanos" is not allowed; use a fully qualified lowercase DNS name with no wildcard or trailing dot, e.g. thanos.leaf-a.example.com',
      ],
      [
        "hostname trailing dot",
        { ...LEAF, hostname: "thanos.example.com." },
        'thanos-bridge:hostname: "thanos.example.com." is not allowed; use a fully qualified lowercase DNS name with no wildcard or trailing dot, e.g. thanos.leaf-a.example.com',
      ],
      [
        "hostname an IP address",
        { ...LEAF, hostname: "10.0.0.1" },
        'thanos-bridge:hostname: "10.0.0.1" is not allowed; use a fully qualified lowercase DNS name with no wildcard or trailing dot, e.g. thanos.leaf-a.example.com',
      ],
      [
        "clusterName not a DNS label",
        { ...LEAF, clusterName: "Leaf_A" },
        'thanos-bridge:clusterName: "Leaf_A" is not allowed; use a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
      ],
      [
        "clusterName defaulting to a bad stack name",
        LEAF,
        'thanos-bridge:clusterName: is not set, and the stack name "Leaf_A" is not a DNS label to default to; set it to lowercase letters, digits and "-" (at most 63), e.g. leaf-a',
        "Leaf_A",
      ],
      [
        "namespace",
        { ...LEAF, namespace: "Monitoring" },
        'thanos-bridge:namespace: "Monitoring" is not allowed; use a DNS label (lowercase letters, digits and "-", at most 63)',
      ],
      [
        "createNamespace",
        { ...LEAF, createNamespace: "yes" },
        'thanos-bridge:createNamespace: "yes" is not allowed; use true or false (did you mean true?)',
      ],
      [
        "sidecarService starting with a digit",
        { ...LEAF, sidecarService: "9prometheus" },
        'thanos-bridge:sidecarService: "9prometheus" is not allowed; a Service name starts with a lowercase letter and has only lowercase letters, digits and "-" (at most 63)',
      ],
      [
        "sidecarPort 0",
        { ...LEAF, sidecarPort: "0" },
        'thanos-bridge:sidecarPort: "0" is not allowed; use a whole number from 1 to 65535',
      ],
      [
        "sidecarPort too large",
        { ...LEAF, sidecarPort: "65536" },
        'thanos-bridge:sidecarPort: "65536" is not allowed; use a whole number from 1 to 65535',
      ],
      [
        "publicPort not a number",
        { ...LEAF, publicPort: "https" },
        'thanos-bridge:publicPort: "https" is not allowed; use a whole number from 1 to 65535',
      ],
      [
        "ingressClass",
        { ...LEAF, ingressClass: "Nginx" },
        'thanos-bridge:ingressClass: "Nginx" is not allowed; use the name of an IngressClass (a lowercase DNS subdomain)',
      ],
      [
        "ingressPathType",
        { ...LEAF, ingressPathType: "Exact" },
        'thanos-bridge:ingressPathType: "Exact" is not allowed; use one of Prefix, ImplementationSpecific',
      ],
      [
        "exposure unknown",
        { ...LEAF, exposure: "istio" },
        'thanos-bridge:exposure: "istio" is not allowed; use one of ingress-nginx, gateway-api, traefik',
      ],
      [
        "exposure gateway-api without a GatewayClass",
        { ...LEAF, exposure: "gateway-api" },
        "thanos-bridge:gatewayClassName: is required with thanos-bridge:exposure gateway-api: the GatewayClass of the cluster's Gateway API implementation (`kubectl get gatewayclass`), e.g. eg",
      ],
      [
        "gatewayClassName not a name",
        { ...LEAF, exposure: "gateway-api", gatewayClassName: "Envoy Gateway" },
        'thanos-bridge:gatewayClassName: "Envoy Gateway" is not allowed; use the name of a GatewayClass (a lowercase DNS subdomain)',
      ],
      [
        "gatewayClassName checked while another exposure is in use",
        { ...LEAF, gatewayClassName: "EG" },
        'thanos-bridge:gatewayClassName: "EG" is not allowed; use the name of a GatewayClass (a lowercase DNS subdomain)',
      ],
      [
        "gatewayNamespace",
        { ...LEAF, exposure: "gateway-api", gatewayClassName: "eg", gatewayNamespace: "Gateways" },
        'thanos-bridge:gatewayNamespace: "Gateways" is not allowed; use a namespace name (a DNS label), or leave it empty for the leaf\'s own namespace',
      ],
      [
        "traefikEntryPoint",
        { ...LEAF, exposure: "traefik", traefikEntryPoint: "web secure" },
        'thanos-bridge:traefikEntryPoint: "web secure" is not allowed; use the name of an entry point of Traefik\'s static configuration (letters, digits, "-" and "_"), e.g. websecure',
      ],
      [
        "more services than a GRPCRoute has rules",
        {
          ...LEAF,
          exposure: "gateway-api",
          gatewayClassName: "eg",
          allowedServices: JSON.stringify(services(17)),
        },
        "thanos-bridge:allowedServices: 17 services are not allowed with thanos-bridge:exposure gateway-api; a GRPCRoute holds at most 16 rules, one per service",
      ],
      [
        "allowedServices not a list",
        { ...LEAF, allowedServices: "thanos.Store" },
        'thanos-bridge:allowedServices: "thanos.Store" is a string, not a list; write it in the stack file as a YAML list (one "- item" per line), or `pulumi config set --path \'allowedServices[0]\' <item>`',
      ],
      [
        "allowedServices empty",
        { ...LEAF, allowedServices: "[]" },
        "thanos-bridge:allowedServices: [] is not allowed; list at least one gRPC service",
      ],
      [
        "allowedServices without package",
        { ...LEAF, allowedServices: '["Store"]' },
        'thanos-bridge:allowedServices: "Store" is not a fully qualified gRPC service name; use <package>.<Service>, e.g. thanos.Store or thanos.info.Info',
      ],
      [
        "allowedServices as a path",
        { ...LEAF, allowedServices: '["/thanos.Store/"]' },
        'thanos-bridge:allowedServices: "/thanos.Store/" is not a fully qualified gRPC service name; use <package>.<Service>, e.g. thanos.Store or thanos.info.Info',
      ],
      [
        "allowedServices duplicate",
        { ...LEAF, allowedServices: '["thanos.Store","thanos.Store"]' },
        'thanos-bridge:allowedServices: "thanos.Store" is listed more than once',
      ],
      [
        "streamTimeoutSeconds",
        { ...LEAF, streamTimeoutSeconds: "0" },
        'thanos-bridge:streamTimeoutSeconds: "0" is not allowed; use a whole number from 1 to 86400',
      ],
      [
        "keyAlgorithm",
        { ...LEAF, keyAlgorithm: "ED25519" },
        'thanos-bridge:keyAlgorithm: "ED25519" is not allowed; use one of ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096',
      ],
      [
        "serverValidityHours fractional",
        { ...LEAF, serverValidityHours: "1.5" },
        'thanos-bridge:serverValidityHours: "1.5" is not allowed; use a whole number from 1 to 876000',
      ],
      [
        "clientRenewBeforeHours not shorter than validity",
        { ...LEAF, clientValidityHours: "720", clientRenewBeforeHours: "720" },
        "thanos-bridge:clientRenewBeforeHours: 720 is not allowed; it must be shorter than thanos-bridge:clientValidityHours (720), or the certificate would be renewed on every run",
      ],
      [
        "serverRenewBeforeHours shorter than two scheduled runs",
        { ...LEAF, serverRenewBeforeHours: "47" },
        "thanos-bridge:serverRenewBeforeHours: 47 is not allowed; it must be at least twice thanos-bridge:rotationIntervalHours (48), so that a certificate due for renewal meets two scheduled runs before it expires and one failed run does no harm",
      ],
      [
        // rotationIntervalHours is read only for these rules: its value shows in their messages.
        "serverRenewBeforeHours shorter than two runs of a rotationIntervalHours set",
        { ...LEAF, rotationIntervalHours: "12", serverRenewBeforeHours: "23" },
        "thanos-bridge:serverRenewBeforeHours: 23 is not allowed; it must be at least twice thanos-bridge:rotationIntervalHours (24), so that a certificate due for renewal meets two scheduled runs before it expires and one failed run does no harm",
      ],
      [
        "rotationIntervalHours longer than a month",
        { ...LEAF, rotationIntervalHours: "745" },
        'thanos-bridge:rotationIntervalHours: "745" is not allowed; use a whole number from 1 to 744',
      ],
      [
        "caRenewBeforeHours shorter than four scheduled runs",
        { ...LEAF, rotationIntervalHours: "168", caRenewBeforeHours: "671" },
        "thanos-bridge:caRenewBeforeHours: 671 is not allowed; it must be at least 4 times thanos-bridge:rotationIntervalHours (672): a CA change has two halves (the new CA trusted, then signing), and each must span two scheduled runs",
      ],
      [
        "caValidityHours under twice caRenewBeforeHours",
        { ...LEAF, caValidityHours: "17519" },
        "thanos-bridge:caValidityHours: 17519 is not allowed; it must be at least twice thanos-bridge:caRenewBeforeHours (17520), so that a CA change ends before the next one begins",
      ],
      [
        "a key of an earlier release",
        { ...LEAF, certValidityHours: "2160" },
        "thanos-bridge:certValidityHours was replaced by thanos-bridge:serverValidityHours and thanos-bridge:clientValidityHours; set those instead",
      ],
      [
        "renderDir with a cluster target",
        { ...LEAF, renderDir: "out", kubeContext: "leaf-a" },
        'thanos-bridge:renderDir: "out" renders manifests instead of deploying, so it cannot be combined with thanos-bridge:kubeconfig or thanos-bridge:kubeContext; set one or the other',
      ],
      [
        "skipAwait with a render directory",
        { ...LEAF, renderDir: "out", skipAwait: "true" },
        "thanos-bridge:skipAwait: true has no effect with thanos-bridge:renderDir (rendering never waits); leave it unset",
      ],
      [
        "skipAwait that is not a boolean",
        { ...LEAF, skipAwait: "yes" },
        'thanos-bridge:skipAwait: "yes" is not allowed; use true or false (did you mean true?)',
      ],
      [
        "an observer key on a leaf",
        { ...LEAF, querierReplicas: "3" },
        "thanos-bridge:querierReplicas: applies only to role observer, but this stack's role is leaf; remove it",
      ],
      [
        "a leaf key on an observer",
        { ...OBSERVER, hostname: "thanos.example.com" },
        "thanos-bridge:hostname: applies only to role leaf, but this stack's role is observer; remove it",
      ],
      [
        "observer without leaves",
        { role: "observer" },
        "thanos-bridge:leaves: is empty; list the leaf stacks this observer queries, e.g. `pulumi config set --path 'leaves[0]' acme/thanos-bridge/leaf-a`",
      ],
      [
        "leaves not fully qualified",
        { ...OBSERVER, leaves: '["leaf-a"]' },
        'thanos-bridge:leaves: "leaf-a" is not allowed; use a fully qualified stack name <organization>/<project>/<stack>, e.g. acme/thanos-bridge/leaf-a',
      ],
      [
        "leaves duplicate",
        { ...OBSERVER, leaves: '["acme/thanos-bridge/leaf-a","acme/thanos-bridge/leaf-a"]' },
        'thanos-bridge:leaves: "acme/thanos-bridge/leaf-a" is listed more than once',
      ],
      [
        "endpointSuffix",
        { ...OBSERVER, endpointSuffix: "local" },
        'thanos-bridge:endpointSuffix: "local" is not allowed; use a lowercase DNS suffix of at least two labels that no real zone uses, e.g. thanos-bridge.internal',
      ],
      [
        "querierImage unpinned",
        { ...OBSERVER, querierImage: "quay.io/thanos/thanos:latest" },
        'thanos-bridge:querierImage: "quay.io/thanos/thanos:latest" is not allowed; pin the image to a release tag or a sha256 digest, e.g. quay.io/thanos/thanos:v0.42.5',
      ],
      [
        "envoyImage without tag",
        { ...OBSERVER, envoyImage: "envoyproxy/envoy" },
        'thanos-bridge:envoyImage: "envoyproxy/envoy" is not allowed; pin the image to a release tag or a sha256 digest, e.g. envoyproxy/envoy:v1.38.3',
      ],
      [
        "envoyIpFamily lowercase",
        { ...OBSERVER, envoyIpFamily: "ipv6" },
        'thanos-bridge:envoyIpFamily: "ipv6" is not allowed; use one of IPv4, IPv6, DualStack (did you mean IPv6?)',
      ],
      [
        "envoyAccessLog unknown",
        { ...OBSERVER, envoyAccessLog: "failures" },
        'thanos-bridge:envoyAccessLog: "failures" is not allowed; use one of none, errors, all',
      ],
      [
        "envoyAccessLog with dataPath thanos",
        { ...OBSERVER, dataPath: "thanos", envoyAccessLog: "all" },
        "thanos-bridge:envoyAccessLog: applies only to thanos-bridge:dataPath envoy, but this stack's is thanos, which has no Envoy; remove it",
      ],
      [
        "querierReplicas 0",
        { ...OBSERVER, querierReplicas: "0" },
        'thanos-bridge:querierReplicas: "0" is not allowed; use a whole number from 1 to 100',
      ],
      [
        "replicaLabels",
        { ...OBSERVER, replicaLabels: '["prometheus-replica"]' },
        'thanos-bridge:replicaLabels: "prometheus-replica" is not allowed; use a Prometheus label name',
      ],
      [
        "extraEndpoints",
        { ...OBSERVER, extraEndpoints: '["http://thanos-store:10901"]' },
        'thanos-bridge:extraEndpoints: "http://thanos-store:10901" is not allowed; use host:port, dns+host:port or dnssrv+_<port name>._tcp.<service>, e.g. dnssrv+_grpc._tcp.thanos-store.monitoring.svc',
      ],
      [
        "clientNamespaces",
        { ...OBSERVER, clientNamespaces: '["Grafana"]' },
        'thanos-bridge:clientNamespaces: "Grafana" is not allowed; use a namespace name (a DNS label), e.g. grafana',
      ],
      [
        "querierCpu",
        { ...OBSERVER, querierCpu: "half" },
        'thanos-bridge:querierCpu: "half" is not allowed; use a CPU quantity such as 250m or 1 (at least 100m)',
      ],
      [
        "envoyMemory",
        { ...OBSERVER, envoyMemory: "0Mi" },
        'thanos-bridge:envoyMemory: "0Mi" is not allowed; Envoy needs at least 32Mi of memory',
      ],
      [
        "expiryAlertDays over a year",
        { ...OBSERVER, expiryAlertDays: "366" },
        'thanos-bridge:expiryAlertDays: "366" is not allowed; use 0 (no alert) or a whole number of days from 1 to 365',
      ],
      [
        "expiryAlertDays negative",
        { ...OBSERVER, expiryAlertDays: "-1" },
        'thanos-bridge:expiryAlertDays: "-1" is not allowed; use 0 (no alert) or a whole number of days from 1 to 365',
      ],
      [
        "expiryAlertDays as a duration",
        { ...OBSERVER, expiryAlertDays: "14d" },
        'thanos-bridge:expiryAlertDays: "14d" is not allowed; use 0 (no alert) or a whole number of days from 1 to 365, without a unit',
      ],
      [
        "expiryAlertDays on a leaf",
        { ...LEAF, expiryAlertDays: "14" },
        "thanos-bridge:expiryAlertDays: applies only to role observer, but this stack's role is leaf; remove it",
      ],
      [
        "dataPath",
        { ...OBSERVER, dataPath: "istio" },
        'thanos-bridge:dataPath: "istio" is not allowed; use one of envoy, thanos',
      ],
      [
        "dataPath on a leaf",
        { ...LEAF, dataPath: "thanos" },
        "thanos-bridge:dataPath: applies only to role observer, but this stack's role is leaf; remove it",
      ],
      [
        "expiryAlertDays with dataPath thanos",
        { ...OBSERVER, dataPath: "thanos", expiryAlertDays: "14" },
        "thanos-bridge:expiryAlertDays: 14 is not allowed with thanos-bridge:dataPath thanos: the alert reads Envoy's certificate-expiry gauge, and that data path has no Envoy; set it to 0, and watch expiry with `npm run rotate` (its check fails on a certificate due for renewal or expired) or the observer's `leaves[].expiry` output (`pulumi stack output leaves`)",
      ],
      [
        "an Envoy setting with dataPath thanos",
        { ...OBSERVER, dataPath: "thanos", envoyMemory: "512Mi" },
        "thanos-bridge:envoyMemory: applies only to thanos-bridge:dataPath envoy, but this stack's is thanos, which has no Envoy; remove it",
      ],
      [
        "endpointSuffix with dataPath thanos",
        { ...OBSERVER, dataPath: "thanos", endpointSuffix: "bridge.internal" },
        "thanos-bridge:endpointSuffix: applies only to thanos-bridge:dataPath envoy, but this stack's is thanos, which has no Envoy; remove it",
      ],
      [
        "unknown key (a typo)",
        { ...LEAF, hostnmae: "x" },
        "thanos-bridge:hostnmae is not a known key; did you mean thanos-bridge:hostname?",
      ],
      [
        "unknown key in another case",
        { ...LEAF, HostName: "x" },
        "thanos-bridge:HostName is not a known key; did you mean thanos-bridge:hostname?",
      ],
      [
        "unknown key near no known key",
        { ...LEAF, colour: "blue" },
        `thanos-bridge:colour is not a known key; known keys are ${Object.keys(CONFIG_SCHEMA).sort().join(", ")}`,
      ],
      [
        "namespace with an underscore",
        { ...LEAF, "thanos_bridge:publicPort": "8443" },
        "thanos_bridge:publicPort: the namespace thanos_bridge is not this project's, so the program would never read it; did you mean thanos-bridge:publicPort?",
      ],
      [
        "namespace misspelt",
        { ...LEAF, "thanos-brigde:sidecarPort": "10902" },
        "thanos-brigde:sidecarPort: the namespace thanos-brigde is not this project's, so the program would never read it; did you mean thanos-bridge:sidecarPort?",
      ],
      [
        "kubernetes:namespace",
        { ...LEAF, "kubernetes:namespace": "observability" },
        "kubernetes:namespace has no effect: this program gives its resources their own Kubernetes provider, which does not read the kubernetes: keys; set thanos-bridge:namespace instead",
      ],
      [
        "another kubernetes: key",
        { ...LEAF, "kubernetes:enableServerSideApply": "false" },
        "kubernetes:enableServerSideApply has no effect: this program gives its resources their own Kubernetes provider, which does not read the kubernetes: keys; remove it (thanos-bridge's keys are listed in docs/CONFIG.md)",
      ],
      [
        "kubernetes:context beside a different kubeContext",
        { ...LEAF, "kubernetes:context": "prod", kubeContext: "staging" },
        "kubernetes:context and thanos-bridge:kubeContext are both set, to different values; keep one (they mean the same here)",
      ],
      [
        "role capitalised",
        { role: "Leaf", hostname: "thanos.leaf-a.example.com" },
        'thanos-bridge:role: "Leaf" is not allowed; use one of leaf, observer (did you mean leaf?)',
      ],
      [
        "a bad role does not hide another key's problem",
        { role: "edge", sidecarPort: "0" },
        'thanos-bridge:sidecarPort: "0" is not allowed; use a whole number from 1 to 65535',
      ],
      [
        "hostname with a space in front",
        { ...LEAF, hostname: " thanos.leaf-a.example.com" },
        'thanos-bridge:hostname: " thanos.leaf-a.example.com" has whitespace around it; remove it ("thanos.leaf-a.example.com" is what was meant)',
      ],
      [
        "caEpoch negative",
        { ...LEAF, caEpoch: "-1" },
        'thanos-bridge:caEpoch: "-1" is not allowed; use a whole number from 0 to 1000',
      ],
      [
        "streamTimeoutSeconds with a unit",
        { ...LEAF, streamTimeoutSeconds: "10m" },
        'thanos-bridge:streamTimeoutSeconds: "10m" is not allowed; use a whole number from 1 to 86400, without a unit',
      ],
      [
        "rotationIntervalHours with a fraction",
        { ...LEAF, rotationIntervalHours: "1.5" },
        'thanos-bridge:rotationIntervalHours: "1.5" is not allowed; use a whole number from 1 to 744',
      ],
      [
        "sidecarPort negative",
        { ...LEAF, sidecarPort: "-1" },
        'thanos-bridge:sidecarPort: "-1" is not allowed; use a whole number from 1 to 65535',
      ],
      [
        "boolean capitalised",
        { ...LEAF, createNamespace: "True" },
        'thanos-bridge:createNamespace: "True" is not allowed; use true or false (did you mean true?)',
      ],
      [
        "boolean as 0",
        { ...LEAF, skipAwait: "0" },
        'thanos-bridge:skipAwait: "0" is not allowed; use true or false (did you mean false?)',
      ],
      [
        "keyAlgorithm near miss",
        { ...LEAF, keyAlgorithm: "ECDSA-256" },
        'thanos-bridge:keyAlgorithm: "ECDSA-256" is not allowed; use one of ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096 (did you mean ECDSA-P256?)',
      ],
      [
        "exposure misspelt",
        { ...LEAF, exposure: "traefic" },
        'thanos-bridge:exposure: "traefic" is not allowed; use one of ingress-nginx, gateway-api, traefik (did you mean traefik?)',
      ],
      [
        "ingressPathType lowercase",
        { ...LEAF, ingressPathType: "prefix" },
        'thanos-bridge:ingressPathType: "prefix" is not allowed; use one of Prefix, ImplementationSpecific (did you mean Prefix?)',
      ],
      [
        "dataPath capitalised",
        { ...OBSERVER, dataPath: "Thanos" },
        'thanos-bridge:dataPath: "Thanos" is not allowed; use one of envoy, thanos (did you mean thanos?)',
        "observer",
      ],
      [
        "leaves written as one comma-separated string",
        { role: "observer", leaves: "acme/thanos-bridge/leaf-a,acme/thanos-bridge/leaf-b" },
        'thanos-bridge:leaves: "acme/thanos-bridge/leaf-a,acme/thanos-bridge/leaf-b" is a string, not a list; write it in the stack file as a YAML list (one "- item" per line), or `pulumi config set --path \'leaves[0]\' <item>`',
        "observer",
      ],
      [
        "a list item with whitespace",
        { ...OBSERVER, replicaLabels: '[" replica"]' },
        'thanos-bridge:replicaLabels: " replica" has whitespace around it; remove it',
        "observer",
      ],
      [
        "extraEndpoints port above 65535",
        { ...OBSERVER, extraEndpoints: '["thanos-store:70000"]' },
        'thanos-bridge:extraEndpoints: "thanos-store:70000" is not allowed; use host:port, dns+host:port or dnssrv+_<port name>._tcp.<service>, e.g. dnssrv+_grpc._tcp.thanos-store.monitoring.svc',
        "observer",
      ],
      [
        "querierMemory in bytes",
        { ...OBSERVER, querierMemory: "512" },
        'thanos-bridge:querierMemory: "512" is not allowed; Querier needs at least 128Mi of memory (a quantity without a unit is bytes)',
        "observer",
      ],
      [
        "querierCpu too small",
        { ...OBSERVER, querierCpu: "1m" },
        'thanos-bridge:querierCpu: "1m" is not allowed; Querier needs at least 100m of CPU',
        "observer",
      ],
      [
        "envoyCpu zero",
        { ...OBSERVER, envoyCpu: "0" },
        'thanos-bridge:envoyCpu: "0" is not allowed; Envoy needs at least 10m of CPU',
        "observer",
      ],
    ];
    for (const [title, values, message, stack] of cases) {
      it(title, () => {
        const found = problems(values, stack);
        assert.ok(
          found.includes(message),
          `expected the problem:\n  ${message}\ngot:\n  ${found.join("\n  ")}`,
        );
      });
    }
  });

  it("takes kubernetes:context and kubernetes:kubeconfig as its own keys", () => {
    const config = loadLeaf(
      raw({ ...LEAF, "kubernetes:context": "prod", "kubernetes:kubeconfig": "/etc/kube" }),
      "leaf-a",
    );
    assert.deepEqual(config.kubernetes, {
      kind: "cluster",
      context: "prod",
      kubeconfig: "/etc/kube",
      skipAwait: false,
    });
    // The same value under both names is no conflict.
    const same = loadLeaf(raw({ ...LEAF, "kubernetes:context": "prod", kubeContext: "prod" }), "a");
    assert.equal(same.kubernetes.kind === "cluster" && same.kubernetes.context, "prod");
  });

  it("checks every key a stack sets even when its role is missing", () => {
    assert.deepEqual(problems({ sidecarPort: "0", querierReplicas: "0", hostnmae: "x" }), [
      "thanos-bridge:role is not set; run `pulumi config set role leaf` (or observer) on this stack",
      "thanos-bridge:hostnmae is not a known key; did you mean thanos-bridge:hostname?",
      'thanos-bridge:querierReplicas: "0" is not allowed; use a whole number from 1 to 100',
      'thanos-bridge:sidecarPort: "0" is not allowed; use a whole number from 1 to 65535',
    ]);
  });

  it("reports every problem at once, in one message that names the stack", () => {
    try {
      loadConfig(raw({ role: "leaf", sidecarPort: "0", keyAlgorithm: "DSA" }), "leaf-a");
      assert.fail("expected a ConfigError");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.problems.length, 3);
      assert.match(e.message, /^invalid configuration for stack "leaf-a" \(3 problems\):\n {2}- /);
      for (const key of ["hostname", "sidecarPort", "keyAlgorithm"]) {
        assert.match(e.message, new RegExp(`- thanos-bridge:${key}`));
      }
    }
  });

  it("ignores keys of other namespaces (providers, pulumi)", () => {
    assert.deepEqual(problems({ ...LEAF }), []);
    const config = loadLeaf(
      { ...raw(LEAF), "kubernetes:context": "x", "pulumi:tags": "{}" },
      "leaf-a",
    );
    assert.equal(config.hostname, LEAF.hostname);
  });
});

describe("observer config", () => {
  it("fills every default from the schema, with only role and leaves set", () => {
    const config = loadObserver(raw(OBSERVER), "observer");
    const expected: ObserverConfig = {
      ...registryDefaults<ObserverConfig>("observer", OBSERVER_GROUPED),
      role: "observer",
      leaves: ["acme/thanos-bridge/leaf-a"],
      namespace: "monitoring",
      createNamespace: false,
      endpointSuffix: "thanos-bridge.internal",
      querier: {
        image: "quay.io/thanos/thanos:v0.42.5",
        replicas: 2,
        replicaLabels: ["prometheus_replica"],
        extraEndpoints: [],
        clientNamespaces: [],
        resources: { cpu: "500m", memory: "1Gi" },
      },
      envoy: {
        image: "envoyproxy/envoy:v1.38.3",
        resources: { cpu: "100m", memory: "256Mi" },
        ipFamily: "IPv4",
        accessLog: "errors",
      },
      expiryAlertDays: 0,
      kubernetes: { kind: "cluster", skipAwait: false },
    };
    assert.deepEqual(config, expected);
  });

  it("sorts leaves, replica labels and extra endpoints", () => {
    const config = loadObserver(
      raw({
        ...OBSERVER,
        leaves: '["acme/thanos-bridge/leaf-b","acme/thanos-bridge/leaf-a"]',
        replicaLabels: '["replica","prometheus_replica"]',
        extraEndpoints:
          '["thanos-store.monitoring.svc:10901","dnssrv+_grpc._tcp.thanos-rule.monitoring.svc"]',
        querierImage: "quay.io/thanos/thanos@sha256:" + "a".repeat(64),
      }),
      "observer",
    );
    assert.deepEqual(config.leaves, ["acme/thanos-bridge/leaf-a", "acme/thanos-bridge/leaf-b"]);
    assert.deepEqual(config.querier.replicaLabels, ["prometheus_replica", "replica"]);
    assert.deepEqual(config.querier.extraEndpoints, [
      "dnssrv+_grpc._tcp.thanos-rule.monitoring.svc",
      "thanos-store.monitoring.svc:10901",
    ]);
  });

  it("reads dataPath: thanos is kept, envoy (the default) leaves the config as it was", () => {
    const thanos = loadObserver(raw({ ...OBSERVER, dataPath: "thanos" }), "observer");
    assert.equal(thanos.dataPath, "thanos");
    const envoy = loadObserver(raw({ ...OBSERVER, dataPath: "envoy" }), "observer");
    assert.deepEqual(envoy, loadObserver(raw(OBSERVER), "observer"));
    assert.equal("dataPath" in envoy, false);
    // Envoy's settings at their defaults are no problem with thanos.
    assert.deepEqual(
      problems({
        ...OBSERVER,
        dataPath: "thanos",
        envoyImage: "envoyproxy/envoy:v1.38.3",
        expiryAlertDays: "0",
      }),
      [],
    );
  });

  it("reads the expiry alert threshold, both ends of its range included", () => {
    for (const days of [1, 14, 365]) {
      const config = loadObserver(raw({ ...OBSERVER, expiryAlertDays: String(days) }), "observer");
      assert.equal(config.expiryAlertDays, days);
    }
  });

  it("loads the shipped example stack", () => {
    const config = loadObserver(shippedConfig("Pulumi.observer.yaml"), "observer");
    assert.deepEqual(
      config.leaves.map((l: string) => l.split("/")[2]),
      ["leaf-a", "leaf-b"],
    );
  });
});

describe("config keys, declared once in stacks/keys.ts", () => {
  const stale = "is stale: run `npm run config:docs` and commit the result";

  it("Pulumi.yaml declares exactly those keys, with their types, defaults and descriptions", () => {
    const project = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as {
      name: string;
      config: unknown;
    };
    assert.equal(project.name, PROJECT);
    assert.deepEqual(project.config, pulumiYamlConfig(), `Pulumi.yaml's config section ${stale}`);
  });

  it("docs/CONFIG.md is the reference generated from them", async () => {
    const file = readFileSync(join(ROOT, CONFIG_DOC), "utf8");
    assert.equal(file, await configReference(), `${CONFIG_DOC} ${stale}`);
  });

  it("describes every key, and gives every enum its values and every integer its range", () => {
    for (const [key, spec] of Object.entries(CONFIG_SCHEMA) as [string, ConfigKeySpec][]) {
      assert.ok(spec.description.length > 20, `${key} has no useful description`);
      if (spec.type === "integer") {
        assert.ok(spec.min !== undefined && spec.max !== undefined, `${key} has no range`);
        const d = spec.default as number;
        assert.ok(d >= spec.min && d <= spec.max, `${key}'s default is outside its range`);
      }
      if (spec.allowed !== undefined && spec.default !== "") {
        assert.ok(spec.allowed.includes(spec.default as string), `${key}'s default is not allowed`);
      }
    }
  });
});
