// Every object each leaf exposure declares, judged by a real kube-apiserver with the owning
// projects' own CRDs installed (Gateway API's standard channel, Traefik's): server-side apply
// under strict field validation, as a dry run and then for real, with no error and no warning,
// and a second apply that changes nothing (invariant 7 of docs/ARCHITECTURE.md). Then breaks
// that only the CRDs' schemas and CEL rules catch, each refused with the server's message.
import assert from "node:assert/strict";
import { LEAF_A, LEAF_B, runLeaf, shippedLeafConfig } from "../support/leaf";
import { ApiServer, startApiServer } from "./support/apiserver";
import { applyAll, ensureNamespaces, idOf, installCrds } from "./support/apply";
import { DeclaredStack, crdsOf, kubernetesObjects } from "./support/declared";
import { KubeClient, KubeError, KubeObject } from "./support/kube";

/** Each exposure, as a leaf would configure it; leaf-b's shape adds a third service. */
const VARIANTS: Record<string, { config: Record<string, string>; stack: string }> = {
  "gateway-api": {
    config: { ...LEAF_A, exposure: "gateway-api", gatewayClassName: "eg" },
    stack: "leaf-a",
  },
  "gateway-api, Gateway in another namespace": {
    config: {
      ...LEAF_B,
      allowedServices: '["thanos.Rules","thanos.Store","thanos.info.Info"]',
      exposure: "gateway-api",
      gatewayClassName: "nginx",
      gatewayNamespace: "gateways",
    },
    stack: "leaf-b",
  },
  traefik: { config: { ...LEAF_A, exposure: "traefik" }, stack: "leaf-a" },
  "traefik, Pulumi.leaf-c.yaml as shipped": {
    config: shippedLeafConfig("Pulumi.leaf-c.yaml"),
    stack: "leaf-c",
  },
};

/** Kinds whose CRD gives `status` a default (Gateway API's Gateway). */
const STATUS_DEFAULTED = new Set(["Gateway"]);

/** An object as stored, without what every write changes. */
function withoutVersion(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  delete copy.metadata.resourceVersion;
  return copy;
}

