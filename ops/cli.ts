// Which Pulumi CLI the ops commands run, and when they refuse to. Pure: the CLI is found and
// installed through a CliLocator (the Automation API's in ops/workspace.ts, a fake in tests).

import { lt, valid } from "semver";

/** The CLI version the commands install; equal to the @pulumi/pulumi version (a test checks). */
export const PULUMI_CLI_VERSION = "3.248.0";

/**
 * The oldest CLI that honours the `replacementTrigger` resource option (pulumi/pulumi#20936,
 * release 3.208.0). An older engine ignores it, so certificates would never be re-issued.
 */
export const MIN_PULUMI_CLI_VERSION = "3.208.0";

/** The official installer, pinned. */
export const INSTALL_COMMAND = `curl -fsSL https://get.pulumi.com | sh -s -- --version ${PULUMI_CLI_VERSION}`;

/** What a machine without access to Pulumi's download sites does instead. */
export const OFFLINE_HINT =
  "without access to Pulumi's download sites, put a pre-installed pulumi (and its plugins) on " +
  `PATH: see docs/OPERATIONS.md, "Without access to Pulumi's download sites"`;

export interface FoundCli {
  /** As `pulumi version` printed it, without the leading `v`; undefined if unreadable. */
  readonly version: string | undefined;
}

export interface CliLocator<C extends FoundCli> {
  /** The CLI on PATH, or undefined if there is none. */
  find(): Promise<C | undefined>;
  /** Installs this version (or finds a previous install of it) and returns it. */
  install(version: string): Promise<C>;
}

export type CliResult<C> =
  { readonly ok: true; readonly cli: C } | { readonly ok: false; readonly message: string };

/** Refuses a CLI whose version is unreadable or older than MIN_PULUMI_CLI_VERSION. */
export function checkCliVersion(version: string | undefined): string | undefined {
  if (version === undefined || valid(version) === null) {
    return (
      `could not read the Pulumi CLI's version (${JSON.stringify(version ?? "")}); ` +
      `install ${PULUMI_CLI_VERSION} with: ${INSTALL_COMMAND}`
    );
  }
  if (lt(version, MIN_PULUMI_CLI_VERSION)) {
    return (
      `the Pulumi CLI is ${version}, older than ${MIN_PULUMI_CLI_VERSION}: it ignores the ` +
      `replacementTrigger resource option, so certificates would not be renewed; ` +
      `install ${PULUMI_CLI_VERSION} with: ${INSTALL_COMMAND}`
    );
  }
  return undefined;
}

/**
 * The CLI on PATH if it is recent enough; without one on PATH, the pinned version installed under
 * ~/.pulumi/versions. `note` hears about an install before it starts.
 */
export async function locateCli<C extends FoundCli>(
  locator: CliLocator<C>,
  note: (line: string) => void,
): Promise<CliResult<C>> {
  let cli = await locator.find();
  if (cli === undefined) {
    note(
      `the Pulumi CLI is not on PATH; installing ${PULUMI_CLI_VERSION} under ~/.pulumi/versions`,
    );
    try {
      cli = await locator.install(PULUMI_CLI_VERSION);
    } catch (e) {
      const reason = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      return {
        ok: false,
        message:
          `the Pulumi CLI is not on PATH and installing ${PULUMI_CLI_VERSION} failed (${reason}); ` +
          `install it with: ${INSTALL_COMMAND}; ${OFFLINE_HINT}`,
      };
    }
  }
  const refused = checkCliVersion(cli.version);
  return refused === undefined ? { ok: true, cli } : { ok: false, message: refused };
}
