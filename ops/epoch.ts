// caEpoch only goes up: a leaf's stack file may not name a lower CA lineage than the one its
// state runs now (a git revert of the stack file, for instance), which would replace every CA of
// the leaf again, with new keys, undoing nothing. deploy and rotate check it before any run.

import { X509Certificate } from "node:crypto";
import { isRecord, splitPemBundle } from "../components/common/contract";
import { PROJECT } from "../stacks/keys";
import { EXIT, Exit } from "./command";
import { pool } from "./run";
import type { StackOps } from "./types";

/** A leaf about to run: its name as the commands run it, its stack file and its caEpoch. */
export interface LeafEpoch {
  readonly stack: string;
  readonly file: string;
  readonly caEpoch: number;
}

/**
 * The CA lineage a leaf's outputs show: its CAs' subjects name it (`... CA 3 (epoch 2)`; none
 * for lineage 0). Undefined when there are no CAs to read (a stack never run).
 */
export function stateEpoch(outputs: Readonly<Record<string, unknown>>): number | undefined {
  const bridge = outputs["bridge"];
  const bundle = isRecord(bridge) ? bridge["caCerts"] : undefined;
  if (typeof bundle !== "string") return undefined;
  const epochs = splitPemBundle(bundle).map((pem) => {
    const epoch = /\(epoch ([0-9]+)\)/.exec(new X509Certificate(pem).subject)?.[1];
    return epoch === undefined ? 0 : Number(epoch);
  });
  return epochs.length === 0 ? undefined : Math.max(...epochs);
}

/** Every leaf whose stack file lowers its caEpoch below its state's, with the reason and fix. */
async function loweredEpochs(
  ops: StackOps,
  leaves: readonly LeafEpoch[],
  concurrency: number,
): Promise<string[]> {
  const problems = new Map<string, string>();
  await pool(leaves, concurrency, async (leaf) => {
    let current: number | undefined;
    try {
      current = stateEpoch(await ops.outputs(leaf.stack));
    } catch {
      // No outputs to read (a stack that cannot be reached): its run says why.
      current = undefined;
    }
    if (current === undefined || leaf.caEpoch >= current) return;
    problems.set(
      leaf.stack,
      `${leaf.file}: ${PROJECT}:caEpoch: ${leaf.caEpoch} is lower than ${current}, the CA ` +
        `lineage stack ${leaf.stack} runs now; caEpoch only goes up (a lower one would replace ` +
        `every CA of the leaf again, with new keys, and bring no old CA back; a revert of the ` +
        `stack file does this): set it to ${current}, or higher for another emergency CA change ` +
        `(docs/KEY-COMPROMISE.md)`,
    );
  });
  return leaves.flatMap((l) => problems.get(l.stack) ?? []);
}

/** Ends the command (exit 2) if any leaf would lower its caEpoch; nothing has run yet. */
export async function refuseLoweredEpochs(
  ops: StackOps,
  leaves: readonly LeafEpoch[],
  concurrency: number,
): Promise<void> {
  const problems = await loweredEpochs(ops, leaves, concurrency);
  if (problems.length === 0) return;
  throw new Exit(
    EXIT.usage,
    problems.length === 1
      ? problems[0]
      : [
          `${problems.length} leaves would lower their caEpoch:`,
          ...problems.map((p) => `  - ${p}`),
        ].join("\n"),
  );
}
