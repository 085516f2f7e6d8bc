import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { CheckOptions, StackFile, checkReport, readStackFiles } from "../ops/check";

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
      ...["leaf-b", "observer"].map(
        (stack) =>
          `check: warning: Pulumi.${stack}.yaml: none of thanos-bridge:kubeContext, thanos-bridge:kubeconfig or thanos-bridge:renderDir is set: the stack deploys to the current context of the ambient kubeconfig, whichever cluster that is when it runs; name the cluster with thanos-bridge:kubeContext`,
      ),
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

describe("npm run check: the stack-file mistakes that used to pass or mislead", () => {
  /** A leaf that renders, so that only the mistake under test is reported. */
  const placed = (stack: string, extra = ""): string =>
    leaf(`thanos.${stack}.example.com`, `  thanos-bridge:renderDir: out/${stack}\n${extra}`);
  const OBSERVER = observer(
    ["organization/thanos-bridge/leaf-a"],
    "  thanos-bridge:renderDir: out/observer\n",
  );

  /** The report's problem lines for these files (with the shipped-like observer and leaf-a). */
  function reported(byStack: Record<string, string>, options: CheckOptions = {}): string[] {
    const report = checkReport(
      files({ "leaf-a": placed("leaf-a"), observer: OBSERVER, ...byStack }),
      { backend: "try-out", projectDir: ROOT, ...options },
    );
    return report.lines.slice(1);
  }

  const only = (byStack: Record<string, string>, line: string, options?: CheckOptions) =>
    assert.deepEqual(reported(byStack, options), [`  - ${line}`]);

  describe("allowedServices Querier cannot use", () => {
    it("refuses a list without a service Querier calls on every store", () =>
      only(
        { "leaf-a": placed("leaf-a", "  thanos-bridge:allowedServices:\n    - thanos.Store\n") },
        'Pulumi.leaf-a.yaml: thanos-bridge:allowedServices: ["thanos.Store"] leaves out thanos.info.Info, which Querier calls on every store, so the observer could not use this leaf; add thanos.info.Info',
      ));

    it("refuses a Thanos service in the wrong case: gRPC paths are case-sensitive", () =>
      only(
        {
          "leaf-a": placed(
            "leaf-a",
            "  thanos-bridge:allowedServices: [thanos.Store, thanos.info.Info, thanos.rules]\n",
          ),
        },
        'Pulumi.leaf-a.yaml: thanos-bridge:allowedServices: "thanos.rules" is not allowed; gRPC paths are case-sensitive, so it would match no call: write thanos.Rules',
      ));
  });

  describe("stacks whose objects would collide", () => {
    it("refuses two leaves in one cluster and namespace, and two observers", () =>
      assert.deepEqual(
        reported({
          "leaf-a": placed("leaf-a").replace(/renderDir: .*/, "kubeContext: prod"),
          "leaf-b": placed("leaf-b").replace(/renderDir: .*/, "kubeContext: prod"),
          observer: OBSERVER,
          "observer-2": OBSERVER,
        }),
        [
          '  - Pulumi.leaf-b.yaml: thanos-bridge:namespace: leaf objects go to kubeContext "prod", namespace "monitoring", as Pulumi.leaf-a.yaml\'s do; their names are fixed, so the two would overwrite each other: give one another namespace (thanos-bridge:namespace) or another cluster',
          '  - Pulumi.observer-2.yaml: thanos-bridge:namespace: observer objects go to renderDir "out/observer", namespace "monitoring", as Pulumi.observer.yaml\'s do; their names are fixed, so the two would overwrite each other: give one another namespace (thanos-bridge:namespace) or another cluster',
        ],
      ));

    it("accepts them in other namespaces, or a leaf and an observer side by side", () =>
      assert.deepEqual(
        reported({
          "leaf-a": placed("leaf-a").replace(/renderDir: .*/, "kubeContext: prod"),
          "leaf-b": placed("leaf-b", "  thanos-bridge:namespace: other\n").replace(
            /renderDir: .*/,
            "kubeContext: prod",
          ),
          observer: OBSERVER.replace(/renderDir: .*/, "kubeContext: prod"),
        }),
        [],
      ));
  });

  describe("stack files Pulumi reads otherwise than they look", () => {
    it("refuses a .yml stack file, which Pulumi never reads", () =>
      only(
        {},
        "Pulumi.leaf-d.yml: Pulumi never reads it: a stack's file is Pulumi.<stack>.yaml, with the extension of Pulumi.yaml; rename it to Pulumi.leaf-d.yaml",
        { ignored: ["Pulumi.leaf-d.yml"] },
      ));

    it("reads a key without a namespace as the project's, as Pulumi does", () =>
      assert.deepEqual(
        reported({
          "leaf-a":
            "config:\n  role: leaf\n  hostname: thanos.leaf-a.example.com\n  renderDir: out/leaf-a\n",
        }),
        [],
      ));

    it("refuses a key set both with and without the namespace", () =>
      only(
        { "leaf-a": placed("leaf-a", "  hostname: thanos.other.example.com\n") },
        "Pulumi.leaf-a.yaml: hostname and thanos-bridge:hostname are the same key (Pulumi puts a key without a namespace in the project's), set twice; keep one",
      ));

    it("refuses keys outside config:, which Pulumi never reads", () =>
      only(
        { "leaf-a": `${placed("leaf-a")}thanos-bridge:publicPort: 8443\n` },
        "Pulumi.leaf-a.yaml: thanos-bridge:publicPort is outside config:, where Pulumi never reads it (a stack file holds config:, environment:, secretsprovider:, encryptedkey:, encryptionsalt:); indent it under config:",
      ));

    it("refuses an encrypted value for a key the program uses in plain text", () =>
      only(
        { "leaf-a": placed("leaf-a", "  thanos-bridge:ingressClass:\n    secure: v1:AAAA\n") },
        "Pulumi.leaf-a.yaml: thanos-bridge:ingressClass is encrypted (secure:), but it is not a secret: the program uses it in plain text, in its outputs and objects; set it in plain text, `pulumi config set ingressClass <value>`",
      ));

    it("refuses an empty secure: value", () =>
      only(
        {
          "leaf-a": placed("leaf-a")
            .replace(/renderDir: .*/, "kubeContext: a")
            .concat('  thanos-bridge:kubeconfig:\n    secure: ""\n'),
        },
        "Pulumi.leaf-a.yaml: thanos-bridge:kubeconfig: its secure: value is empty, so there is nothing to decrypt; set it with `pulumi config set --secret thanos-bridge:kubeconfig <value>`",
      ));

    it("honours a YAML merge key, as Pulumi's reader does", () =>
      assert.deepEqual(
        reported({
          "leaf-a":
            "base: &base\n  thanos-bridge:role: leaf\n  thanos-bridge:renderDir: out/leaf-a\n" +
            "config:\n  <<: *base\n  thanos-bridge:hostname: thanos.leaf-a.example.com\n",
        }),
        [
          "  - Pulumi.leaf-a.yaml: base is outside config:, where Pulumi never reads it (a stack file holds config:, environment:, secretsprovider:, encryptedkey:, encryptionsalt:); indent it under config:",
        ],
      ));
  });

  describe("names, secrets and values", () => {
    it("applies the backend's naming to an observer's leaves as deploy does: DIY refuses another organization, Pulumi Cloud takes it", () => {
      const acme = { observer: OBSERVER.replace("organization/", "acme/") };
      only(
        acme,
        "Pulumi.observer.yaml: thanos-bridge:leaves: acme/thanos-bridge/leaf-a cannot be found on this DIY backend, where stacks are named organization/<project>/<stack>; use organization/thanos-bridge/leaf-a",
      );
      assert.deepEqual(reported(acme, { backend: "cloud" }), []);
    });

    it("refuses a stack file whose name Pulumi does not take as a stack name", () =>
      only(
        { "leaf a": placed("leaf-x") },
        'Pulumi.leaf a.yaml: "leaf a" is not a stack name Pulumi accepts (letters, digits, "-", "_" and "." only, at most 100); rename the file',
      ));

    it("refuses kubeconfig contents in plain text, without repeating them", () => {
      const contents = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1\n";
      const lines = reported({
        "leaf-a": placed("leaf-a").replace(
          /renderDir: .*/,
          `kubeconfig: ${JSON.stringify(contents)}`,
        ),
      });
      assert.deepEqual(lines, [
        `  - Pulumi.leaf-a.yaml: thanos-bridge:kubeconfig holds kubeconfig contents (${contents.length} characters, credentials) in plain text, in a stack file meant for git; give a path instead, or set the contents encrypted: \`pulumi config set --secret kubeconfig < <file>\``,
      ]);
    });

    it("cuts a very long value in its message, saying how long it is", () =>
      only(
        { "leaf-a": placed("leaf-a", `  thanos-bridge:ingressClass: ${"x".repeat(300)}!\n`) },
        `Pulumi.leaf-a.yaml: thanos-bridge:ingressClass: "${"x".repeat(60)}..." (301 characters) is not allowed; use the name of an IngressClass (a lowercase DNS subdomain)`,
      ));
  });

  describe("legal values that are probably mistakes: a warning naming the key, exit 0", () => {
    const warned = (byStack: Record<string, string>): { code: number; lines: string[] } => {
      const report = checkReport(
        files({ "leaf-a": placed("leaf-a"), observer: OBSERVER, ...byStack }),
        { backend: "try-out", projectDir: ROOT },
      );
      return { code: report.code, lines: report.lines.slice(1) };
    };

    it("publicPort 80", () =>
      assert.deepEqual(warned({ "leaf-a": placed("leaf-a", "  thanos-bridge:publicPort: 80\n") }), {
        code: 0,
        lines: [
          "check: warning: Pulumi.leaf-a.yaml: thanos-bridge:publicPort: 80 is the plain-HTTP port, but the observer speaks TLS to the leaf's ingress, usually on 443; set the port the ingress serves HTTPS on",
        ],
      }));

    for (const dir of ["../manifests", "/tmp/manifests"]) {
      it(`renderDir ${dir}, outside the project`, () =>
        assert.deepEqual(warned({ "leaf-a": placed("leaf-a").replace(/out\/leaf-a/, dir) }), {
          code: 0,
          lines: [
            `check: warning: Pulumi.leaf-a.yaml: thanos-bridge:renderDir: "${dir}" is outside the project directory; the manifests go there with their Secrets in plain text, where the project's .gitignore does not reach; e.g. out/<stack> keeps them in the project, ignored`,
          ],
        }));
    }
  });
});
