// What a test starts does not outlive it: a test process that exits, or is interrupted while its
// servers run, takes their whole process groups and its temporary directories (which hold keys)
// with it. The servers are the ones the tests start (test/support/interrupted.ts); nginx's
// master and workers are checked by process group.
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nginxAvailable } from "./support/nginx-process";

interface Started {
  readonly groups: number[];
  readonly dirs: string[];
  readonly nginxDirs: string[];
}

const inCi = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";

/** Whether any process of group `pgid` is alive (signal 0 checks without sending anything). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startFixture(): Promise<{ child: ChildProcess; started: Started }> {
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", join(__dirname, "support", "interrupted.ts")],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const started = await new Promise<Started>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line !== undefined) resolve(JSON.parse(line) as Started);
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`the fixture ended before it started everything: ${code ?? signal}`)),
    );
  });
  return { child, started };
}

async function untilGone(started: Started): Promise<void> {
  for (let i = 0; i < 100 && started.groups.some(groupAlive); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a test process's servers and files do not outlive it", function () {
  this.timeout(60_000);
  let fixture: { child: ChildProcess; started: Started } | undefined;

  before(function () {
    if (!nginxAvailable()) {
      const message = "nginx is not installed (apt-get install nginx-light)";
      if (inCi) throw new Error(message);
      console.warn(`\n  !!! SKIPPED: ${message}\n`);
      this.skip();
    }
  });

  afterEach(() => {
    // Should a check fail, the fixture's servers go anyway.
    for (const pgid of fixture?.started.groups ?? []) {
      if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
    }
    fixture?.child.kill("SIGKILL");
  });

  for (const how of ["SIGTERM", "SIGINT", "SIGHUP", "exit"] as const) {
    it(`${how === "exit" ? "on exit" : `interrupted by ${how}`}: every process group and directory gone`, async () => {
      const before = readdirSync(tmpdir()).filter((d) => d.startsWith("thanos-bridge-nginx-"));
      fixture = await startFixture();
      const { child, started } = fixture;
      assert.deepEqual(started.groups.map(groupAlive), [true, true]);
      const nginxDir = started.nginxDirs.filter((d) => !before.includes(d));
      assert.equal(nginxDir.length, 1, `the nginx directories: ${started.nginxDirs.join(", ")}`);
      const ended = new Promise<string>((resolve) =>
        child.once("exit", (code, signal) => resolve(signal ?? `code ${code}`)),
      );
      if (how === "exit") child.stdin?.write("exit\n");
      else child.kill(how);
      // The signal still ends the process, after the clean-up.
      assert.equal(await ended, how === "exit" ? "code 0" : how);
      await untilGone(started);
      assert.deepEqual(started.groups.map(groupAlive), [false, false]);
      for (const dir of [...started.dirs, join(tmpdir(), nginxDir[0])]) {
        assert.equal(existsSync(dir), false, `${dir} is still there`);
      }
    });
  }
});
