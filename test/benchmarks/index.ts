// npm run bench: how the observer program scales with the number of leaves, for each data path
// (envoy, thanos), measured on Pulumi's mock runtime; and how long generating and strictly
// validating envoy.yaml, and generating the thanos endpoints file, take.
// Figures only: nothing here passes or fails.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sortLeaves } from "../../components/common/contract";
import { envoyBootstrap } from "../../components/observer/envoy/bootstrap";
import { QUERIER_FAN_OUT } from "../../components/observer/querier/pod";
import { thanosEndpointsConfig } from "../../components/observer/thanos/endpoints";
import { stableYaml } from "../../components/common/yaml";
import { loadEnvoyProtos, validateEnvoyBootstrap } from "../support/envoy-validator";
import { LEAF_A, runLeaf } from "../support/leaf";
import { benchTls } from "./tls";

const SIZES = [1, 10, 100, 1000];
const DATA_PATHS = ["envoy", "thanos"] as const;
const ROOT = join(__dirname, "..", "..");

interface Case {
  wallMs: number;
  maxRssMb: number;
  resources: number;
  /** The ConfigMap's data: envoy.yaml and endpoints.yaml, or endpoints.yaml alone. */
  configBytes: number;
  /** Every Secret's data: the leaves' credentials. */
  secretBytes: number;
  refused?: string;
}

