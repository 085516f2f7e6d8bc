// npm run deploy / npm run destroy: every stack whose Pulumi.<stack>.yaml is in the repository,
// leaves before observers (destroy: the reverse). Without other settings it is a try-out setup:
// state in .pulumi-state/, a well-known passphrase, and stacks that name no cluster render their
// manifests to out/<stack>/ instead of deploying them.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isMap, parse, parseDocument } from "yaml";
import { isRecord } from "../components/contract";
import { PROJECT, Role } from "../stacks/config";
import { StackFile, checkStackFiles, readStackFiles } from "./check";
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
import { FoundCli, MIN_PULUMI_CLI_VERSION } from "./cli";
import { Plan, describeFailures, formatTable, runPlan } from "./run";
import { PROJECT_DIR, exitWith, processEnv } from "./workspace";

export const DEPLOY_USAGE = `Usage: npm run deploy -- [--concurrency <n>] [--preview]
       npm run destroy -- [--concurrency <n>]

deploy runs \`pulumi up --refresh\` on every stack that has a Pulumi.<stack>.yaml here: the leaf
stacks first (in parallel), then the observers. destroy runs \`pulumi destroy\` on the same
stacks, observers first. A stack that does not exist yet is created first (for destroy, empty,
so that a half-finished deploy can still be torn down).

A stack file that sets none of ${PROJECT}:kubeconfig, kubeContext or renderDir renders its
manifests to out/<stack>/ instead of deploying, through a copy of its stack file under
.pulumi-state/config/ (deploy never edits a stack file; \`pulumi stack init\` adds its salt).

State goes to file://<this directory>/.pulumi-state unless PULUMI_BACKEND_URL says otherwise;
secrets use the passphrase provider, with a well-known passphrase unless
PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is set: for trying out only.

Flags:
  --concurrency <n>  stacks run at once, 1 to ${MAX_CONCURRENCY} (default: ${DEFAULT_CONCURRENCY})
  --preview          deploy only: \`pulumi preview --refresh\` instead of up; changes no
                     resources (a missing stack is still created, empty)
  --help             print this and exit

Exit codes:
  0  every stack succeeded
  1  a stack operation failed (stacks that depend on it were skipped)
  2  bad command line, a stack file that cannot be run, or no stack files
  4  the Pulumi CLI is missing and cannot be installed, or is older than ${MIN_PULUMI_CLI_VERSION}`;

/** The passphrase of the try-out setup. Public on purpose: it protects nothing. */
export const TRY_OUT_PASSPHRASE = "thanos-bridge-try-out-only";
export const STATE_DIR = ".pulumi-state";

const key = (name: string): string => `${PROJECT}:${name}`;
/** Keys that name where a stack deploys; the program takes the kubernetes: two as its own. */
const TARGET_KEYS = [
  ...["kubeconfig", "kubeContext", "renderDir"].map(key),
  "kubernetes:context",
  "kubernetes:kubeconfig",
];

/** How deploy runs one stack. */
export interface StackPlan {
  readonly stack: string;
  readonly role: Role;
  /** True: no target set, so deploy renders to out/<stack>/ through a derived config file. */
  readonly render: boolean;
  /** For the table: where the stack's objects go. */
  readonly target: string;
}

export interface DeployPlan extends Plan {
  readonly stacks: readonly StackPlan[];
}

const hasValue = (value: unknown): boolean => value !== undefined && value !== null && value !== "";

function describeTarget(config: Record<string, unknown>, stack: string): string {
  const renderDir = config[key("renderDir")];
  if (hasValue(renderDir)) return `renders to ${String(renderDir)}/ (its renderDir)`;
  const context = config[key("kubeContext")] ?? config["kubernetes:context"];
  if (hasValue(context)) return `cluster (kubeContext ${String(context)})`;
  if (hasValue(config[key("kubeconfig")] ?? config["kubernetes:kubeconfig"])) {
    return "cluster (its kubeconfig)";
  }
  return `renders to out/${stack}/ (no kubeconfig, kubeContext or renderDir set)`;
}

