// A fake of the ops commands' narrow interface (StackOps) and of the CLI locator. It records
// every call in order, counts operations in flight, advances a virtual clock, and can hold an
// operation until another event has happened, so tests assert order and bounds without timing.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CliLocator, FoundCli } from "../../ops/cli";
import type { CommandEnv } from "../../ops/command";
import type { Io } from "../../ops/run";
import type { OnLine, OperationOptions, StackOps, WorkspaceSettings } from "../../ops/workspace";

export interface FakeOptions {
  /** Outputs by stack. A stack without an entry has no outputs. */
  readonly outputs?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Config values by stack, then full key, as the CLI returns their text. */
  readonly config?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Stacks whose operation fails, with the error message. */
  readonly failures?: Readonly<Record<string, string>>;
  /** Output lines each stack's operation prints. */
  readonly lines?: Readonly<Record<string, readonly string[]>>;
  /** Virtual milliseconds an operation takes (default 1000). */
  readonly durations?: Readonly<Record<string, number>>;
}

export interface Call {
  readonly op: "preview" | "up" | "destroy";
  readonly stack: string;
  readonly refresh?: boolean;
}

/** Lets the event loop run other ready work, without any timer. */
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FakeStackOps implements StackOps {
  /** `start up leaf-a`, `end up leaf-a`, `fail up leaf-b`, in the order they happened. */
  readonly events: string[] = [];
  readonly calls: Call[] = [];
  readonly configReads: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Virtual time in milliseconds. */
  time = 0;
  private readonly held = new Map<string, string>();

  constructor(
    private readonly options: FakeOptions = {},
    readonly settings?: WorkspaceSettings,
  ) {}

  /** Keeps the stack's operations in flight until `event` (e.g. `fail up leaf-b`) has happened. */
  holdUntil(stack: string, event: string): void {
    this.held.set(stack, event);
  }

  preview(stack: string, options: OperationOptions): Promise<void> {
    return this.operate("preview", stack, options.onLine, options.refresh);
  }

  up(stack: string, options: OperationOptions): Promise<void> {
    return this.operate("up", stack, options.onLine, options.refresh);
  }

  destroy(stack: string, onLine: OnLine): Promise<void> {
    return this.operate("destroy", stack, onLine, undefined);
  }

  outputs(stack: string): Promise<Readonly<Record<string, unknown>>> {
    return Promise.resolve(this.options.outputs?.[stack] ?? {});
  }

  getConfig(stack: string, key: string): Promise<string | undefined> {
    this.configReads.push(`${stack} ${key}`);
    return Promise.resolve(this.options.config?.[stack]?.[key]);
  }

  private async operate(
    op: Call["op"],
    stack: string,
    onLine: OnLine,
    refresh: boolean | undefined,
  ): Promise<void> {
    this.calls.push({ op, stack, ...(refresh !== undefined ? { refresh } : {}) });
    this.events.push(`start ${op} ${stack}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      for (const line of this.options.lines?.[stack] ?? []) onLine(line);
      // Give every other ready operation the chance to start before this one ends.
      await yieldTurn();
      const until = this.held.get(stack);
      while (until !== undefined && !this.events.includes(until)) await yieldTurn();
      this.time += this.options.durations?.[stack] ?? 1000;
      const failure = this.options.failures?.[stack];
      if (failure !== undefined) {
        this.events.push(`fail ${op} ${stack}`);
        throw new Error(failure);
      }
      this.events.push(`end ${op} ${stack}`);
    } finally {
      this.inFlight--;
    }
  }
}

export interface FakeCli extends FoundCli {
  readonly origin: "path" | "installed";
}

/**
 * A CLI locator: `onPath` is the version on PATH (undefined: none); `install` is the version an
 * install yields, or the Error it fails with.
 */
export class FakeLocator implements CliLocator<FakeCli> {
  readonly installs: string[] = [];
  finds = 0;

  constructor(
    private readonly onPath: string | undefined,
    private readonly installResult: string | Error = "3.276.0",
  ) {}

  find(): Promise<FakeCli | undefined> {
    this.finds++;
    return Promise.resolve(
      this.onPath === undefined ? undefined : { version: this.onPath, origin: "path" },
    );
  }

  install(version: string): Promise<FakeCli> {
    this.installs.push(version);
    return this.installResult instanceof Error
      ? Promise.reject(this.installResult)
      : Promise.resolve({ version: this.installResult, origin: "installed" });
  }
}

export class RecordingIo implements Io {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  out(line: string): void {
    this.stdout.push(line);
  }
  err(line: string): void {
    this.stderr.push(line);
  }
}

/** What a command ran with, for assertions. */
export interface Harness {
  readonly io: RecordingIo;
  readonly locator: FakeLocator;
  /** The fake the command connected to; undefined if it never got that far. */
  ops(): FakeStackOps | undefined;
  /** The CLI the command connected with. */
  cli(): FakeCli | undefined;
  readonly env: CommandEnv<FakeCli>;
}

/**
 * A command environment over fakes. `prepare` sees the fake before the command uses it (to hold
 * stacks); `now` is the wall clock the command reads, in milliseconds.
 */
export function harness(
  argv: readonly string[],
  fake: FakeOptions,
  extra: {
    locator?: FakeLocator;
    now?: number;
    nodeVersion?: string;
    typeErrors?: readonly string[];
    prepare?: (ops: FakeStackOps) => void;
  } = {},
): Harness {
  const io = new RecordingIo();
  const locator = extra.locator ?? new FakeLocator("3.276.0");
  let ops: FakeStackOps | undefined;
  let cli: FakeCli | undefined;
  const env: CommandEnv<FakeCli> = {
    argv,
    io,
    now: () => (extra.now ?? 0) + (ops?.time ?? 0),
    locator,
    nodeVersion: extra.nodeVersion ?? process.versions.node,
    typeCheck: () => extra.typeErrors ?? [],
    connect: (found, settings) => {
      cli = found;
      ops = new FakeStackOps(fake, settings);
      extra.prepare?.(ops);
      return ops;
    },
  };
  return { io, locator, ops: () => ops, cli: () => cli, env };
}

/**
 * A process environment for a command under test: a PULUMI_HOME of its own under `dir`, so the
 * machine's own `pulumi login` is never read, with `login` as the CLI's current login if given
 * (credentials.json as `pulumi login` writes it), plus `vars`.
 */
export function commandEnvironment(
  dir: string,
  vars: Readonly<Record<string, string>> = {},
  login?: string,
): Record<string, string> {
  const home = join(dir, "pulumi-home");
  mkdirSync(home, { recursive: true });
  if (login !== undefined) {
    writeFileSync(
      join(home, "credentials.json"),
      JSON.stringify({ current: login, accessTokens: { [login]: "" } }),
    );
  }
  return { PULUMI_HOME: home, ...vars };
}
