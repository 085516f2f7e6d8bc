// npm run rotate: renew the leaves' certificates, then have the observer pick them up, then check
// from the stack outputs that it worked. Meant for a daily schedule (see
// .github/workflows/rotate-certs.yml); safe to run by hand.

import { parseArgs } from "node:util";
import { readLeaves } from "../stacks/config";
import { PROJECT } from "../stacks/keys";
import { FoundCli, MIN_NODE_VERSION, MIN_PULUMI_CLI_VERSION } from "./cli";
import {
  CommandEnv,
  DEFAULT_CONCURRENCY,
  EXIT,
  Exit,
  ExitCode,
  MAX_CONCURRENCY,
  connectStacks,
  parseConcurrency,
  parseFlags,
  runCommand,
} from "./command";
import { StackRun, describeFailures, pool, runPlan } from "./run";
import { Outputs, verify } from "./verify";
import { Environment, STATE_DIR, stateEnvironment } from "./backend";
import { checkStackFiles } from "./check";
import { LeafEpoch, refuseLoweredEpochs } from "./epoch";
import { StackFile, readStackFiles } from "./stackfiles";
import { PROJECT_DIR, StackOps, exitWith, processEnv } from "./workspace";

export const LEAVES_KEY = `${PROJECT}:leaves`;

export const ROTATE_USAGE = `Usage: npm run rotate -- [flags]

Renews the leaf certificates: runs \`pulumi up --refresh\` on the leaf stacks (in parallel), then
on the observer, then checks from the stack outputs that no certificate is expired or due for
renewal and that the observer holds each leaf's current client certificate. It reaches the
stacks on the backend \`npm run deploy\` uses (the Pulumi CLI's: PULUMI_BACKEND_URL, Pulumi.yaml's
backend.url, your \`pulumi login\`), with the same passphrase rules, and creates none.

Flags:
  --observer <stack>   the observer stack (default: observer)
  --leaf <stack>       a leaf stack to run; repeat for more (default: the observer's
                       ${LEAVES_KEY} config)
  --concurrency <n>    leaf stacks run at once, 1 to ${MAX_CONCURRENCY} (default: ${DEFAULT_CONCURRENCY})
  --preview            dry run: \`pulumi preview --refresh\` instead of up, which writes no
                       state; only an EXPIRED certificate fails it
  --try-out            the try-out's stacks (state in ./${STATE_DIR}, its well-known passphrase)
  --help               print this and exit

Exit codes:
  0  every run succeeded and every certificate is OK
  1  a stack operation failed (if a leaf failed, the observer was skipped), or the program
     does not type-check (no stack was run)
  2  bad command line, no leaves to run, no backend chosen, or no passphrase or KMS key
     for a backend that keeps no keys
  3  every run succeeded, but a certificate is EXPIRED or DUE, the observer is STALE, or an
     output could not be checked
  4  the Pulumi CLI is missing and cannot be installed, or is older than ${MIN_PULUMI_CLI_VERSION};
     or Node.js is older than ${MIN_NODE_VERSION}`;

interface RotateArgs {
  readonly help: boolean;
  readonly observer: string;
  /** Empty: read them from the observer's config. */
  readonly leaves: readonly string[];
  readonly concurrency: number;
  readonly preview: boolean;
  readonly tryOut: boolean;
}

function parseRotateArgs(argv: readonly string[]): RotateArgs {
  const { values } = parseFlags(() =>
    parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        observer: { type: "string", default: "observer" },
        leaf: { type: "string", multiple: true, default: [] },
        concurrency: { type: "string" },
        preview: { type: "boolean", default: false },
        "try-out": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }),
  );
  const leaves = values.leaf;
  if (values.observer === "") throw new Exit(EXIT.usage, "--observer needs a stack name");
  checkLeaves(leaves, values.observer, "--leaf");
  return {
    help: values.help,
    observer: values.observer,
    leaves,
    concurrency: parseConcurrency(values.concurrency),
    preview: values.preview,
    tryOut: values["try-out"],
  };
}

function checkLeaves(leaves: readonly string[], observer: string, source: string): void {
  for (const [i, leaf] of leaves.entries()) {
    if (leaf === "") throw new Exit(EXIT.usage, `${source} needs a stack name`);
    if (leaves.indexOf(leaf) !== i) {
      throw new Exit(EXIT.usage, `${source} names ${leaf} more than once`);
    }
    if (leaf === observer) {
      throw new Exit(EXIT.usage, `${source} names the observer stack ${observer} as a leaf`);
    }
  }
}

