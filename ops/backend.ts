// Where the stacks' state and secrets live, for deploy, destroy and rotate. The backend is chosen
// as the Pulumi CLI chooses it (PULUMI_BACKEND_URL, then Pulumi.yaml's backend.url, then the
// CLI's current `pulumi login`; Pulumi Cloud when only PULUMI_ACCESS_TOKEN is set), so these
// commands and `pulumi` by hand in the same shell reach the same stacks. The try-out (state in
// the checkout, a well-known passphrase) is chosen only on purpose: `--try-out`, or
// PULUMI_BACKEND_URL pointing at the checkout's .pulumi-state. Its passphrase is never used
// anywhere else: Pulumi Cloud keeps its own per-stack keys, and any other backend needs a
// passphrase or KMS key of the user's own, or nothing is created.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { ProjectSettings } from "@pulumi/pulumi/automation";
import { parse } from "yaml";
import { isRecord } from "../components/common/contract";
import { EXIT, Exit } from "./command";
import { StackFile, parseStackFile } from "./stackfiles";

/** The passphrase of the try-out's own local state. Public on purpose: it protects nothing. */
export const TRY_OUT_PASSPHRASE = "thanos-bridge-try-out-only";
/** The try-out's state, in the checkout (in .gitignore). */
export const STATE_DIR = ".pulumi-state";
/** Where the CLI goes when nothing else names a backend but an access token is set. */
const PULUMI_CLOUD_URL = "https://api.pulumi.com";

export type Environment = Readonly<Record<string, string | undefined>>;

/** Where the backend URL came from, in the CLI's order. */
type BackendSource =
  | "--try-out"
  | "PULUMI_BACKEND_URL"
  | "Pulumi.yaml backend.url"
  | "pulumi login"
  | "PULUMI_ACCESS_TOKEN";

export interface Backend {
  readonly url: string;
  readonly source: BackendSource;
  /**
   * `try-out`: the checkout's .pulumi-state; `cloud`: Pulumi Cloud (or a self-hosted Pulumi
   * service), which keeps per-stack keys; `diy`: files or a bucket, which keep no keys.
   */
  readonly kind: "try-out" | "cloud" | "diy";
}

/** How a command reaches its stacks: what it adds to the CLI's environment, and what it says. */
export interface StateEnvironment {
  readonly backend: Backend;
  readonly envVars: Readonly<Record<string, string>>;
  /** For stacks the command creates; undefined: the backend's own (Pulumi Cloud's keys). */
  readonly secretsProvider?: string;
  /** Printed on stdout before anything runs: the backend, and how to reach it by hand. */
  readonly info: readonly string[];
  /** Printed on stderr before anything runs: the try-out's warning. */
  readonly warning: readonly string[];
}

const isSet = (value: string | undefined): value is string => value !== undefined && value !== "";

export const tryOutUrl = (repo: string): string => `file://${join(repo, STATE_DIR)}`;

/** The line that gives a shell the try-out's backend and passphrase, as deploy uses them. */
export const tryOutExports = (repo: string): string =>
  `export PULUMI_BACKEND_URL=${tryOutUrl(repo)} PULUMI_CONFIG_PASSPHRASE=${TRY_OUT_PASSPHRASE}`;

/** The directory a file:// backend URL names (its query, such as ?no_tmp_dir, dropped). */
function fileBackendDir(url: string): string | undefined {
  if (!url.startsWith("file://")) return undefined;
  return resolve(url.slice("file://".length).replace(/\?.*$/, ""));
}

function kindOf(url: string, repo: string): Backend["kind"] {
  if (fileBackendDir(url) === resolve(repo, STATE_DIR)) return "try-out";
  // The CLI takes a URL without a scheme as a Pulumi service too; every other scheme (file, s3,
  // gs, azblob, postgres) is a DIY backend.
  return /^https?:\/\//i.test(url) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? "cloud" : "diy";
}

/** The project's own backend setting: `backend: { url }` in Pulumi.yaml, if any. */
function projectBackendUrl(repo: string): string | undefined {
  const file = join(repo, "Pulumi.yaml");
  if (!existsSync(file)) return undefined;
  const project = parse(readFileSync(file, "utf8")) as Partial<ProjectSettings> | null;
  const url = project?.backend?.url;
  return isSet(url) ? url : undefined;
}

