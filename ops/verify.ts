// After a rotation run: is every leaf certificate outside its renewal window, and does the observer
// hold each leaf's current client certificate? Pure: outputs and the time come in, a table and
// the problems go out.

import {
  BRIDGE_OUTPUT,
  CERTIFICATE_KINDS,
  CertificateTimes,
  LeafExpiry,
  isRecord,
  parseLeafExpiry,
} from "../components/common/contract";
import { isRfc3339 } from "../components/common/validate";
import { Outcome, StackRun, formatTable } from "./run";

/** EXPIRED: now ≥ notAfter. DUE: now ≥ renewAfter, so this run should have renewed it. */
type CertStatus = "OK" | "DUE" | "EXPIRED";

export function certStatus(times: CertificateTimes, now: number): CertStatus {
  if (now >= Date.parse(times.notAfter)) return "EXPIRED";
  if (now >= Date.parse(times.renewAfter)) return "DUE";
  return "OK";
}

/** A stack's outputs, or why they could not be read. */
export type Outputs =
  | { readonly ok: true; readonly values: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly message: string };

interface VerifyInput {
  readonly leaves: readonly { readonly run: StackRun; readonly outputs: Outputs }[];
  readonly observer: { readonly run: StackRun; readonly outputs: Outputs };
  readonly now: number;
  /** A dry run: the outputs predate any renewal, so only EXPIRED is a problem. */
  readonly preview: boolean;
}

interface Verification {
  readonly table: readonly string[];
  /** What makes the run fail verification, one line each. */
  readonly problems: readonly string[];
  /** What the table shows that is not a problem (in a preview: DUE, STALE). */
  readonly notes: readonly string[];
}

function readExpiry(stack: string, outputs: Outputs): LeafExpiry | string {
  if (!outputs.ok) return `outputs could not be read: ${outputs.message}`;
  const bridge = outputs.values[BRIDGE_OUTPUT];
  if (!isRecord(bridge)) return `has no output '${BRIDGE_OUTPUT}'`;
  try {
    return parseLeafExpiry(stack, bridge["expiry"]);
  } catch (e) {
    return (e as Error).message;
  }
}

/** The client notAfter the observer recorded for each leaf stack, from its `leaves` output. */
function readObserved(outputs: Outputs): Map<string, string> | string {
  if (!outputs.ok) return `outputs could not be read: ${outputs.message}`;
  const leaves = outputs.values["leaves"];
  if (!Array.isArray(leaves)) return `has no output 'leaves'`;
  const recorded = new Map<string, string>();
  for (const [i, entry] of leaves.entries()) {
    const stack = isRecord(entry) ? entry["stack"] : undefined;
    const expiry = isRecord(entry) ? entry["expiry"] : undefined;
    const client = isRecord(expiry) ? expiry["client"] : undefined;
    const notAfter = isRecord(client) ? client["notAfter"] : undefined;
    if (typeof stack !== "string" || typeof notAfter !== "string" || !isRfc3339(notAfter)) {
      return `output 'leaves' entry ${i} lacks a 'stack' or an RFC 3339 'expiry.client.notAfter'`;
    }
    recorded.set(stack, notAfter);
  }
  return recorded;
}

/**
 * The observer's record of a leaf: under the same name, or, for a leaf named without its
 * organization and project, under `<org>/<project>/<name>`.
 */
function recordFor(recorded: Map<string, string>, stack: string): string | undefined {
  if (recorded.has(stack) || stack.includes("/")) return recorded.get(stack);
  const matches = [...recorded.keys()].filter((k) => k.split("/").pop() === stack);
  return matches.length === 1 ? recorded.get(matches[0]) : undefined;
}

const RUN_LABEL: Readonly<Record<Outcome, string>> = {
  succeeded: "ok",
  failed: "FAILED",
  skipped: "skipped",
};

export function verify(input: VerifyInput): Verification {
  const problems: string[] = [];
  const notes: string[] = [];
  const observer = input.observer.run.stack;
  const observed = readObserved(input.observer.outputs);
  if (typeof observed === "string") {
    (input.preview ? notes : problems).push(`${observer}: ${observed}`);
  }

  const rows: string[][] = [];
  const leaves = [...input.leaves].sort((a, b) =>
    a.run.stack < b.run.stack ? -1 : a.run.stack > b.run.stack ? 1 : 0,
  );
  for (const { run, outputs } of leaves) {
    const stack = run.stack;
    const expiry = readExpiry(stack, outputs);
    if (typeof expiry === "string") {
      (input.preview ? notes : problems).push(`${stack}: ${expiry}`);
      rows.push([stack, RUN_LABEL[run.outcome], "?", "?", "?", "?"]);
      continue;
    }
    const cells = CERTIFICATE_KINDS.map((kind) => {
      const status = certStatus(expiry[kind], input.now);
      if (status !== "OK") {
        const line =
          status === "EXPIRED"
            ? `${stack}: ${kind} certificate EXPIRED at ${expiry[kind].notAfter}`
            : `${stack}: ${kind} certificate DUE: its renewal time ${expiry[kind].renewAfter} has passed (expires ${expiry[kind].notAfter})`;
        (status === "EXPIRED" || !input.preview ? problems : notes).push(line);
      }
      return `${expiry[kind].notAfter} ${status}`;
    });
    let seen = "?";
    if (typeof observed !== "string") {
      const recorded = recordFor(observed, stack);
      if (recorded !== undefined && Date.parse(recorded) === Date.parse(expiry.client.notAfter)) {
        seen = "current";
      } else {
        seen = "STALE";
        const line =
          recorded === undefined
            ? `${stack}: STALE: observer stack ${observer} does not list this leaf in its 'leaves' output`
            : `${stack}: STALE: observer stack ${observer} holds a client certificate expiring ${recorded}, but the leaf's current one expires ${expiry.client.notAfter}`;
        (input.preview ? notes : problems).push(line);
      }
    }
    rows.push([stack, RUN_LABEL[run.outcome], ...cells, seen]);
  }
  rows.push([observer, RUN_LABEL[input.observer.run.outcome], "-", "-", "-", "-"]);

  return {
    table: formatTable(["STACK", "RUN", "CA", "SERVER", "CLIENT", "OBSERVER"], rows),
    problems,
    notes,
  };
}
