import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import {
  DEPLOY_USAGE,
  TRY_OUT_PASSPHRASE,
  deploy,
  planStacks,
  renderConfig,
  namedSecretsProvider,
  stateEnvironment,
} from "../ops/deploy";
import { StackFile, readStackFiles } from "../ops/check";
import { FakeLocator, FakeOptions, Harness, harness } from "./support/ops";

const LEAF_A = `# leaf-a: renders (no target set)
config:
  thanos-bridge:role: leaf
  thanos-bridge:hostname: thanos.leaf-a.example.com
encryptionsalt: v1:abc123:v1:def456:ghi789
`;
const LEAF_B = `config:
  thanos-bridge:role: leaf
  thanos-bridge:hostname: thanos.leaf-b.example.com
  thanos-bridge:kubeContext: leaf-b
`;
const observer = (leaves: readonly string[], extra = ""): string =>
  `config:\n  thanos-bridge:role: observer\n  thanos-bridge:leaves:\n${leaves.map((l) => `    - ${l}\n`).join("")}${extra}`;
const OBSERVER = observer([
  "organization/thanos-bridge/leaf-a",
  "organization/thanos-bridge/leaf-b",
]);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "deploy-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function stackFiles(files: Record<string, string>): void {
  for (const [stack, text] of Object.entries(files))
    writeFileSync(join(dir, `Pulumi.${stack}.yaml`), text);
}

async function run(
  argv: readonly string[],
  files: Record<string, string>,
  options: { env?: Record<string, string>; fake?: FakeOptions; locator?: FakeLocator } = {},
): Promise<Harness & { code: number }> {
  stackFiles(files);
  const h = harness(argv, options.fake ?? {}, options.locator ? { locator: options.locator } : {});
  const code = await deploy({ ...h.env, repo: dir, env: options.env ?? {} });
  return { ...h, code };
}

const SHIPPED = { "leaf-a": LEAF_A, "leaf-b": LEAF_B, observer: OBSERVER };

describe("deploy: order", () => {
  it("runs up --refresh on the leaves (in parallel), then the observer", async () => {
    const h = await run(["deploy"], SHIPPED);
    assert.equal(h.code, 0);
    const ops = h.ops()!;
    assert.deepEqual(
      ops.calls.map((c) => `${c.op} ${c.stack} refresh=${String(c.refresh)}`),
      ["up leaf-a refresh=true", "up leaf-b refresh=true", "up observer refresh=true"],
    );
    assert.equal(ops.maxInFlight, 2);
    const start = ops.events.indexOf("start up observer");
    assert.ok(
      ops.events.indexOf("end up leaf-a") < start && ops.events.indexOf("end up leaf-b") < start,
    );
  });

  it("destroy runs in reverse: the observer is gone before any leaf starts", async () => {
    const h = await run(["destroy", "--concurrency", "1"], SHIPPED);
    assert.equal(h.code, 0);
    const ops = h.ops()!;
    assert.deepEqual(ops.events, [
      "start destroy observer",
      "end destroy observer",
      "start destroy leaf-a",
      "end destroy leaf-a",
      "start destroy leaf-b",
      "end destroy leaf-b",
    ]);
  });

  it("destroy keeps the leaves when the observer's destroy fails (it still reads them)", async () => {
    const h = await run(["destroy"], SHIPPED, { fake: { failures: { observer: "locked" } } });
    assert.equal(h.code, 1);
    assert.deepEqual(
      h.ops()!.calls.map((c) => c.stack),
      ["observer"],
    );
    assert.deepEqual(h.io.stderr.slice(-3), [
      "destroy: destroy failed on observer: locked",
      "destroy: destroy skipped on leaf-a: observer stack observer failed",
      "destroy: destroy skipped on leaf-b: observer stack observer failed",
    ]);
  });

  it("a failing leaf skips the observer and exits 1, with a summary table", async () => {
    const h = await run(["deploy"], SHIPPED, { fake: { failures: { "leaf-b": "no cluster" } } });
    assert.equal(h.code, 1);
    assert.ok(!h.ops()!.calls.some((c) => c.stack === "observer"));
    assert.deepEqual(h.io.stdout.slice(-4), [
      "STACK     RESULT     DETAIL",
      "leaf-a    succeeded",
      "leaf-b    failed     no cluster",
      "observer  skipped    leaf stack leaf-b failed",
    ]);
  });

  it("--preview previews every stack with refresh", async () => {
    const h = await run(["deploy", "--preview"], SHIPPED);
    assert.equal(h.code, 0);
    assert.deepEqual(
      h.ops()!.calls.map((c) => `${c.op} ${c.stack}`),
      ["preview leaf-a", "preview leaf-b", "preview observer"],
    );
  });
});

