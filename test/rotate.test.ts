import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { LeafExpiry } from "../components/common/contract";
import { MIN_PULUMI_CLI_VERSION, PULUMI_CLI_VERSION } from "../ops/cli";
import { CHECKED_PROGRAM_ENV } from "../ops/typecheck";
import { LEAVES_KEY, ROTATE_USAGE, rotate } from "../ops/rotate";
import { TRY_OUT_PASSPHRASE, stateEnvironment } from "../ops/backend";
import { formatDuration, pool } from "../ops/run";
import { certStatus } from "../ops/verify";
import { FakeLocator, FakeOptions, Harness, commandEnvironment, harness } from "./support/ops";

const NOW = Date.parse("2026-03-01T00:00:00.000Z");
const DAY = 86_400_000;
const iso = (ms: number): string => new Date(ms).toISOString();

/** Expiry of the three certificates, each `days` from NOW, renewable 30 days before. */
function expiry(days: { ca: number; server: number; client: number }): LeafExpiry {
  const times = (d: number) => ({
    notAfter: iso(NOW + d * DAY),
    renewAfter: iso(NOW + (d - 30) * DAY),
  });
  return { ca: times(days.ca), server: times(days.server), client: times(days.client) };
}

const A = "acme/thanos-bridge/leaf-a";
const B = "acme/thanos-bridge/leaf-b";
const C = "acme/thanos-bridge/leaf-c";
const FRESH = expiry({ ca: 1000, server: 89, client: 89 });

/** A world of leaves and an observer that holds their current client certificates. */
function world(leaves: Record<string, LeafExpiry>, observed = leaves): FakeOptions {
  return {
    config: { observer: { [LEAVES_KEY]: JSON.stringify(Object.keys(leaves)) } },
    outputs: {
      ...Object.fromEntries(
        Object.entries(leaves).map(([stack, e]) => [stack, { bridge: { version: 2, expiry: e } }]),
      ),
      observer: {
        leaves: Object.entries(observed).map(([stack, e]) => ({
          stack,
          cluster: stack.split("/").pop(),
          endpoint: `${stack.split("/").pop()}.thanos-bridge.internal:10901`,
          upstream: "thanos.example.com:443",
          expiry: e,
        })),
      },
    },
  };
}

/** A checkout with no stack file, and a PULUMI_HOME of its own. */
let repo: string;
before(() => {
  repo = mkdtempSync(join(tmpdir(), "rotate-test-"));
});
after(() => rmSync(repo, { recursive: true, force: true }));

/** rotate in `repo`; on Pulumi Cloud unless `vars` names the environment. */
async function run(
  argv: readonly string[],
  fake: FakeOptions,
  extra: Parameters<typeof harness>[2] & { vars?: Record<string, string> } = {},
): Promise<Harness & { code: number }> {
  const h = harness(argv, fake, { now: NOW, ...extra });
  const vars = extra.vars ?? { PULUMI_BACKEND_URL: "https://api.pulumi.com" };
  const code = await rotate({ ...h.env, repo, env: commandEnvironment(repo, vars) });
  return { ...h, code };
}

/** The summary table: the lines from the header to the end of stdout, notes excluded. */
const table = (h: Harness): string[] =>
  h.io.stdout
    .slice(h.io.stdout.findIndex((l) => l.startsWith("STACK")))
    .filter((l) => !l.startsWith("note: "));

