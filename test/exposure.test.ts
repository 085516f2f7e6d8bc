// The three exposures of a leaf on the mock runtime: what each declares, with which inputs; that
// each keeps private keys in Secrets (invariant 1 of docs/ARCHITECTURE.md) and is deterministic
// (invariant 6); and that moving from ingress-nginx to another is one config line and one run
// that changes no certificate and nothing the observer reads.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { splitPemBundle } from "../components/common/contract";
import { stableYaml } from "../components/common/yaml";
import { expectGolden } from "./support/golden";
import {
  LEAF_A,
  LEAF_B,
  LeafRun,
  STEADY_NOW,
  assertKeysOnlyInSecrets,
  dumpResources,
  intoGeneration,
  runLeaf,
} from "./support/leaf";
import { FakeState, RecordedResource, isSecretValue, unwrapSecrets } from "./support/mocks";
import { OBSERVER, runObserver, stacksOf } from "./support/observer";

type Inputs = Record<string, unknown>;
const plain = (r: RecordedResource) => unwrapSecrets(r.inputs) as Inputs;
const field = <T>(r: RecordedResource, ...path: string[]): T =>
  path.reduce<unknown>((v, k) => (v as Inputs)[k], plain(r)) as T;

const GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway";
const GRPC_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute";
const REFERENCE_GRANT = "kubernetes:gateway.networking.k8s.io/v1:ReferenceGrant";
const INGRESS_ROUTE = "kubernetes:traefik.io/v1alpha1:IngressRoute";
const TLS_OPTION = "kubernetes:traefik.io/v1alpha1:TLSOption";
const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
const SECRET = "kubernetes:core/v1:Secret";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";

/** leaf-a with the other exposures' keys prepared: switching is then the `exposure` line. */
const PREPARED = { ...LEAF_A, gatewayClassName: "eg" };
const WITH = {
  "ingress-nginx": PREPARED,
  "gateway-api": { ...PREPARED, exposure: "gateway-api" },
  traefik: { ...PREPARED, exposure: "traefik" },
} as const;
type Kind = keyof typeof WITH;
const KINDS = Object.keys(WITH) as Kind[];

/** The Kubernetes objects of a run as `kind namespace/name`, sorted. */
const objectIds = (run: LeafRun) =>
  run.mocks.resources
    .filter((r) => r.type.startsWith("kubernetes:"))
    .map(
      (r) =>
        `${r.type.split(":")[2]} ${field<string>(r, "metadata", "namespace")}/${field<string>(r, "metadata", "name")}`,
    )
    .sort();

