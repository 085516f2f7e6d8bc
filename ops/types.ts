// The types the ops commands share: how they print, and what they do to stacks. Apart from the
// modules that implement them, so that command.ts, run.ts and workspace.ts import no cycle.

/** Where a command prints: progress and results to `out`, reasons and notices to `err`. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/** Receives one line of a stack operation's output, without its line break. */
export type OnLine = (line: string) => void;

export interface OperationOptions {
  /** Refresh the stack's state first, so an expired rotation clock is noticed. */
  readonly refresh: boolean;
  readonly onLine: OnLine;
}

/** What the commands do to a stack, named as a Pulumi stack name (short or `org/project/stack`). */
export interface StackOps {
  preview(stack: string, options: OperationOptions): Promise<void>;
  up(stack: string, options: OperationOptions): Promise<void>;
  destroy(stack: string, onLine: OnLine): Promise<void>;
  /** The stack's outputs, secrets included, by name. */
  outputs(stack: string): Promise<Readonly<Record<string, unknown>>>;
  /** The text of one config value (arrays and objects as JSON), or undefined if it is not set. */
  getConfig(stack: string, key: string): Promise<string | undefined>;
}

/** How a command wants its stacks reached, beyond the CLI it found. */
export interface WorkspaceSettings {
  /** Added to the CLI's environment (backend URL, passphrase). */
  readonly envVars: Readonly<Record<string, string>>;
  /** Create a stack that does not exist yet (deploy), instead of failing (rotate). */
  readonly createMissing: boolean;
  /** Secrets provider for stacks created here; undefined: the backend's own (Pulumi Cloud's). */
  readonly secretsProvider?: string;
}
