import { awaitAnnotations } from "../common/await";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  MONITORING_API_VERSION,
  certificateExpiryRuleSpec,
  envoyPodMonitorSpec,
} from "./envoy/alerts";
import { Leaf, distinctLeaves } from "../common/contract";
import {
  OBSERVER_OBJECT_NAMES,
  ObserverInput,
  QUERIER_FAN_OUT,
  THANOS_PATHS,
  assertFitsConfigMap,
  configMapName,
  endpointsConfig,
  leafSecretName,
  observerLabels,
  querierDeploymentSpec,
} from "./querier/pod";
import { ENVOY_PATHS, envoyBootstrap } from "./envoy/bootstrap";
import {
  querierDisruptionBudgetSpec,
  querierNetworkPolicySpec,
  querierServiceSpec,
} from "./querier/front";
import { leafSdsFiles } from "./envoy/sds";
import {
  DataPath,
  THANOS_OBJECT_NAMES,
  THANOS_POLICY_PORTS,
  assertThanosFits,
  shardNames,
  thanosDeploymentSpec,
  thanosEndpointsConfig,
  thanosShardData,
} from "./thanos/endpoints";
import { stableYaml } from "../common/yaml";

/** One leaf as read from its stack: the checked public outputs and the checked client key. */
export interface LeafReference {
  /** Fully qualified stack name, for resource names and messages. */
  readonly stack: string;
  readonly bridge: pulumi.Output<Leaf>;
  /** Secret. */
  readonly clientKey: pulumi.Output<string>;
}

export interface ObserverArgs {
  /** Namespace of every object. */
  readonly namespace: string;
  /**
   * Create the namespace, labelled to enforce the "restricted" Pod Security Standard.
   * @default false
   */
  readonly createNamespace?: boolean;
  readonly leaves: readonly LeafReference[];
  /** Leaf `x` is dialled as `x.<endpointSuffix>`. */
  readonly endpointSuffix: string;
  readonly querier: ObserverInput["querier"];
  /** Do not wait for the Deployment to roll out or the Service to have endpoints. */
  readonly skipAwait?: boolean;
  /** Envoy's container; unused with `dataPath: thanos`. */
  readonly envoy: ObserverInput["envoy"];
  /**
   * `envoy`: the Envoy sidecar originates the mutual TLS. `thanos`: Querier does, with no Envoy
   * (no alert objects then: `expiryAlertDays` reads Envoy's metrics).
   * @default "envoy"
   */
  readonly dataPath?: DataPath;
  /**
   * Alert when a certificate Envoy uses expires in fewer than this many days (1 to 365): a
   * PodMonitor for Envoy's metrics and a PrometheusRule, which need prometheus-operator's CRDs.
   * Unset or 0: neither is declared.
   */
  readonly expiryAlertDays?: number;
  /** The Kubernetes provider of the observer's cluster. */
  readonly provider: k8s.Provider;
}

/**
 * Thanos Querier with an Envoy sidecar that originates mutual TLS to every leaf: a Secret per
 * leaf, a ConfigMap with envoy.yaml and endpoints.yaml, the Deployment, its Service,
 * PodDisruptionBudget and ServiceAccount; optionally a PodMonitor and PrometheusRule for
 * certificate expiry. No Service exposes Envoy.
 *
 * With `dataPath: thanos`, Querier alone: a fixed set of Secrets holding the leaves'
 * credentials, a ConfigMap of a fixed name with endpoints.yaml, and the same Deployment, Service,
 * PodDisruptionBudget, ServiceAccount and NetworkPolicy, whose pod template names no leaf.
 */