/**
 * Checks every stack file before anything runs (`npm run check`: the program's own loader, then
 * the rules across stacks), then plans them. On a DIY backend (files, buckets) stacks are named
 * organization/<project>/<stack>, so the observers' leaves must be named so too.
 */
export function planStacks(files: readonly StackFile[], diyBackend: boolean): DeployPlan {
  if (files.length === 0) {
    throw new Exit(EXIT.usage, "there is no Pulumi.<stack>.yaml here, so there is nothing to run");
  }
  const checked = checkStackFiles(files);
  const problems = [...checked.problems];
  const stacks: StackPlan[] = [];
  for (const { stack, config, role, leaves } of checked.stacks) {
    if (role === undefined) continue;
    const render = TARGET_KEYS.every((k) => !hasValue(config[k]));
    stacks.push({ stack, role, render, target: describeTarget(config, stack) });
    if (!diyBackend) continue;
    for (const leaf of leaves) {
      const [org, project, name] = leaf.split("/");
      if (org !== "organization") {
        problems.push(
          `Pulumi.${stack}.yaml: ${key("leaves")}: ${leaf} cannot be found on this DIY backend, ` +
            `where stacks are named organization/<project>/<stack>; use ` +
            `organization/${project}/${name}`,
        );
      }
    }
  }
  if (problems.length === 1) throw new Exit(EXIT.usage, problems[0]);
  if (problems.length > 1) {
    throw new Exit(
      EXIT.usage,
      [`${problems.length} problems in the stack files:`, ...problems.map((p) => `  - ${p}`)].join(
        "\n",
      ),
    );
  }
  const named = (role: Role): string[] => stacks.filter((s) => s.role === role).map((s) => s.stack);
  return { stacks, leaves: named("leaf"), observers: named("observer") };
}

/** The stack file's YAML (encryptionsalt and all) with `renderDir: out/<stack>` added. */
export function renderConfig(stackFileText: string, stack: string): string {
  const doc = parseDocument(stackFileText);
  if (!isMap(doc.get("config"))) doc.set("config", doc.createNode({}));
  doc.setIn(["config", key("renderDir")], `out/${stack}`);
  return doc.toString();
}

/** Writes the derived config of a render stack under .pulumi-state/ and returns its path. */
export function writeRenderConfig(repo: string, stack: string): string {
  const text = readFileSync(join(repo, `Pulumi.${stack}.yaml`), "utf8");
  const dir = join(repo, STATE_DIR, "config");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `Pulumi.${stack}.yaml`);
  writeFileSync(path, renderConfig(text, stack));
  return path;
}

/**
 * For rotate: the stacks that deploy renders (a stack file here that names no target) run
 * through the same derived config, or their refresh would look for the ambient cluster.
 * Stacks are named short or `org/project/stack`; undefined for any other stack.
 */
export function renderConfigFor(repo: string): (stack: string) => string | undefined {
  return (stack) => {
    const short = stack.split("/").pop() ?? stack;
    const file = join(repo, `Pulumi.${short}.yaml`);
    if (!existsSync(file)) return undefined;
    let doc: unknown;
    try {
      doc = parse(readFileSync(file, "utf8"));
    } catch {
      return undefined;
    }
    const config = isRecord(doc) && isRecord(doc["config"]) ? doc["config"] : {};
    return TARGET_KEYS.every((k) => !hasValue(config[k]))
      ? writeRenderConfig(repo, short)
      : undefined;
  };
}

export interface StateEnvironment {
  readonly envVars: Readonly<Record<string, string>>;
  /** Files or a bucket, where stacks are named organization/<project>/<stack>. */
  readonly diyBackend: boolean;
  /** Printed on stderr before anything runs; empty if nothing needs saying. */
  readonly notice: readonly string[];
}

