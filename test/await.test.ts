import assert from "node:assert/strict";
import { LEAF_A, LEAF_B, runLeaf } from "./support/leaf";
import { RecordedResource, unwrapSecrets } from "./support/mocks";
import { OBSERVER, runObserver, stacksOf } from "./support/observer";

const SKIP = "pulumi.com/skipAwait";

function annotationsOf(r: RecordedResource): Record<string, string> {
  const inputs = unwrapSecrets(r.inputs) as { metadata: { annotations?: Record<string, string> } };
  return inputs.metadata.annotations ?? {};
}

/** type name → its skipAwait annotation ("" when absent), for every Kubernetes object. */
function skipAwaitByObject(resources: readonly RecordedResource[]): Record<string, string> {
  return Object.fromEntries(
    resources
      .filter((r) => r.type.startsWith("kubernetes:"))
      .map((r) => [`${r.type} ${r.name}`, annotationsOf(r)[SKIP] ?? ""]),
  );
}

describe("skipAwait", () => {
  it("annotates exactly the objects the provider waits on: the Ingress, the Deployment and the Service", async () => {
    const leafA = await runLeaf({ ...LEAF_A, skipAwait: "true" }, "leaf-a");
    const leafB = await runLeaf(LEAF_B, "leaf-b");
    const observer = await runObserver(
      { ...OBSERVER, skipAwait: "true" },
      stacksOf({ "acme/thanos-bridge/leaf-a": leafA, "acme/thanos-bridge/leaf-b": leafB }),
    );
    const annotated = Object.entries({
      ...skipAwaitByObject(leafA.mocks.resources),
      ...skipAwaitByObject(observer.mocks.resources),
    })
      .filter(([, v]) => v !== "")
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    assert.deepEqual(annotated, [
      "kubernetes:apps/v1:Deployment observer-querier=true",
      "kubernetes:core/v1:Service observer-service=true",
      "kubernetes:networking.k8s.io/v1:Ingress leaf-a-ingress=true",
      // The Service's metadata is shared with these two, which the provider does not wait on.
      "kubernetes:networking.k8s.io/v1:NetworkPolicy observer-network-policy=true",
      "kubernetes:policy/v1:PodDisruptionBudget observer-disruption-budget=true",
    ]);
    // The Ingress keeps its own annotations.
    const ingress = leafA.mocks.one("kubernetes:networking.k8s.io/v1:Ingress");
    assert.equal(annotationsOf(ingress)["nginx.ingress.kubernetes.io/backend-protocol"], "GRPC");
  });

  it("leaves every object unannotated by default", async () => {
    const leafA = await runLeaf(LEAF_A, "leaf-a");
    const values = Object.values(skipAwaitByObject(leafA.mocks.resources));
    assert.ok(values.length > 0);
    assert.deepEqual(
      values.filter((v) => v !== ""),
      [],
    );
  });
});
