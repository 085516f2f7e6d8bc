// The narrow interface the ops commands use to act on stacks, and its implementation over the
// Pulumi Automation API. Everything else in ops/ is written against `StackOps`, so the tests
// drive the commands with a fake and no Pulumi CLI.

import { resolve } from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { SemVer } from "semver";
import type { CliLocator, FoundCli } from "./cli";
import { CommandEnv, ExitCode, processIo } from "./command";
import type { OnLine, OperationOptions, StackOps, WorkspaceSettings } from "./types";
import { typeCheckProgram } from "./typecheck";

export type { OnLine, OperationOptions, StackOps, WorkspaceSettings } from "./types";

/** A Pulumi CLI found or installed by the Automation API. */
interface AutomationCli extends FoundCli {
  readonly command: PulumiCommand;
}

/** Finds the CLI on PATH (any version, checked by the caller) or installs one. */
export const automationCliLocator: CliLocator<AutomationCli> = {
  async find() {
    let command: PulumiCommand;
    try {
      command = await PulumiCommand.get({ skipVersionCheck: true });
    } catch {
      return undefined;
    }
    return { command, version: command.version?.version };
  },
  async install(version) {
    const command = await PulumiCommand.install({
      version: new SemVer(version),
      skipVersionCheck: true,
    });
    return { command, version: command.version?.version };
  },
};

/**
 * Splits streamed output into lines. Returns the writer for chunks, and a flush for a last line
 * without a line break.
 */
export function lineSplitter(onLine: OnLine): { write(chunk: string): void; flush(): void } {
  let pending = "";
  return {
    write(chunk) {
      const parts = (pending + chunk).split(/\r?\n/);
      pending = parts.pop() ?? "";
      parts.forEach((line) => onLine(line));
    },
    flush() {
      if (pending !== "") onLine(pending);
      pending = "";
    },
  };
}

/**
 * The Automation API's errors carry the command line and all its output, which was streamed
 * already. Keeps the exit code and the CLI's last `error:` line, which says what failed.
 */
export function summarizeError(message: string): string {
  const code = /exit code (-?[0-9]+)/.exec(message)?.[1] ?? /^code: ([0-9]+)/.exec(message)?.[1];
  const reason = message
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("error: "))
    .pop();
  if (code === undefined && reason === undefined) return message.split("\n")[0];
  return `pulumi ${code === undefined ? "failed" : `exited with code ${code}`}${reason === undefined ? "" : `: ${reason}`}`;
}

const CONFIG_NOT_FOUND = /configuration key '[^']*' not found for stack/;

/** StackOps over one LocalWorkspace in the project directory. */
export class AutomationStackOps implements StackOps {
  private workspace: Promise<LocalWorkspace> | undefined;
  private readonly stacks = new Map<string, Promise<Stack>>();
  private selecting: Promise<void> = Promise.resolve();

  constructor(
    private readonly workDir: string,
    private readonly cli: AutomationCli,
    private readonly settings: WorkspaceSettings,
  ) {}

  preview(stack: string, options: OperationOptions): Promise<void> {
    return this.operate(stack, options.onLine, (s, opts) =>
      s.preview({ ...opts, refresh: options.refresh }),
    );
  }

  up(stack: string, options: OperationOptions): Promise<void> {
    return this.operate(stack, options.onLine, (s, opts) =>
      s.up({ ...opts, refresh: options.refresh }),
    );
  }

  destroy(stack: string, onLine: OnLine): Promise<void> {
    return this.operate(stack, onLine, (s, opts) => s.destroy(opts));
  }

  async outputs(stack: string): Promise<Readonly<Record<string, unknown>>> {
    const outputs = await this.call(async () => (await this.stack(stack)).outputs());
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value as unknown]));
  }

  async getConfig(stack: string, key: string): Promise<string | undefined> {
    try {
      const config = await this.call(async () =>
        (await this.localWorkspace()).getConfig(stack, key),
      );
      return config.value;
    } catch (e) {
      if (CONFIG_NOT_FOUND.test((e as Error).message)) return undefined;
      throw e;
    }
  }

  private localWorkspace(): Promise<LocalWorkspace> {
    this.workspace ??= LocalWorkspace.create({
      workDir: this.workDir,
      pulumiCommand: this.cli.command,
      envVars: { ...this.settings.envVars },
      ...(this.settings.secretsProvider !== undefined
        ? { secretsProvider: this.settings.secretsProvider }
        : {}),
    });
    return this.workspace;
  }

  /**
   * Selects (or creates) each stack once. Selecting writes the workspace's current stack, so it
   * is done one stack at a time; the operations themselves name their stack and run in parallel.
   */
  private stack(name: string): Promise<Stack> {
    let stack = this.stacks.get(name);
    if (stack === undefined) {
      stack = this.selecting.then(async () => {
        const workspace = await this.localWorkspace();
        return this.settings.createMissing
          ? Stack.createOrSelect(name, workspace)
          : Stack.select(name, workspace);
      });
      this.selecting = stack.then(
        () => undefined,
        () => undefined,
      );
      this.stacks.set(name, stack);
    }
    return stack;
  }

  private async operate(
    name: string,
    onLine: OnLine,
    run: (
      stack: Stack,
      opts: { onOutput: (s: string) => void; onError: (s: string) => void },
    ) => Promise<unknown>,
  ): Promise<void> {
    const out = lineSplitter(onLine);
    const err = lineSplitter(onLine);
    try {
      await this.call(async () => {
        const stack = await this.stack(name);
        await run(stack, { onOutput: (s) => out.write(s), onError: (s) => err.write(s) });
      });
    } finally {
      out.flush();
      err.flush();
    }
  }

  /** Runs an Automation API call, turning its errors into short ones. */
  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw new Error(summarizeError(e instanceof Error ? e.message : String(e)));
    }
  }
}

/** The project directory: Pulumi.yaml and the stack files. */
export const PROJECT_DIR = resolve(__dirname, "..");

/** A command's environment when it runs as this process, on the project's stacks. */
export function processEnv(): CommandEnv<AutomationCli> {
  return {
    argv: process.argv.slice(2),
    io: processIo(),
    now: Date.now,
    locator: automationCliLocator,
    nodeVersion: process.versions.node,
    typeCheck: typeCheckProgram,
    connect: (cli, settings) => new AutomationStackOps(PROJECT_DIR, cli, settings),
  };
}

/** Sets the process's exit code once the command is done. */
export function exitWith(code: Promise<ExitCode>): void {
  void code.then((c) => {
    process.exitCode = c;
  });
}