describe("rotate: order and concurrency", () => {
  it("runs up --refresh on every leaf from the observer's config, all finishing before the observer starts", async () => {
    const h = await run(["--concurrency", "2"], world({ [A]: FRESH, [B]: FRESH, [C]: FRESH }));
    assert.equal(h.code, 0);
    const ops = h.ops()!;
    assert.deepEqual(ops.configReads, [`observer ${LEAVES_KEY}`]);
    assert.deepEqual(
      ops.calls.map((c) => `${c.op} ${c.stack} refresh=${String(c.refresh)}`),
      [
        `up ${A} refresh=true`,
        `up ${B} refresh=true`,
        `up ${C} refresh=true`,
        "up observer refresh=true",
      ],
    );
    const observerStart = ops.events.indexOf("start up observer");
    for (const leaf of [A, B, C]) {
      assert.ok(ops.events.indexOf(`end up ${leaf}`) < observerStart, `${leaf} ends first`);
    }
  });

  for (const [leaves, concurrency, expected] of [
    [10, 3, 3],
    [6, undefined, 4],
    [5, 32, 5],
    [4, 1, 1],
  ] as const) {
    it(`keeps at most ${expected} leaves in flight for ${leaves} leaves at --concurrency ${concurrency ?? "(default)"}, and reaches it`, async () => {
      const names = Array.from(
        { length: leaves },
        (_, i) => `acme/thanos-bridge/leaf-${String(i).padStart(2, "0")}`,
      );
      const fake = world(Object.fromEntries(names.map((n) => [n, FRESH])));
      const h = await run(
        concurrency === undefined ? [] : ["--concurrency", String(concurrency)],
        fake,
      );
      assert.equal(h.code, 0);
      assert.equal(h.ops()!.maxInFlight, expected);
      assert.deepEqual(
        h.ops()!.calls.map((c) => c.stack),
        [...names, "observer"],
      );
    });
  }

  it("prefixes each output line with its stack and reports start and finish with durations", async () => {
    const h = await run(["--concurrency", "1", "--leaf", "leaf-a"], {
      ...world({ "leaf-a": FRESH }),
      lines: {
        "leaf-a": ["Updating (leaf-a):", "  ~ rotating"],
        observer: ["Updating (observer):"],
      },
      durations: { "leaf-a": 2500, observer: 61_000 },
    });
    assert.equal(h.code, 0);
    assert.deepEqual(h.io.stdout.slice(0, h.io.stdout.indexOf("")), [
      "backend: https://api.pulumi.com (PULUMI_BACKEND_URL); secrets: the service's own per-stack keys",
      "rotate: up on 1 leaf stack (1 at a time), then on observer",
      "[leaf-a] up started",
      "[leaf-a] Updating (leaf-a):",
      "[leaf-a]   ~ rotating",
      "[leaf-a] up succeeded in 2.5s",
      "[observer] up started",
      "[observer] Updating (observer):",
      "[observer] up succeeded in 1m01s",
    ]);
    assert.deepEqual(h.io.stderr, []);
  });

  it("pool never runs more than its limit and keeps the items' order", async () => {
    const started: number[] = [];
    let inFlight = 0;
    let most = 0;
    await pool([1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
    });
    assert.deepEqual(started, [1, 2, 3, 4, 5]);
    assert.equal(most, 2);
  });

  it("formats durations", () => {
    assert.deepEqual([850, 2500, 59_949, 61_000, 600_000].map(formatDuration), [
      "850ms",
      "2.5s",
      "59.9s",
      "1m01s",
      "10m00s",
    ]);
  });
});

describe("rotate: a failing leaf", () => {
  it("lets the other leaves finish, skips the observer, reports the failure and exits 1", async () => {
    const h = await run(
      [],
      {
        ...world({ [A]: FRESH, [B]: FRESH, [C]: FRESH }),
        failures: { [B]: "pulumi exited with code 255: error: boom" },
      },
      { prepare: (ops) => ops.holdUntil(A, `fail up ${B}`) },
    );
    // leaf-a was held past leaf-b's failure; it still ran to the end.
    const ops = h.ops()!;
    assert.ok(ops.events.indexOf(`fail up ${B}`) < ops.events.indexOf(`end up ${A}`));
    assert.ok(ops.events.includes(`end up ${C}`));
    assert.equal(h.code, 1);
    assert.ok(!ops.calls.some((c) => c.stack === "observer"), "observer not run");
    assert.deepEqual(h.io.stderr, [
      `rotate: up failed on ${B}: pulumi exited with code 255: error: boom`,
      `rotate: up skipped on observer: leaf stack ${B} failed`,
    ]);
    assert.ok(h.io.stdout.includes(`[observer] up skipped: leaf stack ${B} failed`));
    assert.ok(
      h.io.stdout.includes(`[${B}] up FAILED after 1.0s: pulumi exited with code 255: error: boom`),
    );
    const rows = table(h);
    assert.match(rows[2], new RegExp(`^${B}\\s+FAILED\\s`));
    assert.match(rows[4], /^observer\s+skipped\s+-/);
  });
});

