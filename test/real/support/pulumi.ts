// The real Pulumi CLI on the bench: a copy of the project in a temporary directory, run through
// its own npm scripts (deploy, rotate, destroy: the Automation API over the CLI), with the CLI,
// the Node.js language host stand-in and the plugins installed in a PULUMI_HOME of its own.
// Nothing is downloaded: automatic plugin acquisition is off, and every plugin the program's
// packages ask for is installed at the version they ask for.
import { spawn } from "node:child_process";
import { chmodSync, cpSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, kubernetesPluginVersion, pluginVersionOf } from "../build/components";
import { TRY_OUT_PASSPHRASE, tryOutUrl } from "../../../ops/backend";
import { realBinary } from "./bench";
import { removeDir, tempDir, track } from "../../support/processes";

/** What the project copy holds besides its stack files (node_modules is linked, not copied). */
const PROJECT_FILES = [
  "Pulumi.yaml",
  "package.json",
  "tsconfig.json",
  "index.ts",
  "stacks",
  "components",
  "ops",
];

/** Variables to add to a command's environment; undefined removes one. */
export type ExtraEnv = Readonly<Record<string, string | undefined>>;

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface PulumiProject {
  /** The project copy: stack files, .pulumi-state/, out/. */
  readonly dir: string;
  /** The environment every command runs with. */
  readonly env: Readonly<Record<string, string>>;
  /** Writes Pulumi.<stack>.yaml. */
  stackFile(stack: string, text: string): void;
  /**
   * `npm run <script> -- <args>` in the project copy; `extra` adds to the environment (a key set
   * to undefined is removed from it).
   */
  npm(script: string, args?: readonly string[], extra?: ExtraEnv): Promise<RunResult>;
  /** The CLI itself in the project copy, with the same environment. */
  pulumi(args: readonly string[], extra?: ExtraEnv): Promise<RunResult>;
  /** A script under `bash -e` in the project copy (as a GitHub Actions `run:` step runs). */
  shell(script: string, extra?: ExtraEnv): Promise<RunResult>;
  remove(): void;
}

/** A plugin directory as `pulumi plugin install` lays it out. */
function installPlugin(home: string, name: string, version: string, write: (path: string) => void) {
  const dir = join(home, "plugins", `resource-${name}-v${version}`);
  mkdirSync(dir, { recursive: true });
  write(join(dir, `pulumi-resource-${name}`));
}

/** A stand-in plugin: the SDK's provider server running test/real/plugins/standins.ts. */
function standInScript(which: "tls" | "time", version: string): string {
  const tsNode = join(REPO_ROOT, "node_modules", "ts-node", "register", "transpile-only");
  const entry = join(REPO_ROOT, "test", "real", "plugins", "standins.ts");
  return [
    "#!/bin/sh",
    `# Stand-in for the ${which} provider plugin ${version}: see ${entry}.`,
    `export TS_NODE_PROJECT='${join(REPO_ROOT, "tsconfig.json")}'`,
    `exec node -r '${tsNode}' '${entry}' ${which} ${version} "$@"`,
    "",
  ].join("\n");
}

function collect(
  command: string,
  args: readonly string[],
  cwd: string,
  base: Readonly<Record<string, string>>,
  extra: ExtraEnv,
): Promise<RunResult> {
  const env: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    // Its own process group, so an interrupted test takes the CLI's plugins down with it.
    const child = track(
      spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true }),
      { group: true },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
  });
}

/**
 * A project copy with the given stack files, the CLI on PATH and the plugins installed. Its
 * commands get only this environment (no PULUMI_* of the caller's, no login): a shell in which
 * the line deploy --try-out prints was run (the try-out's backend and passphrase exported),
 * unless `env` says otherwise.
 */
export function pulumiProject(
  stackFiles: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string>> = {},
): PulumiProject {
  const root = tempDir("pulumi");
  const dir = join(root, "project");
  const home = join(root, "home");
  const bin = join(root, "bin");
  mkdirSync(dir);
  mkdirSync(bin);
  for (const file of PROJECT_FILES) {
    cpSync(join(REPO_ROOT, file), join(dir, file), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  // Side by side, as a release installs them: the CLI takes the language host from beside its
  // own (symlink-resolved) path, so these are hard links (or copies), not symlinks.
  for (const name of ["pulumi", "pulumi-language-nodejs"]) {
    try {
      linkSync(realBinary(name), join(bin, name));
    } catch {
      cpSync(realBinary(name), join(bin, name));
    }
  }
  installPlugin(home, "kubernetes", kubernetesPluginVersion(), (path) =>
    symlinkSync(realBinary("pulumi-resource-kubernetes"), path),
  );
  for (const [which, pkg] of [
    ["tls", "@pulumi/tls"],
    ["time", "@pulumiverse/time"],
  ] as const) {
    const version = pluginVersionOf(pkg);
    installPlugin(home, which, version, (path) => {
      writeFileSync(path, standInScript(which, version));
      chmodSync(path, 0o755);
    });
  }
  const commandEnv: Record<string, string> = {
    PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    HOME: root,
    PULUMI_HOME: home,
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // npm's own cache and logs stay in the run's directory.
    npm_config_cache: join(root, "npm-cache"),
    npm_config_update_notifier: "false",
    PULUMI_BACKEND_URL: tryOutUrl(dir),
    PULUMI_CONFIG_PASSPHRASE: TRY_OUT_PASSPHRASE,
    ...env,
  };
  const project: PulumiProject = {
    dir,
    env: commandEnv,
    stackFile(stack, text) {
      writeFileSync(join(dir, `Pulumi.${stack}.yaml`), text);
    },
    npm(script, args = [], extra = {}) {
      return collect("npm", ["run", "--silent", script, "--", ...args], dir, commandEnv, extra);
    },
    pulumi(args, extra = {}) {
      return collect("pulumi", args, dir, commandEnv, extra);
    },
    shell(script, extra = {}) {
      return collect("bash", ["-e", "-c", script], dir, commandEnv, extra);
    },
    remove() {
      removeDir(root);
    },
  };
  for (const [stack, text] of Object.entries(stackFiles)) project.stackFile(stack, text);
  return project;
}
