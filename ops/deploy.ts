// npm run deploy / npm run destroy: every stack whose Pulumi.<stack>.yaml is in the repository,
// leaves before observers (destroy: the reverse), on the backend the Pulumi CLI would use
// (ops/backend.ts), or on the try-out's local state with --try-out. Each stack goes where its
// stack file says, exactly as `pulumi up` by hand would take it.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { StackConfig, kubeconfigEncrypted } from "../stacks/config";
import { PROJECT, Role } from "../stacks/keys";
import { STATE_DIR, StateEnvironment, stateEnvironment } from "./backend";
import { CheckOptions, checkStackFiles } from "./check";
import { StackFile, ignoredStackFiles, readStackFiles } from "./stackfiles";
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
import { FoundCli, MIN_NODE_VERSION, MIN_PULUMI_CLI_VERSION } from "./cli";
import { refuseLoweredEpochs } from "./epoch";
import { Plan, describeFailures, formatTable, runPlan } from "./run";
import { PROJECT_DIR, exitWith, processEnv } from "./workspace";

export const DEPLOY_USAGE = `Usage: npm run deploy -- [--try-out] [--concurrency <n>] [--preview]
       npm run destroy -- [--try-out] [--concurrency <n>]

deploy runs \`pulumi up --refresh\` on every stack that has a Pulumi.<stack>.yaml here: the leaf
stacks first (in parallel), then the observers. destroy runs \`pulumi destroy\` on the same
stacks, observers first. A stack that does not exist yet is created first (for destroy, empty,
so that a half-finished deploy can still be torn down). Each stack goes where its stack file
says (${PROJECT}:kubeContext, kubeconfig or renderDir), as \`pulumi up\` by hand would take it.

The backend is the one the Pulumi CLI would use: PULUMI_BACKEND_URL, else Pulumi.yaml's
backend.url, else your \`pulumi login\`. On Pulumi Cloud the stacks' secrets use the service's
own keys; on any other backend (a bucket, a directory) set PULUMI_CONFIG_PASSPHRASE (or
PULUMI_CONFIG_PASSPHRASE_FILE), or create the stacks with a KMS key, or deploy refuses.

Flags:
  --try-out          the try-out: state in ./${STATE_DIR}, a well-known passphrase (printed);
                     for trying out only
  --concurrency <n>  stacks run at once, 1 to ${MAX_CONCURRENCY} (default: ${DEFAULT_CONCURRENCY})
  --preview          deploy only: \`pulumi preview --refresh\` instead of up; changes no
                     resources (a missing stack is still created, empty)
  --help             print this and exit

Exit codes:
  0  every stack succeeded
  1  a stack operation failed (stacks that depend on it were skipped), or the program does
     not type-check (no stack was run)
  2  bad command line, a stack file that cannot be run, no stack files, no backend chosen, or
     no passphrase or KMS key for a backend that keeps no keys
  4  the Pulumi CLI is missing and cannot be installed, or is older than ${MIN_PULUMI_CLI_VERSION};
     or Node.js is older than ${MIN_NODE_VERSION}`;

/** How deploy runs one stack. */
export interface StackPlan {
  readonly stack: string;
  readonly role: Role;
  /** For the table: where the stack's objects go. */
  readonly target: string;
  /** A leaf's CA lineage, as its stack file sets it. */
  readonly caEpoch?: number;
}

export interface DeployPlan extends Plan {
  readonly stacks: readonly StackPlan[];
  /** `npm run check`'s warnings: printed, refusing nothing. */
  readonly warnings: readonly string[];
}

function describeTarget(config: StackConfig, encrypted: ReadonlySet<string>): string {
  const target = config.kubernetes;
  if (target.kind === "render") return `renders to ${target.directory}/ (its renderDir)`;
  if (target.context !== undefined) return `cluster (kubeContext ${target.context})`;
  if (target.kubeconfig !== undefined || kubeconfigEncrypted(encrypted)) {
    return "cluster (its kubeconfig)";
  }
  return "cluster (the current context of the ambient kubeconfig: none of kubeContext, kubeconfig or renderDir is set)";
}

/**
 * Checks every stack file before anything runs (`npm run check`: the program's own loader, then
 * the rules across stacks, the backend's naming among them), then plans them.
 */
export function planStacks(files: readonly StackFile[], options: CheckOptions): DeployPlan {
  if (files.length === 0) {
    throw new Exit(EXIT.usage, "there is no Pulumi.<stack>.yaml here, so there is nothing to run");
  }
  const { problems, warnings, stacks: checked } = checkStackFiles(files, options);
  if (problems.length === 1) throw new Exit(EXIT.usage, problems[0]);
  if (problems.length > 1) {
    throw new Exit(
      EXIT.usage,
      [`${problems.length} problems in the stack files:`, ...problems.map((p) => `  - ${p}`)].join(
        "\n",
      ),
    );
  }
  const stacks: StackPlan[] = checked.flatMap(({ stack, loaded, encrypted }) =>
    loaded === undefined
      ? []
      : [
          {
            stack,
            role: loaded.role,
            target: describeTarget(loaded, encrypted),
            ...(loaded.role === "leaf" ? { caEpoch: loaded.pki.caEpoch } : {}),
          },
        ],
  );
  const named = (role: Role): string[] => stacks.filter((s) => s.role === role).map((s) => s.stack);
  return { stacks, leaves: named("leaf"), observers: named("observer"), warnings };
}