describe("leaf exposures on the mock runtime", () => {
  const runs = {} as Record<Kind, LeafRun>;
  before(async () => {
    for (const kind of KINDS) runs[kind] = await runLeaf(WITH[kind], "leaf-a");
  });

  it("declares each exposure's objects, and no other exposure's", () => {
    assert.deepEqual(objectIds(runs["ingress-nginx"]), [
      "Ingress monitoring/thanos-bridge",
      "Secret monitoring/thanos-bridge-client-ca",
      "Secret monitoring/thanos-bridge-server-tls",
    ]);
    assert.deepEqual(objectIds(runs["gateway-api"]), [
      "ConfigMap monitoring/thanos-bridge-client-ca",
      "GRPCRoute monitoring/thanos-bridge",
      "Gateway monitoring/thanos-bridge",
      "Secret monitoring/thanos-bridge-server-tls",
    ]);
    assert.deepEqual(objectIds(runs.traefik), [
      "IngressRoute monitoring/thanos-bridge",
      "Secret monitoring/thanos-bridge-client-ca",
      "Secret monitoring/thanos-bridge-server-tls",
      "TLSOption monitoring/thanos-bridge",
    ]);
  });

  it("ingress-nginx stays the default, declared exactly as without the key", async () => {
    const explicit = await runLeaf({ ...LEAF_A, exposure: "ingress-nginx" }, "leaf-a");
    const state = new FakeState();
    const [a, b] = [
      await runLeaf(LEAF_A, "leaf-a", state),
      await runLeaf({ ...LEAF_A, exposure: "ingress-nginx" }, "leaf-a", state),
    ];
    assert.equal(dumpResources(b), dumpResources(a));
    expectGolden("leaf-a-ingress.yaml", stableYaml(explicit.mocks.one(INGRESS).inputs));
  });

  it("every exposure serves the server certificate for the hostname from the same Secret", () => {
    for (const kind of KINDS) {
      const secret = runs[kind].mocks.named("leaf-a-server-tls");
      assert.equal(field(secret, "type"), "kubernetes.io/tls", kind);
      const cert = new X509Certificate(field<string>(secret, "stringData", "tls.crt"));
      assert.equal(cert.subjectAltName, "DNS:thanos.leaf-a.example.com", kind);
      assert.ok(
        isSecretValue(secret.inputs.stringData),
        `${kind}: the Secret's data is not secret`,
      );
    }
  });

  it("every exposure declares its Kubernetes objects with the stack's provider", () => {
    for (const kind of KINDS) {
      const objects = runs[kind].mocks.resources.filter((r) => r.type.startsWith("kubernetes:"));
      for (const object of objects) {
        assert.match(
          object.provider ?? "",
          /::pulumi:providers:kubernetes::leaf-a-kubernetes::/,
          `${kind}: ${object.name}`,
        );
      }
    }
  });

  describe("gateway-api", () => {
    const run = () => runs["gateway-api"];

    it("declares the Gateway and GRPCRoute the golden file holds", () => {
      const { mocks } = run();
      expectGolden(
        "leaf-a-gateway.yaml",
        stableYaml({ gateway: mocks.one(GATEWAY).inputs, grpcRoute: mocks.one(GRPC_ROUTE).inputs }),
      );
    });

    it("terminates TLS for the hostname with the server certificate Secret it declares", () => {
      const gateway = run().mocks.one(GATEWAY);
      const [listener] = field<
        {
          hostname: string;
          port: number;
          protocol: string;
          tls: { certificateRefs: { kind: string; name: string }[] };
        }[]
      >(gateway, "spec", "listeners");
      assert.deepEqual(
        [listener.hostname, listener.port, listener.protocol],
        ["thanos.leaf-a.example.com", 443, "HTTPS"],
      );
      const secret = run().mocks.named("leaf-a-server-tls");
      assert.deepEqual(
        listener.tls.certificateRefs.map((r) => [r.kind, r.name]),
        [["Secret", field<string>(secret, "metadata", "name")]],
      );
      assert.equal(field(gateway, "metadata", "namespace"), field(secret, "metadata", "namespace"));
      assert.equal(field(gateway, "spec", "gatewayClassName"), "eg");
    });

    it("validates client certificates against a ConfigMap holding exactly the leaf's CA bundle", () => {
      const gateway = run().mocks.one(GATEWAY);
      const validation = field<{
        caCertificateRefs: { kind: string; name: string }[];
        mode: string;
      }>(gateway, "spec", "tls", "frontend", "default", "validation");
      assert.equal(validation.mode, "AllowValidOnly");
      const configMap = run().mocks.one(CONFIG_MAP);
      assert.deepEqual(
        validation.caCertificateRefs.map((r) => [r.kind, r.name]),
        [["ConfigMap", field<string>(configMap, "metadata", "name")]],
      );
      assert.deepEqual(field(configMap, "data"), { "ca.crt": run().bridge.caCerts });
      // No Secret holds the CA for this exposure: what validates is the ConfigMap.
      assert.deepEqual(
        run()
          .mocks.ofType(SECRET)
          .map((s) => field<string>(s, "metadata", "name")),
        ["thanos-bridge-server-tls"],
      );
    });

    it("routes only the allowed services to the sidecar, and waits for the certificates", () => {
      const { mocks } = run();
      const route = mocks.one(GRPC_ROUTE);
      const rules = field<
        {
          matches: { method: { service: string } }[];
          backendRefs: { name: string; port: number }[];
        }[]
      >(route, "spec", "rules");
      assert.deepEqual(
        rules.map((r) => [
          r.matches.map((m) => m.method.service),
          r.backendRefs.map((b) => `${b.name}:${b.port}`),
        ]),
        [
          [["thanos.Store"], ["kube-prometheus-stack-thanos-discovery:10901"]],
          [["thanos.info.Info"], ["kube-prometheus-stack-thanos-discovery:10901"]],
        ],
      );
      assert.deepEqual(field(route, "spec", "hostnames"), ["thanos.leaf-a.example.com"]);
      assert.deepEqual(mocks.ofType(REFERENCE_GRANT), []);
      const gateway = mocks.one(GATEWAY);
      for (const dependency of ["leaf-a-server-tls", "leaf-a-client-ca-bundle"]) {
        assert.ok(
          gateway.dependsOn.includes(dependency),
          `the Gateway does not wait for ${dependency}`,
        );
      }
      assert.ok(route.dependsOn.includes("leaf-a-gateway"));
    });

    it("with gatewayNamespace: the Gateway there, and a ReferenceGrant in the leaf's namespace", async () => {
      const other = await runLeaf(
        { ...WITH["gateway-api"], gatewayNamespace: "gateways" },
        "leaf-a",
      );
      const gateway = other.mocks.one(GATEWAY);
      assert.equal(field(gateway, "metadata", "namespace"), "gateways");
      const grant = other.mocks.one(REFERENCE_GRANT);
      assert.equal(field(grant, "metadata", "namespace"), "monitoring");
      assert.deepEqual(field(grant, "spec"), {
        from: [{ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "gateways" }],
        to: [
          { group: "", kind: "ConfigMap", name: "thanos-bridge-client-ca" },
          { group: "", kind: "Secret", name: "thanos-bridge-server-tls" },
        ],
      });
      assert.ok(gateway.dependsOn.includes("leaf-a-reference-grant"));
      assert.equal(field(other.mocks.one(GRPC_ROUTE), "metadata", "namespace"), "monitoring");
    });

    it("puts the ConfigMap in a namespace it creates, with everything else", async () => {
      const created = await runLeaf(
        { ...LEAF_B, exposure: "gateway-api", gatewayClassName: "eg", createNamespace: "true" },
        "leaf-b",
      );
      const namespace = created.mocks.one("kubernetes:core/v1:Namespace");
      for (const r of created.mocks.resources.filter(
        (x) => x.type.startsWith("kubernetes:") && x !== namespace,
      )) {
        assert.equal(field(r, "metadata", "namespace"), "observability", r.name);
      }
    });
  });

  describe("traefik", () => {
    const run = () => runs.traefik;

    it("declares the IngressRoute and TLSOption the golden file holds", () => {
      const { mocks } = run();
      expectGolden(
        "leaf-a-traefik.yaml",
        stableYaml({
          ingressRoute: mocks.one(INGRESS_ROUTE).inputs,
          tlsOption: mocks.one(TLS_OPTION).inputs,
        }),
      );
    });

    it("requires a client certificate from the CA bundle Secret it declares", () => {
      const option = run().mocks.one(TLS_OPTION);
      assert.deepEqual(field(option, "spec", "clientAuth"), {
        clientAuthType: "RequireAndVerifyClientCert",
        secretNames: ["thanos-bridge-client-ca"],
      });
      const ca = run().mocks.named("leaf-a-client-ca");
      assert.equal(field(ca, "metadata", "name"), "thanos-bridge-client-ca");
      assert.deepEqual(field(ca, "stringData"), { "ca.crt": run().bridge.caCerts });
      assert.equal(field(option, "metadata", "namespace"), field(ca, "metadata", "namespace"));
    });

    it("routes only the allowed services over h2c with the server certificate and the TLSOption", () => {
      const route = run().mocks.one(INGRESS_ROUTE);
      assert.deepEqual(field(route, "spec", "entryPoints"), ["websecure"]);
      const routes = field<
        { match: string; services: { name: string; port: number; scheme: string }[] }[]
      >(route, "spec", "routes");
      assert.deepEqual(
        routes.map((r) => [r.match, r.services.map((s) => `${s.scheme}://${s.name}:${s.port}`)]),
        [
          [
            "Host(`thanos.leaf-a.example.com`) && PathPrefix(`/thanos.Store/`)",
            ["h2c://kube-prometheus-stack-thanos-discovery:10901"],
          ],
          [
            "Host(`thanos.leaf-a.example.com`) && PathPrefix(`/thanos.info.Info/`)",
            ["h2c://kube-prometheus-stack-thanos-discovery:10901"],
          ],
        ],
      );
      assert.deepEqual(field(route, "spec", "tls"), {
        secretName: "thanos-bridge-server-tls",
        options: { name: "thanos-bridge", namespace: "monitoring" },
      });
      // Never an IngressRoute without its TLSOption: Traefik would not verify clients.
      assert.ok(route.dependsOn.includes("leaf-a-tls-option"));
    });

    it("uses the configured entry point", async () => {
      const other = await runLeaf({ ...WITH.traefik, traefikEntryPoint: "thanos" }, "leaf-a");
      assert.deepEqual(field(other.mocks.one(INGRESS_ROUTE), "spec", "entryPoints"), ["thanos"]);
    });
  });

  for (const kind of KINDS) {
    it(`${kind}: private keys only in Secrets and secret values (invariant 1)`, () => {
      assert.ok(
        assertKeysOnlyInSecrets(runs[kind].mocks) >= 2,
        "the scan found no private key at all: it is not looking at the right inputs",
      );
    });

    it(`${kind}: byte-identical resources on a re-run, and for reordered services (invariant 6)`, async () => {
      const state = new FakeState();
      const config = {
        ...WITH[kind],
        allowedServices: '["thanos.Rules","thanos.Store","thanos.info.Info"]',
      };
      const first = await runLeaf(config, "leaf-a", state);
      const second = await runLeaf(config, "leaf-a", state);
      const reordered = await runLeaf(
        { ...config, allowedServices: '["thanos.info.Info","thanos.Store","thanos.Rules"]' },
        "leaf-a",
        state,
      );
      assert.equal(dumpResources(second), dumpResources(first));
      assert.equal(dumpResources(reordered), dumpResources(first));
    });
  }

  describe("moving from ingress-nginx: one config line, one run", () => {
    /** The tls and clock resources as the engine receives them: inputs and replacement triggers. */
    const certificateResources = (run: LeafRun) =>
      run.mocks.resources
        .filter((r) => r.type.startsWith("tls:") || r.type.startsWith("time:"))
        .map((r) =>
          JSON.stringify({
            type: r.type,
            name: r.name,
            inputs: r.inputs,
            trigger: r.replacementTrigger,
          }),
        )
        .sort();

    for (const target of ["traefik", "gateway-api"] as const) {
      it(`to ${target}: the same certificates, keys and contract outputs; the observer unchanged`, async () => {
        const changed = Object.keys(WITH[target]).filter(
          (k) =>
            (WITH[target] as Record<string, string>)[k] !== (PREPARED as Record<string, string>)[k],
        );
        assert.deepEqual(changed, ["exposure"], "the switch is more than one config line");

        // One stack over time: ingress-nginx, then the switch a day later.
        const state = new FakeState();
        const before = await runLeaf(WITH["ingress-nginx"], "leaf-a", state, STEADY_NOW);
        const after = await runLeaf(
          WITH[target],
          "leaf-a",
          state,
          new Date(STEADY_NOW.getTime() + 86_400_000),
        );
        assert.deepEqual(certificateResources(after), certificateResources(before));
        assert.equal(JSON.stringify(after.bridge), JSON.stringify(before.bridge));
        assert.equal(after.clientKey, before.clientKey);
        assert.deepEqual(after.outputs.caSchedule, before.outputs.caSchedule);
        // The server certificate Secret is the same object with the same inputs.
        assert.equal(
          JSON.stringify(after.mocks.named("leaf-a-server-tls")),
          JSON.stringify(before.mocks.named("leaf-a-server-tls")),
        );

        // The observer reading either run declares byte-identical objects.
        const b = await runLeaf(LEAF_B, "leaf-b");
        const observe = (leaf: LeafRun) =>
          runObserver(
            OBSERVER,
            stacksOf({ "acme/thanos-bridge/leaf-a": leaf, "acme/thanos-bridge/leaf-b": b }),
          );
        assert.equal(dumpResources(await observe(after)), dumpResources(await observe(before)));
      });
    }

    it("the bridge output is identical across the three exposures, for the same config and state", async () => {
      const state = new FakeState();
      const bridges: string[] = [];
      for (const kind of KINDS)
        bridges.push(JSON.stringify((await runLeaf(WITH[kind], "leaf-a", state)).bridge));
      assert.equal(new Set(bridges).size, 1, bridges.join("\n"));
      assert.match(bridges[0], /"endpoint":"thanos\.leaf-a\.example\.com:443"/);
    });

    it("during a CA change, every exposure trusts both CAs, newest first", async () => {
      const introduced = intoGeneration(16, 1);
      for (const kind of KINDS) {
        const run = await runLeaf(WITH[kind], "leaf-a", new FakeState(), introduced);
        const bundle =
          kind === "gateway-api"
            ? field<Record<string, string>>(run.mocks.one(CONFIG_MAP), "data")["ca.crt"]
            : field<Record<string, string>>(run.mocks.named("leaf-a-client-ca"), "stringData")[
                "ca.crt"
              ];
        const cas = splitPemBundle(bundle).map((pem) => new X509Certificate(pem).subject);
        assert.deepEqual(
          cas.map((s) => /CN=(.*)/.exec(s)?.[1]),
          ["thanos-bridge leaf-a CA 16", "thanos-bridge leaf-a CA 15"],
          kind,
        );
        assert.equal(bundle, run.bridge.caCerts, kind);
      }
    });
  });
});