/**
 * The secrets provider a stack file names (`secretsprovider:`, which `pulumi stack init
 * --secrets-provider` writes for every provider but the passphrase and the backend's own), if
 * any. A file that is not YAML names none; `npm run check` reports it.
 */
export function namedSecretsProvider(file: StackFile): string | undefined {
  try {
    const doc: unknown = parse(file.text);
    const provider = isRecord(doc) ? doc["secretsprovider"] : undefined;
    return typeof provider === "string" && provider !== "" && provider !== "passphrase"
      ? provider
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Backend and passphrase: the user's if set, the try-out defaults otherwise. When every stack
 * file names its own secrets provider (a KMS key), no passphrase encrypts anything: none is set
 * and no try-out notice is printed.
 */
export function stateEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  repo: string,
  stackFiles: readonly StackFile[] = [],
): StateEnvironment {
  const localState = env["PULUMI_BACKEND_URL"] === undefined || env["PULUMI_BACKEND_URL"] === "";
  const backend = localState
    ? `file://${join(repo, STATE_DIR)}`
    : (env["PULUMI_BACKEND_URL"] as string);
  const ownProviders =
    stackFiles.length > 0 && stackFiles.every((f) => namedSecretsProvider(f) !== undefined);
  const wellKnown =
    env["PULUMI_CONFIG_PASSPHRASE"] === undefined &&
    env["PULUMI_CONFIG_PASSPHRASE_FILE"] === undefined &&
    !ownProviders;
  const envVars: Record<string, string> = { PULUMI_BACKEND_URL: backend };
  if (wellKnown) envVars["PULUMI_CONFIG_PASSPHRASE"] = TRY_OUT_PASSPHRASE;
  const bar = "!".repeat(78);
  const notice = wellKnown
    ? [
        bar,
        "!! FOR TRYING OUT ONLY: do not use this setup for clusters you care about.",
        `!! Secrets in the state (private keys, kubeconfigs) are encrypted with the`,
        `!! well-known passphrase "${TRY_OUT_PASSPHRASE}": anyone who can read the`,
        "!! state can decrypt them.",
        ...(localState
          ? [
              `!! The state is on this disk only, in ${join(repo, STATE_DIR)}: no backup, no`,
              "!! sharing, gone with this checkout.",
            ]
          : []),
        "!! For real use set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)",
        "!! and PULUMI_BACKEND_URL before the first deploy.",
        bar,
      ]
    : localState
      ? [
          `note: the state is on this disk only, in ${join(repo, STATE_DIR)}; set PULUMI_BACKEND_URL to keep it elsewhere`,
        ]
      : [];
  return { envVars, diyBackend: !/^https?:\/\//.test(backend), notice };
}

type Subcommand = "deploy" | "destroy";

interface DeployArgs {
  readonly command: Subcommand;
  readonly help: boolean;
  readonly concurrency: number;
  readonly preview: boolean;
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
  };
}

export interface DeployEnv<C extends FoundCli> extends CommandEnv<C> {
  /** The project directory: stack files, .pulumi-state/, out/. */
  readonly repo: string;
  /** The process environment, for the backend and passphrase settings. */
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
    const state = stateEnvironment(env.env, env.repo, files);
    const plan = planStacks(files, state.diyBackend);
    state.notice.forEach((line) => io.err(line));
    mkdirSync(join(env.repo, STATE_DIR), { recursive: true });

    const render = new Set(plan.stacks.filter((s) => s.render).map((s) => s.stack));
    const ops = await connectStacks(env, {
      envVars: state.envVars,
      createMissing: true,
      secretsProvider: "passphrase",
      configFile: (stack) => (render.has(stack) ? writeRenderConfig(env.repo, stack) : undefined),
    });

    formatTable(
      ["STACK", "ROLE", "TARGET"],
      plan.stacks.map((s) => [s.stack, s.role, s.target]),
    ).forEach((line) => io.out(line));
    io.out("");
    const operation = args.command === "destroy" ? "destroy" : args.preview ? "preview" : "up";
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
