// The real components of the test bench: what each one is built from and where its binary is
// cached. Pins live in one place, each component's go.mod (its `require` line); nothing here
// repeats a version. See docs/ARCHITECTURE.md, "Test bench".
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const REPO_ROOT = join(__dirname, "..", "..", "..");

export interface GoComponent {
  /** Name on the bench's component lines and in the cache. */
  readonly name: string;
  /** Directory (relative to the repository) holding the component's go.mod. */
  readonly dir: string;
  /** The module whose `require` line in that go.mod is the component's version. */
  readonly module: string;
  /** The package `go build` builds, a `tool` of that go.mod (or "." for our own program). */
  readonly package: string;
  readonly tags?: readonly string[];
  /** Linker `-X` settings; `{version}` is replaced by the pinned version. */
  readonly stamps?: Readonly<Record<string, string>>;
  /** How the pinned module version reads as the component's own version. */
  readonly displayVersion?: (moduleVersion: string) => string;
  /** Our own program: its sources are part of the cache key. */
  readonly ownSource?: boolean;
  /**
   * Writes into `dir` (a scratch directory) what the build needs besides the module cache, and
   * returns the flags that give it to `go build`.
   */
  readonly prepare?: (dir: string) => string[];
  /**
   * The Go toolchain the build asks for (GOTOOLCHAIN), when the module needs a newer Go than the
   * machine's; the go command fetches it from the module proxy. Without it, the machine's Go.
   */
  readonly toolchain?: string;
}

const K8S_VERSION = "k8s.io/component-base/version";
const K8S_STAMPS = {
  [`${K8S_VERSION}.gitVersion`]: "{version}",
  [`${K8S_VERSION}.gitMajor`]: "{major}",
  [`${K8S_VERSION}.gitMinor`]: "{minor}",
  [`${K8S_VERSION}.gitTreeState`]: "clean",
};

export const COMPONENTS: readonly GoComponent[] = [
  {
    name: "etcd",
    dir: "test/real/build/go/etcd",
    module: "go.etcd.io/etcd/server/v3",
    package: "go.etcd.io/etcd/server/v3",
    stamps: { "go.etcd.io/etcd/api/v3/version.GitSHA": "module-{version}" },
  },
  {
    name: "kube-apiserver",
    dir: "test/real/build/go/kube-apiserver",
    module: "k8s.io/kubernetes",
    package: "k8s.io/kubernetes/cmd/kube-apiserver",
    stamps: K8S_STAMPS,
  },
  {
    // Its garbage collector and namespace controller finish deletions (foreground deletion,
    // namespace finalizers), as in a cluster; no scheduler or kubelet runs, so no pod starts.
    name: "kube-controller-manager",
    dir: "test/real/build/go/kube-apiserver",
    module: "k8s.io/kubernetes",
    package: "k8s.io/kubernetes/cmd/kube-controller-manager",
    stamps: K8S_STAMPS,
  },
  {
    name: "thanos",
    dir: "test/real/build/go/thanos",
    module: "github.com/thanos-io/thanos",
    package: "github.com/thanos-io/thanos/cmd/thanos",
    // As Thanos's .promu.yml builds its releases.
    tags: ["netgo", "slicelabels"],
    // v0.42.5's go.mod asks for Go 1.26.10, newer than the machine's 1.26.8; go1.27.3 is the
    // newer toolchain the module proxy serves here.
    toolchain: "go1.27.3",
    stamps: {
      "github.com/prometheus/common/version.Version": "{bare}",
      "github.com/prometheus/common/version.Branch": "module",
    },
  },
  {
    name: "prometheus",
    dir: "test/real/build/go/prometheus",
    module: "github.com/prometheus/prometheus",
    package: "github.com/prometheus/prometheus/cmd/prometheus",
    // No `builtinassets`: the web UI's assets are built by npm upstream and are not in the
    // module; the bench uses only the HTTP API.
    tags: ["netgo"],
    stamps: {
      "github.com/prometheus/common/version.Version": "{display}",
      "github.com/prometheus/common/version.Branch": "module",
    },
    displayVersion: prometheusVersion,
  },
  {
    name: "traefik",
    dir: "test/real/build/go/traefik",
    module: "github.com/traefik/traefik/v3",
    package: "github.com/traefik/traefik/v3/cmd/traefik",
    // As Traefik's Makefile stamps its releases. Its web UI is built by npm upstream and only a
    // placeholder is in the module: the bench uses the proxy, not the dashboard.
    stamps: {
      "github.com/traefik/traefik/v3/pkg/version.Version": "{version}",
      "github.com/traefik/traefik/v3/pkg/version.Codename": "module",
    },
  },
  {
    name: "pulumi",
    dir: "test/real/build/go/pulumi",
    module: "github.com/pulumi/pulumi/pkg/v3",
    package: "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
    // As Pulumi's release builds; the Automation API reads the stamped version.
    tags: ["osusergo", "grpcnotrace"],
    stamps: { "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version": "{version}" },
  },
  {
    // Our stand-in for the Node.js language host, whose module is not served here.
    name: "pulumi-language-nodejs",
    dir: "test/pulumi-language-nodejs",
    module: "github.com/pulumi/pulumi/sdk/v3",
    package: ".",
    ownSource: true,
  },
  {
    name: "pulumi-resource-kubernetes",
    dir: "test/real/build/go/pulumi-resource-kubernetes",
    module: "github.com/pulumi/pulumi-kubernetes/provider/v4",
    package: "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes",
    // Installed as the plugin version the npm SDK asks for; see kubernetesPluginVersion.
    stamps: { "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version": "{plugin}" },
    displayVersion: (v) => `${v} (as plugin v${kubernetesPluginVersion()})`,
    prepare: (dir) => kubernetesProviderSource(dir),
  },
  {
    name: "envoy-validate",
    dir: "test/envoy-validate",
    module: "github.com/envoyproxy/go-control-plane/envoy",
    package: ".",
    ownSource: true,
  },
];

