// The Kubernetes objects the shipped stacks declare, taken from the program run on the mock
// runtime (the real engine is not on this bench yet): every kubernetes:* resource's inputs,
// secrets unwrapped, as the provider would send them to the API server.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { moduleDir, moduleFiles } from "../build/components";
import { shippedLeafConfig, runLeaf } from "../../support/leaf";
import { RecordingMocks, unwrapSecrets } from "../../support/mocks";
import { runObserver, stacksOf } from "../../support/observer";
import { KubeObject } from "./kube";

export interface DeclaredStack {
  readonly stack: string;
  readonly objects: readonly KubeObject[];
}

/** The order a person (or the provider's dependency graph) would create them in. */
const KIND_ORDER = [
  "Namespace",
  "CustomResourceDefinition",
  "ServiceAccount",
  "Secret",
  "ConfigMap",
  "Service",
  "NetworkPolicy",
  "PodDisruptionBudget",
  "Deployment",
];

export function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i === -1 ? KIND_ORDER.length : i;
}

/** The Kubernetes objects a mock run declared, in creation order. */
export function kubernetesObjects(mocks: RecordingMocks): KubeObject[] {
  return mocks.resources
    .filter((r) => r.type.startsWith("kubernetes:"))
    .map((r) => unwrapSecrets(r.inputs) as KubeObject)
    .sort((a, b) => kindRank(a.kind) - kindRank(b.kind));
}

const ORG = "organization/thanos-bridge";

/**
 * The shipped stacks (Pulumi.leaf-a.yaml, Pulumi.leaf-b.yaml, Pulumi.observer.yaml) run on the
 * mock runtime, the observer reading the two leaves' outputs; `observerExtra` adds config to the
 * observer (e.g. `expiryAlertDays`, which declares the prometheus-operator objects). The
 * observer also runs with `dataPath: thanos`, as is otherwise.
 */
export async function shippedStacks(
  observerExtra: Record<string, string> = {},
): Promise<DeclaredStack[]> {
  const a = await runLeaf(shippedLeafConfig("Pulumi.leaf-a.yaml"), "leaf-a");
  const b = await runLeaf(shippedLeafConfig("Pulumi.leaf-b.yaml"), "leaf-b");
  const observer = await runObserver(
    { ...shippedLeafConfig("Pulumi.observer.yaml"), ...observerExtra },
    stacksOf({ [`${ORG}/leaf-a`]: a, [`${ORG}/leaf-b`]: b }),
  );
  // The same observer on the other data path, in a namespace of its own (object names are
  // fixed per namespace).
  const native = await runObserver(
    {
      ...shippedLeafConfig("Pulumi.observer.yaml"),
      dataPath: "thanos",
      namespace: "thanos-native",
    },
    stacksOf({ [`${ORG}/leaf-a`]: a, [`${ORG}/leaf-b`]: b }),
  );
  return [
    { stack: "leaf-a", objects: kubernetesObjects(a.mocks) },
    { stack: "leaf-b", objects: kubernetesObjects(b.mocks) },
    { stack: "observer", objects: kubernetesObjects(observer.mocks) },
    { stack: "observer (dataPath thanos)", objects: kubernetesObjects(native.mocks) },
  ];
}

/** The CRDs of a module-files entry (test/real/build/components.ts), read from the Go module cache. */
export function crdsOf(name: string): KubeObject[] {
  const m = moduleFiles(name);
  const dir = moduleDir(m, true);
  return m.files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), "utf8"))
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null),
  );
}