describe("rotate: expiry verification", () => {
  const due = expiry({ ca: 1000, server: 20, client: 89 });
  const expired = expiry({ ca: 1000, server: 89, client: -1 });

  it("OK: prints the table and exits 0", async () => {
    const h = await run([], world({ [B]: FRESH, [A]: FRESH }));
    assert.equal(h.code, 0);
    assert.deepEqual(table(h), [
      "STACK                      RUN  CA                           SERVER                       CLIENT                       OBSERVER",
      "acme/thanos-bridge/leaf-a  ok   2028-11-25T00:00:00.000Z OK  2026-05-29T00:00:00.000Z OK  2026-05-29T00:00:00.000Z OK  current",
      "acme/thanos-bridge/leaf-b  ok   2028-11-25T00:00:00.000Z OK  2026-05-29T00:00:00.000Z OK  2026-05-29T00:00:00.000Z OK  current",
      "observer                   ok   -                            -                            -                            -",
    ]);
    assert.deepEqual(h.io.stderr, []);
  });

  it("DUE: a certificate inside its renewal window after up exits 3 and says which", async () => {
    const h = await run([], world({ [A]: FRESH, [B]: due }));
    assert.equal(h.code, 3);
    assert.equal(
      table(h)[2],
      `${B}  ok   2028-11-25T00:00:00.000Z OK  2026-03-21T00:00:00.000Z DUE  2026-05-29T00:00:00.000Z OK  current`,
    );
    assert.deepEqual(h.io.stderr, [
      `rotate: ${B}: server certificate DUE: its renewal time 2026-02-19T00:00:00.000Z has passed (expires 2026-03-21T00:00:00.000Z)`,
    ]);
  });

  it("EXPIRED: exits 3 and says which", async () => {
    const h = await run([], world({ [A]: expired }));
    assert.equal(h.code, 3);
    assert.equal(
      table(h)[1],
      `${A}  ok   2028-11-25T00:00:00.000Z OK  2026-05-29T00:00:00.000Z OK  2026-02-28T00:00:00.000Z EXPIRED  current`,
    );
    assert.deepEqual(h.io.stderr, [
      `rotate: ${A}: client certificate EXPIRED at 2026-02-28T00:00:00.000Z`,
    ]);
  });

  it("STALE: the observer holding an older client certificate exits 3", async () => {
    const older = expiry({ ca: 1000, server: 89, client: 40 });
    const h = await run([], world({ [A]: FRESH, [B]: FRESH }, { [A]: FRESH, [B]: older }));
    assert.equal(h.code, 3);
    assert.equal(
      table(h)[2],
      `${B}  ok   2028-11-25T00:00:00.000Z OK  2026-05-29T00:00:00.000Z OK  2026-05-29T00:00:00.000Z OK  STALE`,
    );
    assert.deepEqual(h.io.stderr, [
      `rotate: ${B}: STALE: observer stack observer holds a client certificate expiring 2026-04-10T00:00:00.000Z, but the leaf's current one expires 2026-05-29T00:00:00.000Z`,
    ]);
  });

  it("STALE: a leaf missing from the observer's output exits 3", async () => {
    const h = await run([], world({ [A]: FRESH, [B]: FRESH }, { [A]: FRESH }));
    assert.equal(h.code, 3);
    assert.deepEqual(h.io.stderr, [
      `rotate: ${B}: STALE: observer stack observer does not list this leaf in its 'leaves' output`,
    ]);
  });

  it("matches a leaf named with --leaf without organization to the observer's qualified record", async () => {
    const h = await run(["--leaf", "leaf-a"], world({ "leaf-a": FRESH }, { [A]: FRESH }));
    assert.equal(h.code, 0);
    assert.match(table(h)[1], /^leaf-a\s.*current$/);
  });

  it("a leaf without a 'bridge' output cannot be checked: exits 3", async () => {
    const fake = world({ [A]: FRESH });
    const h = await run([], { ...fake, outputs: { observer: fake.outputs!["observer"] } });
    assert.equal(h.code, 3);
    assert.deepEqual(table(h)[1].split(/\s+/), [A, "ok", "?", "?", "?", "?"]);
    assert.deepEqual(h.io.stderr, [`rotate: ${A}: has no output 'bridge'`]);
  });

  it("classifies at the boundaries: renewAfter is DUE, notAfter is EXPIRED", () => {
    const t = { notAfter: "2026-03-01T00:00:00Z", renewAfter: "2026-02-01T00:00:00Z" };
    assert.equal(certStatus(t, Date.parse("2026-01-31T23:59:59Z")), "OK");
    assert.equal(certStatus(t, Date.parse(t.renewAfter)), "DUE");
    assert.equal(certStatus(t, Date.parse(t.notAfter) - 1), "DUE");
    assert.equal(certStatus(t, Date.parse(t.notAfter)), "EXPIRED");
  });

  describe("--preview", () => {
    it("previews with refresh, never runs up, and treats DUE and STALE as notes (exit 0)", async () => {
      const older = expiry({ ca: 1000, server: 89, client: 40 });
      const h = await run(["--preview"], world({ [A]: due, [B]: FRESH }, { [A]: due, [B]: older }));
      assert.equal(h.code, 0);
      assert.deepEqual(
        h.ops()!.calls.map((c) => `${c.op} ${c.stack} refresh=${String(c.refresh)}`),
        [`preview ${A} refresh=true`, `preview ${B} refresh=true`, "preview observer refresh=true"],
      );
      assert.deepEqual(h.io.stderr, []);
      assert.deepEqual(
        h.io.stdout.filter((l) => l.startsWith("note: ")),
        [
          `note: ${A}: server certificate DUE: its renewal time 2026-02-19T00:00:00.000Z has passed (expires 2026-03-21T00:00:00.000Z)`,
          `note: ${B}: STALE: observer stack observer holds a client certificate expiring 2026-04-10T00:00:00.000Z, but the leaf's current one expires 2026-05-29T00:00:00.000Z`,
        ],
      );
    });

    it("fails only on EXPIRED (exit 3)", async () => {
      const h = await run(["--preview"], world({ [A]: expired, [B]: due }));
      assert.equal(h.code, 3);
      assert.deepEqual(h.io.stderr, [
        `rotate: ${A}: client certificate EXPIRED at 2026-02-28T00:00:00.000Z`,
      ]);
    });
  });
});