const kindOf = (objects: readonly KubeObject[], kind: string): KubeObject => {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}`);
  return structuredClone(found[0]);
};

/** A copy of `obj` under another name, so a break never collides with what was applied. */
const renamed = <T extends KubeObject>(obj: T, name: string): T => ({
  ...obj,
  metadata: { ...obj.metadata, name },
});

async function refused(kube: KubeClient, obj: KubeObject, message: RegExp): Promise<void> {
  await assert.rejects(kube.apply(obj, { dryRun: true }), (e: unknown) => {
    assert.ok(e instanceof KubeError, String(e));
    assert.equal(e.status, 422, e.message);
    assert.match(e.message, message);
    return true;
  });
}

describe("a real kube-apiserver judges every exposure's objects, with their CRDs", function () {
  let server: ApiServer;
  let kube: KubeClient;
  const stacks: DeclaredStack[] = [];
  const applied = new Map<string, KubeObject>();

  before(async function () {
    server = await startApiServer();
    kube = server.client;
    await installCrds(kube, [...crdsOf("gateway-api-crds"), ...crdsOf("traefik-crds")]);
    for (const [variant, { config, stack }] of Object.entries(VARIANTS)) {
      const run = await runLeaf(config, stack);
      stacks.push({ stack: variant, objects: kubernetesObjects(run.mocks) });
    }
    await ensureNamespaces(kube, stacks);
  });

  after(async () => {
    await server?.stop();
  });

  it("installs the pinned CRDs: Gateway API v1.6 standard (GA GRPCRoute) and Traefik's", async () => {
    const served = async (group: string) =>
      (await kube.call<{ versions: { version: string }[] }>("GET", `/apis/${group}`)).body.versions
        .map((v) => v.version)
        .sort();
    assert.deepEqual(await served("gateway.networking.k8s.io"), ["v1", "v1beta1"]);
    assert.deepEqual(await served("traefik.io"), ["v1alpha1"]);
    const crd = await kube.get(
      "apiextensions.k8s.io/v1",
      "CustomResourceDefinition",
      undefined,
      "gateways.gateway.networking.k8s.io",
    );
    const annotations = crd.metadata.annotations as Record<string, string>;
    assert.equal(annotations["gateway.networking.k8s.io/bundle-version"], "v1.6.3");
    assert.equal(annotations["gateway.networking.k8s.io/channel"], "standard");
  });

  for (const variant of Object.keys(VARIANTS)) {
    it(`applies every object of ${variant}: dry run, for real, again; no warning, no change`, async () => {
      const { objects } = stacks.find((s) => s.stack === variant) as DeclaredStack;
      const result = await applyAll(kube, objects);
      assert.deepEqual(result.warnings, []);
      for (const obj of result.applied) applied.set(`${variant}: ${idOf(obj)}`, obj);
      assert.deepEqual(
        result.applied.map(idOf).sort(),
        objects.map(idOf).sort(),
        "every declared object is stored",
      );
      // Each variant stands for its own cluster; those sharing a namespace here overwrite each
      // other's Secrets, so the second apply follows the first, variant by variant.
      for (const [obj, before] of objects.map((o, i) => [o, result.applied[i]] as const)) {
        let again = await kube.apply(obj);
        assert.deepEqual(again.warnings, [], idOf(obj));
        if (STATUS_DEFAULTED.has(obj.kind)) {
          // The CRD defaults `status`: the first update after the create is written once more
          // with nothing changed in it (seen with kube-apiserver v1.35.4 and the v1.6.3 CRDs,
          // a GatewayClass alike); the content and generation must not change, and from then on
          // the resourceVersion must not either.
          assert.deepEqual(withoutVersion(again.body), withoutVersion(before), idOf(obj));
          before.metadata.resourceVersion = again.body.metadata.resourceVersion;
          again = await kube.apply(obj);
        }
        assert.equal(
          again.body.metadata.resourceVersion,
          before.metadata.resourceVersion,
          `${idOf(obj)} changed on the second apply`,
        );
      }
    });
  }

  it("covers every kind the exposures declare", () => {
    const kinds = new Set([...applied.values()].map((o) => o.kind));
    for (const kind of [
      "ConfigMap",
      "GRPCRoute",
      "Gateway",
      "IngressRoute",
      "ReferenceGrant",
      "Secret",
      "TLSOption",
    ]) {
      assert.ok(kinds.has(kind), `no ${kind} was applied`);
    }
  });

  it("stores what was declared: the CRDs' defaults add nothing the program relies on", () => {
    const [gateway] = [...applied.entries()]
      .filter(([k]) => k.startsWith("gateway-api: Gateway"))
      .map(([, v]) => v);
    const validation = (
      gateway.spec as { tls: { frontend: { default: { validation: Record<string, unknown> } } } }
    ).tls.frontend.default.validation;
    assert.deepEqual(validation, {
      caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "thanos-bridge-client-ca" }],
      mode: "AllowValidOnly",
    });
  });

  describe("deliberate breaks: the CRDs' rules refuse them", () => {
    const objectsOf = (variant: string) =>
      (stacks.find((s) => s.stack === variant) as DeclaredStack).objects;

    it("a GRPCRoute matching a gRPC path instead of a service name", async () => {
      const route = renamed(kindOf(objectsOf("gateway-api"), "GRPCRoute"), "path-as-service");
      const rules = (route.spec as { rules: { matches: { method: Record<string, string> }[] }[] })
        .rules;
      rules[0].matches[0].method.service = "/thanos.Store/";
      await refused(
        kube,
        route,
        /service must only contain valid characters \(matching \^\(\?i\)\\\.\?\[a-z_\]/,
      );
    });

    it("a GRPCRoute method match naming neither service nor method", async () => {
      const route = renamed(kindOf(objectsOf("gateway-api"), "GRPCRoute"), "empty-match");
      const rules = (route.spec as { rules: { matches: { method: Record<string, string> }[] }[] })
        .rules;
      rules[0].matches[0].method = { type: "Exact" };
      await refused(kube, route, /One or both of 'service' or 'method' must be specified/);
    });

    it("a GRPCRoute with a rule per service for 17 services (why the config stops at 16)", async () => {
      const route = renamed(kindOf(objectsOf("gateway-api"), "GRPCRoute"), "too-many-rules");
      const spec = route.spec as { rules: unknown[] };
      spec.rules = Array.from({ length: 17 }, () => structuredClone(spec.rules[0]));
      await refused(kube, route, /spec\.rules: Too many: 17: must have at most 16 items/);
    });

    it("a Gateway whose frontend validation mode is not one the spec defines", async () => {
      const gateway = renamed(kindOf(objectsOf("gateway-api"), "Gateway"), "strict-mode");
      const tls = gateway.spec as {
        tls: { frontend: { default: { validation: Record<string, unknown> } } };
      };
      tls.tls.frontend.default.validation.mode = "RequireValid";
      await refused(
        kube,
        gateway,
        /spec\.tls\.frontend\.default\.validation\.mode: Unsupported value: "RequireValid": supported values: "AllowValidOnly", "AllowInsecureFallback"/,
      );
    });

    it("a Gateway whose frontend validation names no CA", async () => {
      const gateway = renamed(kindOf(objectsOf("gateway-api"), "Gateway"), "no-ca");
      const tls = gateway.spec as {
        tls: { frontend: { default: { validation: Record<string, unknown> } } };
      };
      tls.tls.frontend.default.validation.caCertificateRefs = [];
      await refused(
        kube,
        gateway,
        /spec\.tls\.frontend\.default\.validation\.caCertificateRefs: Invalid value: 0: spec\.tls\.frontend\.default\.validation\.caCertificateRefs in body should have at least 1 items/,
      );
    });

    it("an HTTPS listener terminating TLS without a certificate", async () => {
      const gateway = renamed(kindOf(objectsOf("gateway-api"), "Gateway"), "no-certificate");
      const [listener] = (gateway.spec as { listeners: { tls: Record<string, unknown> }[] })
        .listeners;
      delete listener.tls.certificateRefs;
      await refused(
        kube,
        gateway,
        /certificateRefs or options must be specified when mode is Terminate/,
      );
    });

    it("a TLSOption whose clientAuthType is not in Traefik's enum", async () => {
      const option = renamed(kindOf(objectsOf("traefik"), "TLSOption"), "bad-client-auth");
      (option.spec as { clientAuth: Record<string, unknown> }).clientAuth.clientAuthType =
        "RequireAndVerify";
      await refused(
        kube,
        option,
        /spec\.clientAuth\.clientAuthType: Unsupported value: "RequireAndVerify": supported values: "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"/,
      );
    });

    it("an IngressRoute route of a kind Traefik does not define", async () => {
      const route = renamed(kindOf(objectsOf("traefik"), "IngressRoute"), "bad-kind");
      (route.spec as { routes: Record<string, unknown>[] }).routes[0].kind = "Regex";
      await refused(
        kube,
        route,
        /spec\.routes\[0\]\.kind: Unsupported value: "Regex": supported values: "Rule"/,
      );
    });
  });
});
