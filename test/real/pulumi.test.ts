// The main job for real: `npm run deploy`, `rotate` and `destroy` of a copy of this project, on
// the real Pulumi CLI (with the stand-in language host) and the real Kubernetes provider, against
// the bench's real kube-apiserver. Only the tls and time plugins are stand-ins.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { caGenerationHours, caSchedule } from "../../components/leaf/pki/certspecs";
import { tryOutExports } from "../../ops/backend";
import { CONFIG_SCHEMA } from "../../stacks/keys";
import { readStackFileConfig } from "../../ops/check";
import { ignoredStackFiles, parseStackFile } from "../../ops/stackfiles";
import { ApiServer, startApiServer } from "./support/apiserver";
import { applyAll, ensureNamespaces, installCrds } from "./support/apply";
import { crdsOf, kindRank } from "./support/declared";
import { KubeClient, KubeError, KubeObject } from "./support/kube";
import { PulumiProject, RunResult, pulumiProject } from "./support/pulumi";
import { stepByStep } from "./support/steps";
import { runWorkflowSteps, workflowSteps } from "./support/workflow";

const REPO = join(__dirname, "..", "..");
/** Debian's libfaketime (package faketime), installed by .ci/run. */
const FAKETIME_LIBRARY = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/** The certificates of a PEM bundle, in order. */
function pemsOf(bundle: string | undefined): X509Certificate[] {
  return (bundle ?? "")
    .split(/(?<=-----END CERTIFICATE-----)\s*/)
    .filter((p) => p.includes("BEGIN CERTIFICATE"))
    .map((p) => new X509Certificate(p));
}
const shipped = (stack: string): string => readFileSync(join(REPO, `Pulumi.${stack}.yaml`), "utf8");

/** A shell with no backend and no passphrase of its own: what the README's user starts with. */
const FRESH_SHELL = { PULUMI_BACKEND_URL: undefined, PULUMI_CONFIG_PASSPHRASE: undefined };

/** Every `[stack] ...` line of a command's output, in order. */
const linesOf = (r: RunResult, stack: string): number[] =>
  r.stdout
    .split("\n")
    .map((line, i) => (line.startsWith(`[${stack}] `) ? i : -1))
    .filter((i) => i >= 0);