function child(args: string[]): Case {
  // A refused program leaves promises pending, and Pulumi's leak check then sets exit code 1:
  // the measurement is the JSON line, whatever the exit code.
  const run = spawnSync(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", join(__dirname, "child.ts"), ...args],
    { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  const line = run.stdout.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`bench case ${args.join(" ")} failed:\n${run.stderr}`);
  return JSON.parse(line) as Case;
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const ms = (n: number) => `${n.toFixed(0)} ms`;

async function main(): Promise<void> {
  // One real leaf (real CA, certificate and key), cloned under N names by the child's mocks.
  const leaf = await runLeaf(LEAF_A, "leaf-a");
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  try {
    const leafFile = join(dir, "leaf.json");
    writeFileSync(leafFile, JSON.stringify({ bridge: leaf.bridge, clientKey: leaf.clientKey }));

    console.log(
      `observer program on the mock runtime (node ${process.version}, one process per case)`,
    );
    console.log(
      `floor: as many trivial resources; types: the same resource types, fixed inputs;\n` +
        `config: the ConfigMap's data (envoy.yaml + endpoints.yaml, or endpoints.yaml), per leaf; ` +
        `secrets: the Secrets' data, per leaf`,
    );
    for (const dataPath of DATA_PATHS) {
      console.log(`\ndataPath ${dataPath}`);
      console.log(
        [
          pad("leaves", 6),
          pad("wall", 9),
          pad("peak RSS", 9),
          pad("resources", 9),
          pad("config", 9),
          pad("per leaf", 9),
          pad("secrets", 8),
          pad("floor", 8),
          pad("ratio", 6),
          pad("types", 8),
          pad("ratio", 6),
        ].join("  "),
      );
      const rows: { n: number; program: Case; floor: Case; types: Case }[] = [];
      for (const n of SIZES) {
        const program = child(["program", String(n), dataPath, leafFile]);
        const floor = child(["floor", String(n), dataPath]);
        const types = child(["types", String(n), dataPath]);
        rows.push({ n, program, floor, types });
        const refused = program.refused !== undefined;
        console.log(
          [
            pad(n, 6),
            pad(ms(program.wallMs), 9),
            pad(`${program.maxRssMb.toFixed(0)} MB`, 9),
            pad(program.resources, 9),
            pad(refused ? "refused" : `${(program.configBytes / 1024).toFixed(0)} KiB`, 9),
            pad(refused ? "-" : `${(program.configBytes / n).toFixed(0)} B`, 9),
            pad(refused ? "-" : `${(program.secretBytes / n).toFixed(0)} B`, 8),
            pad(ms(floor.wallMs), 8),
            pad((program.wallMs / floor.wallMs).toFixed(2), 6),
            pad(ms(types.wallMs), 8),
            pad((program.wallMs / types.wallMs).toFixed(2), 6),
          ].join("  "),
        );
      }
      for (const { n, program } of rows) {
        if (program.refused) {
          console.log(
            `\n${n} leaves: refused at plan time, after reading every leaf and before declaring ` +
              `their Secrets: ${program.refused}`,
          );
        }
      }
      // Cost per leaf from the two largest runs that completed: a refused run stops at the
      // capacity check, before the per-leaf Secrets, so it is not the same work.
      const complete = rows.filter((r) => r.program.refused === undefined);
      const [small, large] = complete.slice(-2);
      const perLeaf = (pick: (r: (typeof rows)[number]) => Case) =>
        ((pick(large).wallMs - pick(small).wallMs) / (large.n - small.n)).toFixed(2);
      console.log(
        `\n${dataPath}: cost per leaf between ${small.n} and ${large.n} leaves: ` +
          `${perLeaf((r) => r.program)} ms (floor: ${perLeaf((r) => r.floor)} ms, ` +
          `types: ${perLeaf((r) => r.types)} ms)`,
      );
    }

    // Generation and strict validation alone, in this process.
    const t0 = process.hrtime.bigint();
    loadEnvoyProtos();
    const load = Number(process.hrtime.bigint() - t0) / 1e6;
    // In the one order the observer gives every generator (`distinctLeaves`).
    const leaves = sortLeaves(
      Array.from({ length: 1000 }, (_, i) => {
        const cluster = `leaf-${String(i).padStart(4, "0")}`;
        return {
          cluster,
          host: `thanos.${cluster}.example.com`,
          port: 443,
          serverName: `thanos.${cluster}.example.com`,
          streamTimeoutSeconds: 600,
        };
      }),
    );
    const t1 = process.hrtime.bigint();
    const config = envoyBootstrap(leaves, {
      endpointSuffix: "thanos-bridge.internal",
      fanOut: QUERIER_FAN_OUT,
      ipFamily: "IPv4",
      accessLog: "errors",
    });
    const t2 = process.hrtime.bigint();
    const yaml = stableYaml(config);
    const t3 = process.hrtime.bigint();
    const problems = validateEnvoyBootstrap(config);
    const t4 = process.hrtime.bigint();
    const d = (a: bigint, b: bigint) => Number(b - a) / 1e6;
    console.log(
      `\nenvoy.yaml for 1000 leaves: generate ${ms(d(t1, t2))}, serialise ${ms(d(t2, t3))} ` +
        `(${(yaml.length / 1024 / 1024).toFixed(2)} MiB), validate ${ms(d(t3, t4))} ` +
        `(${problems.length} problems); total ${ms(d(t1, t4))}, plus ${ms(load)} to load the protos once`,
    );
    // The thanos data path's endpoints file for the same leaves, with a leaf's real CA bundle.
    const upstreams = sortLeaves(
      leaves.map((l) => ({
        cluster: l.cluster,
        endpoint: `${l.host}:${l.port}`,
        serverName: l.serverName,
        caCerts: leaf.bridge.caCerts,
      })),
    );
    const t5 = process.hrtime.bigint();
    const endpoints = thanosEndpointsConfig(upstreams, []);
    const t6 = process.hrtime.bigint();
    const endpointsYaml = stableYaml(endpoints);
    const t7 = process.hrtime.bigint();
    console.log(
      `thanos endpoints.yaml for 1000 leaves: generate ${ms(d(t5, t6))}, serialise ` +
        `${ms(d(t6, t7))} (${(endpointsYaml.length / 1024).toFixed(0)} KiB, ` +
        `${(endpointsYaml.length / 1000).toFixed(0)} B per leaf)`,
    );
  } finally {
    // The leaf file holds a (test) private key.
    rmSync(dir, { recursive: true, force: true });
  }

  await benchTls();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
