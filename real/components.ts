// The real components of the test bench: what each one is built from and where its binary is
// cached. Pins live in one place, each component's go.mod (its `require` line); nothing here
// repeats a version. See docs/ARCHITECTURE.md, "Test bench".
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const REPO_ROOT = join(__dirname, "..");

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
}

const K8S_VERSION = "k8s.io/component-base/version";

export const COMPONENTS: readonly GoComponent[] = [
  {
    name: "etcd",
    dir: "real/go/etcd",
    module: "go.etcd.io/etcd/server/v3",
    package: "go.etcd.io/etcd/server/v3",
    stamps: { "go.etcd.io/etcd/api/v3/version.GitSHA": "module-{version}" },
  },
  {
    name: "kube-apiserver",
    dir: "real/go/kube-apiserver",
    module: "k8s.io/kubernetes",
    package: "k8s.io/kubernetes/cmd/kube-apiserver",
    stamps: {
      [`${K8S_VERSION}.gitVersion`]: "{version}",
      [`${K8S_VERSION}.gitMajor`]: "{major}",
      [`${K8S_VERSION}.gitMinor`]: "{minor}",
      [`${K8S_VERSION}.gitTreeState`]: "clean",
    },
  },
  {
    name: "thanos",
    dir: "real/go/thanos",
    module: "github.com/thanos-io/thanos",
    package: "github.com/thanos-io/thanos/cmd/thanos",
    // As Thanos's .promu.yml builds its releases.
    tags: ["netgo", "slicelabels"],
    stamps: {
      "github.com/prometheus/common/version.Version": "{bare}",
      "github.com/prometheus/common/version.Branch": "module",
    },
  },
  {
    name: "prometheus",
    dir: "real/go/prometheus",
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
    dir: "real/go/traefik",
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
 * The cache key of a build besides the component's name: its version, the Go version, and a
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
  return join(pinnedVersion(c), `${goVersion}-${hash.digest("hex").slice(0, 12)}`);
}

/** The cached binary of a component built with `goVersion` (it may not exist yet). */
export function binaryPath(c: GoComponent, goVersion: string, root: string = cacheRoot()): string {
  return join(root, c.name, cacheKey(c, goVersion), c.name);
}

/** Files the bench takes from a Go module as they are (CRDs), pinned in real/go/crds/go.mod. */
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
    dir: "real/go/crds",
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
    dir: "real/go/crds",
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
    dir: "real/go/crds",
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
