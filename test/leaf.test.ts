import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { parseLeafBridge, parseLeafClientKey, splitPemBundle } from "../components/common/contract";
import { stableYaml } from "../components/common/yaml";
import { runStack } from "../stacks";
import { LeafStackOutputs } from "../stacks/leaf";
import { expectGolden } from "./support/golden";
import {
  LEAF_A,
  LEAF_B,
  LeafRun,
  STEADY_NOW,
  assertKeysOnlyInSecrets,
  dumpResources,
  intoGeneration,
  leafRawConfig,
  runLeaf,
} from "./support/leaf";
import {
  FakeState,
  RecordedResource,
  isSecretValue,
  runOnMocks,
  unwrapSecrets,
} from "./support/mocks";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

type Inputs = Record<string, unknown>;
const field = <T>(r: RecordedResource, ...path: string[]): T =>
  path.reduce<unknown>((v, k) => (v as Inputs)[k], unwrapSecrets(r.inputs)) as T;

function stringData(r: RecordedResource): Record<string, string> {
  return field<Record<string, string>>(r, "stringData");
}

describe("leaf stack on the mock runtime", () => {
  let a: LeafRun;
  before(async () => {
    a = await runLeaf(LEAF_A, "leaf-a");
  });

  describe("PKI", () => {
    it("generates one ECDSA P-256 key per certificate by default", () => {
      const keys = a.mocks.ofType("tls:index/privateKey:PrivateKey");
      assert.deepEqual(keys.map((k) => k.name).sort(), [
        "leaf-a-ca-15-key",
        "leaf-a-client-key",
        "leaf-a-server-key",
      ]);
      for (const key of keys) {
        assert.deepEqual(key.inputs, { algorithm: "ECDSA", ecdsaCurve: "P256" }, key.name);
      }
    });

    it("uses RSA keys of the configured size when asked", async () => {
      const rsa = await runLeaf({ ...LEAF_A, keyAlgorithm: "RSA-3072" }, "leaf-a");
      for (const key of rsa.mocks.ofType("tls:index/privateKey:PrivateKey")) {
        assert.deepEqual(key.inputs, { algorithm: "RSA", rsaBits: 3072 }, key.name);
      }
      const server = rsa.mocks.named("leaf-a-server-cert");
      assert.deepEqual(field<string[]>(server, "allowedUses"), [
        "digital_signature",
        "key_encipherment",
        "server_auth",
      ]);
    });

    it("self-signs a CA that may sign certificates, from the CA key", () => {
      // STEADY_NOW is in CA generation 15, outside any CA change: one CA.
      assert.deepEqual(
        a.mocks.ofType("tls:index/selfSignedCert:SelfSignedCert").map((r) => r.name),
        ["leaf-a-ca-15"],
      );
      const ca = a.mocks.named("leaf-a-ca-15");
      assert.equal(ca.type, "tls:index/selfSignedCert:SelfSignedCert");
      assert.equal(field(ca, "isCaCertificate"), true);
      assert.deepEqual(field(ca, "allowedUses"), ["cert_signing", "crl_signing"]);
      assert.deepEqual(field(ca, "subject"), {
        commonName: "thanos-bridge leaf-a CA 15",
        organization: "thanos-bridge",
        organizationalUnit: "leaf-a",
      });
      assert.equal(field(ca, "validityPeriodHours"), 43800);
      // A CA never renews in place: that would drop the old CA at once. Generations replace it.
      assert.equal(field(ca, "earlyRenewalHours"), 0);
      assert.equal(field(ca, "setSubjectKeyId"), true);
      assert.equal(field(a.mocks.named("leaf-a-ca-15-key"), "algorithm"), "ECDSA");
      // Signed with its own key, which also signs the two certificates and nothing else uses.
      const caKey = field<string>(ca, "privateKeyPem");
      assert.ok(new X509Certificate(a.bridge.caCerts).checkPrivateKey(createPrivateKey(caKey)));
      for (const part of ["server", "client"]) {
        assert.equal(field(a.mocks.named(`leaf-a-${part}-cert`), "caPrivateKeyPem"), caKey);
        assert.equal(field(a.mocks.named(`leaf-a-${part}-cert`), "caCertPem"), a.bridge.caCerts);
        assert.notEqual(field(a.mocks.named(`leaf-a-${part}-csr`), "privateKeyPem"), caKey);
      }
    });

    it("requests the server certificate for the hostname and signs it for serverAuth", () => {
      const csr = a.mocks.named("leaf-a-server-csr");
      assert.deepEqual(field(csr, "dnsNames"), ["thanos.leaf-a.example.com"]);
      assert.equal(field(csr, "subject", "commonName"), "thanos.leaf-a.example.com");
      const cert = a.mocks.named("leaf-a-server-cert");
      assert.deepEqual(field(cert, "allowedUses"), ["digital_signature", "server_auth"]);
      assert.equal(field(cert, "isCaCertificate"), false);
      assert.equal(field(cert, "validityPeriodHours"), 2160);
      assert.equal(field(cert, "earlyRenewalHours"), 720);
    });

    it("issues the observer a clientAuth certificate with an observer subject", () => {
      const csr = a.mocks.named("leaf-a-client-csr");
      assert.deepEqual(field(csr, "subject"), {
        commonName: "thanos-bridge-observer",
        organization: "thanos-bridge",
        organizationalUnit: "leaf-a",
      });
      assert.deepEqual(field(csr, "dnsNames"), []);
      const cert = a.mocks.named("leaf-a-client-cert");
      assert.deepEqual(field(cert, "allowedUses"), ["digital_signature", "client_auth"]);
    });

    it("produces certificates that chain to the leaf CA with the right SAN and EKU (invariants 2, 3)", () => {
      const ca = new X509Certificate(a.bridge.caCerts);
      const server = new X509Certificate(stringData(a.mocks.named("leaf-a-server-tls"))["tls.crt"]);
      const client = new X509Certificate(a.bridge.clientCert);
      assert.ok(ca.ca);
      for (const cert of [server, client]) {
        assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), cert.subject);
        assert.equal(cert.ca, false);
      }
      assert.equal(server.subjectAltName, "DNS:thanos.leaf-a.example.com");
      assert.equal(server.checkHost(a.bridge.serverName), a.bridge.serverName);
      assert.deepEqual(server.keyUsage, [SERVER_AUTH]);
      assert.deepEqual(client.keyUsage, [CLIENT_AUTH]);
      assert.ok(client.checkPrivateKey(createPrivateKey(a.clientKey)));
    });
  });

  describe("exposure", () => {
    it("declares the Ingress the golden file holds", () => {
      const ingress = a.mocks.one("kubernetes:networking.k8s.io/v1:Ingress");
      expectGolden("leaf-a-ingress.yaml", stableYaml(ingress.inputs));
    });

    it("routes only the allowed gRPC services to the sidecar's gRPC port", () => {
      const ingress = a.mocks.one("kubernetes:networking.k8s.io/v1:Ingress");
      const rules = field<
        { host: string; http: { paths: { path: string; backend: unknown }[] } }[]
      >(ingress, "spec", "rules");
      assert.deepEqual(
        rules.map((r) => r.host),
        ["thanos.leaf-a.example.com"],
      );
      assert.deepEqual(
        rules[0].http.paths.map((p) => p.path),
        ["/thanos.Store/", "/thanos.info.Info/"],
      );
      assert.equal(field(ingress, "spec", "ingressClassName"), "nginx");
    });

    it("stores the server certificate and its key in a kubernetes.io/tls Secret, the key as a secret", () => {
      const secret = a.mocks.named("leaf-a-server-tls");
      assert.equal(field(secret, "type"), "kubernetes.io/tls");
      assert.equal(field(secret, "metadata", "name"), "thanos-bridge-server-tls");
      assert.equal(field(secret, "metadata", "namespace"), "monitoring");
      const data = stringData(secret);
      assert.deepEqual(Object.keys(data).sort(), ["tls.crt", "tls.key"]);
      const cert = new X509Certificate(data["tls.crt"]);
      assert.ok(cert.checkPrivateKey(createPrivateKey(data["tls.key"])));
      // The key must reach the cluster only as a secret value, whoever marks it so.
      assert.ok(isSecretValue(secret.inputs.stringData), "the Secret's data is not a secret value");
    });

    it("stores the leaf CA as ca.crt in the Secret that auth-tls-secret names", () => {
      const secret = a.mocks.named("leaf-a-client-ca");
      assert.deepEqual(stringData(secret), { "ca.crt": a.bridge.caCerts });
      const ingress = a.mocks.one("kubernetes:networking.k8s.io/v1:Ingress");
      const annotations = field<Record<string, string>>(ingress, "metadata", "annotations");
      assert.equal(
        annotations["nginx.ingress.kubernetes.io/auth-tls-secret"],
        `${field<string>(secret, "metadata", "namespace")}/${field<string>(secret, "metadata", "name")}`,
      );
      assert.equal(field(ingress, "metadata", "namespace"), field(secret, "metadata", "namespace"));
    });

    it("declares every Kubernetes object with the stack's own provider", () => {
      const provider = a.mocks.one("pulumi:providers:kubernetes");
      assert.equal(provider.name, "leaf-a-kubernetes");
      assert.deepEqual(provider.inputs, {
        context: "leaf-a",
        enableConfigMapMutable: "true",
        enableSecretMutable: "true",
      });
      const objects = a.mocks.resources.filter((r) => r.type.startsWith("kubernetes:"));
      assert.ok(objects.length > 0);
      for (const object of objects) {
        assert.match(
          object.provider ?? "",
          /::pulumi:providers:kubernetes::leaf-a-kubernetes::/,
          object.name,
        );
      }
    });

    it("creates the namespace only when asked, and puts everything in it", async () => {
      assert.deepEqual(a.mocks.ofType("kubernetes:core/v1:Namespace"), []);
      const created = await runLeaf({ ...LEAF_B, createNamespace: "true" }, "leaf-b");
      const namespace = created.mocks.one("kubernetes:core/v1:Namespace");
      assert.equal(field(namespace, "metadata", "name"), "observability");
      for (const r of created.mocks.resources.filter(
        (x) => x.type.startsWith("kubernetes:") && x !== namespace,
      )) {
        assert.equal(field(r, "metadata", "namespace"), "observability", r.name);
      }
    });

    it("passes a configured kubeconfig to the provider as a secret", async () => {
      const run = await runLeaf(
        { ...LEAF_A, kubeContext: "", kubeconfig: "apiVersion: v1\nkind: Config\n" },
        "leaf-a",
      );
      const inputs = run.mocks.one("pulumi:providers:kubernetes").inputs;
      assert.ok(isSecretValue(inputs.kubeconfig), "kubeconfig is not a secret value");
      assert.equal(inputs.kubeconfig.value, "apiVersion: v1\nkind: Config\n");
      // Renewed Secrets are updated, not deleted and created again (invariant 8).
      assert.equal(inputs.enableSecretMutable, "true");
      assert.equal(inputs.enableConfigMapMutable, "true");
    });

    it("renders to a directory instead of a cluster when renderDir is set, and refreshes keep the state", async () => {
      const rendered = await runLeaf(
        { role: "leaf", hostname: LEAF_A.hostname, renderDir: "out/leaf-a" },
        "leaf-a",
      );
      // Without deleteUnreachable the real provider fails every refresh of a rendered stack.
      // (A provider's inputs reach the engine as strings.)
      assert.deepEqual(rendered.mocks.one("pulumi:providers:kubernetes").inputs, {
        renderYamlToDirectory: "out/leaf-a",
        deleteUnreachable: "true",
        enableConfigMapMutable: "true",
        enableSecretMutable: "true",
      });
    });

    it("renders with $KUBECONFIG exported too (as the rotation workflow exports it), leaving it as it was", async () => {
      const before = process.env["KUBECONFIG"];
      process.env["KUBECONFIG"] = "/runner/kubeconfig";
      try {
        const rendered = await runLeaf(
          { role: "leaf", hostname: LEAF_A.hostname, renderDir: "out/leaf-a" },
          "leaf-a",
        );
        // The SDK would fill kubeconfig from it, and the provider refuses a kubeconfig next to
        // renderYamlToDirectory.
        const inputs = rendered.mocks.one("pulumi:providers:kubernetes").inputs;
        assert.equal(inputs.kubeconfig, undefined);
        assert.equal(process.env["KUBECONFIG"], "/runner/kubeconfig");
      } finally {
        if (before === undefined) delete process.env["KUBECONFIG"];
        else process.env["KUBECONFIG"] = before;
      }
    });
  });

  describe("outputs", () => {
    it("export the versioned contract, which the observer's parser accepts", () => {
      const leaf = parseLeafBridge("leaf-a", a.bridge);
      assert.equal(parseLeafClientKey(leaf, a.clientKey), a.clientKey);
      assert.equal(leaf.endpoint, "thanos.leaf-a.example.com:443");
      assert.equal(leaf.serverName, "thanos.leaf-a.example.com");
      assert.equal(leaf.cluster, "leaf-a");
    });

    it("export each certificate's expiry as RFC 3339, matching the certificate", () => {
      assert.equal(
        Date.parse(a.bridge.expiry.ca.notAfter),
        Date.parse(new X509Certificate(a.bridge.caCerts).validTo),
      );
      assert.equal(
        Date.parse(a.bridge.expiry.client.notAfter),
        Date.parse(new X509Certificate(a.bridge.clientCert).validTo),
      );
      const server = new X509Certificate(stringData(a.mocks.named("leaf-a-server-tls"))["tls.crt"]);
      assert.equal(Date.parse(a.bridge.expiry.server.notAfter), Date.parse(server.validTo));
      for (const kind of [a.bridge.expiry.ca, a.bridge.expiry.server, a.bridge.expiry.client]) {
        assert.match(kind.notAfter, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      }
      // Renewal is due renew-before hours ahead: 8760 for the CA, 720 for the others.
      for (const [kind, hours] of [
        ["ca", 8760],
        ["server", 720],
        ["client", 720],
      ] as const) {
        const { notAfter, renewAfter } = a.bridge.expiry[kind];
        assert.equal(Date.parse(notAfter) - Date.parse(renewAfter), hours * 3_600_000, kind);
      }
    });

    it("keep the client key in its own secret output and the bridge output public", () => {
      assert.equal(a.clientKeyIsSecret, true);
      assert.equal(a.bridgeIsSecret, false);
      assert.doesNotMatch(JSON.stringify(a.bridge), /PRIVATE KEY/);
    });
  });

  describe("rotation", () => {
    const DAY = 24 * 3_600_000;
    const later = (days: number) => new Date(STEADY_NOW.getTime() + days * DAY);
    const issuedBy = (pem: string, caPem: string) => {
      const cert = new X509Certificate(pem);
      const ca = new X509Certificate(caPem);
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    };

    it("gives each certificate a rotation clock of validity minus renew-before", async () => {
      for (const [part, hours] of [
        ["server", 1440],
        ["client", 1440],
      ] as const) {
        const clock = a.mocks.named(`leaf-a-${part}-clock`);
        assert.equal(clock.type, "time:index/rotating:Rotating");
        // A new signing CA restarts the clock, and so replaces the key too.
        assert.deepEqual(clock.inputs, { rotationHours: hours, triggers: { signer: "15" } });
      }
      // Each kind its own: the config's names become the providers' on the resources.
      const run = await runLeaf(
        { ...LEAF_A, clientValidityHours: "1440", clientRenewBeforeHours: "480" },
        "leaf-a",
      );
      const cert = run.mocks.named("leaf-a-client-cert");
      assert.equal(field(cert, "validityPeriodHours"), 1440);
      assert.equal(field(cert, "earlyRenewalHours"), 480);
      assert.equal(field(run.mocks.named("leaf-a-client-clock"), "rotationHours"), 960);
    });

    it("replaces each key and certificate when its clock turns (replacementTrigger)", () => {
      // What the SDK sent to the engine: the clock's time, the same for key and certificate.
      for (const part of ["server", "client"]) {
        for (const resource of ["key", "cert"]) {
          const r = a.mocks.named(`leaf-a-${part}-${resource}`);
          assert.equal(r.replacementTrigger, STEADY_NOW.toISOString(), r.name);
        }
        assert.equal(a.mocks.named(`leaf-a-${part}-csr`).replacementTrigger, undefined);
      }
      for (const r of a.mocks.ofType("tls:index/selfSignedCert:SelfSignedCert")) {
        assert.equal(r.replacementTrigger, undefined, `${r.name}: a CA never renews in place`);
      }
    });

    it("keeps the certificates until the clock turns, then renews them under the same CA", async () => {
      const state = new FakeState();
      const config = { ...LEAF_A, clientValidityHours: "1440", clientRenewBeforeHours: "240" };
      const first = await runLeaf(config, "leaf-a", state, STEADY_NOW);
      const serverPem = (run: LeafRun) =>
        stringData(run.mocks.named("leaf-a-server-tls"))["tls.crt"];
      // The client clock turns after 50 days, the server's after 60.
      const before = await runLeaf(config, "leaf-a", state, later(49.9));
      assert.equal(before.bridge.clientCert, first.bridge.clientCert);
      assert.equal(before.clientKey, first.clientKey);
      const client = await runLeaf(config, "leaf-a", state, later(50));
      assert.notEqual(client.bridge.clientCert, first.bridge.clientCert);
      assert.notEqual(client.clientKey, first.clientKey);
      assert.equal(serverPem(client), serverPem(first));
      assert.equal(client.bridge.caCerts, first.bridge.caCerts);
      const server = await runLeaf(config, "leaf-a", state, later(60));
      assert.notEqual(serverPem(server), serverPem(first));
      assert.equal(server.bridge.clientCert, client.bridge.clientCert);
      assert.equal(server.bridge.caCerts, first.bridge.caCerts);
      assert.ok(issuedBy(serverPem(server), first.bridge.caCerts));
    });

    it("changes CA with an overlap: introduce, switch, retire (mock runtime)", async () => {
      const state = new FakeState();
      // Certificates for a year (clocks of 335 days), so only the CA schedule re-issues them here.
      const config = { ...LEAF_A, serverValidityHours: "8760", clientValidityHours: "8760" };
      const run = (now: Date) => runLeaf(config, "leaf-a", state, now);
      const cas = (r: LeafRun) =>
        r.mocks.ofType("tls:index/selfSignedCert:SelfSignedCert").map((c) => c.name);
      const trusted = (r: LeafRun) =>
        splitPemBundle(stringData(r.mocks.named("leaf-a-client-ca"))["ca.crt"]);
      const serverPem = (r: LeafRun) => stringData(r.mocks.named("leaf-a-server-tls"))["tls.crt"];

      const steady = await run(intoGeneration(16, -1));
      const introduced = await run(intoGeneration(16, 1));
      const switched = await run(intoGeneration(16, 183));
      const retired = await run(intoGeneration(16, 366));

      assert.deepEqual(
        [steady, introduced, switched, retired].map((r) => r.outputs.caSchedule.phase),
        ["steady", "introduced", "switched", "steady"],
      );
      assert.deepEqual(introduced.outputs.caSchedule, {
        phase: "introduced",
        trusted: [15, 16],
        signer: 15,
        nextChange: intoGeneration(16, 182.5).toISOString(),
      });
      assert.deepEqual(cas(steady), ["leaf-a-ca-15"]);
      assert.deepEqual(cas(introduced), ["leaf-a-ca-15", "leaf-a-ca-16"]);
      assert.deepEqual(cas(switched), ["leaf-a-ca-15", "leaf-a-ca-16"]);
      assert.deepEqual(cas(retired), ["leaf-a-ca-16"]);

      const [ca15] = trusted(steady);
      const ca16 = trusted(retired)[0];
      // The ingress trusts exactly the declared CAs, and the observer is told the same bundle.
      // Newest first: what reads only the first CA (Envoy's expiry stats) sees the new one.
      assert.deepEqual(trusted(introduced), [ca16, ca15]);
      assert.deepEqual(trusted(switched), [ca16, ca15]);
      for (const r of [steady, introduced, switched, retired]) {
        assert.deepEqual(splitPemBundle(r.bridge.caCerts), trusted(r));
      }
      // Generation 15 keeps signing while 16 is only introduced; then 16 signs both certificates.
      for (const [r, signer] of [
        [steady, ca15],
        [introduced, ca15],
        [switched, ca16],
        [retired, ca16],
      ] as const) {
        assert.ok(issuedBy(serverPem(r), signer));
        assert.ok(issuedBy(r.bridge.clientCert, signer));
      }
      // Introducing a CA re-issues nothing; the switch re-issues both certificates and keys.
      assert.equal(introduced.bridge.clientCert, steady.bridge.clientCert);
      assert.equal(serverPem(introduced), serverPem(steady));
      assert.notEqual(switched.clientKey, introduced.clientKey);
      assert.equal(retired.bridge.clientCert, switched.bridge.clientCert);
      // The newest CA's renewal time is when generation 17 is due.
      assert.equal(
        Date.parse(retired.bridge.expiry.ca.renewAfter),
        Date.parse(new X509Certificate(ca16).validTo) - 8760 * 3_600_000,
      );
    });
  });

  it("holds private keys only in Secrets and secret values (invariant 1)", () => {
    assert.ok(
      assertKeysOnlyInSecrets(a.mocks) >= 2,
      "the scan found no private key at all: it is not looking at the right inputs",
    );
  });

  it("declares byte-identical resources on a re-run, and for reordered services (invariant 6)", async () => {
    // One FakeState models one stack's state: the certificates are kept, as Pulumi keeps them.
    // The inputs are compared as registered, key order included (no re-sorting here).
    const state = new FakeState();
    const dump = dumpResources;
    const first = await runLeaf(LEAF_B, "leaf-b", state);
    const second = await runLeaf(LEAF_B, "leaf-b", state);
    const reordered = await runLeaf(
      { ...LEAF_B, allowedServices: '["thanos.info.Info","thanos.Store"]' },
      "leaf-b",
      state,
    );
    assert.equal(dump(second), dump(first));
    assert.equal(dump(reordered), dump(first));
  });

  it("fails with the config problems, before declaring anything", async () => {
    const { mocks } = await runOnMocks(
      () => {
        assert.throws(
          () => runStack(leafRawConfig({ role: "leaf", hostname: "Not A Host" }), "leaf-a"),
          (e: unknown) =>
            e instanceof pulumi.RunError &&
            e.message.startsWith(
              'invalid configuration for stack "leaf-a" (1 problem):\n  - thanos-bridge:hostname: "Not A Host" is not allowed',
            ),
        );
      },
      { stack: "leaf-a" },
    );
    assert.deepEqual(mocks.resources, []);
  });

  it("runs from the entry point with the stack's config (index.ts)", async () => {
    const { mocks, result } = await runOnMocks(
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      () => require("../index") as ReturnType<typeof runStack>,
      { stack: "leaf-b", config: leafRawConfig(LEAF_B) as Record<string, string> },
    );
    assert.equal(
      field(mocks.one("kubernetes:networking.k8s.io/v1:Ingress"), "spec", "rules", "0", "host"),
      "thanos.leaf-b.example.net",
    );
    assert.ok(pulumi.Output.isInstance((result as LeafStackOutputs).bridge));
  });
});
