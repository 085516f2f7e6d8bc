// Processes and temporary directories of the tests. Everything started or made through here is
// registered and torn down by its owner, and also when the test process exits or is interrupted
// (SIGINT, SIGTERM, SIGHUP), so a failed or aborted test leaves no server running and no key
// material on disk. This module alone installs those handlers: a second set would catch the
// signal each re-raises and keep the process alive.
import { ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Live children, and whether each leads a process group of its own (spawned `detached`). */
const live = new Map<ChildProcess, { readonly group: boolean }>();
const dirs = new Set<string>();
const cleanUps = new Set<() => void>();

function send(child: ChildProcess, signal: NodeJS.Signals, group: boolean): void {
  try {
    if (group) process.kill(-(child.pid ?? 0), signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
}

function cleanUpNow(): void {
  for (const [child, { group }] of live) send(child, "SIGKILL", group);
  live.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
  for (const cleanUp of cleanUps) {
    try {
      cleanUp();
    } catch {
      // best effort: the process is ending
    }
  }
  cleanUps.clear();
}

process.on("exit", cleanUpNow);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    cleanUpNow();
    process.kill(process.pid, signal);
  });
}

/**
 * Registers `child` until it exits. With `group` (it was spawned `detached`, so it leads a
 * process group), the clean-up kills the whole group: nginx's workers, the Pulumi CLI's plugins.
 */
export function track<T extends ChildProcess>(child: T, options: { group?: boolean } = {}): T {
  live.set(child, { group: options.group ?? false });
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  return child;
}

/** Sends `signal` to a tracked child, to its whole group if it leads one. */
export function signalTracked(child: ChildProcess, signal: NodeJS.Signals): void {
  send(child, signal, live.get(child)?.group ?? false);
}

/** Runs `cleanUp` when the process exits or is interrupted (for what is not a process or dir). */
export function onCleanUp(cleanUp: () => void): void {
  cleanUps.add(cleanUp);
}

/**
 * A temporary directory (under `parent`, else the system's) that goes when `removeDir` is
 * called or the process ends.
 */
export function tempDir(prefix: string, parent?: string): string {
  const dir = mkdtempSync(
    parent === undefined ? join(tmpdir(), `thanos-bridge-${prefix}-`) : join(parent, `${prefix}-`),
  );
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/** A process of the bench whose output goes to a log file. */
export class BenchProcess {
  private exited: { code: number | null; signal: string | null } | undefined;
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exit = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
    });
  }

  static start(
    name: string,
    binary: string,
    args: readonly string[],
    logDir: string,
    env: NodeJS.ProcessEnv = process.env,
  ): BenchProcess {
    const logFile = join(logDir, `${name}.log`);
    const fd = openSync(logFile, "a");
    try {
      const child = track(spawn(binary, args, { stdio: ["ignore", fd, fd], env }));
      return new BenchProcess(name, child, logFile);
    } finally {
      closeSync(fd);
    }
  }

  /** Why the process is no longer running, or undefined while it runs. */
  get exitStatus(): string | undefined {
    if (this.exited === undefined) return undefined;
    return this.exited.signal !== null
      ? `killed by ${this.exited.signal}`
      : `exited with code ${this.exited.code}`;
  }

  /** The last lines of its log, for an error message. */
  logTail(lines = 30): string {
    let text = "";
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      return "(no log)";
    }
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited !== undefined) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}

/**
 * Polls `probe` until it returns true, for at most `timeoutMs`. Fails early, with the log's last
 * lines, if any of `watched` exits, and on timeout with the last probe error and the logs.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  watched: readonly BenchProcess[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  const logs = () => watched.map((p) => `--- ${p.name} (${p.logFile}):\n${p.logTail()}`).join("\n");
  for (;;) {
    const dead = watched.find((p) => p.exitStatus !== undefined);
    if (dead !== undefined) {
      throw new Error(`${dead.name} ${dead.exitStatus} before ${what}\n${logs()}`);
    }
    try {
      if (await probe()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs / 1000} s (last: ${last})\n${logs()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
