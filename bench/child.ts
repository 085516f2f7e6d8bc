// One benchmark case in its own process, so its peak memory is its own. Prints one JSON line.
//   program <N> <leaf.json>: the observer program on the mock runtime with N leaves
//   floor <N>: a bare program registering as many trivial resources as the observer would
//   types <N>: the observer's resource types (StackReference, Secret, …) with fixed inputs and
//              no logic: what the SDK costs for those types, whatever the program does
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { BRIDGE_OUTPUT, CLIENT_KEY_OUTPUT, LeafBridgeOutput } from "../components/contract";
import { runStack } from "../stacks";

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

/** Mocks that answer every registration with its inputs, and StackReferences with N leaves. */
class BenchMocks implements pulumi.runtime.Mocks {
  registered = 0;
  envoyBytes = 0;
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
      const data = (args.inputs as { data: Record<string, string> }).data;
      this.envoyBytes = Buffer.byteLength(data["envoy.yaml"]);
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
  const [mode, nText, leafFile] = process.argv.slice(2);
  const n = Number(nText);
  // A refused program (too many leaves for one ConfigMap) rejects the ConfigMap's data; any
  // other failure is a bug, and fails the case.
  let refused: string | undefined;
  process.on("unhandledRejection", (e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    if (!message.includes("more than one ConfigMap holds")) {
      console.error(e);
      process.exit(1);
    }
    // Drop the SDK's "error serializing property …" prefixes.
    refused ??= message.slice(message.search(/\d+ leaves need/));
  });
  const leaf =
    mode === "program" ? (JSON.parse(readFileSync(leafFile, "utf8")) as Leaf) : undefined;
  const mocks = new BenchMocks(leaf);
  await pulumi.runtime.setMocks(mocks, "thanos-bridge", "observer", false);
  const start = process.hrtime.bigint();
  if (mode === "program") {
    const leaves = Array.from({ length: n }, (_, i) => stackName(i));
    runStack(
      { "thanos-bridge:role": "observer", "thanos-bridge:leaves": JSON.stringify(leaves) },
      "observer",
    );
  } else if (mode === "types") {
    const provider = new k8s.Provider("p", {});
    const opts = { provider };
    for (let i = 0; i < n; i++) {
      new pulumi.StackReference(stackName(i), { name: stackName(i) });
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
    // The observer registers per leaf a StackReference and a Secret, plus 8 fixed resources
    // (component, provider, ConfigMap, ServiceAccount, Deployment, Service, NetworkPolicy, PDB).
    for (let i = 0; i < 2 * n + 8; i++) new Trivial(`r-${i}`);
  }
  await Promise.race([settings.waitForRPCs(), until(() => refused !== undefined)]);
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(
    JSON.stringify({
      wallMs,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      resources: mocks.registered,
      envoyBytes: mocks.envoyBytes,
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
