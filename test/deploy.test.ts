import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  TRY_OUT_PASSPHRASE,
  chooseBackend,
  namedSecretsProvider,
  stateEnvironment,
  tryOutExports,
} from "../ops/backend";
import { MIN_NODE_VERSION, PULUMI_CLI_VERSION, checkNodeVersion } from "../ops/cli";
import { CHECKED_PROGRAM_ENV } from "../ops/typecheck";
import { DEPLOY_USAGE, deploy, planStacks } from "../ops/deploy";
import { stateEpoch } from "../ops/epoch";
import { rotate } from "../ops/rotate";
import { StackFile, readStackFiles } from "../ops/check";
import { FakeLocator, FakeOptions, Harness, commandEnvironment, harness } from "./support/ops";
import { runLeaf } from "./support/leaf";

const LEAF_A = `# leaf-a: renders
config:
  thanos-bridge:role: leaf
  thanos-bridge:hostname: thanos.leaf-a.example.com
  thanos-bridge:renderDir: out/leaf-a
encryptionsalt: v1:abc123:v1:def456:ghi789
`;
const LEAF_B = `config:
  thanos-bridge:role: leaf
  thanos-bridge:hostname: thanos.leaf-b.example.com
  thanos-bridge:kubeContext: leaf-b
`;
const observer = (leaves: readonly string[], extra = ""): string =>
  `config:\n  thanos-bridge:role: observer\n  thanos-bridge:kubeContext: observer\n  thanos-bridge:leaves:\n${leaves.map((l) => `    - ${l}\n`).join("")}${extra}`;
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

/** The try-out's two variables, as the line deploy prints for a shell sets them. */
const tryOutVars = (repo: string): Record<string, string> =>
  Object.fromEntries(
    tryOutExports(repo)
      .replace(/^export /, "")
      .split(" ")
      .map((kv) => kv.split("=") as [string, string]),
  );

/**
 * deploy in `dir`, with a PULUMI_HOME of its own and `env`; without `env`, with the try-out's two
 * variables exported (a backend is chosen, with its passphrase).
 */
