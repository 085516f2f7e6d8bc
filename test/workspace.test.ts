// The Automation API adapter against a stand-in for the Pulumi CLI (test/support/fake-pulumi.sh),
// which logs how it is called. This checks what the adapter asks of the CLI (flags, stack names,
// environment) and how it reads the answers; it says nothing about what the real CLI does.

import assert from "node:assert/strict";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { deploy } from "../ops/deploy";
import {
  AutomationStackOps,
  PROJECT_DIR,
  WorkspaceSettings,
  automationCliLocator,
  lineSplitter,
  summarizeError,
} from "../ops/workspace";
import { commandEnvironment } from "./support/ops";

describe("Automation API adapter (against a stand-in CLI)", () => {
  let root: string;
  let log: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), "fake-pulumi-"));
    mkdirSync(join(root, "bin"));
    copyFileSync(join(__dirname, "support", "fake-pulumi.sh"), join(root, "bin", "pulumi"));
    chmodSync(join(root, "bin", "pulumi"), 0o755);
    log = join(root, "log");
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  beforeEach(() => rmSync(log, { force: true }));

  async function connect(
    settings: Partial<WorkspaceSettings> & { fake?: Record<string, string> } = {},
  ): Promise<AutomationStackOps> {
    const command = await PulumiCommand.get({ root, skipVersionCheck: true });
    return new AutomationStackOps(
      PROJECT_DIR,
      { command, version: command.version?.version },
      {
        createMissing: false,
        ...settings,
        envVars: {
          PULUMI_BACKEND_URL: "file:///state",
          FAKE_PULUMI_LOG: log,
          ...settings.envVars,
          ...settings.fake,
        },
      },
    );
  }

  /** The CLI invocations, without `--non-interactive`. */
  const calls = (): string[] =>
    readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.replace(" --non-interactive", ""));

  it("runs up with --refresh, with the backend settings, streaming whole lines", async () => {
    const ops = await connect({ envVars: { PULUMI_CONFIG_PASSPHRASE: "pw" } });
    const lines: string[] = [];
    await ops.up("leaf-a", { refresh: true, onLine: (l) => lines.push(l) });
    await ops.destroy("leaf-b", (l) => lines.push(l));
    assert.deepEqual(lines, [
      "Updating:",
      "  a line in two chunks",
      "Updating:",
      "  a line in two chunks",
    ]);
    const env = "| backend=file:///state passphrase=pw";
    assert.deepEqual(calls(), [
      `stack select --stack leaf-a ${env}`,
      `up --yes --skip-preview --refresh --exec-kind auto.local --stack leaf-a ${env}`,
      `stack output --json --stack leaf-a ${env}`,
      `stack output --json --show-secrets --stack leaf-a ${env}`,
      `stack history --json --show-secrets --page-size 1 --page 1 --stack leaf-a ${env}`,
      `stack select --stack leaf-b ${env}`,
      `destroy --yes --skip-preview --exec-kind auto.local --stack leaf-b ${env}`,
      `stack history --json --show-secrets --page-size 1 --page 1 --stack leaf-b ${env}`,
    ]);
  });

  it("previews with --refresh", async () => {
    const ops = await connect();
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (message: unknown) => warnings.push(message);
    try {
      await ops.preview("leaf-a", { refresh: true, onLine: () => undefined });
    } finally {
      console.warn = warn;
    }
    assert.match(
      calls()[1],
      /^preview --refresh --exec-kind auto\.local --event-log \S+ --stack leaf-a \|/,
    );
    // The stand-in sends no engine events, so the Automation API misses the summary.
    assert.deepEqual(warnings, [
      "warning: [runtime] Failed to parse summary event, but preview succeeded. PreviewResult `changeSummary` will be empty.",
    ]);
  });

  it("creates a missing stack with the passphrase provider when asked to", async () => {
    const ops = await connect({
      createMissing: true,
      secretsProvider: "passphrase",
      fake: { FAKE_PULUMI_MISSING: "leaf-c" },
    });
    await ops.up("leaf-c", { refresh: true, onLine: () => undefined });
    assert.deepEqual(
      calls()
        .slice(0, 3)
        .map((c) => c.split(" |")[0]),
      [
        "stack select --stack leaf-c",
        "stack init leaf-c --secrets-provider passphrase",
        "up --yes --skip-preview --refresh --exec-kind auto.local --stack leaf-c",
      ],
    );
  });

  it("deploy on Pulumi Cloud: no passphrase reaches the CLI, and the stack is created with no passphrase provider", async () => {
    const repo = mkdtempSync(join(tmpdir(), "deploy-cloud-"));
    try {
      writeFileSync(
        join(repo, "Pulumi.leaf-a.yaml"),
        "config:\n  thanos-bridge:role: leaf\n  thanos-bridge:hostname: a.example.com\n  thanos-bridge:renderDir: out/leaf-a\n",
      );
      const command = await PulumiCommand.get({ root, skipVersionCheck: true });
      const io = { out: () => undefined, err: () => undefined };
      const code = await deploy({
        argv: ["deploy"],
        io,
        now: Date.now,
        repo,
        env: commandEnvironment(repo, { PULUMI_BACKEND_URL: "https://api.pulumi.com" }),
        locator: {
          find: () => Promise.resolve({ command, version: "3.276.0" }),
          install: () => Promise.reject(new Error("not here")),
        },
        nodeVersion: process.versions.node,
        typeCheck: () => [],
        // The stand-in's log and its missing stack ride on the environment deploy chose.
        connect: (cli, settings) =>
          new AutomationStackOps(repo, cli, {
            ...settings,
            envVars: { ...settings.envVars, FAKE_PULUMI_LOG: log, FAKE_PULUMI_MISSING: "leaf-a" },
          }),
      });
      assert.equal(code, 0);
      const made = calls();
      assert.deepEqual(
        made.filter((c) => /^(stack init|up) /.test(c)),
        [
          "stack init leaf-a",
          "up --yes --skip-preview --refresh --exec-kind auto.local --stack leaf-a",
        ].map((c) => `${c} | backend=https://api.pulumi.com passphrase=`),
      );
      // No call of the run carried a passphrase.
      assert.deepEqual(
        made.filter((c) => !c.endsWith(" passphrase=")),
        [],
      );
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it("fails on a missing stack when not asked to create it", async () => {
    const ops = await connect({ fake: { FAKE_PULUMI_MISSING: "leaf-c" } });
    await assert.rejects(ops.up("leaf-c", { refresh: true, onLine: () => undefined }), {
      message: "pulumi exited with code 255: error: no stack named 'leaf-c' found",
    });
    assert.ok(!calls().some((c) => c.startsWith("stack init")));
  });

  it("streams a failed update's output, then fails with its exit code and error line", async () => {
    const ops = await connect({ fake: { FAKE_PULUMI_FAIL: "leaf-a" } });
    const lines: string[] = [];
    await assert.rejects(ops.up("leaf-a", { refresh: true, onLine: (l) => lines.push(l) }), {
      message: "pulumi exited with code 255: error: the update failed",
    });
    assert.deepEqual(lines.sort(), [
      "  a line in two chunks",
      "Updating:",
      "error: the update failed",
    ]);
  });

  it("finds the CLI on PATH with its version, and nothing when PATH has none", async () => {
    const path = process.env["PATH"];
    try {
      process.env["PATH"] = `${join(root, "bin")}:${path ?? ""}`;
      assert.equal((await automationCliLocator.find())?.version, "3.276.0");
      process.env["PATH"] = join(root, "no-such-dir");
      assert.equal(await automationCliLocator.find(), undefined);
    } finally {
      process.env["PATH"] = path;
    }
  });

  it("reads output values, a config value, and undefined for an unset key", async () => {
    const ops = await connect();
    assert.deepEqual(await ops.outputs("leaf-a"), { bridge: { version: 2, cluster: "leaf-a" } });
    assert.equal(
      await ops.getConfig("observer", "thanos-bridge:leaves"),
      '["org/thanos-bridge/leaf-a"]',
    );
    assert.equal(await ops.getConfig("observer", "thanos-bridge:nothing"), undefined);
  });
});

describe("adapter helpers", () => {
  it("splits chunks into lines, keeping a last line without a break for the flush", () => {
    const lines: string[] = [];
    const split = lineSplitter((l) => lines.push(l));
    for (const chunk of ["one\ntw", "o\r\n", "", "three"]) split.write(chunk);
    assert.deepEqual(lines, ["one", "two"]);
    split.flush();
    split.flush();
    assert.deepEqual(lines, ["one", "two", "three"]);
  });

  it("summarises Automation API errors to the exit code and the last error line", () => {
    assert.equal(
      summarizeError(
        "code: -2\n stdout: \n stderr: Command failed with exit code 255: pulumi up --stack a\n" +
          "error: first\nUpdating:\n    error: resource failed\n err?: Error: Command failed with exit code 255",
      ),
      "pulumi exited with code 255: error: resource failed",
    );
    assert.equal(
      summarizeError("code: 1\n stdout: x\n stderr: \n err?: \n"),
      "pulumi exited with code 1",
    );
    assert.equal(summarizeError("spawn pulumi ENOENT\nmore"), "spawn pulumi ENOENT");
  });
});