/**
 * The CLI's current login: `current` in credentials.json, which the CLI keeps in
 * PULUMI_CREDENTIALS_PATH, else PULUMI_HOME, else ~/.pulumi.
 */
function currentLogin(env: Environment): string | undefined {
  const dir = isSet(env["PULUMI_CREDENTIALS_PATH"])
    ? env["PULUMI_CREDENTIALS_PATH"]
    : isSet(env["PULUMI_HOME"])
      ? env["PULUMI_HOME"]
      : join(isSet(env["HOME"]) ? env["HOME"] : homedir(), ".pulumi");
  const file = join(dir, "credentials.json");
  if (!existsSync(file)) return undefined;
  let credentials: unknown;
  try {
    credentials = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Exit(
      EXIT.usage,
      `${file} is not valid JSON (${(e as Error).message}), so the Pulumi CLI's login cannot be ` +
        `read; run \`pulumi login\` again`,
    );
  }
  const current = isRecord(credentials) ? credentials["current"] : undefined;
  return typeof current === "string" && current !== "" ? current : undefined;
}

/** The backend, chosen as the CLI chooses it, or the try-out when asked for. */
export function chooseBackend(env: Environment, repo: string, tryOut: boolean): Backend {
  const fromEnv = env["PULUMI_BACKEND_URL"];
  if (tryOut) {
    if (isSet(fromEnv) && kindOf(fromEnv, repo) !== "try-out") {
      throw new Exit(
        EXIT.usage,
        `--try-out keeps the state in ${join(repo, STATE_DIR)}, but PULUMI_BACKEND_URL is set to ` +
          `${fromEnv}; unset it for the try-out, or drop --try-out to use ${fromEnv}`,
      );
    }
    return { url: tryOutUrl(repo), source: "--try-out", kind: "try-out" };
  }
  const chosen: [string | undefined, BackendSource][] = [
    [fromEnv, "PULUMI_BACKEND_URL"],
    [projectBackendUrl(repo), "Pulumi.yaml backend.url"],
    [currentLogin(env), "pulumi login"],
    [isSet(env["PULUMI_ACCESS_TOKEN"]) ? PULUMI_CLOUD_URL : undefined, "PULUMI_ACCESS_TOKEN"],
  ];
  for (const [url, source] of chosen) {
    if (isSet(url)) return { url, source, kind: kindOf(url, repo) };
  }
  const earlier = existsSync(join(repo, STATE_DIR))
    ? ` (the stacks of an earlier try-out are in ${join(repo, STATE_DIR)}: --try-out reaches them)`
    : "";
  throw new Exit(
    EXIT.usage,
    [
      "no Pulumi backend is chosen: PULUMI_BACKEND_URL is not set, Pulumi.yaml names no " +
        "backend.url, and the Pulumi CLI is not logged in. Choose where the stacks' state and " +
        "secrets live, as for any Pulumi project:",
      "  pulumi login                            Pulumi Cloud (or set PULUMI_ACCESS_TOKEN)",
      "  pulumi login s3://<bucket>/<prefix>     a bucket (or gs://, azblob://, file://<dir>), " +
        "with PULUMI_CONFIG_PASSPHRASE set",
      `or try it out with no account: the same command with --try-out (state in ` +
        `${join(repo, STATE_DIR)}, a well-known passphrase)${earlier}`,
    ].join("\n"),
  );
}

/**
 * The secrets provider a stack file names (`secretsprovider:`, which `pulumi stack init
 * --secrets-provider` writes for every provider but the passphrase and the backend's own), if
 * any. A file that is not YAML names none; `npm run check` reports it.
 */
export function namedSecretsProvider(file: StackFile): string | undefined {
  try {
    const doc: unknown = parseStackFile(file.text);
    const provider = isRecord(doc) ? doc["secretsprovider"] : undefined;
    return typeof provider === "string" && provider !== "" && provider !== "passphrase"
      ? provider
      : undefined;
  } catch {
    return undefined;
  }
}