/** What a failed command printed, for an assertion message. */
const show = (r: RunResult): string =>
  `exit ${r.code}\n--- stdout (end)\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;

/** The objects of every YAML file under `dir` (the provider's renderYamlToDirectory layout). */
function renderedObjects(dir: string): KubeObject[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as KubeObject),
    )
    .sort((a, b) => kindRank(a.kind) - kindRank(b.kind));
}

/** A stack file with more config: `extra` keys go under `thanos-bridge:`. */
function withConfig(text: string, extra: Record<string, unknown>): string {
  const doc = parse(text) as { config: Record<string, unknown> };
  for (const [k, v] of Object.entries(extra)) doc.config[`thanos-bridge:${k}`] = v;
  return JSON.stringify(doc);
}

async function getOrUndefined(
  kube: KubeClient,
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  name: string,
): Promise<KubeObject | undefined> {
  try {
    return await kube.get(apiVersion, kind, namespace, name);
  } catch (e) {
    if (e instanceof KubeError && e.status === 404) return undefined;
    throw e;
  }
}

describe("npm run deploy on the real Pulumi CLI, rendering the shipped stacks", function () {
  this.timeout(600_000);
  let project: PulumiProject;
  let deploy: RunResult;
  let server: ApiServer;

  before(async () => {
    project = pulumiProject(
      Object.fromEntries(
        ["leaf-a", "leaf-b", "leaf-c", "observer"].map((s) => [s, shipped(s)] as const),
      ),
    );
    [deploy, server] = await Promise.all([
      project.npm("deploy", ["--try-out"], FRESH_SHELL),
      startApiServer(),
    ]);
  });

  after(async () => {
    await server?.stop();
    project?.remove();
  });

  it("exits 0, every leaf finished before the observer started", () => {
    assert.equal(deploy.code, 0, show(deploy));
    const firstObserverLine = Math.min(...linesOf(deploy, "observer"));
    for (const leaf of ["leaf-a", "leaf-b", "leaf-c"]) {
      const done = deploy.stdout
        .split("\n")
        .findIndex((l) => l.startsWith(`[${leaf}] up succeeded`));
      assert.ok(done >= 0, `no "up succeeded" for ${leaf}`);
      assert.ok(done < firstObserverLine, `${leaf} finished after the observer started`);
    }
    assert.doesNotMatch(deploy.stdout + deploy.stderr, /\n\s+at .*\(.*:\d+:\d+\)/);
  });

  it("keeps the try-out's state in the project layout, the only one the CLI reads from 3.275", () => {
    // CLI 3.275 refuses the legacy DIY layout ("Legacy DIY state is no longer supported").
    const meta = parse(
      readFileSync(join(project.dir, ".pulumi-state", ".pulumi", "meta.yaml"), "utf8"),
    ) as { version?: number };
    assert.equal(meta.version, 1);
  });

  it("prints the line for pulumi by hand; pulumi in a shell that ran it has the same stacks and secrets", async () => {
    assert.ok(deploy.stdout.split("\n").includes(`  ${tryOutExports(project.dir)}`), show(deploy));
    // project.pulumi runs in such a shell: the two variables exported, nothing else.
    const ls = await project.pulumi(["stack", "ls", "--json"]);
    assert.equal(ls.code, 0, show(ls));
    assert.deepEqual((JSON.parse(ls.stdout) as { name: string }[]).map((s) => s.name).sort(), [
      "leaf-a",
      "leaf-b",
      "leaf-c",
      "observer",
    ]);
    const out = await project.pulumi([
      "stack",
      "output",
      "--show-secrets",
      "--json",
      "-s",
      "leaf-a",
    ]);
    assert.equal(out.code, 0, show(out));
    assert.match(
      String((JSON.parse(out.stdout) as Record<string, unknown>)["bridgeClientKey"]),
      /PRIVATE KEY/,
    );
  });

  it("writes the real provider's YAML to out/<stack>/, and the API server takes it with no warning", async () => {
    const kube = server.client;
    await installCrds(kube, crdsOf("traefik-crds"));
    const stacks = ["leaf-a", "leaf-b", "leaf-c", "observer"].map((stack) => ({
      stack,
      objects: renderedObjects(join(project.dir, "out", stack)),
    }));
    // leaf-a and leaf-c are two clusters with the same namespace: judge leaf-c in a fresh one.
    for (const o of stacks[2].objects) o.metadata.namespace = "leaf-c";
    await ensureNamespaces(kube, stacks);
    for (const { stack, objects } of stacks) {
      const kinds = objects.map((o) => o.kind);
      assert.ok(kinds.includes("Secret"), `${stack} rendered no Secret`);
      const result = await applyAll(kube, objects);
      assert.deepEqual(result.warnings, [], `${stack}: warnings`);
    }
    const kinds = new Set(stacks.flatMap((s) => s.objects.map((o) => o.kind)));
    for (const kind of ["Deployment", "Ingress", "IngressRoute", "TLSOption", "ConfigMap"]) {
      assert.ok(kinds.has(kind), `nothing rendered a ${kind}`);
    }
  });
});

describe("npm run rotate on the rendered stacks, as a try-out user runs it next", function () {
  this.timeout(600_000);
  let project: PulumiProject;

  before(() => {
    project = pulumiProject(
      Object.fromEntries(["leaf-a", "leaf-b", "observer"].map((s) => [s, shipped(s)] as const)),
    );
  });

  after(() => project?.remove());

  it("reaches deploy's stacks and renders again, with the expiry check OK", async () => {
    const deploy = await project.npm("deploy", ["--try-out"], FRESH_SHELL);
    assert.equal(deploy.code, 0, show(deploy));
    // Before rotate took deploy's derived config, the leaves' refresh looked for the ambient
    // cluster ("unreachable cluster").
    const r = await project.npm("rotate", ["--try-out"], FRESH_SHELL);
    assert.equal(r.code, 0, show(r));
    // Exit 0 is the expiry check's OK too (3 otherwise); each leaf's row says so per certificate.
    for (const leaf of ["leaf-a", "leaf-b"]) {
      assert.match(
        r.stdout,
        new RegExp(`^organization/thanos-bridge/${leaf} .* OK .* OK .* OK `, "m"),
      );
    }
  });
});

const LEAF_SECRETS: Readonly<Record<string, string>> = {
  "leaf-a": "monitoring",
  "leaf-b": "observability",
};

describe("npm run deploy, rotate and destroy on the real Pulumi CLI against kube-apiserver", function () {
  this.timeout(900_000);
  stepByStep();
  let project: PulumiProject;
  let server: ApiServer;
  let kube: KubeClient;

  /** Every Secret of the stacks' namespaces, by `namespace/name`: its data, decoded. */
  async function secretsByName(): Promise<Map<string, Record<string, string>>> {
    return new Map([...(await secretObjects()).entries()].map(([k, v]) => [k, v.data]));
  }

  /** Every Secret of the stacks' namespaces, by `namespace/name`: its uid and decoded data. */
  async function secretObjects(): Promise<
    Map<string, { uid: string; data: Record<string, string> }>
  > {
    const found = new Map<string, { uid: string; data: Record<string, string> }>();
    for (const namespace of ["monitoring", "observability", "thanos-bridge"]) {
      const list = await kube.call<{ items: KubeObject[] }>(
        "GET",
        `/api/v1/namespaces/${namespace}/secrets`,
      );
      for (const s of list.body.items) {
        const data = (s as { data?: Record<string, string> }).data ?? {};
        found.set(`${namespace}/${s.metadata.name}`, {
          uid: String(s.metadata.uid),
          data: Object.fromEntries(
            Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
          ),
        });
      }
    }
    return found;
  }

  before(async () => {
    server = await startApiServer({ controllerManager: true });
    kube = server.client;
    for (const name of ["monitoring", "observability"]) {
      await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    }
    // The shipped stacks render; these go to the API server instead.
    const target = { kubeconfig: server.kubeconfig, skipAwait: true, renderDir: undefined };
    project = pulumiProject({
      "leaf-a": withConfig(shipped("leaf-a"), target),
      "leaf-b": withConfig(shipped("leaf-b"), target),
      observer: withConfig(shipped("observer"), target),
    });
  });

  after(async () => {
    await server?.stop();
    project?.remove();
  });

  it("creates every object with the real provider", async () => {
    const r = await project.npm("deploy");
    assert.equal(r.code, 0, show(r));
    const deployment = await kube.get(
      "apps/v1",
      "Deployment",
      "thanos-bridge",
      "thanos-bridge-querier",
    );
    assert.equal(
      (deployment.metadata.annotations as Record<string, string>)["pulumi.com/skipAwait"],
      "true",
    );
    const secrets = await secretsByName();
    for (const [leaf, namespace] of Object.entries(LEAF_SECRETS)) {
      const server = [...secrets].find(
        ([k, data]) =>
          k.startsWith(`${namespace}/`) &&
          data["tls.crt"] !== undefined &&
          (new X509Certificate(data["tls.crt"]).subjectAltName ?? "").includes(`thanos.${leaf}.`),
      );
      assert.ok(server !== undefined, `no server certificate Secret for ${leaf}`);
    }
    for (const leaf of Object.keys(LEAF_SECRETS)) {
      assert.ok(
        [...secrets.keys()].some((k) => k.startsWith("thanos-bridge/") && k.endsWith(leaf)),
        `the observer holds no Secret for ${leaf}`,
      );
    }
  });

  it("keeps every private key secret: in the stack outputs and in the state", async () => {
    for (const stack of ["leaf-a", "leaf-b"]) {
      const out = await project.pulumi(["stack", "output", "--json", "--stack", stack]);
      assert.equal(out.code, 0, show(out));
      const outputs = JSON.parse(out.stdout) as Record<string, unknown>;
      assert.equal(outputs["bridgeClientKey"], "[secret]", `${stack}'s key output`);
      assert.ok(typeof outputs["bridge"] === "object", `${stack}'s bridge output is public`);
    }
    for (const stack of ["leaf-a", "leaf-b", "observer"]) {
      const state = await project.pulumi(["stack", "export", "--stack", stack]);
      assert.equal(state.code, 0, show(state));
      assert.doesNotMatch(state.stdout, /PRIVATE KEY/, `${stack}'s state holds a key in clear`);
      assert.match(state.stdout, /"ciphertext"/, `${stack}'s state holds no secret at all`);
    }
  });

  it("a second deploy would change nothing (preview --expect-no-changes, each stack)", async () => {
    for (const stack of ["leaf-a", "leaf-b", "observer"]) {
      const r = await project.pulumi(["preview", "--expect-no-changes", "--stack", stack]);
      assert.equal(r.code, 0, `${stack}: ${show(r)}`);
    }
  });

  it("rotate, past the renewal point, renews every certificate in place, without touching the Querier's Deployment or ConfigMap", async () => {
    const objects = await secretObjects();
    const before = new Map([...objects.entries()].map(([k, v]) => [k, v.data]));
    const deployment = await kube.get(
      "apps/v1",
      "Deployment",
      "thanos-bridge",
      "thanos-bridge-querier",
    );
    const configMaps = await kube.call<{ items: KubeObject[] }>(
      "GET",
      "/api/v1/namespaces/thanos-bridge/configmaps",
    );
    // 70 days on: past the renew points (90-day certificates renewed 30 days before expiry).
    const later = new Date(Date.now() + 70 * 24 * 3600_000).toISOString();
    const r = await project.npm("rotate", [], { THANOS_BRIDGE_TEST_NOW: later });
    assert.equal(r.code, 0, show(r));
    const objectsAfter = await secretObjects();
    const after = new Map([...objectsAfter.entries()].map(([k, v]) => [k, v.data]));
    // Updated, never deleted and created again: a Secret gone for a moment is a leaf ingress
    // with no certificate (invariant 8 of docs/ARCHITECTURE.md).
    assert.deepEqual(
      [...objectsAfter.entries()].map(([k, v]) => [k, v.uid]).sort(),
      [...objects.entries()].map(([k, v]) => [k, v.uid]).sort(),
    );
    const changed = (k: string) => JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k));
    const renewed = [...before.keys()].filter(changed).sort();
    const kept = [...before.keys()].filter((k) => !changed(k)).sort();
    // Each leaf's server certificate and the observer's copy of each leaf's client certificate;
    // the CAs (the leaves' client CA bundles) stay.
    assert.deepEqual(renewed, [
      "monitoring/thanos-bridge-server-tls",
      "observability/thanos-bridge-server-tls",
      "thanos-bridge/thanos-bridge-leaf-leaf-a",
      "thanos-bridge/thanos-bridge-leaf-leaf-b",
    ]);
    assert.deepEqual(kept, [
      "monitoring/thanos-bridge-client-ca",
      "observability/thanos-bridge-client-ca",
    ]);
    const deploymentAfter = await kube.get(
      "apps/v1",
      "Deployment",
      "thanos-bridge",
      "thanos-bridge-querier",
    );
    assert.equal(deploymentAfter.metadata.generation, deployment.metadata.generation);
    assert.deepEqual(deploymentAfter.spec, deployment.spec);
    const configMapsAfter = await kube.call<{ items: KubeObject[] }>(
      "GET",
      "/api/v1/namespaces/thanos-bridge/configmaps",
    );
    const names = (l: { items: KubeObject[] }) =>
      l.items.map((c) => `${c.metadata.name}@${String(c.metadata.resourceVersion)}`).sort();
    assert.deepEqual(names(configMapsAfter.body), names(configMaps.body));
  });

  it("the CA change over its runs (introduced, switched, retired), the program's clock years on", async () => {
    // The program places a leaf in its CA schedule by its own clock: every Node.js process of
    // these runs (the program and the stand-in plugins) has it moved by libfaketime, while the
    // CLI, the provider and the API server keep the real one.
    const ca = { validityHours: 43800, renewBeforeHours: 8760 }; // the defaults
    // The next generation's start, whatever phase today is in.
    const period = caGenerationHours(ca) * 3600_000;
    const next = (Math.floor(Date.now() / period) + 1) * period;
    const half = (ca.renewBeforeHours * 3600_000) / 2;
    const day = 24 * 3600_000;
    const steps = [
      { phase: "introduced", at: next + day, cas: 2, signer: "older" },
      { phase: "switched", at: next + half + day, cas: 2, signer: "newer" },
      { phase: "steady", at: next + 2 * half + day, cas: 1, signer: "newer" },
    ] as const;
    let newest: string | undefined;
    for (const step of steps) {
      assert.equal(caSchedule(ca, new Date(step.at)).phase, step.phase);
      const offset = Math.round((step.at - Date.now()) / 1000);
      const r = await project.npm("rotate", [], {
        LD_PRELOAD: FAKETIME_LIBRARY,
        FAKETIME: `+${offset}`,
      });
      assert.equal(r.code, 0, `${step.phase}: ${show(r)}`);
      const secrets = await secretsByName();
      for (const [leaf, namespace] of Object.entries(LEAF_SECRETS)) {
        const bundle = pemsOf(secrets.get(`${namespace}/thanos-bridge-client-ca`)?.["ca.crt"]);
        assert.equal(bundle.length, step.cas, `${step.phase}: ${leaf}'s client CA bundle`);
        const server = new X509Certificate(
          secrets.get(`${namespace}/thanos-bridge-server-tls`)?.["tls.crt"] ?? "",
        );
        // The bundle is newest first; the server certificate is signed by the schedule's signer.
        const signer = step.signer === "newer" ? bundle[0] : bundle[bundle.length - 1];
        assert.ok(server.verify(signer.publicKey), `${step.phase}: ${leaf}'s signer`);
        assert.match(signer.subject, new RegExp(`CN=thanos-bridge ${leaf} CA \\d+`));
        // The observer carries the same CAs for the leaf.
        const held = JSON.stringify(secrets.get(`thanos-bridge/thanos-bridge-leaf-${leaf}`));
        for (const c of bundle) {
          // A PEM's first line of base64, wherever the SDS files put the PEM.
          const line = c.toString().split("\n")[1];
          assert.ok(held.includes(line), `${step.phase}: the observer lacks one of ${leaf}'s CAs`);
        }
        if (leaf === "leaf-a") {
          if (step.phase === "introduced") newest = bundle[0].fingerprint256;
          else assert.equal(bundle[0].fingerprint256, newest, `${step.phase}: the new CA changed`);
        }
      }
    }
  });

  it("destroy removes every object it made and leaves the stacks empty", async () => {
    const r = await project.npm("destroy");
    assert.equal(r.code, 0, show(r));
    assert.equal(
      await getOrUndefined(kube, "v1", "Namespace", undefined, "thanos-bridge"),
      undefined,
    );
    for (const namespace of Object.values(LEAF_SECRETS)) {
      const list = await kube.call<{ items: KubeObject[] }>(
        "GET",
        `/api/v1/namespaces/${namespace}/secrets`,
      );
      assert.deepEqual(
        list.body.items.map((s) => s.metadata.name),
        [],
        `${namespace} still holds Secrets`,
      );
    }
    for (const stack of ["leaf-a", "leaf-b", "observer"]) {
      const state = await project.pulumi(["stack", "export", "--stack", stack]);
      assert.equal(state.code, 0, show(state));
      const resources = (JSON.parse(state.stdout) as { deployment: { resources?: unknown[] } })
        .deployment.resources;
      assert.deepEqual(resources ?? [], [], `${stack} still has resources in its state`);
    }
  });
});