describe("rotate: command line", () => {
  for (const [argv, message] of [
    [["--bogus"], "Unknown option '--bogus'"],
    [["extra"], "Unexpected argument 'extra'. This command does not take positional arguments"],
    [["--observer"], "Option '--observer <value>' argument missing"],
    [["--preview=yes"], "Option '--preview' does not take an argument"],
    [["--concurrency", "0"], '--concurrency must be a whole number from 1 to 32, got "0"'],
    [["--concurrency", "33"], '--concurrency must be a whole number from 1 to 32, got "33"'],
    [["--concurrency", "2.5"], '--concurrency must be a whole number from 1 to 32, got "2.5"'],
    [["--leaf", ""], "--leaf needs a stack name"],
    [["--leaf", "a", "--leaf", "a"], "--leaf names a more than once"],
    [["--leaf", "observer"], "--leaf names the observer stack observer as a leaf"],
    [["--observer="], "--observer needs a stack name"],
  ] as const) {
    it(`rejects ${argv.join(" ")} with exit 2 before looking for the CLI`, async () => {
      const h = await run(argv, world({ [A]: FRESH }));
      assert.equal(h.code, 2);
      assert.deepEqual(h.io.stderr, [
        `rotate: ${message}`,
        'run "npm run rotate -- --help" for usage',
      ]);
      assert.equal(h.locator.finds, 0);
      assert.equal(h.ops(), undefined);
    });
  }

  it("--help prints the usage, with the exit codes, and exits 0", async () => {
    const h = await run(["--help"], {});
    assert.equal(h.code, 0);
    assert.deepEqual(h.io.stdout, ROTATE_USAGE.split("\n"));
    assert.match(
      ROTATE_USAGE,
      /^ {2}4 {2}the Pulumi CLI is missing and cannot be installed, or is older than 3\.208\.0;\n {5}or Node\.js is older than 22\.12\.0$/m,
    );
    assert.equal(h.locator.finds, 0);
  });

  it("--leaf replaces the observer's config, which is then not read", async () => {
    const h = await run(["--leaf", B, "--leaf", A], world({ [A]: FRESH, [B]: FRESH, [C]: FRESH }));
    assert.equal(h.code, 0);
    assert.deepEqual(h.ops()!.configReads, []);
    assert.deepEqual(
      h.ops()!.calls.map((c) => c.stack),
      [B, A, "observer"],
    );
  });

  it("--observer names the stack whose config lists the leaves, and which runs last", async () => {
    const fake = world({ [A]: FRESH });
    const h = await run(["--observer", "obs-eu"], {
      config: { "obs-eu": { [LEAVES_KEY]: JSON.stringify([A]) } },
      outputs: { [A]: fake.outputs![A], "obs-eu": fake.outputs!["observer"] },
    });
    assert.equal(h.code, 0);
    assert.deepEqual(h.ops()!.configReads, [`obs-eu ${LEAVES_KEY}`]);
    assert.deepEqual(
      h.ops()!.calls.map((c) => c.stack),
      [A, "obs-eu"],
    );
  });

  const fix = `set it on the observer (pulumi config set --path 'leaves[0]' <org>/thanos-bridge/<leaf> --stack observer) or name the leaves with --leaf`;
  const refused = (problem: string) =>
    `stack observer: ${LEAVES_KEY}: ${problem}; so there is nothing to rotate: fix it, or name the leaves with --leaf`;
  // The observer stack's own parser (stacks/config/ readLeaves): the same messages.
  for (const [what, config, message] of [
    ["missing", {}, `stack observer has no ${LEAVES_KEY}, so there is nothing to rotate; ${fix}`],
    [
      "empty",
      { [LEAVES_KEY]: "[]" },
      refused(
        "is empty; list the leaf stacks this observer queries, e.g. `pulumi config set --path 'leaves[0]' acme/thanos-bridge/leaf-a`",
      ),
    ],
    [
      "not a list",
      { [LEAVES_KEY]: '"leaf-a"' },
      refused(
        '"leaf-a" is a string, not a list; write it in the stack file as a YAML list (one "- item" per line), or `pulumi config set --path \'leaves[0]\' <item>`',
      ),
    ],
    [
      "not fully qualified",
      { [LEAVES_KEY]: '["observer"]' },
      refused(
        '"observer" is not allowed; use a fully qualified stack name <organization>/<project>/<stack>, e.g. acme/thanos-bridge/leaf-a',
      ),
    ],
  ] as const) {
    it(`an observer whose leaves config is ${what}: usage error (exit 2), nothing run`, async () => {
      const h = await run([], { config: { observer: config } });
      assert.equal(h.code, 2);
      assert.deepEqual(h.io.stderr, [
        `rotate: ${message}`,
        'run "npm run rotate -- --help" for usage',
      ]);
      assert.deepEqual(h.ops()!.calls, []);
    });
  }
});

