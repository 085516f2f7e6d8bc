// Which Pulumi CLI the ops commands run, and when they refuse to. Pure: the CLI is found and
// installed through a CliLocator (the Automation API's in ops/workspace.ts, a fake in tests).

import { lt, valid } from "semver";

/** The CLI version the commands install; equal to the @pulumi/pulumi version (a test checks). */
export const PULUMI_CLI_VERSION = "3.276.0";

/**
 * The oldest CLI that honours the `replacementTrigger` resource option (pulumi/pulumi#20936,
 * release 3.208.0). An older engine ignores it, so certificates would never be re-issued.
 */
export const MIN_PULUMI_CLI_VERSION = "3.208.0";

/**
 * The oldest Node.js the commands run on: @pulumi/pulumi needs 22 or later, and CI runs the fast
 * suite on 22 (everything on 24). package.json's engines says the same; a test keeps them equal.
 */
export const MIN_NODE_VERSION = "22.12.0";

/** Refuses a Node.js older than MIN_NODE_VERSION, saying how to get a newer one. */
export function checkNodeVersion(version: string): string | undefined {
  if (valid(version) !== null && !lt(version, MIN_NODE_VERSION)) return undefined;
  return (
    `Node.js ${version} is older than ${MIN_NODE_VERSION}, the oldest @pulumi/pulumi ` +
    `${PULUMI_CLI_VERSION} runs on; install Node.js 24, or run the command through ` +
    `ops/with-node (it fetches Node 24 from the npm registry), e.g. ops/with-node npm run deploy`
  );
}

/** The official installer, pinned. */
const INSTALL_COMMAND = `curl -fsSL https://get.pulumi.com | sh -s -- --version ${PULUMI_CLI_VERSION}`;

/** What a machine without access to Pulumi's download sites does instead. */
const OFFLINE_HINT =
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

type CliResult<C> =
  { readonly ok: true; readonly cli: C } | { readonly ok: false; readonly message: string };

/** Refuses a CLI whose version is unreadable or older than MIN_PULUMI_CLI_VERSION. */
function checkCliVersion(version: string | undefined): string | undefined {
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
 * ~/.pulumi/versions. `note` hears about an install before it starts, and about a CLI that is
 * accepted but older than the one this release is tested with.
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
  if (refused !== undefined) return { ok: false, message: refused };
  if (lt(cli.version!, PULUMI_CLI_VERSION)) {
    note(
      `the Pulumi CLI on PATH is ${cli.version}: accepted (${MIN_PULUMI_CLI_VERSION} or later ` +
        `renews certificates), but this release is tested with ${PULUMI_CLI_VERSION}`,
    );
  }
  return { ok: true, cli };
}