type Subcommand = "deploy" | "destroy";

interface DeployArgs {
  readonly command: Subcommand;
  readonly help: boolean;
  readonly concurrency: number;
  readonly preview: boolean;
  readonly tryOut: boolean;
}

export function parseDeployArgs(argv: readonly string[]): DeployArgs {
  const [command, ...rest] = argv;
  if (command !== "deploy" && command !== "destroy") {
    throw new Exit(
      EXIT.usage,
      `the first argument must be deploy or destroy, got ${JSON.stringify(command ?? "")}`,
    );
  }
  const { values } = parseFlags(() =>
    parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: {
        concurrency: { type: "string" },
        help: { type: "boolean", default: false },
        "try-out": { type: "boolean", default: false },
        ...(command === "deploy" ? { preview: { type: "boolean", default: false } } : {}),
      },
    }),
  );
  return {
    command,
    help: values.help === true,
    concurrency: parseConcurrency(
      typeof values.concurrency === "string" ? values.concurrency : undefined,
    ),
    preview: values["preview"] === true,
    tryOut: values["try-out"] === true,
  };
}

export interface DeployEnv<C extends FoundCli> extends CommandEnv<C> {
  /** The project directory: Pulumi.yaml, the stack files, and the try-out's .pulumi-state/. */
  readonly repo: string;
  /** The process environment: the backend, the CLI's login, the passphrase. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function deploy<C extends FoundCli>(env: DeployEnv<C>): Promise<ExitCode> {
  const { io } = env;
  const name = env.argv[0] === "destroy" ? "destroy" : "deploy";
  return runCommand(name, io, async () => {
    const args = parseDeployArgs(env.argv);
    if (args.help) {
      DEPLOY_USAGE.split("\n").forEach((line) => io.out(line));
      return EXIT.ok;
    }
    const files = readStackFiles(env.repo);
    // The stack files' problems first, all at once (the DIY naming rule needs the backend).
    let state: StateEnvironment | Exit;
    try {
      state = stateEnvironment(env.env, env.repo, files, args.tryOut);
    } catch (e) {
      if (!(e instanceof Exit)) throw e;
      state = e;
    }
    const plan = planStacks(files, {
      ...(state instanceof Exit ? {} : { backend: state.backend.kind }),
      ignored: ignoredStackFiles(env.repo),
      projectDir: env.repo,
    });
    if (state instanceof Exit) throw state;
    plan.warnings.forEach((line) => io.err(`${name}: warning: ${line}`));
    state.warning.forEach((line) => io.err(line));
    // The try-out's file backend must exist before the CLI opens it.
    if (state.backend.kind === "try-out") mkdirSync(join(env.repo, STATE_DIR), { recursive: true });
    state.info.forEach((line) => io.out(line));

    const operation = args.command === "destroy" ? "destroy" : args.preview ? "preview" : "up";
    const ops = await connectStacks(
      env,
      {
        envVars: state.envVars,
        createMissing: true,
        ...(state.secretsProvider !== undefined ? { secretsProvider: state.secretsProvider } : {}),
      },
      // destroy runs no program; preview and up run it.
      operation === "destroy" ? undefined : env.repo,
    );

    formatTable(
      ["STACK", "ROLE", "TARGET"],
      plan.stacks.map((s) => [s.stack, s.role, s.target]),
    ).forEach((line) => io.out(line));
    io.out("");
    if (operation !== "destroy") {
      const leaves = plan.stacks.flatMap(({ stack, caEpoch }) =>
        caEpoch === undefined ? [] : [{ stack, file: `Pulumi.${stack}.yaml`, caEpoch }],
      );
      await refuseLoweredEpochs(ops, leaves, args.concurrency);
    }
    const runs = await runPlan(ops, plan, {
      operation,
      concurrency: args.concurrency,
      refresh: true,
      io,
      now: env.now,
    });
    io.out("");
    formatTable(
      ["STACK", "RESULT", "DETAIL"],
      runs.map((r) => [r.stack, r.outcome, r.detail]),
    ).forEach((line) => io.out(line));

    const failures = describeFailures(operation, runs);
    failures.forEach((line) => io.err(`${name}: ${line}`));
    return failures.length > 0 ? EXIT.stackFailed : EXIT.ok;
  });
}

if (require.main === module) {
  exitWith(deploy({ ...processEnv(), repo: PROJECT_DIR, env: process.env }));
}