describe("rotate: Pulumi CLI", () => {
  const install = `curl -fsSL https://get.pulumi.com | sh -s -- --version ${PULUMI_CLI_VERSION}`;

  it("pins the CLI to the @pulumi/pulumi version in package.json, at least 3.208.0", () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    assert.equal(PULUMI_CLI_VERSION, pkg.dependencies["@pulumi/pulumi"]);
    assert.equal(MIN_PULUMI_CLI_VERSION, "3.208.0");
  });

  it("has the rotation workflow install that same CLI, daily, one run at a time", () => {
    const workflow = parse(
      readFileSync(join(__dirname, "..", ".github", "workflows", "rotate-certs.yml"), "utf8"),
    ) as {
      on: { schedule: { cron: string }[] };
      concurrency: { group: string; "cancel-in-progress": boolean };
      jobs: { rotate: { steps: { uses?: string; with?: Record<string, unknown> }[] } };
    };
    const pulumi = workflow.jobs.rotate.steps.filter((s) => s.uses?.startsWith("pulumi/actions@"));
    assert.deepEqual(pulumi, [
      { uses: "pulumi/actions@v7", with: { "pulumi-version": PULUMI_CLI_VERSION } },
    ]);
    assert.deepEqual(
      workflow.on.schedule.map((s) => s.cron),
      ["17 3 * * *"],
    );
    assert.deepEqual(workflow.concurrency, { group: "rotate-certs", "cancel-in-progress": false });
  });

  it("has the rotation workflow name its backend: Pulumi Cloud unless a repository variable says otherwise", () => {
    const workflow = parse(
      readFileSync(join(__dirname, "..", ".github", "workflows", "rotate-certs.yml"), "utf8"),
    ) as { jobs: { rotate: { steps: { run?: string; env?: Record<string, string> }[] } } };
    const step = workflow.jobs.rotate.steps.find((s) => s.run?.includes("npm run rotate"));
    // Without it rotate would use the checkout's .pulumi-state/, empty on a fresh runner.
    assert.equal(
      step?.env?.["PULUMI_BACKEND_URL"],
      "${{ vars.PULUMI_BACKEND_URL || 'https://api.pulumi.com' }}",
    );
    const cloud = stateEnvironment(
      commandEnvironment(repo, { PULUMI_BACKEND_URL: "https://api.pulumi.com" }),
      repo,
      [],
      false,
    );
    assert.deepEqual(cloud.envVars, { PULUMI_BACKEND_URL: "https://api.pulumi.com" });
  });

  it("uses the CLI on PATH when it is recent enough, installing nothing", async () => {
    const h = await run([], world({ [A]: FRESH }), { locator: new FakeLocator("3.208.0") });
    assert.equal(h.code, 0);
    assert.deepEqual(h.locator.installs, []);
    assert.equal(h.cli()?.origin, "path");
    // Accepted, and said to be older than the tested one.
    assert.equal(
      h.io.stderr[0],
      `the Pulumi CLI on PATH is 3.208.0: accepted (3.208.0 or later renews certificates), ` +
        `but this release is tested with ${PULUMI_CLI_VERSION}`,
    );
  });

  it("says nothing of a CLI on PATH at the tested version or newer", async () => {
    for (const version of [PULUMI_CLI_VERSION, "3.300.1"]) {
      const h = await run([], world({ [A]: FRESH }), { locator: new FakeLocator(version) });
      assert.equal(h.code, 0);
      assert.ok(
        !h.io.stderr.some((l) => l.includes("the Pulumi CLI")),
        `${version}: ${h.io.stderr.join("\n")}`,
      );
    }
  });

  it("installs the pinned version when there is none on PATH, and runs with it", async () => {
    const h = await run([], world({ [A]: FRESH }), { locator: new FakeLocator(undefined) });
    assert.equal(h.code, 0);
    assert.deepEqual(h.locator.installs, [PULUMI_CLI_VERSION]);
    assert.equal(h.cli()?.origin, "installed");
    assert.equal(
      h.io.stderr[0],
      `the Pulumi CLI is not on PATH; installing ${PULUMI_CLI_VERSION} under ~/.pulumi/versions`,
    );
  });

  it("exits 4 with the installer command when the install fails", async () => {
    const locator = new FakeLocator(
      undefined,
      new Error("getaddrinfo ENOTFOUND get.pulumi.com\nmore"),
    );
    const h = await run([], world({ [A]: FRESH }), { locator });
    assert.equal(h.code, 4);
    assert.deepEqual(h.io.stderr.slice(1), [
      `rotate: the Pulumi CLI is not on PATH and installing ${PULUMI_CLI_VERSION} failed ` +
        `(getaddrinfo ENOTFOUND get.pulumi.com); install it with: ${install}; without access to ` +
        `Pulumi's download sites, put a pre-installed pulumi (and its plugins) on PATH: see ` +
        `docs/OPERATIONS.md, "Without access to Pulumi's download sites"`,
    ]);
    assert.equal(h.ops(), undefined);
  });

  it("exits 4 when the CLI on PATH is older than 3.208.0, which ignores replacementTrigger", async () => {
    const h = await run([], world({ [A]: FRESH }), { locator: new FakeLocator("3.207.1") });
    assert.equal(h.code, 4);
    assert.deepEqual(h.io.stderr, [
      `rotate: the Pulumi CLI is 3.207.1, older than 3.208.0: it ignores the replacementTrigger ` +
        `resource option, so certificates would not be renewed; install ${PULUMI_CLI_VERSION} with: ${install}`,
    ]);
    assert.equal(h.ops(), undefined);
  });

  it("exits 4 when the CLI's version cannot be read", async () => {
    const h = await run([], world({ [A]: FRESH }), { locator: new FakeLocator("unknown") });
    assert.equal(h.code, 4);
    assert.deepEqual(h.io.stderr, [
      `rotate: could not read the Pulumi CLI's version ("unknown"); install ${PULUMI_CLI_VERSION} with: ${install}`,
    ]);
  });
});

