import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { LeafBridgeOutput } from "../../components/contract";
import { RawConfig } from "../../stacks/config";
import { runStack } from "../../stacks";
import { LeafStackOutputs } from "../../stacks/leaf";
import { FakeTls } from "./fake-tls";
import { RecordingMocks, promiseOf, runOnMocks } from "./mocks";

export function leafRawConfig(values: Record<string, string>): RawConfig {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`thanos-bridge:${k}`, v]));
}

export const LEAF_A = {
  role: "leaf",
  hostname: "thanos.leaf-a.example.com",
  kubeContext: "leaf-a",
};
export const LEAF_B = {
  role: "leaf",
  hostname: "thanos.leaf-b.example.net",
  kubeContext: "leaf-b",
  namespace: "observability",
};

/** The config of a shipped stack file (`Pulumi.leaf-b.yaml`), as runLeaf takes it. */
export function shippedLeafConfig(file: string): Record<string, string> {
  const doc = parse(readFileSync(join(__dirname, "..", "..", file), "utf8")) as {
    config: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(doc.config).map(([k, v]) => [
      k.replace(/^thanos-bridge:/, ""),
      typeof v === "string" ? v : JSON.stringify(v),
    ]),
  );
}

export interface LeafRun {
  readonly mocks: RecordingMocks;
  readonly outputs: LeafStackOutputs;
  readonly bridge: LeafBridgeOutput;
  readonly clientKey: string;
  readonly bridgeIsSecret: boolean;
  readonly clientKeyIsSecret: boolean;
}

/** Runs the program's entry (`runStack`) for one leaf on the mock runtime and resolves its outputs. */
export async function runLeaf(
  values: Record<string, string>,
  stack: string,
  tls: FakeTls = new FakeTls(),
): Promise<LeafRun> {
  const { mocks, result } = await runOnMocks(
    () => runStack(leafRawConfig(values), stack) as LeafStackOutputs,
    { stack, tls },
  );
  return {
    mocks,
    outputs: result,
    bridge: await promiseOf(result.bridge),
    clientKey: await promiseOf(result.bridgeClientKey),
    bridgeIsSecret: await pulumi.isSecret(result.bridge),
    clientKeyIsSecret: await pulumi.isSecret(result.bridgeClientKey),
  };
}