/** A stack trace line, as Node prints them. */
const STACK_TRACE = /^\s+at \S.*:\d+:\d+\)?$/m;

describe("the backend on the real Pulumi CLI: the CLI's own choice, and no well-known passphrase", function () {
  this.timeout(600_000);
  let project: PulumiProject;
  let elsewhere: string;

  before(() => {
    project = pulumiProject({ "leaf-a": shipped("leaf-a") });
    // A file backend outside the project: a DIY backend, which keeps no keys.
    elsewhere = join(project.dir, "..", "elsewhere");
    mkdirSync(elsewhere);
  });

  after(() => project?.remove());

  /** The stacks a backend holds, as `pulumi stack ls` by hand lists them. */
  async function stacksOn(url: string): Promise<string[]> {
    const ls = await project.pulumi(["stack", "ls", "--json"], {
      PULUMI_BACKEND_URL: url,
      PULUMI_CONFIG_PASSPHRASE: undefined,
    });
    assert.equal(ls.code, 0, show(ls));
    return (JSON.parse(ls.stdout) as { name: string }[]).map((s) => s.name).sort();
  }

  it("PULUMI_BACKEND_URL elsewhere with no passphrase: refused, naming the variable, before any stack exists", async () => {
    const url = `file://${elsewhere}`;
    const r = await project.npm("deploy", [], { ...FRESH_SHELL, PULUMI_BACKEND_URL: url });
    assert.equal(r.code, 2, show(r));
    assert.match(
      r.stderr,
      /keeps no keys of its own, and no passphrase is set[^]*set PULUMI_CONFIG_PASSPHRASE[^]*pulumi stack init leaf-a --secrets-provider/,
    );
    // Nothing written to the backend, and the CLI finds no stack there.
    assert.ok(!existsSync(join(elsewhere, ".pulumi")), "deploy wrote to the backend");
    assert.deepEqual(await stacksOn(url), []);
    assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE);
  });

  it("the same backend with PULUMI_CONFIG_PASSPHRASE: deployed, and pulumi by hand decrypts it with that passphrase", async () => {
    const shell = {
      PULUMI_BACKEND_URL: `file://${elsewhere}`,
      PULUMI_CONFIG_PASSPHRASE: "ours-alone",
    };
    const r = await project.npm("deploy", [], shell);
    assert.equal(r.code, 0, show(r));
    assert.match(
      r.stdout,
      /^backend: file:\/\/\S+ \(PULUMI_BACKEND_URL\); secrets: your passphrase$/m,
    );
    assert.doesNotMatch(r.stdout + r.stderr, /FOR TRYING OUT ONLY|thanos-bridge-try-out-only/);
    const out = await project.pulumi(
      ["stack", "output", "--show-secrets", "--json", "-s", "leaf-a"],
      shell,
    );
    assert.equal(out.code, 0, show(out));
    assert.match(
      String((JSON.parse(out.stdout) as Record<string, unknown>)["bridgeClientKey"]),
      /PRIVATE KEY/,
    );
    const wrong = await project.pulumi(["stack", "output", "--show-secrets", "-s", "leaf-a"], {
      ...shell,
      PULUMI_CONFIG_PASSPHRASE: "thanos-bridge-try-out-only",
    });
    assert.notEqual(wrong.code, 0, "the well-known passphrase decrypted the stack");
  });

  it("pulumi login picks the backend for deploy as for pulumi by hand", async () => {
    const login = await project.pulumi(["login", `file://${elsewhere}`], FRESH_SHELL);
    assert.equal(login.code, 0, show(login));
    const r = await project.npm("deploy", [], {
      ...FRESH_SHELL,
      PULUMI_CONFIG_PASSPHRASE: "ours-alone",
    });
    assert.equal(r.code, 0, show(r));
    assert.match(
      r.stdout,
      /^backend: file:\/\/\S+elsewhere \(pulumi login\); secrets: your passphrase$/m,
    );
    const ls = await project.pulumi(["stack", "ls", "--json"], FRESH_SHELL);
    assert.equal(ls.code, 0, show(ls));
    assert.deepEqual(
      (JSON.parse(ls.stdout) as { name: string }[]).map((s) => s.name),
      ["leaf-a"],
    );
  });
});