describe("deploy: render mode", () => {
  it("renders a stack that names no cluster through a derived config file, leaving the stack file as it was", async () => {
    const h = await run(["deploy"], SHIPPED);
    assert.equal(h.code, 0);
    const derived = join(dir, ".pulumi-state", "config", "Pulumi.leaf-a.yaml");
    assert.deepEqual(
      h.ops()!.calls.map((c) => [c.stack, c.configFile]),
      [
        ["leaf-a", derived],
        ["leaf-b", undefined],
        ["observer", derived.replace("leaf-a", "observer")],
      ],
    );
    assert.equal(
      readFileSync(derived, "utf8"),
      `# leaf-a: renders (no target set)
config:
  thanos-bridge:role: leaf
  thanos-bridge:hostname: thanos.leaf-a.example.com
  thanos-bridge:renderDir: out/leaf-a
encryptionsalt: v1:abc123:v1:def456:ghi789
`,
    );
    assert.equal(readFileSync(join(dir, "Pulumi.leaf-a.yaml"), "utf8"), LEAF_A);
    assert.deepEqual(readdirSync(join(dir, ".pulumi-state", "config")).sort(), [
      "Pulumi.leaf-a.yaml",
      "Pulumi.observer.yaml",
    ]);
  });

  it("reads the stack file at each operation, so the salt that stack init writes is carried over", () => {
    stackFiles({ "leaf-a": LEAF_A });
    const derived = parse(
      renderConfig(readFileSync(join(dir, "Pulumi.leaf-a.yaml"), "utf8"), "leaf-a"),
    ) as {
      encryptionsalt: string;
    };
    assert.equal(derived.encryptionsalt, "v1:abc123:v1:def456:ghi789");
  });

  it("adds a config section to a stack file without one", () => {
    assert.equal(
      renderConfig("encryptionsalt: x\n", "s"),
      "encryptionsalt: x\nconfig:\n  thanos-bridge:renderDir: out/s\n",
    );
  });

  it("says which stacks render to out/<stack>/ and which deploy to a cluster", async () => {
    const leaf = (name: string) =>
      `config:\n  thanos-bridge:role: leaf\n  thanos-bridge:hostname: thanos.${name}.example.com\n`;
    const withOwnDir = `${leaf("leaf-c")}  thanos-bridge:renderDir: manifests/c\n`;
    const withKubeconfig = `${leaf("leaf-d")}  thanos-bridge:kubeconfig:\n    secure: v1:xyz\n`;
    const h = await run(["deploy"], { ...SHIPPED, "leaf-c": withOwnDir, "leaf-d": withKubeconfig });
    assert.equal(h.code, 0);
    assert.deepEqual(h.io.stdout.slice(0, 6), [
      "STACK     ROLE      TARGET",
      "leaf-a    leaf      renders to out/leaf-a/ (no kubeconfig, kubeContext or renderDir set)",
      "leaf-b    leaf      cluster (kubeContext leaf-b)",
      "leaf-c    leaf      renders to manifests/c/ (its renderDir)",
      "leaf-d    leaf      cluster (its kubeconfig)",
      "observer  observer  renders to out/observer/ (no kubeconfig, kubeContext or renderDir set)",
    ]);
    assert.deepEqual(
      h
        .ops()!
        .calls.filter((c) => c.configFile !== undefined)
        .map((c) => c.stack),
      ["leaf-a", "observer"],
    );
  });
});

