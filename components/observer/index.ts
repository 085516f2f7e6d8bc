// The Observer component: Thanos Querier and what stands in front of it, reaching the leaves
// over the data path the config chooses. It chooses the path once, from the registry below, and
// declares what every path shares; the path declares its own objects (docs/ARCHITECTURE.md, Map).

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { awaitAnnotations } from "../common/await";
import { Leaf, SortedLeaves, distinctLeaves } from "../common/contract";
import { envoyPath } from "./envoy";
import type { DataPath, LeafReference } from "./querier";
import {
  querierDisruptionBudgetSpec,
  querierNetworkPolicySpec,
  querierServiceSpec,
} from "./querier/front";
import { QUERIER_NAME, observerLabels, querierDeploymentSpec } from "./querier/pod";
import type { EnvoySettings, QuerierSettings } from "./settings";
import { thanosPath } from "./thanos";

/** Every data path, by its `dataPath` name: a new path is a folder beside envoy/ and a line here. */
const DATA_PATHS = {
  envoy: envoyPath,
  thanos: thanosPath,
} satisfies Record<string, (args: ObserverArgs) => DataPath>;

/** How Querier reaches the leaves: through the Envoy sidecar, or with its own mutual TLS. */
export type DataPathName = keyof typeof DATA_PATHS;

interface ObserverArgs {
  /** Namespace of every object. */
  readonly namespace: string;
  /**
   * Create the namespace, labelled to enforce the "restricted" Pod Security Standard.
   * @default false
   */
  readonly createNamespace?: boolean;
  readonly leaves: readonly LeafReference[];
  /** Leaf `x` is dialled as `x.<endpointSuffix>` (`dataPath: envoy`). */
  readonly endpointSuffix: string;
  readonly querier: QuerierSettings;
  /** Do not wait for the Deployment to roll out or the Service to have endpoints. */
  readonly skipAwait?: boolean;
  /** Envoy's container; unused with `dataPath: thanos`. */
  readonly envoy: EnvoySettings;
  /**
   * `envoy`: the Envoy sidecar originates the mutual TLS. `thanos`: Querier does, with no Envoy
   * (no alert objects then: `expiryAlertDays` reads Envoy's metrics).
   * @default "envoy"
   */
  readonly dataPath?: DataPathName;
  /** Days before a certificate's expiry to alert (Envoy's metrics); unset or 0: no alert. */
  readonly expiryAlertDays?: number;
  /** The Kubernetes provider of the observer's cluster. */
  readonly provider: k8s.Provider;
}

/**
 * Thanos Querier, reaching every leaf over the chosen data path: its Deployment, Service,
 * NetworkPolicy, PodDisruptionBudget and ServiceAccount, and the path's objects (with Envoy: a
 * ConfigMap with envoy.yaml and endpoints.yaml, a Secret per leaf, optionally a PodMonitor and
 * PrometheusRule for certificate expiry; with Thanos: a ConfigMap of a fixed name with
 * endpoints.yaml and a fixed set of Secrets holding the leaves' credentials).
 */
export class Observer extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;
  readonly config: k8s.core.v1.ConfigMap;
  /** The Secrets with the leaves' credentials: one per leaf, or (thanos) the fixed shards. */
  readonly leafSecrets: readonly k8s.core.v1.Secret[];
  /** The parsed leaves, sorted by cluster name, with no duplicates. */
  readonly leaves: pulumi.Output<SortedLeaves<Leaf>>;
  /** The address Querier dials for a leaf on the chosen data path. */
  readonly leafAddress: (leaf: Leaf) => string;

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

    const path = DATA_PATHS[args.dataPath ?? "envoy"](args);
    this.leafAddress = (leaf) => path.address(leaf);
    this.leaves = pulumi.all(args.leaves.map((l) => l.bridge)).apply(distinctLeaves);
    const objects = path.declare({
      name,
      opts: childOpts,
      metadata: { namespace, labels },
      references: args.leaves,
      leaves: this.leaves,
    });
    this.config = objects.config;
    this.leafSecrets = objects.leafSecrets;

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-service-account`,
      { metadata: { name: QUERIER_NAME, namespace, labels }, automountServiceAccountToken: false },
      childOpts,
    );
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-querier`,
      {
        metadata: { name: QUERIER_NAME, namespace, labels, ...awaitAnnotations(args.skipAwait) },
        spec: pulumi
          .output(objects.podTemplate)
          .apply((template) => querierDeploymentSpec(args.querier.replicas, template)),
      },
      // Applied after what its pods mount, so a new pod finds every one of them.
      { ...childOpts, dependsOn: [this.config, serviceAccount, ...this.leafSecrets] },
    );
    this.service = declareQuerierFront(
      name,
      { namespace, labels, ...awaitAnnotations(args.skipAwait) },
      querierNetworkPolicySpec(args.namespace, args.querier.clientNamespaces, path.policyPorts),
      childOpts,
    );

    this.registerOutputs({
      deployment: this.deployment,
      service: this.service,
      config: this.config,
      leafSecrets: this.leafSecrets,
      leaves: this.leaves,
    });
  }
}

/**
 * What every data path puts in front of Querier: its Service, the NetworkPolicy admitting only
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
  const metadata = { name: QUERIER_NAME, ...where };
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