describe("rotate: state", () => {
  const leaves = () => world({ [A]: FRESH, [B]: FRESH, [C]: FRESH });

  it("--try-out reaches the stacks deploy --try-out made: its backend and passphrase, with its notice", async () => {
    const h = await run(["--try-out"], leaves(), { vars: {} });
    assert.equal(h.code, 0);
    assert.deepEqual(h.ops()?.settings, {
      envVars: {
        PULUMI_BACKEND_URL: `file://${repo}/.pulumi-state`,
        PULUMI_CONFIG_PASSPHRASE: TRY_OUT_PASSPHRASE,
        ...CHECKED_PROGRAM_ENV,
      },
      createMissing: false,
    });
    assert.ok(h.io.stderr.some((l) => l.includes("FOR TRYING OUT ONLY")));
  });

  it("keeps the user's backend and passphrase when they are set, and creates no stack", async () => {
    const vars = { PULUMI_BACKEND_URL: "s3://bucket", PULUMI_CONFIG_PASSPHRASE_FILE: "/p" };
    const h = await run([], leaves(), { vars });
    assert.equal(h.code, 0);
    assert.deepEqual(h.ops()?.settings, {
      envVars: { PULUMI_BACKEND_URL: "s3://bucket", ...CHECKED_PROGRAM_ENV },
      createMissing: false,
    });
  });

  it("refuses a backend with no keys of its own and no passphrase, before reaching any stack", async () => {
    const h = await run([], leaves(), { vars: { PULUMI_BACKEND_URL: "s3://bucket" } });
    assert.equal(h.code, 2);
    assert.match(
      h.io.stderr[0],
      /^rotate: the backend s3:\/\/bucket \(PULUMI_BACKEND_URL\) keeps no keys of its own, and no passphrase is set/,
    );
    assert.equal(h.ops(), undefined);
  });
});
