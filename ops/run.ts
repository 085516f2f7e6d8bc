// Runs stack operations in dependency order over StackOps: leaves in parallel (bounded), then
// observers; destroy the other way round. A failure in one phase skips the next, because the
// observer reads the leaves' outputs. Pure orchestration: no Pulumi import, a clock passed in.

import type { Io, OnLine, StackOps } from "./types";

export type { Io } from "./types";

type Operation = "preview" | "up" | "destroy";
export type Outcome = "succeeded" | "failed" | "skipped";

export interface StackRun {
  readonly stack: string;
  readonly outcome: Outcome;
  /** Why it failed or was skipped; empty when it succeeded. */
  readonly detail: string;
}

/** Stacks to run: the leaves, and the observers that read them. */
export interface Plan {
  readonly leaves: readonly string[];
  readonly observers: readonly string[];
}

interface RunSettings {
  readonly operation: Operation;
  /** Most stacks in flight at once, within a phase. */
  readonly concurrency: number;
  /** Refresh before preview and up. */
  readonly refresh: boolean;
  readonly io: Io;
  /** Milliseconds, for durations only. */
  readonly now: () => number;
}

/** Calls `worker` on every item, at most `limit` at a time, in the items' order. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      await worker(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** `850ms`, `12.3s`, `4m05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

function operate(ops: StackOps, stack: string, s: RunSettings, onLine: OnLine): Promise<void> {
  switch (s.operation) {
    case "preview":
      return ops.preview(stack, { refresh: s.refresh, onLine });
    case "up":
      return ops.up(stack, { refresh: s.refresh, onLine });
    case "destroy":
      return ops.destroy(stack, onLine);
  }
}

async function runOne(ops: StackOps, stack: string, s: RunSettings): Promise<StackRun> {
  const prefix = `[${stack}]`;
  const started = s.now();
  s.io.out(`${prefix} ${s.operation} started`);
  try {
    await operate(ops, stack, s, (line) => s.io.out(`${prefix} ${line}`));
  } catch (e) {
    const detail = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    s.io.out(
      `${prefix} ${s.operation} FAILED after ${formatDuration(s.now() - started)}: ${detail}`,
    );
    return { stack, outcome: "failed", detail };
  }
  s.io.out(`${prefix} ${s.operation} succeeded in ${formatDuration(s.now() - started)}`);
  return { stack, outcome: "succeeded", detail: "" };
}

/**
 * Runs the plan: leaves then observers, or for destroy observers then leaves. Within a phase,
 * every stack runs even if another fails; a later phase is skipped if an earlier one had a
 * failure. Returns one result per stack, in the order the phases ran, each in the plan's order.
 */
export async function runPlan(ops: StackOps, plan: Plan, s: RunSettings): Promise<StackRun[]> {
  const phases =
    s.operation === "destroy"
      ? [
          { kind: "observer", stacks: plan.observers },
          { kind: "leaf", stacks: plan.leaves },
        ]
      : [
          { kind: "leaf", stacks: plan.leaves },
          { kind: "observer", stacks: plan.observers },
        ];
  const results = new Map<string, StackRun>();
  const failed: string[] = [];
  for (const phase of phases) {
    if (failed.length > 0) {
      const detail = `${phase.kind === "leaf" ? "observer" : "leaf"} stack${failed.length === 1 ? "" : "s"} ${failed.join(", ")} failed`;
      for (const stack of phase.stacks) {
        s.io.out(`[${stack}] ${s.operation} skipped: ${detail}`);
        results.set(stack, { stack, outcome: "skipped", detail });
      }
      continue;
    }
    await pool(phase.stacks, s.concurrency, async (stack) => {
      const result = await runOne(ops, stack, s);
      results.set(stack, result);
    });
    failed.push(...phase.stacks.filter((stack) => results.get(stack)?.outcome === "failed").sort());
  }
  return phases.flatMap((phase) => phase.stacks.map((stack) => results.get(stack) as StackRun));
}

/** Fixed-width columns: each as wide as its widest cell, two spaces apart, no trailing blanks. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]))
      .join("  ")
      .trimEnd(),
  );
}

/** One line per failed or skipped stack, for stderr. */
export function describeFailures(operation: Operation, runs: readonly StackRun[]): string[] {
  return runs
    .filter((r) => r.outcome !== "succeeded")
    .map((r) => `${operation} ${r.outcome} on ${r.stack}: ${r.detail}`);
}