describe("the rotation workflow's own steps on the real CLI, on stacks deploy made on a passphrase backend", function () {
  this.timeout(900_000);
  let project: PulumiProject;
  let backend: string;
  /** The repository secret, as the workflow maps it to PULUMI_CONFIG_PASSPHRASE. */
  const PASSPHRASE = "the-repository-secret";

  before(() => {
    project = pulumiProject(
      Object.fromEntries(["leaf-a", "leaf-b", "observer"].map((s) => [s, shipped(s)] as const)),
    );
    // A bucket stands in as a directory outside the checkout: a DIY backend, as the workflow's
    // PULUMI_BACKEND_URL variable names one.
    const bucket = join(project.dir, "..", "bucket");
    mkdirSync(bucket);
    backend = `file://${bucket}`;
  });

  after(() => project?.remove());

  /** A leaf's client certificate, read by hand with the passphrase. */
  async function clientCert(leaf: string): Promise<string> {
    const out = await project.pulumi(["stack", "output", "bridge", "--json", "-s", leaf], {
      PULUMI_BACKEND_URL: backend,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    });
    assert.equal(out.code, 0, show(out));
    return String((JSON.parse(out.stdout) as Record<string, unknown>)["clientCert"]);
  }

  it("decrypts the stacks and rotates them: exit 0, the leaves renewed, the observer current", async () => {
    const deploy = await project.npm("deploy", [], {
      ...FRESH_SHELL,
      PULUMI_BACKEND_URL: backend,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    });
    assert.equal(deploy.code, 0, show(deploy));
    const before = await clientCert("leaf-a");

    // The workflow's steps and their environment, from its file; the runner has no login, no
    // PULUMI_* of its own, and its clock 70 days on (past the client certificates' renewal).
    const steps = workflowSteps(join(REPO, ".github", "workflows", "rotate-certs.yml"), "rotate");
    const later = new Date(Date.now() + 70 * 24 * 3600_000).toISOString();
    const results = await runWorkflowSteps(
      project,
      steps,
      {
        vars: { PULUMI_BACKEND_URL: backend },
        secrets: { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE },
        inputs: {},
      },
      { ...FRESH_SHELL, THANOS_BRIDGE_TEST_NOW: later },
      // node_modules is the checkout's, linked into the copy.
      (step) => /^npm ci\b/.test(step.run ?? ""),
    );
    assert.deepEqual(
      results.map((r) => r.step),
      ["Write the kubeconfig", "Rotate"],
    );
    const rotate = results[1].result;
    assert.equal(rotate.code, 0, show(rotate));
    assert.match(
      rotate.stdout,
      /^backend: file:\/\/\S+bucket \(PULUMI_BACKEND_URL\); secrets: your passphrase$/m,
    );
    for (const leaf of ["leaf-a", "leaf-b"]) {
      assert.match(
        rotate.stdout,
        new RegExp(`^organization/thanos-bridge/${leaf} .* OK .* OK .* OK +current`, "m"),
      );
    }
    assert.notEqual(
      await clientCert("leaf-a"),
      before,
      "leaf-a's client certificate was not renewed",
    );
  });
});