const BAR = "!".repeat(78);

/**
 * The backend and how the stacks' secrets are encrypted there. The well-known passphrase only
 * for the try-out; none on Pulumi Cloud; on any other backend the user's passphrase, or a KMS
 * provider named in every stack file that has none, or a refusal before anything is created.
 */
export function stateEnvironment(
  env: Environment,
  repo: string,
  stackFiles: readonly StackFile[],
  tryOut: boolean,
): StateEnvironment {
  const backend = chooseBackend(env, repo, tryOut);
  const envVars: Record<string, string> = { PULUMI_BACKEND_URL: backend.url };
  const where = `backend: ${backend.url} (${backend.source})`;
  const ownPassphrase =
    isSet(env["PULUMI_CONFIG_PASSPHRASE"]) || isSet(env["PULUMI_CONFIG_PASSPHRASE_FILE"]);

  if (backend.kind === "cloud") {
    return {
      backend,
      envVars,
      info: [`${where}; secrets: the service's own per-stack keys`],
      warning: [],
    };
  }

  if (backend.kind === "try-out") {
    if (!ownPassphrase) envVars["PULUMI_CONFIG_PASSPHRASE"] = TRY_OUT_PASSPHRASE;
    return {
      backend,
      envVars,
      secretsProvider: "passphrase",
      warning: [
        BAR,
        "!! FOR TRYING OUT ONLY: do not use this setup for clusters you care about.",
        `!! The state is on this disk only, in ${join(repo, STATE_DIR)}: no backup, no`,
        "!! sharing, gone with this checkout.",
        ...(ownPassphrase
          ? []
          : [
              "!! Secrets in the state (private keys, kubeconfigs) are encrypted with the",
              `!! well-known passphrase "${TRY_OUT_PASSPHRASE}": anyone who can read the`,
              "!! state can decrypt them.",
            ]),
        "!! For real use, choose a backend (`pulumi login`) and run without --try-out.",
        BAR,
      ],
      info: [
        `${where}; secrets: ${ownPassphrase ? "your passphrase" : "the well-known passphrase"}`,
        "To run pulumi by hand on these stacks, in this shell:",
        `  ${ownPassphrase ? `export PULUMI_BACKEND_URL=${backend.url}` : tryOutExports(repo)}`,
      ],
    };
  }

  if (env["PULUMI_CONFIG_PASSPHRASE"] === TRY_OUT_PASSPHRASE) {
    throw new Exit(
      EXIT.usage,
      `PULUMI_CONFIG_PASSPHRASE is the try-out's well-known passphrase, and the backend ` +
        `${backend.url} (${backend.source}) is not the try-out's: anyone could decrypt its ` +
        `secrets. Set a passphrase of your own, kept in a secret store`,
    );
  }
  const without = stackFiles.filter((f) => namedSecretsProvider(f) === undefined);
  // With no stack file to name a KMS key, a passphrase is needed.
  const needs = stackFiles.length === 0 ? ["<stack>"] : without.map((f) => f.stack);
  if (!ownPassphrase && needs.length > 0) {
    throw new Exit(
      EXIT.usage,
      [
        `the backend ${backend.url} (${backend.source}) keeps no keys of its own, and no ` +
          `passphrase is set, so the stacks' secrets (their private keys) could not be ` +
          `encrypted; nothing was created. Either:`,
        "  set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) from your secret store, or",
        "  create each stack with a KMS key first:",
        ...needs.map(
          (stack) =>
            `    pulumi stack init ${stack} --secrets-provider 'awskms://<key>?region=<region>'`,
        ),
        "  (or gcpkms://, azurekeyvault://, hashivault://; see docs/OPERATIONS.md)",
      ].join("\n"),
    );
  }
  return {
    backend,
    envVars,
    ...(ownPassphrase ? { secretsProvider: "passphrase" } : {}),
    warning: [],
    info: [
      `${where}; secrets: ${ownPassphrase ? "your passphrase" : "each stack's own KMS key"}` +
        (ownPassphrase && without.length < stackFiles.length
          ? " (a stack file that names a KMS key uses it)"
          : ""),
    ],
  };
}
