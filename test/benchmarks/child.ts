// One benchmark case in its own process, so its peak memory is its own. Prints one JSON line.
// <path> is the observer's dataPath, envoy or thanos.
//   program <N> <path> <leaf.json>: the observer program on the mock runtime with N leaves
//   floor <N> <path>: a bare program registering as many trivial resources as the observer would
//   types <N> <path>: the observer's resource types (StackReference, Secret, …) with fixed inputs
//              and no logic: what the SDK costs for those types, whatever the program does
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { readFileSync } from "node:fs";
import {
  BRIDGE_OUTPUT,
  CLIENT_KEY_OUTPUT,
  LeafBridgeOutput,
} from "../../components/common/contract";
import { objectDataBytes } from "../../components/observer/querier/pod";
import { LEAF_SHARDS } from "../../components/observer/thanos/endpoints";
import { runStack } from "../../stacks";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

interface Leaf {
  bridge: LeafBridgeOutput;
  clientKey: string;
}

class Trivial extends pulumi.CustomResource {
  constructor(name: string) {
    super("bench:index:Trivial", name, {});
  }
}

const stackName = (i: number) => `acme/thanos-bridge/leaf-${String(i).padStart(4, "0")}`;

/** A value as the provider sees it: the mock runtime passes secrets wrapped. */
function unwrap(value: unknown): unknown {
  const v = value as Record<string, unknown> | null;
  if (typeof v === "object" && v !== null && v[specialSigKey] === specialSecretSig) {
    return unwrap(v.value);
  }
  return value;
}

/** Resources the observer declares besides those per leaf: per leaf, and fixed. */
function resourceCounts(dataPath: string): { perLeaf: number; fixed: number } {
  // envoy: a StackReference and a Secret per leaf; component, provider, ConfigMap,
  // ServiceAccount, Deployment, Service, NetworkPolicy, PDB. thanos: a StackReference per
  // leaf; the same 8 and the credential shards.
  return dataPath === "thanos" ? { perLeaf: 1, fixed: 8 + LEAF_SHARDS } : { perLeaf: 2, fixed: 8 };
}

/** Mocks that answer every registration with its inputs, and StackReferences with N leaves. */
class BenchMocks implements pulumi.runtime.Mocks {
  registered = 0;
  /** Bytes of the ConfigMap's data (keys and values): what its object limit counts. */
  configBytes = 0;
  /** Bytes of every Secret's data together. */
  secretBytes = 0;
  constructor(private readonly leaf: Leaf | undefined) {}
  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    this.registered++;
    const inputs = args.inputs as Record<string, unknown>;
    if (args.type === "pulumi:pulumi:StackReference" && this.leaf !== undefined) {
      const i = Number(String(inputs.name).slice(-4));
      const cluster = `leaf-${String(i).padStart(4, "0")}`;
      const host = `thanos.${cluster}.example.com`;
      const bridge = { ...this.leaf.bridge, cluster, endpoint: `${host}:443`, serverName: host };
      return {
        id: args.name,
        state: {
          name: inputs.name,
          outputs: { [BRIDGE_OUTPUT]: bridge, [CLIENT_KEY_OUTPUT]: this.leaf.clientKey },
          secretOutputNames: [CLIENT_KEY_OUTPUT],
        },
      };
    }
    if (args.type === "kubernetes:core/v1:ConfigMap") {
      this.configBytes = objectDataBytes(unwrap(inputs.data) as Record<string, string>);
    }
    if (args.type === "kubernetes:core/v1:Secret") {
      this.secretBytes += objectDataBytes(
        (unwrap(inputs.stringData) ?? {}) as Record<string, string>,
      );
    }
    return { id: `${args.name}-id`, state: inputs };
  }
  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    throw new Error(`unexpected call ${args.token}`);
  }
}

/** Resolves once `done()` is true, checking every few milliseconds. */
function until(done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (done()) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
}

async function main(): Promise<void> {
  const [mode, nText, dataPath, leafFile] = process.argv.slice(2);
  const n = Number(nText);
  const counts = resourceCounts(dataPath);
  // A refused program (too many leaves for one ConfigMap or Secret) rejects the object's data;
  // any other failure is a bug, and fails the case.
  let refused: string | undefined;
  process.on("unhandledRejection", (e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    if (!/more than one (ConfigMap|Secret) holds/.test(message)) {
      console.error(e);
      process.exit(1);
    }
    // Drop the SDK's "error serializing property …" prefixes.
    refused ??= message.slice(message.search(/\d+ leaves need|Secret \S+ would hold/));
  });
  const leaf =
    mode === "program" ? (JSON.parse(readFileSync(leafFile, "utf8")) as Leaf) : undefined;
  const mocks = new BenchMocks(leaf);
  await pulumi.runtime.setMocks(mocks, "thanos-bridge", "observer", false);
  const start = process.hrtime.bigint();
  if (mode === "program") {
    const leaves = Array.from({ length: n }, (_, i) => stackName(i));
    runStack(
      {
        "thanos-bridge:role": "observer",
        "thanos-bridge:leaves": JSON.stringify(leaves),
        ...(dataPath === "thanos" ? { "thanos-bridge:dataPath": "thanos" } : {}),
      },
      "observer",
    );
  } else if (mode === "types") {
    const provider = new k8s.Provider("p", {});
    const opts = { provider };
    // A Secret per leaf (envoy), or the fixed shards (thanos).
    const secrets = dataPath === "thanos" ? LEAF_SHARDS : n;
    for (let i = 0; i < n; i++) {
      new pulumi.StackReference(stackName(i), { name: stackName(i) });
    }
    for (let i = 0; i < secrets; i++) {
      new k8s.core.v1.Secret(
        `s-${i}`,
        { metadata: { name: `s-${i}` }, stringData: { a: "b" } },
        opts,
      );
    }
    new k8s.core.v1.ConfigMap("c", { metadata: { name: "c" }, data: { a: "b" } }, opts);
    new k8s.core.v1.ServiceAccount("sa", { metadata: { name: "sa" } }, opts);
    new k8s.core.v1.Service("svc", { metadata: { name: "svc" } }, opts);
    new k8s.apps.v1.Deployment(
      "d",
      { metadata: { name: "d" }, spec: { selector: {}, template: {} } },
      opts,
    );
    new k8s.policy.v1.PodDisruptionBudget("pdb", { metadata: { name: "pdb" } }, opts);
    new k8s.networking.v1.NetworkPolicy(
      "np",
      { metadata: { name: "np" }, spec: { podSelector: {} } },
      opts,
    );
    new Trivial("component");
  } else {
    for (let i = 0; i < counts.perLeaf * n + counts.fixed; i++) new Trivial(`r-${i}`);
  }
  await Promise.race([settings.waitForRPCs(), until(() => refused !== undefined)]);
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(
    JSON.stringify({
      wallMs,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      resources: mocks.registered,
      configBytes: mocks.configBytes,
      secretBytes: mocks.secretBytes,
      refused,
    }) + "\n",
  );
  // Refused programs leave registrations pending; the process ends here either way.
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