/** Prometheus 3.y.z is tagged v0.3yy.z in its Go module. */
export function prometheusVersion(moduleVersion: string): string {
  const match = /^v0\.(3)(\d\d)\.(\d+)$/.exec(moduleVersion);
  if (match === null) throw new Error(`not a Prometheus 3.x module version: ${moduleVersion}`);
  return `v${match[1]}.${Number(match[2])}.${match[3]}`;
}

export function component(name: string): GoComponent {
  const found = COMPONENTS.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no bench component named ${name}`);
  return found;
}

/** The version of `module` that the go.mod in `dir` requires. */
export function pinnedVersion(c: { readonly dir: string; readonly module: string }): string {
  const gomod = readFileSync(join(REPO_ROOT, c.dir, "go.mod"), "utf8");
  const escaped = c.module.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(gomod);
  if (match === null) throw new Error(`${c.dir}/go.mod requires no ${c.module}`);
  return match[1];
}

/** The version the component reports for itself (e.g. Prometheus v3.16.0 for v0.316.0). */
export function componentVersion(c: GoComponent): string {
  const pinned = pinnedVersion(c);
  return c.displayVersion?.(pinned) ?? pinned;
}

/** The `-X` linker flags for the component, with its version filled in. */
export function stampFlags(c: GoComponent): string[] {
  const version = pinnedVersion(c);
  const [major, minor] = version.replace(/^v/, "").split(".");
  const values: Record<string, string> = {
    version,
    bare: version.replace(/^v/, ""),
    display: componentVersion(c).replace(/^v/, ""),
    plugin:
      c.stamps !== undefined && JSON.stringify(c.stamps).includes("{plugin}")
        ? kubernetesPluginVersion()
        : "",
    major,
    minor,
  };
  return Object.entries(c.stamps ?? {}).map(
    ([key, template]) => `-X ${key}=${template.replace(/\{(\w+)\}/g, (_, k: string) => values[k])}`,
  );
}

/** Where built binaries live: `$THANOS_BRIDGE_CACHE`, else ~/.cache/thanos-bridge. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.THANOS_BRIDGE_CACHE;
  return configured !== undefined && configured !== ""
    ? configured
    : join(homedir(), ".cache", "thanos-bridge");
}

/**
 * The cache key of a build besides the component's name: its version, the Go version (the
 * component's own toolchain, if it names one), and a
 * hash of the build files (go.mod, go.sum and, for our own programs, every source), so that a
 * changed replace or source never reuses an old binary.
 */
export function cacheKey(c: GoComponent, goVersion: string): string {
  const hash = createHash("sha256");
  const dir = join(REPO_ROOT, c.dir);
  for (const file of readdirSync(dir).sort()) {
    if (file === "go.mod" || file === "go.sum" || (c.ownSource === true && file.endsWith(".go"))) {
      hash
        .update(file)
        .update("\0")
        .update(readFileSync(join(dir, file)))
        .update("\0");
    }
  }
  hash.update(JSON.stringify({ tags: c.tags ?? [], stamps: stampFlags(c) }));
  const go = c.toolchain ?? goVersion;
  return join(pinnedVersion(c), `${go}-${hash.digest("hex").slice(0, 12)}`);
}

/** The cached binary of a component built with `goVersion` (it may not exist yet). */
export function binaryPath(c: GoComponent, goVersion: string, root: string = cacheRoot()): string {
  return join(root, c.name, cacheKey(c, goVersion), c.name);
}

/** Files the bench takes from a Go module as they are (CRDs), pinned in test/real/build/go/crds/go.mod. */
export interface ModuleFiles {
  readonly name: string;
  readonly dir: string;
  readonly module: string;
  /** Paths inside the module. */
  readonly files: readonly string[];
}

export const MODULE_FILES: readonly ModuleFiles[] = [
  {
    name: "prometheus-operator-crds",
    dir: "test/real/build/go/crds",
    module: "github.com/prometheus-operator/prometheus-operator",
    files: [
      "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
      "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
    ],
  },
  {
    // The standard channel's CRDs, every one (the leaf uses Gateway, GRPCRoute and
    // ReferenceGrant); the directory's ValidatingAdmissionPolicy is not a CRD and stays out.
    name: "gateway-api-crds",
    dir: "test/real/build/go/crds",
    module: "sigs.k8s.io/gateway-api",
    files: [
      "config/crd/standard/gateway.networking.k8s.io_backendtlspolicies.yaml",
      "config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml",
      "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
      "config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml",
      "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
      "config/crd/standard/gateway.networking.k8s.io_listenersets.yaml",
      "config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml",
      "config/crd/standard/gateway.networking.k8s.io_tcproutes.yaml",
      "config/crd/standard/gateway.networking.k8s.io_tlsroutes.yaml",
      "config/crd/standard/gateway.networking.k8s.io_udproutes.yaml",
    ],
  },
  {
    name: "traefik-crds",
    dir: "test/real/build/go/crds",
    module: "github.com/traefik/traefik/v3",
    files: ["docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"],
  },
];

export function moduleFiles(name: string): ModuleFiles {
  const found = MODULE_FILES.find((m) => m.name === name);
  if (found === undefined) throw new Error(`no bench module files named ${name}`);
  return found;
}

/**
 * Where the module of `m` sits in the Go module cache, downloading it first unless `offline`
 * (tests are offline: a module that `real:build` did not fetch is an error naming the command).
 * Fails when a listed file is missing from the module.
 */
export function moduleDir(m: ModuleFiles, offline: boolean): string {
  let out: string;
  try {
    out = execFileSync("go", ["mod", "download", "-json", m.module], {
      cwd: join(REPO_ROOT, m.dir),
      env: { ...process.env, GOTOOLCHAIN: "local", ...(offline ? { GOPROXY: "off" } : {}) },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    const detail = (e as { stdout?: string; stderr?: string }).stdout ?? String(e);
    throw new Error(
      `${m.name}: ${m.module} ${pinnedVersion(m)} is not in the Go module cache` +
        `${offline ? " (run npm run real:build)" : ""}: ${detail.trim()}`,
    );
  }
  const dir = (JSON.parse(out) as { Dir: string }).Dir;
  for (const file of m.files) {
    if (!existsSync(join(dir, file))) {
      throw new Error(`${m.name}: ${m.module} ${pinnedVersion(m)} has no ${file}`);
    }
  }
  return dir;
}

/** The provider plugin version that a package in node_modules asks the engine for. */
export function pluginVersionOf(npmPackage: string): string {
  const json = JSON.parse(
    readFileSync(join(REPO_ROOT, "node_modules", npmPackage, "package.json"), "utf8"),
  ) as { version: string; pulumi?: { version?: string } };
  return json.pulumi?.version ?? json.version;
}

/** @pulumi/kubernetes's plugin version: the built provider is installed as this version. */
export function kubernetesPluginVersion(): string {
  return pluginVersionOf("@pulumi/kubernetes");
}

/**
 * The provider's module zip lacks the two files its main package embeds, which a release
 * generates (cmd/pulumi-resource-kubernetes/generate.go): the schema with its version set, and
 * the Terraform mapping. Copies the module into `dir`, writes them there (the schema's version
 * being the plugin version), and returns the `go build` flag that builds from that copy: a
 * go.mod beside it, the component's own plus a replace (Go refuses overlays of the module cache).
 */
export function kubernetesProviderSource(dir: string): string[] {
  const c = component("pulumi-resource-kubernetes");
  const own = join(REPO_ROOT, c.dir);
  const out = execFileSync("go", ["mod", "download", "-json", c.module], {
    cwd: own,
    env: { ...process.env, GOTOOLCHAIN: "local" },
    encoding: "utf8",
  });
  const copy = join(dir, "provider");
  cpSync((JSON.parse(out) as { Dir: string }).Dir, copy, { recursive: true });
  execFileSync("chmod", ["-R", "u+w", copy]);
  const cmd = join(copy, "cmd", "pulumi-resource-kubernetes");
  const schema = JSON.parse(readFileSync(join(cmd, "schema.json"), "utf8")) as object;
  writeFileSync(
    join(cmd, "schema-embed.json"),
    JSON.stringify({ ...schema, version: kubernetesPluginVersion() }),
  );
  cpSync(join(cmd, "terraform-mapping.json"), join(cmd, "terraform-mapping-embed.json"));
  const gomod = readFileSync(join(own, "go.mod"), "utf8");
  writeFileSync(join(dir, "go.mod"), `${gomod}\nreplace ${c.module} => ${copy}\n`);
  cpSync(join(own, "go.sum"), join(dir, "go.sum"));
  return [`-modfile=${join(dir, "go.mod")}`];
}