export class Observer extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;
  readonly config: k8s.core.v1.ConfigMap;
  /** The Secrets with the leaves' credentials: one per leaf, or (thanos) the fixed shards. */
  readonly leafSecrets: readonly k8s.core.v1.Secret[];
  /** The parsed leaves, sorted by cluster name, with no duplicates. */
  readonly leaves: pulumi.Output<readonly Leaf[]>;

  constructor(name: string, args: ObserverArgs, opts?: pulumi.ComponentResourceOptions) {
    super("thanos-bridge:observer:Observer", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };
    const labels = observerLabels();

    const namespace = args.createNamespace
      ? new k8s.core.v1.Namespace(
          `${name}-namespace`,
          {
            metadata: {
              name: args.namespace,
              labels: {
                ...labels,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
              },
            },
          },
          childOpts,
        ).metadata.name
      : pulumi.output(args.namespace);

    this.leaves = pulumi.all(args.leaves.map((l) => l.bridge)).apply(distinctLeaves);

    if (args.dataPath === "thanos") {
      if (args.expiryAlertDays !== undefined && args.expiryAlertDays !== 0) {
        throw new Error(
          "expiryAlertDays alerts on Envoy's certificate-expiry gauge, and dataPath thanos has no Envoy",
        );
      }
      ({
        config: this.config,
        leafSecrets: this.leafSecrets,
        deployment: this.deployment,
        service: this.service,
      } = this.declareThanos(name, args, namespace));
      this.registerOutputs({
        deployment: this.deployment,
        service: this.service,
        config: this.config,
        leafSecrets: this.leafSecrets,
        leaves: this.leaves,
      });
      return;
    }

    const input = this.leaves.apply((leaves): ObserverInput => ({
      leaves,
      endpointSuffix: args.endpointSuffix,
      querier: args.querier,
      envoy: args.envoy,
    }));
    const data = input.apply((i) => {
      const files = {
        [ENVOY_PATHS.configFile]: stableYaml(
          envoyBootstrap(i.leaves, {
            endpointSuffix: i.endpointSuffix,
            fanOut: QUERIER_FAN_OUT,
            ipFamily: i.envoy.ipFamily,
            accessLog: i.envoy.accessLog,
          }),
        ),
        [THANOS_PATHS.endpointsFile]: stableYaml(endpointsConfig(i)),
      };
      assertFitsConfigMap(files, i.leaves.length);
      return files;
    });

    this.config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: { name: data.apply(configMapName), namespace, labels },
        immutable: true,
        data,
      },
      childOpts,
    );
    // One Secret per leaf stack, named after the leaf's cluster, holding what Envoy presents
    // to that leaf and the CA it trusts for it. Each depends on the ConfigMap, whose data is
    // only computed once the leaves passed `distinctLeaves`: no Secret is declared when two
    // leaves share a cluster name, so one cannot overwrite the other's credentials. (Deriving
    // each Secret from the checked list instead would make it depend on every leaf: N² links.)
    this.leafSecrets = args.leaves.map(
      (leaf) =>
        new k8s.core.v1.Secret(
          `${name}-leaf-${leaf.stack}`,
          {
            metadata: pulumi
              .all([leaf.bridge, namespace])
              .apply(([b, ns]) => ({ name: leafSecretName(b.cluster), namespace: ns, labels })),
            type: "Opaque",
            // Envoy's two SDS files for the leaf; a renewal changes them and nothing else.
            stringData: pulumi
              .all([leaf.bridge, leaf.clientKey])
              .apply(([b, key]) => leafSdsFiles({ ...b, clientKey: key })),
          },
          { ...childOpts, dependsOn: [this.config] },
        ),
    );
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-service-account`,
      {
        metadata: { name: OBSERVER_OBJECT_NAMES.querier, namespace, labels },
        automountServiceAccountToken: false,
      },
      childOpts,
    );
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-querier`,
      {
        metadata: querierDeploymentMetadata(namespace, labels, args.skipAwait),
        // Depends on the config alone, so renewed certificates leave the pods running.
        spec: pulumi
          .all([input, data])
          .apply(([i, d]) => querierDeploymentSpec(i, { configMap: configMapName(d) })),
      },
      { ...childOpts, dependsOn: [this.config, serviceAccount, ...this.leafSecrets] },
    );
    this.service = declareQuerierFront(
      name,
      { namespace, labels, ...awaitAnnotations(args.skipAwait) },
      querierNetworkPolicySpec(args.namespace, args.querier.clientNamespaces),
      childOpts,
    );

    if (args.expiryAlertDays !== undefined && args.expiryAlertDays !== 0) {
      new k8s.apiextensions.CustomResource(
        `${name}-pod-monitor`,
        {
          apiVersion: MONITORING_API_VERSION,
          kind: "PodMonitor",
          metadata: { name: OBSERVER_OBJECT_NAMES.querier, namespace, labels },
          spec: envoyPodMonitorSpec(),
        },
        childOpts,
      );
      new k8s.apiextensions.CustomResource(
        `${name}-expiry-alert`,
        {
          apiVersion: MONITORING_API_VERSION,
          kind: "PrometheusRule",
          metadata: { name: OBSERVER_OBJECT_NAMES.querier, namespace, labels },
          spec: certificateExpiryRuleSpec(args.namespace, args.expiryAlertDays),
        },
        childOpts,
      );
    }

    this.registerOutputs({
      deployment: this.deployment,
      service: this.service,
      config: this.config,
      leafSecrets: this.leafSecrets,
      leaves: this.leaves,
    });
  }

  /**
   * The objects of `dataPath: thanos` (see docs/ARCHITECTURE.md, Decisions). Their order on an
   * update: the credential shards, then the endpoints file that names them, so a leaf's files
   * exist before Querier is told to dial it. (On a removal the shard loses the leaf's files
   * first, which only drops the leaf from Querier a moment early: Querier skips an endpoint whose
   * files it cannot read.) The pod template depends on no leaf.
   */
  private declareThanos(
    name: string,
    args: ObserverArgs,
    namespace: pulumi.Output<string>,
  ): Pick<Observer, "config" | "leafSecrets" | "deployment" | "service"> {
    const childOpts = { parent: this, provider: args.provider };
    const labels = observerLabels();
    const keys = pulumi.all(args.leaves.map((l) => l.clientKey));
    // From the checked list (`distinctLeaves`): when two leaves share a cluster name no shard
    // is declared, so one cannot overwrite the other's credentials. Refused here, before any
    // object, when a shard or the endpoints file would not fit its object.
    const files = pulumi.all([this.leaves, keys]).apply(([leaves, clientKeys]) => {
      const keyOf = new Map(args.leaves.map((l, i) => [l.stack, clientKeys[i]]));
      const shards = thanosShardData(
        leaves.map((l) => {
          const clientKey = keyOf.get(l.stack);
          if (clientKey === undefined) throw new Error(`stack ${l.stack}: no client key read`);
          return { ...l, clientKey };
        }),
      );
      const endpoints = {
        [THANOS_PATHS.endpointsFile]: stableYaml(
          thanosEndpointsConfig(leaves, args.querier.extraEndpoints),
        ),
      };
      assertThanosFits(endpoints, shards, leaves.length);
      return { endpoints, shards };
    });
    // A fixed set of names, so the pod template does not change as leaves come and go.
    const leafSecrets = shardNames().map(
      (shard, i) =>
        new k8s.core.v1.Secret(
          `${name}-leaves-${String(i).padStart(2, "0")}`,
          {
            metadata: { name: shard, namespace, labels },
            type: "Opaque",
            stringData: pulumi.secret(files.apply((f) => f.shards[shard])),
          },
          childOpts,
        ),
    );
    // Mutable and of one name: the kubelet updates it in the pods' volume and Querier re-reads
    // it. It changes only when a leaf comes or goes or a leaf's CA bundle changes.
    const config = new k8s.core.v1.ConfigMap(
      `${name}-endpoints`,
      {
        metadata: { name: THANOS_OBJECT_NAMES.endpoints, namespace, labels },
        data: files.apply((f) => f.endpoints),
      },
      { ...childOpts, dependsOn: leafSecrets },
    );
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-service-account`,
      {
        metadata: { name: OBSERVER_OBJECT_NAMES.querier, namespace, labels },
        automountServiceAccountToken: false,
      },
      childOpts,
    );
    const deployment = new k8s.apps.v1.Deployment(
      `${name}-querier`,
      {
        metadata: querierDeploymentMetadata(namespace, labels, args.skipAwait),
        spec: thanosDeploymentSpec(args.querier),
      },
      // Created after its volume's sources, so a new pod finds every one of them.
      { ...childOpts, dependsOn: [config, serviceAccount, ...leafSecrets] },
    );
    const service = declareQuerierFront(
      name,
      { namespace, labels, ...awaitAnnotations(args.skipAwait) },
      querierNetworkPolicySpec(args.namespace, args.querier.clientNamespaces, THANOS_POLICY_PORTS),
      childOpts,
    );
    return { config, leafSecrets, deployment, service };
  }
}

/** Querier's Deployment, on either data path: its fixed name, and skipAwait's annotation. */
function querierDeploymentMetadata(
  namespace: pulumi.Input<string>,
  labels: Record<string, string>,
  skipAwait: boolean | undefined,
) {
  return { name: OBSERVER_OBJECT_NAMES.querier, namespace, labels, ...awaitAnnotations(skipAwait) };
}

/**
 * What both data paths put in front of Querier: its Service, the NetworkPolicy admitting only
 * the observer's and the client namespaces (`policy`), and the PodDisruptionBudget.
 */
function declareQuerierFront(
  name: string,
  where: {
    namespace: pulumi.Input<string>;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  },
  policy: ReturnType<typeof querierNetworkPolicySpec>,
  opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Service {
  const metadata = { name: OBSERVER_OBJECT_NAMES.querier, ...where };
  const service = new k8s.core.v1.Service(
    `${name}-service`,
    { metadata, spec: querierServiceSpec() },
    opts,
  );
  new k8s.networking.v1.NetworkPolicy(`${name}-network-policy`, { metadata, spec: policy }, opts);
  new k8s.policy.v1.PodDisruptionBudget(
    `${name}-disruption-budget`,
    { metadata, spec: querierDisruptionBudgetSpec() },
    opts,
  );
  return service;
}
