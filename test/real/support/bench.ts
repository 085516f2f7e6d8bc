// What the real bench runs: each component is either real (built from its pinned Go module by
// `npm run real:build`) or a named stand-in. `benchLines` is printed at the start of every
// `npm run test:real`, and the README's "Test bench" section is the same list (a test checks).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { binaryPath, component, componentVersion } from "../build/components";

export type BenchEntry =
  | { readonly kind: "real"; readonly name: string }
  | {
      readonly kind: "stand-in";
      readonly name: string;
      /** What takes its place; `{version}` is the version of `component`. */
      readonly standsIn: string;
      /** A bench component the stand-in runs, if any. */
      readonly component?: string;
    };

/** What `npm run test:real` uses, in the order it is printed. */
export const BENCH: readonly BenchEntry[] = [
  { kind: "real", name: "etcd" },
  { kind: "real", name: "kube-apiserver" },
  { kind: "real", name: "kube-controller-manager" },
  { kind: "real", name: "thanos" },
  { kind: "real", name: "prometheus" },
  { kind: "real", name: "traefik" },
  { kind: "real", name: "pulumi" },
  { kind: "real", name: "pulumi-resource-kubernetes" },
  {
    kind: "stand-in",
    name: "envoy",
    standsIn:
      "no Envoy runs; envoy-validate checks its config with Envoy's Go API " +
      "(go-control-plane/envoy {version}), and Debian nginx translated from envoy.yaml " +
      "carries the data path",
    component: "envoy-validate",
  },
  {
    kind: "stand-in",
    name: "ingress-nginx",
    standsIn: "Debian nginx rendered from each leaf's Ingress and Secrets",
  },
  {
    kind: "stand-in",
    name: "pulumi-language-nodejs",
    standsIn:
      "test/pulumi-language-nodejs (the host's module is not served): runs @pulumi/pulumi's " +
      "cmd/run as the real host does, with no resource monitor proxy",
    component: "pulumi-language-nodejs",
  },
  {
    kind: "stand-in",
    name: "pulumi-tls",
    standsIn:
      "a plugin over FakeTls (node:crypto keys, Debian openssl certificates) under " +
      "@pulumi/tls's tokens, served by the SDK's provider server",
  },
  {
    kind: "stand-in",
    name: "pulumiverse-time",
    standsIn: "a plugin for Rotating, its clock THANOS_BRIDGE_TEST_NOW when a test sets it",
  },
  {
    kind: "stand-in",
    name: "pulumi engine (admission and data-path tests)",
    standsIn:
      "the @pulumi/pulumi mock runtime declares the objects they apply; " +
      "test/real/pulumi.test.ts runs the real engine",
  },
];

let goVersionCache: string | undefined;

function goVersion(): string {
  goVersionCache ??= execFileSync("go", ["env", "GOVERSION"], {
    env: { ...process.env, GOTOOLCHAIN: "local" },
    encoding: "utf8",
  }).trim();
  return goVersionCache;
}

/** The cached binary of a bench component; fails, naming the command, when it is not built. */
export function realBinary(name: string): string {
  const path = binaryPath(component(name), goVersion());
  if (!existsSync(path)) {
    throw new Error(`${name} is not built (${path} is missing): run npm run real:build`);
  }
  return path;
}

/** One line per entry: `real <name> <version>` or `stand-in <name>: <what stands in>`. */
export function benchLines(entries: readonly BenchEntry[] = BENCH): string[] {
  return entries.map((e) =>
    e.kind === "real"
      ? `real ${e.name} ${componentVersion(component(e.name))}`
      : `stand-in ${e.name}: ${e.standsIn.replace(
          "{version}",
          e.component !== undefined ? componentVersion(component(e.component)) : "",
        )}`,
  );
}

/** Every bench component a `test:real` run needs built. */
export function requiredBinaries(entries: readonly BenchEntry[] = BENCH): string[] {
  return entries.flatMap((e) =>
    e.kind === "real" ? [e.name] : e.component !== undefined ? [e.component] : [],
  );
}