async function run(
  argv: readonly string[],
  files: Record<string, string>,
  options: {
    env?: Record<string, string>;
    login?: string;
    fake?: FakeOptions;
    locator?: FakeLocator;
    nodeVersion?: string;
    typeErrors?: readonly string[];
  } = {},
): Promise<Harness & { code: number }> {
  stackFiles(files);
  const h = harness(argv, options.fake ?? {}, {
    ...(options.locator ? { locator: options.locator } : {}),
    ...(options.nodeVersion ? { nodeVersion: options.nodeVersion } : {}),
    ...(options.typeErrors ? { typeErrors: options.typeErrors } : {}),
  });
  const env = commandEnvironment(dir, options.env ?? tryOutVars(dir), options.login);
  const code = await deploy({ ...h.env, repo: dir, env });
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

describe("deploy: each stack goes where its stack file says, as with pulumi up", () => {
  it("runs every stack with its own stack file, which it never edits, and says where each goes", async () => {
    const leaf = (name: string) =>
      `config:\n  thanos-bridge:role: leaf\n  thanos-bridge:hostname: thanos.${name}.example.com\n`;
    const withOwnDir = `${leaf("leaf-c")}  thanos-bridge:renderDir: manifests/c\n`;
    const withKubeconfig = `${leaf("leaf-d")}  thanos-bridge:kubeconfig:\n    secure: v1:xyz\n`;
    const h = await run(["deploy"], {
      ...SHIPPED,
      "leaf-c": withOwnDir,
      "leaf-d": withKubeconfig,
      "leaf-e": leaf("leaf-e"),
    });
    assert.equal(h.code, 0);
    const table = h.io.stdout.indexOf("STACK     ROLE      TARGET");
    assert.deepEqual(h.io.stdout.slice(table, table + 7), [
      "STACK     ROLE      TARGET",
      "leaf-a    leaf      renders to out/leaf-a/ (its renderDir)",
      "leaf-b    leaf      cluster (kubeContext leaf-b)",
      "leaf-c    leaf      renders to manifests/c/ (its renderDir)",
      "leaf-d    leaf      cluster (its kubeconfig)",
      "leaf-e    leaf      cluster (the current context of the ambient kubeconfig: none of kubeContext, kubeconfig or renderDir is set)",
      "observer  observer  cluster (kubeContext observer)",
    ]);
    // check's warning, for the one stack that names no target.
    assert.deepEqual(
      h.io.stderr.filter((l) => l.includes("warning")),
      [
        "deploy: warning: Pulumi.leaf-e.yaml: none of thanos-bridge:kubeContext, thanos-bridge:kubeconfig or thanos-bridge:renderDir is set: the stack deploys to the current context of the ambient kubeconfig, whichever cluster that is when it runs; name the cluster with thanos-bridge:kubeContext",
      ],
    );
    assert.equal(readFileSync(join(dir, "Pulumi.leaf-a.yaml"), "utf8"), LEAF_A);
  });
});

describe("deploy: the backend, chosen as the Pulumi CLI chooses it", () => {
  it("takes PULUMI_BACKEND_URL, then Pulumi.yaml's backend.url, then the CLI's login, then Pulumi Cloud for an access token", () => {
    const env = (vars: Record<string, string>, login?: string) =>
      commandEnvironment(dir, vars, login);
    const chosen = (e: Record<string, string>) => {
      const b = chooseBackend(e, dir, false);
      return `${b.url} ${b.source} ${b.kind}`;
    };
    writeFileSync(join(dir, "Pulumi.yaml"), "name: thanos-bridge\nruntime: nodejs\n");
    assert.equal(
      chosen(env({ PULUMI_ACCESS_TOKEN: "t" })),
      "https://api.pulumi.com PULUMI_ACCESS_TOKEN cloud",
    );
    assert.equal(
      chosen(env({ PULUMI_ACCESS_TOKEN: "t" }, "gs://login/state")),
      "gs://login/state pulumi login diy",
    );
    writeFileSync(
      join(dir, "Pulumi.yaml"),
      "name: thanos-bridge\nruntime: nodejs\nbackend:\n  url: s3://project/state\n",
    );
    assert.equal(
      chosen(env({}, "gs://login/state")),
      "s3://project/state Pulumi.yaml backend.url diy",
    );
    assert.equal(
      chosen(env({ PULUMI_BACKEND_URL: "https://pulumi.example.com" }, "gs://login/state")),
      "https://pulumi.example.com PULUMI_BACKEND_URL cloud",
    );
    assert.equal(
      chosen(env({ PULUMI_BACKEND_URL: `file://${dir}/.pulumi-state/` })),
      `file://${dir}/.pulumi-state/ PULUMI_BACKEND_URL try-out`,
    );
  });

  it("refuses to guess when nothing names a backend, before looking for the CLI, and offers --try-out", async () => {
    mkdirSync(join(dir, ".pulumi-state"));
    const h = await run(["deploy"], SHIPPED, { env: {} });
    assert.equal(h.code, 2);
    assert.deepEqual(h.io.stderr, [
      "deploy: no Pulumi backend is chosen: PULUMI_BACKEND_URL is not set, Pulumi.yaml names no backend.url, and the Pulumi CLI is not logged in. Choose where the stacks' state and secrets live, as for any Pulumi project:",
      "  pulumi login                            Pulumi Cloud (or set PULUMI_ACCESS_TOKEN)",
      "  pulumi login s3://<bucket>/<prefix>     a bucket (or gs://, azblob://, file://<dir>), with PULUMI_CONFIG_PASSPHRASE set",
      `or try it out with no account: the same command with --try-out (state in ${dir}/.pulumi-state, a well-known passphrase) (the stacks of an earlier try-out are in ${dir}/.pulumi-state: --try-out reaches them)`,
      'run "npm run deploy -- --help" for usage',
    ]);
    assert.equal(h.locator.finds, 0);
  });

  it("--try-out: the checkout's local state and the well-known passphrase, said loudly, with the line for pulumi by hand", async () => {
    const h = await run(["deploy", "--try-out"], SHIPPED, { env: {} });
    assert.equal(h.code, 0);
    assert.deepEqual(h.ops()!.settings, {
      envVars: {
        PULUMI_BACKEND_URL: `file://${dir}/.pulumi-state`,
        PULUMI_CONFIG_PASSPHRASE: TRY_OUT_PASSPHRASE,
        ...CHECKED_PROGRAM_ENV,
      },
      createMissing: true,
      secretsProvider: "passphrase",
    });
    assert.deepEqual(h.io.stderr, [
      "!".repeat(78),
      "!! FOR TRYING OUT ONLY: do not use this setup for clusters you care about.",
      `!! The state is on this disk only, in ${dir}/.pulumi-state: no backup, no`,
      "!! sharing, gone with this checkout.",
      "!! Secrets in the state (private keys, kubeconfigs) are encrypted with the",
      `!! well-known passphrase "${TRY_OUT_PASSPHRASE}": anyone who can read the`,
      "!! state can decrypt them.",
      "!! For real use, choose a backend (`pulumi login`) and run without --try-out.",
      "!".repeat(78),
    ]);
    assert.deepEqual(h.io.stdout.slice(0, 3), [
      `backend: file://${dir}/.pulumi-state (--try-out); secrets: the well-known passphrase`,
      "To run pulumi by hand on these stacks, in this shell:",
      `  export PULUMI_BACKEND_URL=file://${dir}/.pulumi-state PULUMI_CONFIG_PASSPHRASE=${TRY_OUT_PASSPHRASE}`,
    ]);
  });

  it("the printed line gives a shell the try-out's stacks: deploy without --try-out then reaches them too", async () => {
    const flagged = await run(["deploy", "--try-out"], SHIPPED, { env: {} });
    const exported = await run(["deploy"], SHIPPED);
    // What the CLI sees: the shell's variables, then what deploy adds.
    const seen = (h: Harness, shell: Record<string, string>) => {
      const env = { ...shell, ...h.ops()!.settings!.envVars };
      return [env["PULUMI_BACKEND_URL"], env["PULUMI_CONFIG_PASSPHRASE"]];
    };
    assert.deepEqual(seen(exported, tryOutVars(dir)), seen(flagged, {}));
    assert.deepEqual(seen(flagged, {}), [`file://${dir}/.pulumi-state`, TRY_OUT_PASSPHRASE]);
  });

  it("--try-out refuses a PULUMI_BACKEND_URL that points elsewhere", async () => {
    const h = await run(["deploy", "--try-out"], SHIPPED, {
      env: { PULUMI_BACKEND_URL: "s3://bucket/state" },
    });
    assert.equal(h.code, 2);
    assert.equal(
      h.io.stderr[0],
      `deploy: --try-out keeps the state in ${dir}/.pulumi-state, but PULUMI_BACKEND_URL is set to s3://bucket/state; unset it for the try-out, or drop --try-out to use s3://bucket/state`,
    );
  });

  for (const [how, env, login] of [
    ["PULUMI_BACKEND_URL", { PULUMI_BACKEND_URL: "https://api.pulumi.com" }, undefined],
    ["pulumi login", {}, "https://api.pulumi.com"],
  ] as const) {
    it(`Pulumi Cloud by ${how}: no passphrase is set, and stacks are created with the service's own keys`, async () => {
      const h = await run(["deploy"], SHIPPED, { env, login });
      assert.equal(h.code, 0);
      assert.deepEqual(h.ops()!.settings, {
        envVars: { PULUMI_BACKEND_URL: "https://api.pulumi.com", ...CHECKED_PROGRAM_ENV },
        createMissing: true,
      });
      assert.deepEqual(h.io.stderr, []);
      assert.equal(
        h.io.stdout[0],
        `backend: https://api.pulumi.com (${how}); secrets: the service's own per-stack keys`,
      );
    });
  }

  for (const [how, env, login] of [
    ["PULUMI_BACKEND_URL", { PULUMI_BACKEND_URL: "s3://bucket/state" }, undefined],
    ["pulumi login", {}, "file:///srv/pulumi-state"],
  ] as const) {
    const url = env.PULUMI_BACKEND_URL ?? login;
    it(`a backend with no keys of its own (${url}, by ${how}) and no passphrase: refused, nothing created`, async () => {
      const h = await run(["deploy"], SHIPPED, { env, login });
      assert.equal(h.code, 2);
      assert.deepEqual(h.io.stderr, [
        `deploy: the backend ${url} (${how}) keeps no keys of its own, and no passphrase is set, so the stacks' secrets (their private keys) could not be encrypted; nothing was created. Either:`,
        "  set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) from your secret store, or",
        "  create each stack with a KMS key first:",
        "    pulumi stack init leaf-a --secrets-provider 'awskms://<key>?region=<region>'",
        "    pulumi stack init leaf-b --secrets-provider 'awskms://<key>?region=<region>'",
        "    pulumi stack init observer --secrets-provider 'awskms://<key>?region=<region>'",
        "  (or gcpkms://, azurekeyvault://, hashivault://; see docs/OPERATIONS.md)",
        'run "npm run deploy -- --help" for usage',
      ]);
      assert.equal(h.locator.finds, 0);
      assert.equal(h.ops(), undefined);
    });
  }

  for (const name of ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"]) {
    it(`the same backend with ${name}: the user's passphrase, none of the project's`, async () => {
      const h = await run(["deploy"], SHIPPED, {
        env: { PULUMI_BACKEND_URL: "s3://bucket/state", [name]: "s3cret-or-path" },
      });
      assert.equal(h.code, 0);
      assert.deepEqual(h.ops()!.settings, {
        envVars: { PULUMI_BACKEND_URL: "s3://bucket/state", ...CHECKED_PROGRAM_ENV },
        createMissing: true,
        secretsProvider: "passphrase",
      });
      assert.deepEqual(h.io.stderr, []);
      assert.equal(
        h.io.stdout[0],
        "backend: s3://bucket/state (PULUMI_BACKEND_URL); secrets: your passphrase",
      );
    });
  }

  it("refuses the try-out's well-known passphrase for any other backend", async () => {
    const h = await run(["deploy"], SHIPPED, {
      env: {
        PULUMI_BACKEND_URL: "s3://bucket/state",
        PULUMI_CONFIG_PASSPHRASE: TRY_OUT_PASSPHRASE,
      },
    });
    assert.equal(h.code, 2);
    assert.equal(
      h.io.stderr[0],
      "deploy: PULUMI_CONFIG_PASSPHRASE is the try-out's well-known passphrase, and the backend s3://bucket/state (PULUMI_BACKEND_URL) is not the try-out's: anyone could decrypt its secrets. Set a passphrase of your own, kept in a secret store",
    );
  });

  describe("stacks on their own secrets provider", () => {
    const kms = (stack: string): StackFile => ({
      stack,
      text: `secretsprovider: awskms://alias/thanos-bridge?region=eu-west-1\nencryptedkey: AQICAHg=\nconfig:\n  thanos-bridge:role: leaf\n`,
    });
    const passphrase: StackFile = {
      stack: "leaf-b",
      text: "encryptionsalt: v1:abc\nconfig:\n  thanos-bridge:role: leaf\n",
    };
    const s3 = () => commandEnvironment(dir, { PULUMI_BACKEND_URL: "s3://bucket/state" });

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

    it("needs no passphrase when every stack file names a KMS provider, and sets none", () => {
      const env = stateEnvironment(s3(), dir, [kms("leaf-a"), kms("observer")], false);
      assert.deepEqual(env.envVars, { PULUMI_BACKEND_URL: "s3://bucket/state" });
      assert.equal(env.secretsProvider, undefined);
      assert.deepEqual(env.info, [
        "backend: s3://bucket/state (PULUMI_BACKEND_URL); secrets: each stack's own KMS key",
      ]);
    });

    it("refuses while one stack file still has no provider, naming only that stack", () => {
      assert.throws(() => stateEnvironment(s3(), dir, [kms("leaf-a"), passphrase], false), {
        message:
          /no passphrase is set[^]*\n {4}pulumi stack init leaf-b --secrets-provider '[^\n]*\n {2}\(or/,
      });
    });
  });
});

describe("deploy: checks before running anything", () => {
  async function refused(
    files: Record<string, string>,
    lines: string[],
    env?: Record<string, string>,
  ): Promise<void> {
    const h = await run(["deploy"], files, env !== undefined ? { env } : {});
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

  it("plans the shipped stack files: three leaves, one observer, each rendering to out/ as its file says", () => {
    const repo = join(__dirname, "..");
    // On the try-out's (DIY) backend: the observer names its leaves under "organization".
    // Only the shipped files: a stack file a user adds here is not this test's business.
    const shipped = ["leaf-a", "leaf-b", "leaf-c", "observer"];
    const plan = planStacks(
      readStackFiles(repo).filter((f) => shipped.includes(f.stack)),
      { backend: "try-out", projectDir: repo },
    );
    assert.deepEqual(plan.warnings, []);
    // leaf-c (behind Traefik) is an example the shipped observer does not read.
    assert.deepEqual(plan.leaves, ["leaf-a", "leaf-b", "leaf-c"]);
    assert.deepEqual(plan.observers, ["observer"]);
    // Their renderDir names no cluster, so a first deploy, or `pulumi up` by hand, touches none.
    assert.deepEqual(
      plan.stacks.map((s) => [s.stack, s.target]),
      ["leaf-a", "leaf-b", "leaf-c", "observer"].map((stack) => [
        stack,
        `renders to out/${stack}/ (its renderDir)`,
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

  it("exits 4 on a Node.js older than package.json's engines allow, saying how to get Node 24, having run nothing", async () => {
    const h = await run(["deploy"], SHIPPED, { nodeVersion: "20.20.2" });
    assert.equal(h.code, 4);
    // After the try-out's banner, the one reason.
    assert.deepEqual(
      h.io.stderr.filter((l) => !l.startsWith("!!")),
      [
        `deploy: Node.js 20.20.2 is older than 22.12.0, the oldest @pulumi/pulumi ${PULUMI_CLI_VERSION} ` +
          `runs on; install Node.js 24, or run the command through ops/with-node (it fetches Node 24 ` +
          `from the npm registry), e.g. ops/with-node npm run deploy`,
      ],
    );
    assert.equal(h.ops(), undefined);
    assert.deepEqual(h.locator.installs, []);
  });

  it("type-checks the program once, then runs every stack without ts-node's own check", async () => {
    const h = await run(["deploy"], SHIPPED);
    assert.equal(h.code, 0);
    assert.equal(h.ops()!.settings!.envVars["PULUMI_NODEJS_TRANSPILE_ONLY"], "true");
  });

  it("exits 1 on a program that does not type-check, naming each error, having run no stack", async () => {
    const errors = [
      "components/leaf/pki/index.ts:12:3: TS2322: Type 'number' is not assignable to type 'string'.",
    ];
    const h = await run(["deploy"], SHIPPED, { typeErrors: errors });
    assert.equal(h.code, 1);
    assert.deepEqual(
      h.io.stderr.filter((l) => !l.startsWith("!!")),
      ["deploy: the program does not type-check, so no stack was run:", ...errors],
    );
    assert.equal(h.ops(), undefined);
  });

  it("refuses an old Node.js before spending a type check on the program", async () => {
    const h = await run(["deploy"], SHIPPED, {
      nodeVersion: "20.20.2",
      typeErrors: ["index.ts:1:1: TS1005: ';' expected."],
    });
    assert.equal(h.code, 4);
    assert.match(h.io.stderr[h.io.stderr.length - 1], /^deploy: Node\.js 20\.20\.2 is older/);
  });

  it("destroy runs no program, so it neither type-checks nor skips the check", async () => {
    const h = await run(["destroy"], SHIPPED, {
      typeErrors: ["index.ts:1:1: TS1005: ';' expected."],
    });
    assert.equal(h.code, 0);
    assert.equal(h.ops()!.settings!.envVars["PULUMI_NODEJS_TRANSPILE_ONLY"], undefined);
  });

  it("runs on the oldest Node.js that engines allows", () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as {
      engines: { node: string };
    };
    assert.equal(pkg.engines.node, `^${MIN_NODE_VERSION} || >=24.0.0`);
    // @pulumi/pulumi 3.249 and later need Node 22 (pulumi/pulumi#23722): the floor is inside theirs.
    const sdk = JSON.parse(
      readFileSync(join(__dirname, "..", "node_modules/@pulumi/pulumi/package.json"), "utf8"),
    ) as { engines: { node: string } };
    assert.equal(sdk.engines.node, ">=22");
    assert.equal(checkNodeVersion(MIN_NODE_VERSION), undefined);
    assert.equal(checkNodeVersion("24.0.0"), undefined);
    assert.match(checkNodeVersion("22.11.0") ?? "", /^Node\.js 22\.11\.0 is older than 22\.12\.0/);
    assert.match(checkNodeVersion("not-a-version") ?? "", /^Node\.js not-a-version is older/);
  });
});

describe("deploy and rotate: caEpoch only goes up", () => {
  /** A leaf's bridge output as the program makes it, at this caEpoch (mock runtime). */
  const bridgeAt = async (caEpoch: number) =>
    (await runLeaf({ ...LEAF_A_CONFIG, caEpoch: String(caEpoch) }, "leaf-a")).bridge;
  const LEAF_A_CONFIG = { role: "leaf", hostname: "thanos.leaf-a.example.com" };
  const withEpoch = (caEpoch: number) =>
    `${LEAF_A}  thanos-bridge:caEpoch: ${caEpoch}\n`.replace(
      "encryptionsalt: v1:abc123:v1:def456:ghi789\n",
      "",
    );

  it("reads the lineage a leaf's state runs from its CAs' names", async () => {
    assert.equal(stateEpoch({ bridge: await bridgeAt(0) }), 0);
    assert.equal(stateEpoch({ bridge: await bridgeAt(2) }), 2);
    assert.equal(stateEpoch({}), undefined);
  });

  it("refuses a stack file that lowers caEpoch below the state's (a revert), before any run", async () => {
    const outputs = { "leaf-a": { bridge: await bridgeAt(2) } };
    const h = await run(["deploy"], { ...SHIPPED, "leaf-a": withEpoch(1) }, { fake: { outputs } });
    assert.equal(h.code, 2);
    assert.deepEqual(h.ops()!.calls, []);
    assert.deepEqual(h.io.stderr.slice(-2), [
      "deploy: Pulumi.leaf-a.yaml: thanos-bridge:caEpoch: 1 is lower than 2, the CA lineage stack leaf-a runs now; caEpoch only goes up (a lower one would replace every CA of the leaf again, with new keys, and bring no old CA back; a revert of the stack file does this): set it to 2, or higher for another emergency CA change (docs/KEY-COMPROMISE.md)",
      'run "npm run deploy -- --help" for usage',
    ]);
  });

  it("runs the same caEpoch or a higher one", async () => {
    const outputs = { "leaf-a": { bridge: await bridgeAt(2) } };
    for (const epoch of [2, 3]) {
      const h = await run(
        ["deploy"],
        { ...SHIPPED, "leaf-a": withEpoch(epoch) },
        { fake: { outputs } },
      );
      assert.equal(h.code, 0, h.io.stderr.join("\n"));
    }
  });

  it("rotate refuses it too, reading the leaf's stack file by its short name", async () => {
    stackFiles({ ...SHIPPED, "leaf-a": withEpoch(0) });
    const h = harness([], {
      config: { observer: { "thanos-bridge:leaves": '["organization/thanos-bridge/leaf-a"]' } },
      outputs: { "organization/thanos-bridge/leaf-a": { bridge: await bridgeAt(1) } },
    });
    const code = await rotate({
      ...h.env,
      repo: dir,
      env: commandEnvironment(dir, tryOutVars(dir)),
    });
    assert.equal(code, 2);
    assert.deepEqual(h.ops()!.calls, []);
    assert.match(
      h.io.stderr.join("\n"),
      /rotate: Pulumi\.leaf-a\.yaml: thanos-bridge:caEpoch: 0 is lower than 1, the CA lineage stack organization\/thanos-bridge\/leaf-a runs now/,
    );
  });
});
