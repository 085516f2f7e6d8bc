// Run by test/processes.test.ts as a test process of its own: starts what a test starts (a
// process group through the registry, a temporary directory, a leaf's nginx with its keys on
// disk), prints their process groups and directories as one JSON line, then waits to be
// interrupted or told to exit.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { LEAF_A, runLeaf } from "./leaf";
import { startLeafNginx } from "./nginx";
import { tempDir, track } from "./processes";

async function main(): Promise<void> {
  const group = track(spawn("sh", ["-c", "sleep 300 & sleep 300"], { detached: true }), {
    group: true,
  });
  const dir = tempDir("interrupted");
  const nginx = await startLeafNginx(await runLeaf(LEAF_A, "leaf-a"), "127.0.0.1:9");
  const nginxDirs = readdirSync(tmpdir()).filter((d) => d.startsWith("thanos-bridge-nginx-"));
  console.log(JSON.stringify({ groups: [group.pid, nginx.pid], dirs: [dir], nginxDirs }));
  process.stdin.on("data", () => process.exit(0));
  process.stdin.resume();
}

void main();
