import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { StackFile, checkReport, readStackFiles } from "../ops/check";

const ROOT = join(__dirname, "..");
const SHIPPED = ["leaf-a", "leaf-b", "leaf-c", "observer"];

const leaf = (host: string, extra = ""): string =>
  `config:\n  thanos-bridge:role: leaf\n  thanos-bridge:hostname: ${host}\n${extra}`;
const observer = (leaves: string[], extra = ""): string =>
  `config:\n  thanos-bridge:role: observer\n  thanos-bridge:leaves:\n` +
  leaves.map((l) => `    - ${l}\n`).join("") +
  extra;
const files = (byStack: Record<string, string>): StackFile[] =>
  Object.entries(byStack).map(([stack, text]) => ({ stack, text }));

describe("npm run check: every stack file, offline", () => {
  it("passes the shipped stack files (and ignores any a user adds)", () => {
    const shipped = readStackFiles(ROOT).filter((f) => SHIPPED.includes(f.stack));
    assert.deepEqual(checkReport(shipped), {
      code: 0,
      lines: [
        "check: 4 stack files valid: Pulumi.leaf-a.yaml, Pulumi.leaf-b.yaml, Pulumi.leaf-c.yaml, Pulumi.observer.yaml",
      ],
    });
  });

  it("reports every problem of every file at once, with file, key, value and what is allowed, and exits 2", () => {
    const report = checkReport(
      files({
        "leaf-a": leaf("thanos.leaf-a.example.com", "  thanos-bridge:sidecarPort: 0\n"),
        "leaf-b": leaf("thanos.leaf-a.example.com", "  thanos-bridge:clusterName: leaf-a\n"),
        broken: "config: [unclosed",
        observer: observer([
          "organization/thanos-bridge/leaf-a",
          "organization/thanos-bridge/leaf-z",
          "organization/thanos-bridge/observer",
          "organization/other/leaf-a",
        ]),
      }),
    );
    assert.equal(report.code, 2);
    assert.deepEqual(report.lines, [
      "check: 7 problems in the stack files:",
      '  - Pulumi.leaf-a.yaml: thanos-bridge:sidecarPort: "0" is not allowed; use a whole number from 1 to 65535',
      "  - Pulumi.broken.yaml: not valid YAML (Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 18:)",
      "  - Pulumi.observer.yaml: thanos-bridge:leaves: organization/other/leaf-a is a stack of project other, not of thanos-bridge",
      "  - Pulumi.observer.yaml: thanos-bridge:leaves: organization/thanos-bridge/leaf-z has no stack file Pulumi.leaf-z.yaml here",
      "  - Pulumi.observer.yaml: thanos-bridge:leaves: organization/thanos-bridge/observer is not a leaf (Pulumi.observer.yaml sets role observer)",
      `  - Pulumi.leaf-b.yaml: thanos-bridge:clusterName: "leaf-a" is also Pulumi.leaf-a.yaml's; every leaf needs its own, or the observer cannot tell them apart`,
      `  - Pulumi.leaf-b.yaml: thanos-bridge:hostname: "thanos.leaf-a.example.com" is also Pulumi.leaf-a.yaml's; every leaf needs its own, or the observer cannot tell them apart`,
    ]);
  });

  it("checks an observer's leaves even when another of its keys is wrong", () => {
    const report = checkReport(
      files({
        observer: observer(
          ["organization/thanos-bridge/leaf-q"],
          "  thanos-bridge:querierReplicas: two\n",
        ),
      }),
    );
    assert.deepEqual(report.lines.slice(1), [
      '  - Pulumi.observer.yaml: thanos-bridge:querierReplicas: "two" is not allowed; use a whole number from 1 to 100',
      "  - Pulumi.observer.yaml: thanos-bridge:leaves: organization/thanos-bridge/leaf-q has no stack file Pulumi.leaf-q.yaml here",
    ]);
  });

  it("reads values as Pulumi hands them to the program: numbers, booleans and lists as text, secrets unread", () => {
    const report = checkReport(
      files({
        "leaf-a": leaf(
          "thanos.leaf-a.example.com",
          "  thanos-bridge:publicPort: 8443\n  thanos-bridge:createNamespace: true\n" +
            "  thanos-bridge:kubeconfig:\n    secure: v1:AAAA\n",
        ),
      }),
    );
    assert.deepEqual(report, {
      code: 0,
      lines: ["check: 1 stack files valid: Pulumi.leaf-a.yaml"],
    });
  });

  it("refuses a directory with no stack file", () => {
    assert.deepEqual(checkReport([]), {
      code: 2,
      lines: ["check: there is no Pulumi.<stack>.yaml here"],
    });
  });

  it("runs as npm run check on this directory: exit 0, or 2 for a stack file a user broke", () => {
    const r = spawnSync("npx", ["ts-node", "--transpile-only", "ops/check.ts"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    const userFiles = readStackFiles(ROOT).some((f) => !SHIPPED.includes(f.stack));
    // The shipped files alone pass; a user's own file may rightly fail it.
    if (!userFiles) assert.equal(r.status, 0, r.stderr);
    assert.ok([0, 2].includes(r.status ?? -1), r.stderr);
    assert.match(r.status === 0 ? r.stdout : r.stderr, /^check: /);
  });
});
