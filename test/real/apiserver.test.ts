// Every object the shipped stacks declare, judged by a real kube-apiserver (invariant 7 of
// docs/ARCHITECTURE.md): server-side apply under strict field validation, first as a dry run
// and then for real, with no error and no warning, Pod Security "restricted" enforced in the
// observer's namespace; a second apply changes nothing.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { component, componentVersion } from "./build/components";
import { ApiServer, startApiServer } from "./support/apiserver";
import { applyAll, ensureNamespaces, idOf, installCrds } from "./support/apply";
import { DeclaredStack, crdsOf, shippedStacks } from "./support/declared";
import { KubeClient, KubeError, KubeObject } from "./support/kube";

const RESTRICTED = "pod-security.kubernetes.io/enforce";

function find(objects: readonly KubeObject[], kind: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}`);
  return found[0];
}

describe("the API server fixture", () => {
  it("fails a start with the server's own last log lines, and leaves nothing behind", async () => {
    const before = readdirSync(tmpdir()).filter((d) => d.startsWith("thanos-bridge-apiserver-"));
    await assert.rejects(startApiServer({ extraArgs: ["--no-such-flag"] }), (e: unknown) => {
      assert.match(String(e), /kube-apiserver exited with code 1 before kube-apiserver \/readyz/);
      assert.match(String(e), /unknown flag: --no-such-flag/);
      return true;
    });
    const after = readdirSync(tmpdir()).filter((d) => d.startsWith("thanos-bridge-apiserver-"));
    assert.deepEqual(after, before);
  });

  it("stops both processes and removes its files", async () => {
    const server = await startApiServer();
    assert.deepEqual(server.pids.map(alive), [true, true]);
    await server.stop();
    assert.deepEqual(server.pids.map(alive), [false, false]);
    assert.equal(existsSync(server.dir), false);
  });
});

/** Whether a process exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a real kube-apiserver judges every declared object", function () {
  let server: ApiServer;
  let kube: KubeClient;
  let stacks: DeclaredStack[];
  const applied = new Map<string, KubeObject>();

  before(async function () {
    // The shipped observer plus the optional expiry alert, so the prometheus-operator objects
    // are judged too (against prometheus-operator's own CRDs).
    [server, stacks] = await Promise.all([
      startApiServer(),
      shippedStacks({ expiryAlertDays: "14" }),
    ]);
    kube = server.client;
    await installCrds(kube, crdsOf("prometheus-operator-crds"));
    await ensureNamespaces(kube, stacks);
  });

  after(async () => {
    await server?.stop();
  });

  it("is the kube-apiserver real:build pinned", async () => {
    const version = await kube.call<{ gitVersion: string }>("GET", "/version");
    assert.equal(version.body.gitVersion, componentVersion(component("kube-apiserver")));
  });

  for (const stack of ["leaf-a", "leaf-b", "observer", "observer (dataPath thanos)"]) {
    it(`applies every object of ${stack}: dry run, then for real, with no warning`, async () => {
      const { objects } = stacks.find((s) => s.stack === stack) as DeclaredStack;
      assert.ok(objects.length > 0, `${stack} declares no Kubernetes object`);
      const result = await applyAll(kube, objects);
      assert.deepEqual(result.warnings, []);
      for (const obj of result.applied) applied.set(idOf(obj), obj);
      assert.deepEqual(
        result.applied.map(idOf).sort(),
        objects.map(idOf).sort(),
        "every declared object is stored",
      );
    });
  }

  it("covers the kinds the stacks declare, the alert's custom resources included", () => {
    const kinds = new Set([...applied.values()].map((o) => o.kind));
    for (const kind of ["Deployment", "Ingress", "PodMonitor", "PrometheusRule", "Secret"]) {
      assert.ok(kinds.has(kind), `no ${kind} was applied`);
    }
  });

  for (const observer of ["observer", "observer (dataPath thanos)"]) {
    it(`enforces the restricted Pod Security Standard in the namespace of ${observer}`, async () => {
      const { objects } = stacks.find((s) => s.stack === observer) as DeclaredStack;
      const deployment = find(objects, "Deployment");
      const ns = await kube.get(
        "v1",
        "Namespace",
        undefined,
        deployment.metadata.namespace as string,
      );
      assert.equal((ns.metadata.labels as Record<string, string>)[RESTRICTED], "restricted");
    });

    it(`admits the Querier pod template of ${observer} as a bare Pod under restricted admission`, async () => {
      const { objects } = stacks.find((s) => s.stack === observer) as DeclaredStack;
      const deployment = find(objects, "Deployment");
      const template = (
        deployment.spec as { template: { metadata: Record<string, unknown>; spec: unknown } }
      ).template;
      const pod: KubeObject = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          ...template.metadata,
          name: "querier-template",
          namespace: deployment.metadata.namespace,
        },
        spec: template.spec,
      };
      const created = await kube.create(pod);
      assert.deepEqual(created.warnings, []);
      assert.equal(created.body.metadata.name, "querier-template");
      await kube.delete("v1", "Pod", deployment.metadata.namespace, "querier-template");
    });
  }

  it("a second apply of every object changes nothing (resourceVersions stay)", async () => {
    assert.ok(applied.size > 0);
    for (const stack of stacks) {
      for (const obj of stack.objects) {
        const again = await kube.apply(obj);
        const before = applied.get(idOf(obj));
        assert.ok(before !== undefined, `${idOf(obj)} was not applied before`);
        assert.deepEqual(again.warnings, [], idOf(obj));
        assert.equal(
          again.body.metadata.resourceVersion,
          before.metadata.resourceVersion,
          `${idOf(obj)} changed on the second apply`,
        );
      }
    }
  });

  it("the content-named ConfigMap is immutable, and a changed config is a new name", async () => {
    const observer = (stacks.find((s) => s.stack === "observer") as DeclaredStack).objects;
    const config = find(observer, "ConfigMap");
    assert.equal(config.immutable, true);
    const data = config.data as Record<string, string>;
    const changed = {
      ...config,
      data: { ...data, "endpoints.yaml": `${data["endpoints.yaml"]}\n` },
    };
    await assert.rejects(kube.apply(changed), (e: unknown) => {
      assert.ok(e instanceof KubeError, String(e));
      assert.equal(e.status, 422);
      assert.match(e.message, /field is immutable when `immutable` is set/);
      return true;
    });
    const other = await shippedStacks({ expiryAlertDays: "14", extraEndpoints: "[]" });
    const renamed = find(
      (other.find((s) => s.stack === "observer") as DeclaredStack).objects,
      "ConfigMap",
    );
    assert.notEqual(renamed.metadata.name, config.metadata.name);
    const answer = await kube.apply(renamed);
    assert.deepEqual(answer.warnings, []);
  });

  describe("deliberate breaks: the bench can fail", () => {
    it("refuses a Pod whose container may run as root (restricted admission)", async () => {
      const { objects } = stacks.find((s) => s.stack === "observer") as DeclaredStack;
      const deployment = find(objects, "Deployment");
      const spec = structuredClone(
        (deployment.spec as { template: { spec: Record<string, unknown> } }).template.spec,
      ) as {
        containers: { securityContext: Record<string, unknown> }[];
        securityContext: Record<string, unknown>;
      };
      delete spec.securityContext.runAsNonRoot;
      delete spec.containers[0].securityContext.runAsNonRoot;
      const pod: KubeObject = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "root-allowed", namespace: deployment.metadata.namespace },
        spec,
      };
      await assert.rejects(kube.create(pod), (e: unknown) => {
        assert.ok(e instanceof KubeError, String(e));
        assert.equal(e.status, 403);
        assert.match(e.message, /violates PodSecurity "restricted:latest": runAsNonRoot != true/);
        assert.match(e.message, /container "querier"/);
        return true;
      });
      // The same template in a Deployment is admitted with a warning, which the tests above
      // would report: the zero-warning checks can fail.
      const broken = structuredClone(deployment) as KubeObject & {
        spec: { template: { spec: unknown } };
      };
      broken.metadata = { ...broken.metadata, name: "root-allowed" };
      broken.spec.template.spec = spec;
      const answer = await kube.apply(broken, { dryRun: true });
      assert.ok(
        answer.warnings.some((w) => /would violate PodSecurity "restricted:latest"/.test(w)),
        `no PodSecurity warning in ${JSON.stringify(answer.warnings)}`,
      );
    });

    it("refuses an unknown field under strict field validation", async () => {
      const { objects } = stacks.find((s) => s.stack === "leaf-a") as DeclaredStack;
      const ingress = structuredClone(find(objects, "Ingress")) as KubeObject & {
        spec: Record<string, unknown>;
      };
      ingress.spec.tlsOptions = { minVersion: "1.3" };
      // Server-side apply refuses it in any validation mode: an apply patch is typed.
      await assert.rejects(kube.apply(ingress, { dryRun: true }), (e: unknown) => {
        assert.ok(e instanceof KubeError, String(e));
        assert.match(e.message, /\.spec\.tlsOptions: field not declared in schema/);
        return true;
      });
      // A create drops it silently unless validation is strict ...
      const renamed = { ...ingress, metadata: { ...ingress.metadata, name: "strict" } };
      const lax = await kube.create(renamed, { dryRun: true, fieldValidation: "Ignore" });
      assert.deepEqual(lax.warnings, []);
      assert.equal((lax.body.spec as Record<string, unknown>).tlsOptions, undefined);
      // ... and refuses it when it is, as every write of the bench is.
      await assert.rejects(kube.create(renamed, { dryRun: true }), (e: unknown) => {
        assert.ok(e instanceof KubeError, String(e));
        assert.equal(e.status, 400);
        assert.match(e.message, /strict decoding error: unknown field "spec\.tlsOptions"/);
        return true;
      });
    });
  });
});
