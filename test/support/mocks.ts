// Pulumi mock runtime for tests: records every resource's inputs, answers tls resources with real
// PEM material (FakeTls), and throws on any provider function call, so an unexpected call fails
// loudly instead of returning made-up data.

import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { FakeTls, TLS_TYPES } from "./fake-tls";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs as registered; secret values keep their secret wrapper (see `isSecretValue`). */
  readonly inputs: Record<string, unknown>;
  /** Provider reference (`urn::id`) the resource was registered with, if any. */
  readonly provider?: string;
  /** The `replacementTrigger` resource option as sent to the engine, if set. */
  readonly replacementTrigger?: unknown;
  /**
   * Names of the resources it depends on, as the engine receives them (`dependsOn` and the
   * resources its inputs come from): the engine creates and updates those first.
   */
  readonly dependsOn: readonly string[];
}

const ROTATING = "time:index/rotating:Rotating";
const HOUR_MS = 3_600_000;

/**
 * State kept between mock runs, the way a Pulumi stack keeps it: the tls resources (FakeTls,
 * cached by name and inputs, and by replacement trigger) and the rotation clocks. A clock keeps
 * its time until its inputs change or its rotation time has passed at the run's `now`, as
 * `@pulumiverse/time` Rotating does; then it is created anew at `now`.
 */
export class FakeState {
  private readonly clocks = new Map<
    string,
    { inputs: string; rfc3339: string; rotation: string }
  >();

  constructor(readonly tls: FakeTls = new FakeTls()) {}

  clock(name: string, inputs: Record<string, unknown>, now: Date): Record<string, unknown> {
    const key = JSON.stringify(inputs);
    let clock = this.clocks.get(name);
    if (
      clock === undefined ||
      clock.inputs !== key ||
      Date.parse(clock.rotation) <= now.getTime()
    ) {
      const hours = Number(inputs.rotationHours);
      clock = {
        inputs: key,
        rfc3339: now.toISOString(),
        rotation: new Date(now.getTime() + hours * HOUR_MS).toISOString(),
      };
      this.clocks.set(name, clock);
    }
    return { ...inputs, rfc3339: clock.rfc3339, rotationRfc3339: clock.rotation };
  }
}

/** Every resource type the program may declare; anything else fails the run. */
export const KNOWN_TYPES: readonly string[] = [
  "thanos-bridge:leaf:Pki",
  "thanos-bridge:leaf:Exposure",
  "thanos-bridge:observer:Observer",
  "pulumi:providers:kubernetes",
  "pulumi:pulumi:StackReference",
  "kubernetes:core/v1:Namespace",
  "kubernetes:core/v1:Secret",
  "kubernetes:core/v1:ConfigMap",
  "kubernetes:core/v1:Service",
  "kubernetes:core/v1:ServiceAccount",
  "kubernetes:apps/v1:Deployment",
  "kubernetes:policy/v1:PodDisruptionBudget",
  "kubernetes:networking.k8s.io/v1:Ingress",
  "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  "kubernetes:monitoring.coreos.com/v1:PodMonitor",
  "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
  "kubernetes:gateway.networking.k8s.io/v1:Gateway",
  "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute",
  "kubernetes:gateway.networking.k8s.io/v1:ReferenceGrant",
  "kubernetes:traefik.io/v1alpha1:IngressRoute",
  "kubernetes:traefik.io/v1alpha1:TLSOption",
  ROTATING,
  ...TLS_TYPES,
];

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

/** What a StackReference to a stack sees: its outputs, and which of them are secret. */
export interface StackOutputs {
  readonly outputs: Record<string, unknown>;
  readonly secretOutputNames?: readonly string[];
}