/** The observer's leaves, from its stack config. */
async function configuredLeaves(ops: StackOps, observer: string): Promise<string[]> {
  let text: string | undefined;
  try {
    text = await ops.getConfig(observer, LEAVES_KEY);
  } catch (e) {
    throw new Exit(
      EXIT.stackFailed,
      `could not read ${LEAVES_KEY} of stack ${observer}: ${(e as Error).message}`,
    );
  }
  const fix = `set it on the observer (pulumi config set --path 'leaves[0]' <org>/${PROJECT}/<leaf> --stack ${observer}) or name the leaves with --leaf`;
  if (text === undefined) {
    throw new Exit(
      EXIT.usage,
      `stack ${observer} has no ${LEAVES_KEY}, so there is nothing to rotate; ${fix}`,
    );
  }
  // The observer's own parser: what its stack would refuse, rotate refuses too.
  const { leaves, problems } = readLeaves({ [LEAVES_KEY]: text });
  if (problems.length > 0) {
    throw new Exit(
      EXIT.usage,
      `stack ${observer}: ${problems.join("; ")}; so there is nothing to rotate: fix it, or ` +
        `name the leaves with --leaf`,
    );
  }
  checkLeaves(leaves, observer, `${LEAVES_KEY} of stack ${observer}`);
  return [...leaves];
}

/** The caEpoch each leaf's stack file here sets (`org/project/leaf-a` is Pulumi.leaf-a.yaml's). */
function leafEpochs(files: readonly StackFile[], leaves: readonly string[]): LeafEpoch[] {
  const loaded = new Map(checkStackFiles(files).stacks.map((s) => [s.stack, s.loaded]));
  return leaves.flatMap((stack) => {
    const short = stack.split("/").pop() ?? stack;
    const config = loaded.get(short);
    return config?.role === "leaf"
      ? [{ stack, file: `Pulumi.${short}.yaml`, caEpoch: config.pki.caEpoch }]
      : [];
  });
}

async function readOutputs(ops: StackOps, stack: string): Promise<Outputs> {
  try {
    return { ok: true, values: await ops.outputs(stack) };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}

interface RotateEnv<C extends FoundCli> extends CommandEnv<C> {
  /** The project directory: Pulumi.yaml, the stack files, the try-out's .pulumi-state/. */
  readonly repo: string;
  /** The process environment: the backend, the CLI's login, the passphrase. */
  readonly env: Environment;
}

/** The backend and passphrase are deploy's (ops/backend.ts), so the stacks deploy made are rotated. */
export function rotate<C extends FoundCli>(env: RotateEnv<C>): Promise<ExitCode> {
  const { io } = env;
  return runCommand("rotate", io, async () => {
    const args = parseRotateArgs(env.argv);
    if (args.help) {
      ROTATE_USAGE.split("\n").forEach((line) => io.out(line));
      return EXIT.ok;
    }
    const files = readStackFiles(env.repo);
    const state = stateEnvironment(env.env, env.repo, files, args.tryOut);
    state.warning.forEach((line) => io.err(line));
    state.info.forEach((line) => io.out(line));
    const ops = await connectStacks(
      env,
      { envVars: state.envVars, createMissing: false },
      env.repo,
    );
    const leaves =
      args.leaves.length > 0 ? args.leaves : await configuredLeaves(ops, args.observer);
    const operation = args.preview ? "preview" : "up";
    await refuseLoweredEpochs(ops, leafEpochs(files, leaves), args.concurrency);
    io.out(
      `rotate: ${operation} on ${leaves.length} leaf stack${leaves.length === 1 ? "" : "s"} ` +
        `(${args.concurrency} at a time), then on ${args.observer}`,
    );
    const runs = await runPlan(
      ops,
      { leaves, observers: [args.observer] },
      { operation, concurrency: args.concurrency, refresh: true, io, now: env.now },
    );

    const stacks = runs.map((r) => r.stack);
    const outputs = new Map<string, Outputs>();
    await pool(stacks, args.concurrency, async (stack) => {
      outputs.set(stack, await readOutputs(ops, stack));
    });
    const read = (stack: string): Outputs => outputs.get(stack) as Outputs;
    const observerRun = runs.find((r) => r.stack === args.observer) as StackRun;
    const result = verify({
      leaves: runs
        .filter((r) => r !== observerRun)
        .map((run) => ({ run, outputs: read(run.stack) })),
      observer: { run: observerRun, outputs: read(observerRun.stack) },
      now: env.now(),
      preview: args.preview,
    });
    io.out("");
    result.table.forEach((line) => io.out(line));
    result.notes.forEach((line) => io.out(`note: ${line}`));

    const failures = describeFailures(operation, runs);
    if (failures.length > 0) {
      failures.forEach((line) => io.err(`rotate: ${line}`));
      return EXIT.stackFailed;
    }
    if (result.problems.length > 0) {
      result.problems.forEach((line) => io.err(`rotate: ${line}`));
      return EXIT.verification;
    }
    return EXIT.ok;
  });
}

if (require.main === module) {
  exitWith(rotate({ ...processEnv(), repo: PROJECT_DIR, env: process.env }));
}