describe("stack files as the real Pulumi CLI reads them, and npm run check with it", function () {
  this.timeout(300_000);
  let project: PulumiProject;

  before(() => {
    project = pulumiProject({});
    mkdirSync(join(project.dir, ".pulumi-state"));
  });

  after(() => project?.remove());

  /** What the CLI shows for every key a stack file leaves unset: Pulumi.yaml's defaults. */
  const DEFAULTS = Object.fromEntries(
    Object.entries(CONFIG_SCHEMA).map(([k, spec]) => [
      `thanos-bridge:${k}`,
      typeof spec.default === "string" ? spec.default : JSON.stringify(spec.default),
    ]),
  );

  /** The config the CLI reads for a stack: key to value (or "[secret]"). */
  async function cliConfig(stack: string): Promise<Record<string, string>> {
    const r = await project.pulumi(["config", "--json", "--stack", stack]);
    assert.equal(r.code, 0, show(r));
    return Object.fromEntries(
      Object.entries(JSON.parse(r.stdout) as Record<string, { value?: string }>).map(([k, v]) => [
        k,
        v.value ?? "[secret]",
      ]),
    );
  }

  const CASES: Readonly<Record<string, string>> = {
    // Keys without a namespace are the project's.
    bare: "config:\n  role: leaf\n  hostname: thanos.bare.example.com\n",
    // A YAML merge key is honoured.
    merge:
      "base: &base\n  thanos-bridge:role: leaf\nconfig:\n  <<: *base\n  thanos-bridge:hostname: thanos.merge.example.com\n",
    // A key outside config: is not read at all.
    outside: "thanos-bridge:publicPort: 8443\nconfig:\n  thanos-bridge:role: leaf\n",
  };

  for (const [stack, text] of Object.entries(CASES)) {
    it(`${stack}: check reads the same keys and values as the CLI`, async () => {
      const init = await project.pulumi(["stack", "init", stack]);
      assert.equal(init.code, 0, show(init));
      project.stackFile(stack, text);
      const doc = parseStackFile(text) as { config: Record<string, unknown> };
      assert.deepEqual(await cliConfig(stack), {
        ...DEFAULTS,
        ...readStackFileConfig(doc.config).raw,
      });
    });
  }

  it("a Pulumi.<stack>.yml is not read by the CLI, and check names it", async () => {
    const init = await project.pulumi(["stack", "init", "yml"]);
    assert.equal(init.code, 0, show(init));
    rmSync(join(project.dir, "Pulumi.yml.yaml"), { force: true });
    writeFileSync(join(project.dir, "Pulumi.yml.yml"), "config:\n  thanos-bridge:role: leaf\n");
    assert.deepEqual(await cliConfig("yml"), DEFAULTS);
    assert.deepEqual(ignoredStackFiles(project.dir), ["Pulumi.yml.yml"]);
  });
});