describe("deploy: backend and passphrase", () => {
  const notice = (repo: string): string[] => [
    "!".repeat(78),
    "!! FOR TRYING OUT ONLY: do not use this setup for clusters you care about.",
    "!! Secrets in the state (private keys, kubeconfigs) are encrypted with the",
    `!! well-known passphrase "${TRY_OUT_PASSPHRASE}": anyone who can read the`,
    "!! state can decrypt them.",
    `!! The state is on this disk only, in ${repo}/.pulumi-state: no backup, no`,
    "!! sharing, gone with this checkout.",
    "!! For real use set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)",
    "!! and PULUMI_BACKEND_URL before the first deploy.",
    "!".repeat(78),
  ];

  it("defaults to a file backend in the repository and the well-known passphrase, with a loud notice", async () => {
    const h = await run(["deploy"], SHIPPED);
    assert.equal(h.code, 0);
    assert.deepEqual(h.ops()!.settings, {
      envVars: {
        PULUMI_BACKEND_URL: `file://${dir}/.pulumi-state`,
        PULUMI_CONFIG_PASSPHRASE: TRY_OUT_PASSPHRASE,
      },
      createMissing: true,
      secretsProvider: "passphrase",
      configFile: h.ops()!.settings!.configFile,
    });
    assert.deepEqual(h.io.stderr, notice(dir));
  });

  for (const name of ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"]) {
    it(`leaves the passphrase to the user's ${name}: no well-known passphrase, no loud notice`, async () => {
      const h = await run(["deploy"], SHIPPED, { env: { [name]: "s3cret-or-path" } });
      assert.equal(h.code, 0);
      assert.deepEqual(h.ops()!.settings!.envVars, {
        PULUMI_BACKEND_URL: `file://${dir}/.pulumi-state`,
      });
      assert.deepEqual(h.io.stderr, [
        `note: the state is on this disk only, in ${dir}/.pulumi-state; set PULUMI_BACKEND_URL to keep it elsewhere`,
      ]);
    });
  }

  it("uses PULUMI_BACKEND_URL when set, and then says nothing about local state", () => {
    const env = stateEnvironment(
      { PULUMI_BACKEND_URL: "s3://bucket/state", PULUMI_CONFIG_PASSPHRASE: "x" },
      dir,
    );
    assert.deepEqual(env, {
      envVars: { PULUMI_BACKEND_URL: "s3://bucket/state" },
      diyBackend: true,
      notice: [],
    });
    assert.equal(
      stateEnvironment({ PULUMI_BACKEND_URL: "https://api.pulumi.com" }, dir).diyBackend,
      false,
    );
    assert.ok(
      !stateEnvironment({ PULUMI_BACKEND_URL: "https://api.pulumi.com" }, dir)
        .notice.join("\n")
        .includes("disk"),
    );
  });
});

describe("deploy: stacks on their own secrets provider", () => {
  const kms = (stack: string): StackFile => ({
    stack,
    text: `secretsprovider: awskms://alias/thanos-bridge?region=eu-west-1\nencryptedkey: AQICAHg=\nconfig:\n  thanos-bridge:role: leaf\n`,
  });
  const passphrase: StackFile = {
    stack: "leaf-b",
    text: "encryptionsalt: v1:abc\nconfig:\n  thanos-bridge:role: leaf\n",
  };

  it("names a stack file's KMS provider, and none for the passphrase, the backend's own or broken YAML", () => {
    assert.equal(
      namedSecretsProvider(kms("leaf-a")),
      "awskms://alias/thanos-bridge?region=eu-west-1",
    );
    assert.equal(namedSecretsProvider(passphrase), undefined);
    assert.equal(
      namedSecretsProvider({ stack: "x", text: "secretsprovider: passphrase\n" }),
      undefined,
    );
    assert.equal(namedSecretsProvider({ stack: "x", text: "config: {}\n" }), undefined);
    assert.equal(namedSecretsProvider({ stack: "x", text: "config: [\n" }), undefined);
  });

  it("sets no passphrase and prints no try-out notice when every stack file names a KMS provider", () => {
    const env = stateEnvironment({ PULUMI_BACKEND_URL: "s3://bucket/state" }, "/repo", [
      kms("leaf-a"),
      kms("observer"),
    ]);
    assert.deepEqual(env, {
      envVars: { PULUMI_BACKEND_URL: "s3://bucket/state" },
      diyBackend: true,
      notice: [],
    });
  });

  it("keeps the try-out passphrase and its notice while one stack file still uses the passphrase", () => {
    const env = stateEnvironment({ PULUMI_BACKEND_URL: "s3://bucket/state" }, "/repo", [
      kms("leaf-a"),
      passphrase,
    ]);
    assert.equal(env.envVars["PULUMI_CONFIG_PASSPHRASE"], TRY_OUT_PASSPHRASE);
    assert.match(env.notice.join("\n"), /FOR TRYING OUT ONLY/);
  });
});

