import * as pulumi from "@pulumi/pulumi";
import {
  BRIDGE_OUTPUT,
  CLIENT_KEY_OUTPUT,
  ContractError,
  LeafExpiry,
  parseLeafBridge,
  parseLeafClientKey,
} from "../components/common/contract";
import { Observer } from "../components/observer";
import type { LeafReference } from "../components/observer/querier";
import { ObserverConfig } from "./config";
import { kubernetesProvider } from "./kubernetes";

/** What the observer reports about each leaf it queries. Holds no secret. */
export interface ObservedLeaf {
  readonly stack: string;
  readonly cluster: string;
  /**
   * The address Querier dials, as the data path gives it: Envoy on loopback, or with
   * `dataPath: thanos` the leaf's ingress (`dns:///<host:port>?ca=<fingerprint of its CA
   * bundle>`; see `thanosLeafAddress`).
   */
  readonly endpoint: string;
  /** The leaf's ingress. */
  readonly upstream: string;
  readonly expiry: LeafExpiry;
}

export interface ObserverStackOutputs {
  readonly leaves: pulumi.Output<readonly ObservedLeaf[]>;
}

interface ObserverStack {
  /** Each leaf as read and checked from its stack. */
  readonly leaves: readonly LeafReference[];
  readonly observer: Observer;
  readonly outputs: ObserverStackOutputs;
}

/**
 * A broken leaf contract is the user's to fix, not a bug: as a RunError, Pulumi prints its
 * message alone, with no stack trace.
 */
function asRunError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ContractError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

/**
 * Reads one leaf through a StackReference and checks both outputs with the shared contract.
 * `getOutput` rather than `requireOutput`, so a missing output gets the contract's message,
 * which says to run `pulumi up` on that leaf. The public `bridge` output stays public; only the
 * key is secret.
 */
function referenceLeaf(stack: string): LeafReference {
  const reference = new pulumi.StackReference(stack, { name: stack });
  const bridge = reference
    .getOutput(BRIDGE_OUTPUT)
    .apply((value: unknown) => asRunError(() => parseLeafBridge(stack, value)));
  const clientKey = pulumi
    .all([bridge, reference.getOutput(CLIENT_KEY_OUTPUT) as pulumi.Output<unknown>])
    .apply(([leaf, key]) => asRunError(() => parseLeafClientKey(leaf, key)));
  return { stack, bridge, clientKey: pulumi.secret(clientKey) };
}

/** Declares the observer: one StackReference per leaf, then Querier (and Envoy, by default). */
export function observerStack(config: ObserverConfig): ObserverStack {
  const name = "observer";
  const provider = kubernetesProvider(name, config.kubernetes);
  const leaves = config.leaves.map(referenceLeaf);
  const observer = new Observer(name, {
    namespace: config.namespace,
    createNamespace: config.createNamespace,
    skipAwait: config.kubernetes.kind === "cluster" && config.kubernetes.skipAwait,
    leaves,
    endpointSuffix: config.endpointSuffix,
    querier: config.querier,
    envoy: config.envoy,
    dataPath: config.dataPath,
    expiryAlertDays: config.expiryAlertDays,
    provider,
  });
  // The outputs wait for every leaf's key check too (a boolean, so they stay public): a bad key
  // then fails the program while it runs, where Pulumi prints a RunError as its message alone
  // (a rejection that surfaces after the program has returned is printed with its stack).
  const keysChecked = pulumi.all(leaves.map((l) => pulumi.unsecret(l.clientKey.apply(() => true))));
  const observed = pulumi.all([observer.leaves, keysChecked]).apply(([all]) =>
    all.map((leaf): ObservedLeaf => ({
      stack: leaf.stack,
      cluster: leaf.cluster,
      endpoint: observer.leafAddress(leaf),
      upstream: leaf.endpoint,
      expiry: leaf.expiry,
    })),
  );
  return { leaves, observer, outputs: { leaves: observed } };
}
