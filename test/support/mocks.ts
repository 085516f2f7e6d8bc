// Pulumi mock runtime for tests: records every resource's inputs, answers tls resources with real
// PEM material (FakeTls), and throws on any provider function call, so an unexpected call fails
// loudly instead of returning made-up data.

import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { FakeTls } from "./fake-tls";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs as registered; secret values keep their secret wrapper (see `isSecretValue`). */
  readonly inputs: Record<string, unknown>;
  /** Provider reference (`urn::id`) the resource was registered with, if any. */
  readonly provider?: string;
}

const KNOWN_TYPE =
  /^(thanos-bridge:[a-z]+:[A-Za-z]+|pulumi:providers:kubernetes|kubernetes:[a-z0-9.]*\/v1:[A-Za-z]+|tls:index\/[a-zA-Z]+:[A-Za-z]+)$/;

/** True for a value the mock runtime passed as a secret (`{ <sigKey>: <secretSig>, value }`). */
export function isSecretValue(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[specialSigKey] === specialSecretSig
  );
}

/** The inputs with every secret wrapper removed, as the provider would see them. */
export function unwrapSecrets(value: unknown): unknown {
  if (isSecretValue(value)) return unwrapSecrets(value.value);
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];

  constructor(private readonly tls: FakeTls = new FakeTls()) {}

  /** Errors thrown while answering registrations; the mock runtime would otherwise hang on them. */
  readonly errors: Error[] = [];

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    try {
      return this.register(args);
    } catch (e) {
      this.errors.push(e as Error);
      throw e;
    }
  }

  private register(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const inputs = args.inputs as Record<string, unknown>;
    if (!KNOWN_TYPE.test(args.type)) {
      throw new Error(`unexpected resource type ${args.type} (${args.name})`);
    }
    this.resources.push({
      type: args.type,
      name: args.name,
      inputs,
      ...(args.provider !== undefined && args.provider !== "" ? { provider: args.provider } : {}),
    });
    const state = this.tls.handles(args.type)
      ? this.tls.create(args.type, args.name, unwrapSecrets(inputs) as Record<string, unknown>)
      : inputs;
    return { id: `${args.name}-id`, state };
  }

  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    throw new Error(`unexpected provider function call ${args.token}`);
  }

  ofType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  one(type: string): RecordedResource {
    const found = this.ofType(type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
  }

  named(name: string): RecordedResource {
    const found = this.resources.filter((r) => r.name === name);
    if (found.length !== 1)
      throw new Error(`expected one resource named ${name}, found ${found.length}`);
    return found[0];
  }
}

export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

// Waits until every registration the program started has been answered. Internal to the SDK
// (runtime/settings), but exported at run time; the mock runtime has no other drain signal.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

export interface ProgramRun<T> {
  readonly mocks: RecordingMocks;
  readonly result: T;
}

/**
 * Runs `program` on a fresh mock runtime (project thanos-bridge, the given stack and config) and
 * waits for all its registrations. Pass the same FakeTls to two runs to model an unchanged state.
 */
export async function runOnMocks<T>(
  program: () => T,
  options: { stack: string; config?: Record<string, string>; tls?: FakeTls },
): Promise<ProgramRun<T>> {
  const mocks = new RecordingMocks(options.tls);
  await pulumi.runtime.setMocks(mocks, "thanos-bridge", options.stack, false);
  pulumi.runtime.setAllConfig(options.config ?? {});
  const result = program();
  // A registration the mocks refused never completes, so fail on the first error rather than wait.
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (mocks.errors.length > 0) reject(mocks.errors[0]);
    }, 20);
  });
  try {
    await Promise.race([settings.waitForRPCs(), failed]);
  } finally {
    clearInterval(timer);
  }
  if (mocks.errors.length > 0) throw mocks.errors[0];
  return { mocks, result };
}