describe("deploy: checks before running anything", () => {
  async function refused(
    files: Record<string, string>,
    lines: string[],
    env: Record<string, string> = {},
  ): Promise<void> {
    const h = await run(["deploy"], files, { env });
    assert.equal(h.code, 2);
    assert.deepEqual(h.io.stderr, [...lines, 'run "npm run deploy -- --help" for usage']);
    assert.equal(h.locator.finds, 0);
    assert.equal(h.ops(), undefined);
  }

  it("refuses an observer listing a leaf that has no stack file", () =>
    refused(
      {
        "leaf-a": LEAF_A,
        observer: observer([
          "organization/thanos-bridge/leaf-a",
          "organization/thanos-bridge/leaf-z",
        ]),
      },
      [
        "deploy: Pulumi.observer.yaml: thanos-bridge:leaves: organization/thanos-bridge/leaf-z has no stack file Pulumi.leaf-z.yaml here",
      ],
    ));

  it("refuses leaves named for another organization on a DIY backend, and every other problem at once", () =>
    refused(
      {
        "leaf-a": LEAF_A,
        "leaf-b": "config:\n  thanos-bridge:role: edge\n",
        observer: observer([
          "acme/thanos-bridge/leaf-a",
          "organization/other/leaf-a",
          "leaf-a",
          "organization/thanos-bridge/observer",
        ]),
      },
      [
        "deploy: 5 problems in the stack files:",
        '  - Pulumi.leaf-b.yaml: thanos-bridge:role: "edge" is not allowed; use one of leaf, observer',
        '  - Pulumi.observer.yaml: thanos-bridge:leaves: "leaf-a" is not allowed; use a fully qualified stack name <organization>/<project>/<stack>, e.g. acme/thanos-bridge/leaf-a',
        "  - Pulumi.observer.yaml: thanos-bridge:leaves: organization/other/leaf-a is a stack of project other, not of thanos-bridge",
        "  - Pulumi.observer.yaml: thanos-bridge:leaves: organization/thanos-bridge/observer is not a leaf (Pulumi.observer.yaml sets role observer)",
        "  - Pulumi.observer.yaml: thanos-bridge:leaves: acme/thanos-bridge/leaf-a cannot be found on this DIY backend, where stacks are named organization/<project>/<stack>; use organization/thanos-bridge/leaf-a",
      ],
    ));

  it("accepts any organization on Pulumi Cloud", async () => {
    const h = await run(
      ["deploy"],
      { "leaf-a": LEAF_A, observer: observer(["acme/thanos-bridge/leaf-a"]) },
      {
        env: { PULUMI_BACKEND_URL: "https://api.pulumi.com" },
      },
    );
    assert.equal(h.code, 0);
  });

  it("refuses a directory without stack files", () =>
    refused({}, ["deploy: there is no Pulumi.<stack>.yaml here, so there is nothing to run"]));

  it("plans the shipped stack files: three leaves, one observer, all rendering to out/", () => {
    const repo = join(__dirname, "..");
    // On the default local (DIY) backend: the observer names its leaves under "organization".
    // Only the shipped files: a stack file a user adds here is not this test's business.
    const shipped = ["leaf-a", "leaf-b", "leaf-c", "observer"];
    const plan = planStacks(
      readStackFiles(repo).filter((f) => shipped.includes(f.stack)),
      true,
    );
    // leaf-c (behind Traefik) is an example the shipped observer does not read.
    assert.deepEqual(plan.leaves, ["leaf-a", "leaf-b", "leaf-c"]);
    assert.deepEqual(plan.observers, ["observer"]);
    // They name no cluster, so a first `npm run deploy` touches none.
    assert.deepEqual(
      plan.stacks.map((s) => [s.stack, s.render, s.target]),
      ["leaf-a", "leaf-b", "leaf-c", "observer"].map((stack) => [
        stack,
        true,
        `renders to out/${stack}/ (no kubeconfig, kubeContext or renderDir set)`,
      ]),
    );
  });
});

describe("deploy: command line and CLI", () => {
  for (const [argv, message, command] of [
    [[], 'the first argument must be deploy or destroy, got ""', "deploy"],
    [
      ["deploy", "--concurrency", "40"],
      '--concurrency must be a whole number from 1 to 32, got "40"',
      "deploy",
    ],
    [["destroy", "--preview"], "Unknown option '--preview'", "destroy"],
  ] as const) {
    it(`rejects ${JSON.stringify(argv)} with exit 2`, async () => {
      const h = await run(argv, SHIPPED);
      assert.equal(h.code, 2);
      assert.deepEqual(h.io.stderr, [
        `${command}: ${message}`,
        `run "npm run ${command} -- --help" for usage`,
      ]);
    });
  }

  it("--help prints the usage and exits 0", async () => {
    const h = await run(["deploy", "--help"], SHIPPED);
    assert.equal(h.code, 0);
    assert.deepEqual(h.io.stdout, DEPLOY_USAGE.split("\n"));
  });

  it("exits 4 when the CLI is too old, having run nothing", async () => {
    const h = await run(["deploy"], SHIPPED, { locator: new FakeLocator("3.100.0") });
    assert.equal(h.code, 4);
    assert.match(
      h.io.stderr[h.io.stderr.length - 1],
      /^deploy: the Pulumi CLI is 3\.100\.0, older than 3\.208\.0/,
    );
    assert.equal(h.ops(), undefined);
  });
});