export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  /** Replacement triggers by resource name, as the monitor received them (see `runOnMocks`). */
  readonly triggers = new Map<string, unknown>();
  /** Dependencies (resource names) by resource name, as the monitor received them. */
  readonly dependencies = new Map<string, readonly string[]>();

  constructor(
    private readonly state: FakeState = new FakeState(),
    /** Stacks a StackReference can read, by fully qualified name; any other has no outputs. */
    private readonly stacks: Readonly<Record<string, StackOutputs>> = {},
    /** The run's clock, for the rotation clocks. */
    private readonly now: Date = new Date(),
  ) {}

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
    if (!KNOWN_TYPES.includes(args.type)) {
      throw new Error(`unexpected resource type ${args.type} (${args.name})`);
    }
    const trigger = this.triggers.get(args.name);
    this.resources.push({
      type: args.type,
      name: args.name,
      inputs,
      ...(args.provider !== undefined && args.provider !== "" ? { provider: args.provider } : {}),
      ...(trigger !== undefined ? { replacementTrigger: trigger } : {}),
      dependsOn: this.dependencies.get(args.name) ?? [],
    });
    let state: Record<string, unknown> = inputs;
    if (this.state.tls.handles(args.type)) {
      // A changed trigger replaces the resource: new key material, as the engine would do.
      const plain = unwrapSecrets(inputs) as Record<string, unknown>;
      state = this.state.tls.create(
        args.type,
        args.name,
        trigger === undefined ? plain : { ...plain, replacementTrigger: trigger },
      );
    } else if (args.type === ROTATING) {
      state = this.state.clock(args.name, inputs, this.now);
    } else if (args.type === "pulumi:pulumi:StackReference") {
      const stack = this.stacks[String(inputs.name)];
      state = {
        name: inputs.name,
        outputs: stack?.outputs ?? {},
        secretOutputNames: [...(stack?.secretOutputNames ?? [])],
      };
    }
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

// eslint-disable-next-line @typescript-eslint/no-require-imports
const state = require("@pulumi/pulumi/runtime/state") as {
  getStore(): { leakCandidates: Set<unknown> };
};

/**
 * Forgets registrations that can never finish. A run whose outputs fail on purpose leaves them
 * pending, and Pulumi's leak check would report them when the test process exits.
 */
export function forgetPendingRegistrations(): void {
  state.getStore().leakCandidates = new Set();
}

export interface ProgramRun<T> {
  readonly mocks: RecordingMocks;
  readonly result: T;
}

/** The part of the SDK's mock monitor that sees each registration request whole. */
interface MonitorWithRequests {
  registerResource(
    req: {
      getName(): string;
      getReplacementTrigger(): { toJavaScript(): unknown } | undefined;
      getDependenciesList(): string[];
    },
    callback: unknown,
  ): unknown;
}

/**
 * Runs `program` on a fresh mock runtime (project thanos-bridge, the given stack and config) and
 * waits for all its registrations. Pass the same FakeState to two runs to model a stack's state
 * across runs.
 */
export async function runOnMocks<T>(
  program: () => T,
  options: {
    stack: string;
    config?: Record<string, string>;
    state?: FakeState;
    stacks?: Readonly<Record<string, StackOutputs>>;
    /** The run's clock for rotation clocks (default: the real time). */
    now?: Date;
    /** Wait for every registration (default). A program whose outputs fail never drains. */
    drain?: boolean;
  },
): Promise<ProgramRun<T>> {
  const mocks = new RecordingMocks(options.state, options.stacks, options.now);
  await pulumi.runtime.setMocks(mocks, "thanos-bridge", options.stack, false);
  // MockResourceArgs omits resource options; the request itself carries the replacement trigger
  // exactly as the SDK serialised it for the engine, so record it before the mocks see the call.
  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorWithRequests;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const trigger = req.getReplacementTrigger();
    if (trigger !== undefined) mocks.triggers.set(req.getName(), trigger.toJavaScript());
    // A URN ends in `::<name>`; resource names here never contain "::".
    const dependsOn = req.getDependenciesList().map((urn) => urn.slice(urn.lastIndexOf("::") + 2));
    mocks.dependencies.set(req.getName(), [...new Set(dependsOn)].sort());
    return register(req, callback);
  };
  pulumi.runtime.setAllConfig(options.config ?? {});
  const result = program();
  if (options.drain === false) return { mocks, result };
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
