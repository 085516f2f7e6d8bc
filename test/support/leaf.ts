import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { CertificateLifetime, caGenerationHours } from "../../components/leaf/pki/certspecs";
import { LeafBridgeOutput } from "../../components/common/contract";
import { RawConfig } from "../../stacks/config";
import { CONFIG_SCHEMA } from "../../stacks/keys";
import { runStack } from "../../stacks";
import { LeafStackOutputs } from "../../stacks/leaf";
import {
  FakeState,
  RecordingMocks,
  isSecretValue,
  promiseOf,
  runOnMocks,
  unwrapSecrets,
} from "./mocks";

/** The CA lifetime of a leaf that leaves the defaults alone. */
export const DEFAULT_CA = {
  validityHours: CONFIG_SCHEMA.caValidityHours.default,
  renewBeforeHours: CONFIG_SCHEMA.caRenewBeforeHours.default,
};

const DAY_MS = 24 * 3_600_000;

/**
 * When CA generation `generation` starts: generations are counted from the Unix epoch, the same
 * everywhere (see `caSchedule`).
 */
export function caGenerationStart(ca: CertificateLifetime, generation: number): Date {
  return new Date(generation * caGenerationHours(ca) * 3_600_000);
}

/** A time `days` into CA generation `generation` of the default schedule. */
export function intoGeneration(generation: number, days: number): Date {
  return new Date(caGenerationStart(DEFAULT_CA, generation).getTime() + days * DAY_MS);
}

/**
 * The clock of test runs unless a test sets one: 400 days into generation 15 (2031), when the
 * default schedule has one CA (its change ends 365 days into a generation).
 */
export const STEADY_NOW = intoGeneration(15, 400);

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

/**
 * The config of a shipped stack file (`Pulumi.leaf-b.yaml`), as runLeaf takes it, without its
 * renderDir: the objects a cluster would get (where they go is the run's business).
 */
export function shippedLeafConfig(file: string): Record<string, string> {
  const doc = parse(readFileSync(join(__dirname, "..", "..", file), "utf8")) as {
    config: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(doc.config)
      .filter(([k]) => k !== "thanos-bridge:renderDir")
      .map(([k, v]) => [
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

/**
 * Runs the program's entry (`runStack`) for one leaf on the mock runtime at `now` and resolves
 * its outputs. Pass the same FakeState to several runs to model one stack over time.
 */
export async function runLeaf(
  values: Record<string, string>,
  stack: string,
  state: FakeState = new FakeState(),
  now: Date = STEADY_NOW,
): Promise<LeafRun> {
  const { mocks, result } = await runOnMocks(
    () => runStack(leafRawConfig(values), stack, now) as LeafStackOutputs,
    { stack, state, now },
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

/** Every string inside a value, with its path and whether it sits under a secret wrapper. */
export function stringsIn(
  value: unknown,
  secret = false,
  path = "",
): { path: string; text: string; secret: boolean }[] {
  if (isSecretValue(value)) return stringsIn(value.value, true, path);
  if (typeof value === "string") return [{ path, text: value, secret }];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringsIn(v, secret, `${path}[${i}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => stringsIn(v, secret, `${path}.${k}`));
  }
  return [];
}

/**
 * Invariant 1 of docs/ARCHITECTURE.md for one run: every private key the run declares sits in a
 * Kubernetes Secret, marked secret (tls provider inputs aside: Pulumi keeps those secret in
 * state), and none is in any object's metadata. Returns how many it saw, so a caller can insist
 * the scan looked at the right inputs.
 */
export function assertKeysOnlyInSecrets(mocks: RecordingMocks): number {
  let seen = 0;
  for (const r of mocks.resources) {
    for (const s of stringsIn(r.inputs).filter((x) => x.text.includes("PRIVATE KEY"))) {
      seen++;
      if (r.type.startsWith("tls:")) continue;
      assert.equal(
        r.type,
        "kubernetes:core/v1:Secret",
        `private key in ${r.type} ${r.name}${s.path}`,
      );
      assert.ok(s.secret, `private key in ${r.name}${s.path} is not marked secret`);
    }
    const metadata = stringsIn((unwrapSecrets(r.inputs) as Record<string, unknown>).metadata);
    assert.ok(
      metadata.every((x) => !x.text.includes("PRIVATE KEY")),
      `private key in metadata of ${r.name}`,
    );
  }
  return seen;
}

/** A run's resources as registered (inputs in their key order), sorted by name and type. */
export function dumpResources(run: { readonly mocks: RecordingMocks }): string {
  return [...run.mocks.resources]
    .sort((x, y) => (x.name + x.type < y.name + y.type ? -1 : 1))
    .map((r) => JSON.stringify(r))
    .join("\n");
}
