// The real bench's registry (test/real/build/components.ts): pins read from each go.mod, version stamps,
// cache keys, and the README's "Test bench" list kept equal to what `test:real` prints.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  COMPONENTS,
  MODULE_FILES,
  binaryPath,
  cacheKey,
  cacheRoot,
  component,
  componentVersion,
  pinnedVersion,
  prometheusVersion,
  stampFlags,
} from "./real/build/components";
import { BENCH, benchLines } from "./real/support/bench";

describe("real bench components", () => {
  it("reads every pin from its go.mod's require line", () => {
    assert.deepEqual(Object.fromEntries(COMPONENTS.map((c) => [c.name, pinnedVersion(c)])), {
      etcd: "v3.6.16",
      "kube-apiserver": "v1.35.4",
      "kube-controller-manager": "v1.35.4",
      thanos: "v0.42.5",
      prometheus: "v0.316.0",
      traefik: "v3.6.12",
      pulumi: "v3.276.0",
      "pulumi-language-nodejs": "v3.276.0",
      "pulumi-resource-kubernetes": "v4.0.0-20260115033456-f47bc2d6f199",
      "envoy-validate": "v1.40.0",
    });
    assert.deepEqual(
      MODULE_FILES.map((m) => [m.name, pinnedVersion(m)]),
      [
        ["prometheus-operator-crds", "v0.85.0"],
        ["gateway-api-crds", "v1.6.3"],
        ["traefik-crds", "v3.6.12"],
      ],
    );
  });

  it("stamps the Pulumi CLI with its version and the Kubernetes provider with the plugin version the SDK asks for", () => {
    assert.deepEqual(stampFlags(component("pulumi")), [
      "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.276.0",
    ]);
    const sdk = JSON.parse(
      readFileSync(join(__dirname, "..", "node_modules/@pulumi/kubernetes/package.json"), "utf8"),
    ) as { pulumi: { version: string } };
    assert.equal(sdk.pulumi.version, "4.34.2");
    assert.deepEqual(stampFlags(component("pulumi-resource-kubernetes")), [
      "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=4.34.2",
    ]);
    assert.equal(
      componentVersion(component("pulumi-resource-kubernetes")),
      "v4.0.0-20260115033456-f47bc2d6f199 (as plugin v4.34.2)",
    );
  });

  it("takes Traefik's CRDs from the version of Traefik the bench runs", () => {
    const traefik = component("traefik");
    const crds = MODULE_FILES.find((m) => m.name === "traefik-crds");
    assert.ok(crds !== undefined);
    assert.equal(crds.module, traefik.module);
    assert.equal(pinnedVersion(crds), pinnedVersion(traefik));
  });

  it("names Prometheus 3.y.z after its module tag v0.3yy.z, and refuses anything else", () => {
    assert.equal(prometheusVersion("v0.316.0"), "v3.16.0");
    assert.equal(prometheusVersion("v0.305.2"), "v3.5.2");
    assert.throws(() => prometheusVersion("v2.53.0"), /not a Prometheus 3.x module version/);
    assert.equal(componentVersion(component("prometheus")), "v3.16.0");
  });

  it("stamps the versions the binaries report", () => {
    assert.deepEqual(stampFlags(component("kube-apiserver")), [
      "-X k8s.io/component-base/version.gitVersion=v1.35.4",
      "-X k8s.io/component-base/version.gitMajor=1",
      "-X k8s.io/component-base/version.gitMinor=35",
      "-X k8s.io/component-base/version.gitTreeState=clean",
    ]);
    assert.deepEqual(stampFlags(component("prometheus")), [
      "-X github.com/prometheus/common/version.Version=3.16.0",
      "-X github.com/prometheus/common/version.Branch=module",
    ]);
    assert.ok(
      stampFlags(component("thanos")).includes(
        "-X github.com/prometheus/common/version.Version=0.42.5",
      ),
    );
  });

  it("keys the cache by component, version, Go version and build files", () => {
    const etcd = component("etcd");
    const key = cacheKey(etcd, "go1.26.8");
    assert.match(key, /^v3\.6\.16\/go1\.26\.8-[0-9a-f]{12}$/);
    assert.match(cacheKey(etcd, "go1.27.3"), /^v3\.6\.16\/go1\.27\.3-[0-9a-f]{12}$/);
    // The hash covers the build files: another component's go.mod gives another hash.
    assert.notEqual(cacheKey(component("prometheus"), "go1.26.8").split("-")[1], key.split("-")[1]);
    assert.equal(binaryPath(etcd, "go1.26.8", "/cache"), `/cache/etcd/${key}/etcd`);
    // A different tag set is a different build.
    assert.notEqual(cacheKey({ ...etcd, tags: ["netgo"] }, "go1.26.8"), key);
  });

  it("builds Thanos with the toolchain its go.mod needs, whatever the machine's Go", () => {
    const thanos = component("thanos");
    const gomod = readFileSync(join(__dirname, "..", thanos.dir, "go.mod"), "utf8");
    // v0.42.5 asks for Go 1.26.10; the machine has 1.26.8.
    assert.match(gomod, /^go 1\.26\.10$/m);
    assert.equal(thanos.toolchain, "go1.27.3");
    assert.match(cacheKey(thanos, "go1.26.8"), /^v0\.42\.5\/go1\.27\.3-[0-9a-f]{12}$/);
    assert.equal(cacheKey(thanos, "go1.26.8"), cacheKey(thanos, "go1.99.0"));
    // Every other component builds with the machine's Go.
    assert.deepEqual(
      COMPONENTS.filter((c) => c.toolchain !== undefined).map((c) => c.name),
      ["thanos"],
    );
  });

  it("caches under $THANOS_BRIDGE_CACHE, else ~/.cache/thanos-bridge", () => {
    assert.equal(cacheRoot({ THANOS_BRIDGE_CACHE: "/var/cache/x" }), "/var/cache/x");
    assert.match(cacheRoot({}), /\.cache\/thanos-bridge$/);
    assert.match(cacheRoot({ THANOS_BRIDGE_CACHE: "" }), /\.cache\/thanos-bridge$/);
  });

  it("lists in the README's Test bench section exactly what test:real prints", () => {
    const readme = readFileSync(join(__dirname, "..", "README.md"), "utf8");
    const section = /## Test bench\n([\s\S]*?)\n## /.exec(readme);
    assert.ok(section !== null, "README has no ## Test bench section");
    const block = /```\n([\s\S]*?)```/.exec(section[1]);
    assert.ok(block !== null, "the Test bench section has no component block");
    assert.deepEqual(block[1].trimEnd().split("\n"), benchLines());
    // Every stand-in says it is one.
    assert.ok(BENCH.some((e) => e.kind === "stand-in"));
    for (const line of benchLines()) {
      assert.match(line, /^(real \S+ v\S+( \(as plugin v\S+\))?|stand-in [^:]+: .+)$/);
    }
  });
});
