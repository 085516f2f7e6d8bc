// The interface every data path implements, and what the Observer hands a path to declare its
// objects with. Each folder beside this one (envoy/, thanos/) is a data path; the Observer
// (../index.ts) chooses one, once, from its registry (docs/ARCHITECTURE.md, Map). Types only:
// the objects every path shares are the Observer's to declare.

import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Leaf, SortedLeaves } from "../../common/contract";

/** One leaf as read from its stack: the checked public outputs and the checked client key. */
export interface LeafReference {
  /** Fully qualified stack name, for resource names and messages. */
  readonly stack: string;
  readonly bridge: pulumi.Output<Leaf>;
  /** Secret. */
  readonly clientKey: pulumi.Output<string>;
}

/** What the Observer hands a data path to declare its objects with. */
interface DataPathScope {
  /** The Observer's name, which starts each object's. */
  readonly name: string;
  /** Each object's parent (the Observer) and provider (the observer cluster's). */
  readonly opts: { readonly parent: pulumi.Resource; readonly provider: k8s.Provider };
  /** Each object's namespace and labels. */
  readonly metadata: {
    readonly namespace: pulumi.Output<string>;
    readonly labels: Record<string, string>;
  };
  /** Each leaf as read from its stack, in the config's order. */
  readonly references: readonly LeafReference[];
  /** The same leaves checked (`distinctLeaves`): no two alike, sorted by cluster name. */
  readonly leaves: pulumi.Output<SortedLeaves<Leaf>>;
}

/** What a data path declares for Querier's pod: the objects it mounts, and its template. */
interface DataPathObjects {
  /** The ConfigMap with Querier's endpoints file. */
  readonly config: k8s.core.v1.ConfigMap;
  /** The Secrets with the leaves' credentials. */
  readonly leafSecrets: readonly k8s.core.v1.Secret[];
  /** The pod template; the Deployment is applied after `config` and `leafSecrets`. */
  readonly podTemplate: pulumi.Input<k8s.types.input.core.v1.PodTemplateSpec>;
}

/** How Querier reaches the leaves: one implementation per data path folder. */
export interface DataPath {
  /** Declares the path's own objects (the Observer declares those every path shares). */
  declare(scope: DataPathScope): DataPathObjects;
  /** The address Querier dials for a leaf, as the observer's `leaves` output reports it. */
  address(leaf: Leaf): string;
  /** The Querier pods' ports its NetworkPolicy opens. */
  readonly policyPorts: readonly number[];
}