describe("user errors under the real Pulumi CLI: one clear message, no stack trace", function () {
  this.timeout(600_000);
  let project: PulumiProject;
  const OTHER = { PULUMI_CONFIG_PASSPHRASE: "a-passphrase-of-its-own" };

  /** An observer that renders, reading the given leaves. */
  const observerFile = (leaves: readonly string[]): string =>
    JSON.stringify({
      config: {
        "thanos-bridge:role": "observer",
        "thanos-bridge:renderDir": "out/observer",
        "thanos-bridge:leaves": leaves,
      },
    });

  before(() => {
    project = pulumiProject({
      "leaf-a": withConfig(shipped("leaf-a"), { keyAlgorithm: "DSA" }),
    });
  });

  after(() => project?.remove());

  it("a config problem: deploy refuses it offline, and the stack itself fails with the same message", async () => {
    const message = /thanos-bridge:keyAlgorithm: "DSA" is not allowed; use one of /;
    // npm run deploy runs npm run check's rules first: exit 2, before any state exists.
    const r = await project.npm("deploy");
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, message);
    assert.ok(!existsSync(join(project.dir, ".pulumi-state")), "deploy wrote state");
    // The program itself, run by the real engine, refuses it with the same message.
    mkdirSync(join(project.dir, ".pulumi-state"));
    const init = await project.pulumi(["stack", "init", "leaf-a"]);
    assert.equal(init.code, 0, show(init));
    const preview = await project.pulumi(["preview", "--stack", "leaf-a"]);
    assert.notEqual(preview.code, 0, show(preview));
    assert.match(preview.stdout, message);
    assert.doesNotMatch(r.stdout + r.stderr + preview.stdout + preview.stderr, STACK_TRACE);
  });

  it("a value of the wrong type is refused by the CLI itself, from Pulumi.yaml's schema", async () => {
    project.stackFile("leaf-t", withConfig(shipped("leaf-a"), { publicPort: "https" }));
    const init = await project.pulumi(["stack", "init", "leaf-t"]);
    assert.equal(init.code, 0, show(init));
    const r = await project.pulumi(["preview", "--stack", "leaf-t"]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stdout + r.stderr, /publicPort.*integer/, show(r));
    assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE, show(r));
  });

  it("a leaf with no outputs: the observer names it and says to run pulumi up on it", async () => {
    for (const stack of ["organization/thanos-bridge/leaf-empty", "observer"]) {
      const init = await project.pulumi(["stack", "init", stack]);
      assert.equal(init.code, 0, show(init));
    }
    project.stackFile("observer", observerFile(["organization/thanos-bridge/leaf-empty"]));
    const r = await project.pulumi(["preview", "--stack", "observer"]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(
      r.stdout,
      /stack organization\/thanos-bridge\/leaf-empty: has no output 'bridge': run `pulumi up` on that stack first/,
    );
    assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE, show(r));
  });

  it("a leaf whose state uses another passphrase: the observer names it and says so", async () => {
    project.stackFile(
      "leaf-p",
      withConfig(shipped("leaf-a"), { clusterName: "leaf-p", renderDir: "out/leaf-p" }),
    );
    const init = await project.pulumi(["stack", "init", "leaf-p"], OTHER);
    assert.equal(init.code, 0, show(init));
    const up = await project.pulumi(["up", "--yes", "--stack", "leaf-p"], OTHER);
    assert.equal(up.code, 0, show(up));
    project.stackFile("observer", observerFile(["organization/thanos-bridge/leaf-p"]));
    const r = await project.pulumi(["preview", "--stack", "observer"]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(
      r.stdout,
      /stack organization\/thanos-bridge\/leaf-p: has output 'bridge' but not its secret output 'bridgeClientKey': .*another passphrase or secrets provider/,
    );
    assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE, show(r));
  });

  it("a malformed contract (a leaf's bridge output of a future version): named, with the fix", async () => {
    // The leaf-p state of the test above, its bridge output edited, imported as another leaf.
    const exported = await project.pulumi(
      ["stack", "export", "--show-secrets", "--stack", "leaf-p"],
      OTHER,
    );
    assert.equal(exported.code, 0, show(exported));
    // Resource URNs name their stack.
    const state = JSON.parse(
      exported.stdout.replaceAll("urn:pulumi:leaf-p::", "urn:pulumi:leaf-m::"),
    ) as {
      deployment: {
        secrets_providers?: unknown;
        resources: { type: string; outputs?: Record<string, { version?: number }> }[];
      };
    };
    const stack = state.deployment.resources.find((r) => r.type === "pulumi:pulumi:Stack");
    assert.ok(stack?.outputs?.["bridge"] !== undefined, "leaf-p exports no bridge");
    stack.outputs["bridge"].version = 3;
    const file = join(project.dir, "leaf-m.json");
    writeFileSync(file, JSON.stringify(state));
    for (const args of [
      ["stack", "init", "organization/thanos-bridge/leaf-m"],
      ["stack", "import", "--stack", "organization/thanos-bridge/leaf-m", "--file", file],
    ]) {
      // leaf-p's passphrase: the export's secrets provider (the CLI 3.248 panics importing
      // plaintext secrets into a deployment without one: "attempt to encrypt value").
      const r = await project.pulumi(args, OTHER);
      assert.equal(r.code, 0, show(r));
    }
    project.stackFile("observer", observerFile(["organization/thanos-bridge/leaf-m"]));
    const r = await project.pulumi(["preview", "--stack", "observer"]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(
      r.stdout,
      /stack organization\/thanos-bridge\/leaf-m: output 'bridge' has contract version 3, but this program reads version 2: upgrade thanos-bridge on the observer/,
    );
    assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE, show(r));
  });
});
