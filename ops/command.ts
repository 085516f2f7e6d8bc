// What the ops commands share: exit codes, flag errors, finding the CLI, and how a command's
// environment is passed in (real at the entry points, fakes in tests).

import { CliLocator, FoundCli, checkNodeVersion, locateCli } from "./cli";
import { CHECKED_PROGRAM_ENV } from "./typecheck";
import type { Io, StackOps, WorkspaceSettings } from "./types";

export const EXIT = {
  /** Every run succeeded (and, for rotate, every certificate is OK). */
  ok: 0,
  /** A stack operation failed (stacks that depend on it were skipped), or the program does not
   * type-check (no stack was run). */
  stackFailed: 1,
  /** Bad command line, bad stack files, or nothing to run. */
  usage: 2,
  /** rotate: every run succeeded, but a certificate is EXPIRED or DUE, or the observer STALE. */
  verification: 3,
  /** The Pulumi CLI is missing and cannot be installed, or it or Node.js is too old. */
  cli: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Ends a command with this code; the message goes to stderr. */
export class Exit extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = "Exit";
  }
}

/** Everything a command touches outside itself. */
export interface CommandEnv<C extends FoundCli> {
  readonly argv: readonly string[];
  readonly io: Io;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly locator: CliLocator<C>;
  /** The Node.js the command (and so the Pulumi program) runs on, as process.versions.node. */
  readonly nodeVersion: string;
  /** The program's type errors, one line each (ops/typecheck.ts; a fake in tests). */
  readonly typeCheck: (repo: string) => readonly string[];
  readonly connect: (cli: C, settings: WorkspaceSettings) => StackOps;
}

export const DEFAULT_CONCURRENCY = 4;
export const MAX_CONCURRENCY = 32;

/** Runs node:util parseArgs, turning its errors into usage errors (their first line). */
export function parseFlags<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (e instanceof Error && typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_")) {
      throw new Exit(EXIT.usage, e.message.split("\n")[0]);
    }
    throw e;
  }
}

export function parseConcurrency(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CONCURRENCY;
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_CONCURRENCY)) {
    throw new Exit(
      EXIT.usage,
      `--concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/**
 * Checks the Node.js version; given the project directory of a command that runs the program,
 * type-checks the program once for the whole command, so that every stack can skip ts-node's own
 * check (ops/typecheck.ts; a type error stops the command before any stack runs); then finds (or
 * installs) a CLI recent enough, and connects to the stacks through it.
 */
export async function connectStacks<C extends FoundCli>(
  env: CommandEnv<C>,
  settings: WorkspaceSettings,
  programRepo?: string,
): Promise<StackOps> {
  const tooOld = checkNodeVersion(env.nodeVersion);
  if (tooOld !== undefined) throw new Exit(EXIT.cli, tooOld);
  let checked = settings;
  if (programRepo !== undefined) {
    const errors = env.typeCheck(programRepo);
    if (errors.length > 0) {
      throw new Exit(
        EXIT.stackFailed,
        [`the program does not type-check, so no stack was run:`, ...errors].join("\n"),
      );
    }
    checked = { ...settings, envVars: { ...settings.envVars, ...CHECKED_PROGRAM_ENV } };
  }
  const found = await locateCli(env.locator, (line) => env.io.err(line));
  if (!found.ok) throw new Exit(EXIT.cli, found.message);
  return env.connect(found.cli, checked);
}

/**
 * Runs a command's body and returns its exit code. An Exit prints its message on stderr, the
 * first line after `<name>: `; a usage error adds where to find the usage. Anything else thrown
 * is a failure (1).
 */
export async function runCommand(
  name: string,
  io: Io,
  body: () => Promise<ExitCode>,
): Promise<ExitCode> {
  try {
    return await body();
  } catch (e) {
    const exit = e instanceof Exit ? e : undefined;
    const [first, ...more] = (exit?.message ?? (e instanceof Error ? e.message : String(e))).split(
      "\n",
    );
    io.err(`${name}: ${first}`);
    more.forEach((line) => io.err(line));
    if (exit?.code === EXIT.usage) io.err(`run "npm run ${name} -- --help" for usage`);
    return exit?.code ?? EXIT.stackFailed;
  }
}

/** Lines to the process's stdout and stderr. */
export function processIo(): Io {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
}
