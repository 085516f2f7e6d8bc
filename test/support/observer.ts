import { parse } from "yaml";
import { CLIENT_KEY_OUTPUT, BRIDGE_OUTPUT } from "../../components/contract";
import { runStack } from "../../stacks";
import { ObservedLeaf, ObserverStackOutputs } from "../../stacks/observer";
import { LeafRun, leafRawConfig } from "./leaf";
import {
  RecordedResource,
  RecordingMocks,
  StackOutputs,
  promiseOf,
  runOnMocks,
  unwrapSecrets,
} from "./mocks";

export const OBSERVER = {
  role: "observer",
  namespace: "thanos",
  leaves: '["acme/thanos-bridge/leaf-a","acme/thanos-bridge/leaf-b"]',
  extraEndpoints: '["dnssrv+_grpc._tcp.thanos-store.thanos.svc.cluster.local"]',
};

/** What StackReferences to these leaf runs see, as the Pulumi service would return it. */
export function stacksOf(runs: Record<string, LeafRun>): Record<string, StackOutputs> {
  return Object.fromEntries(
    Object.entries(runs).map(([stack, run]) => [
      stack,
      {
        outputs: { [BRIDGE_OUTPUT]: run.bridge, [CLIENT_KEY_OUTPUT]: run.clientKey },
        secretOutputNames: [CLIENT_KEY_OUTPUT],
      },
    ]),
  );
}

export interface ObserverRun {
  readonly mocks: RecordingMocks;
  readonly leaves: readonly ObservedLeaf[];
  /** The ConfigMap's files. */
  readonly files: Record<string, string>;
  /** envoy.yaml, parsed. */
  readonly envoy: Record<string, unknown>;
  readonly deployment: RecordedResource;
  /** The Deployment's pod template spec, secrets unwrapped. */
  readonly pod: PodSpec;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  restartPolicy?: string;
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  securityContext?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Record<string, unknown>[];
  securityContext?: Record<string, unknown>;
  hostAliases?: { ip: string; hostnames: string[] }[];
  [key: string]: unknown;
}

export async function runObserver(
  values: Record<string, string>,
  stacks: Readonly<Record<string, StackOutputs>>,
): Promise<ObserverRun> {
  const { mocks, result } = await runOnMocks(
    () => runStack(leafRawConfig(values), "observer") as ObserverStackOutputs,
    { stack: "observer", stacks },
  );
  const leaves = await promiseOf(result.leaves);
  const config = unwrapSecrets(mocks.one("kubernetes:core/v1:ConfigMap").inputs) as {
    data: Record<string, string>;
  };
  const deployment = mocks.one("kubernetes:apps/v1:Deployment");
  const spec = unwrapSecrets(deployment.inputs) as { spec: { template: { spec: PodSpec } } };
  return {
    mocks,
    leaves,
    files: config.data,
    envoy: parse(config.data["envoy.yaml"]) as Record<string, unknown>,
    deployment,
    pod: spec.spec.template.spec,
  };
}
