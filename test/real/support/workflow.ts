// A GitHub Actions workflow's own `run:` steps, read from its file and run as a runner would run
// them: each step's `env:` with its `${{ ... }}` expressions evaluated against given `vars`,
// `secrets` and `inputs` (GitHub's `||` and string literals; a missing value is ""), its script
// under `bash -e`, and $GITHUB_ENV carried to the steps after it. Only what the project's
// workflows use is understood; anything else fails the test, naming the expression.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ExtraEnv, PulumiProject, RunResult } from "./pulumi";

export interface WorkflowStep {
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** The steps of one job of a workflow file. */
export function workflowSteps(file: string, job: string): WorkflowStep[] {
  const workflow = parse(readFileSync(file, "utf8")) as {
    jobs: Record<string, { steps: WorkflowStep[] }>;
  };
  return workflow.jobs[job].steps;
}

/** What `${{ }}` expressions read: `vars.X`, `secrets.X`, `inputs.X`. */
export type ExpressionContext = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** One `${{ a || 'b' }}` value: the first term that is not empty. */
export function evaluate(value: string, context: ExpressionContext): string {
  return value.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expression: string) => {
    for (const term of expression.split("||").map((t) => t.trim())) {
      const literal = /^'([^']*)'$/.exec(term);
      const reference = /^(vars|secrets|inputs)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(term);
      if (literal === null && reference === null) {
        throw new Error(`the workflow uses an expression this runner does not know: ${term}`);
      }
      const found = literal !== null ? literal[1] : (context[reference![1]]?.[reference![2]] ?? "");
      if (found !== "") return found;
    }
    return "";
  });
}

/**
 * Runs the `run:` steps of a job in the project copy, the environment of each built as a runner
 * builds it, except those `skip` names (the `uses:` steps, checkout, setup-node and the CLI's
 * install, are the bench's own: its copy, its Node.js, its CLI on PATH). Stops at the first step
 * that fails; returns the result of each step run.
 */
export async function runWorkflowSteps(
  project: PulumiProject,
  steps: readonly WorkflowStep[],
  context: ExpressionContext,
  runnerEnv: ExtraEnv,
  skip: (step: WorkflowStep) => boolean = () => false,
): Promise<{ step: string; result: RunResult }[]> {
  const runnerTemp = join(project.dir, "..", "runner-temp");
  const githubEnv = join(runnerTemp, "github-env");
  mkdirSync(runnerTemp, { recursive: true });
  writeFileSync(githubEnv, "");
  const results: { step: string; result: RunResult }[] = [];
  for (const step of steps) {
    if (step.run === undefined || skip(step)) continue;
    // What earlier steps appended to $GITHUB_ENV (NAME=value lines).
    const carried = Object.fromEntries(
      readFileSync(githubEnv, "utf8")
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    const env = Object.fromEntries(
      Object.entries(step.env ?? {}).map(([k, v]) => [k, evaluate(v, context)]),
    );
    const result = await project.shell(step.run, {
      ...runnerEnv,
      RUNNER_TEMP: runnerTemp,
      GITHUB_ENV: githubEnv,
      ...carried,
      ...env,
    });
    results.push({ step: step.name ?? step.run.split("\n")[0], result });
    if (result.code !== 0) break;
  }
  return results;
}
