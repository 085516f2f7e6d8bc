// npm run bench:datapath: what the bridge costs on the data path, on the real bench (binaries
// from `npm run real:build`). In one run: two leaves, each a real Prometheus and Thanos Sidecar
// behind nginx (the ingress-nginx stand-in, rendered from the leaf's Ingress), and three real
// Queriers run as their pod runs them, with the files the program generated:
// - direct: the envoy-mode Querier container with its endpoints file naming each Sidecar's
//   plain gRPC port, the floor;
// - thanos: dataPath thanos, Querier's own mutual TLS to each leaf's ingress;
// - envoy: dataPath envoy through the Envoy stand-in (nginx translated from envoy.yaml, not
//   Envoy), which originates the mutual TLS.
// Then: PromQL latency per mode, interleaved; where the time goes, call by call over gRPC; the
// handshake cost per mode and key algorithm; and the config bytes per leaf for each data path.
// Figures only: nothing here passes or fails. Answers are checked, so a figure is never that of
// a failed or partial answer.
import * as grpc from "@grpc/grpc-js";
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { thanosLeafAddress } from "../../components/observer/thanos/endpoints";
import {
  BenchLeaf,
  PodQuerier,
  expectEveryLeafUp,
  expectRangeFromEveryLeaf,
  startBenchLeaf,
  startPodQuerier,
} from "../real/support/bridge";
import { EnvoyStandIn, nginxVersion, startEnvoyStandIn } from "../real/support/envoy-standin";
import { freePort, removeDir, tempDir } from "../support/processes";
import { promQuery } from "../real/support/thanos";
import { UpstreamTls, callInfo, openConnection } from "../support/grpc";
import { rawConnection } from "../support/raw-grpc";
import { LEAF_A, LEAF_B, LeafRun, runLeaf } from "../support/leaf";
import { Nginx, parseAccessLog, startLeafNginx } from "../support/nginx";
import {
  OBSERVER,
  ObserverRun,
  querierEndpoints,
  runObserver,
  stacksOf,
  thanosUpstreamTls,
} from "../support/observer";

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";
const CLUSTERS = ["leaf-a", "leaf-b"];
/** The observer of the real tests, without the extra endpoint: only the leaves, in every mode. */
const OBSERVER_BASE: Record<string, string> = Object.fromEntries(
  Object.entries(OBSERVER).filter(([key]) => key !== "extraEndpoints"),
);
const INFO = "/thanos.info.Info/Info";
/** A path no route of either nginx matches: nginx answers 404 itself, proxying nothing. */
const NOT_ROUTED = "/bench.NotRouted/Call";
/** The whole run, however it goes; the fixtures stop every process when this one exits. */
const RUN_LIMIT_MS = 10 * 60_000;

// ---- figures

const sorted = (xs: readonly number[]) => [...xs].sort((x, y) => x - y);
/** Nearest-rank percentile. */
const pct = (xs: readonly number[], p: number) =>
  sorted(xs)[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))];
const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const f = (n: number, digits = 2) => `${n.toFixed(digits)} ms`;
const signed = (n: number, digits = 2) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)} ms`;
const pad = (s: string | number, n: number) => String(s).padStart(n);
const padEnd = (s: string, n: number) => s.padEnd(n);

async function timed(run: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface Case {
  readonly name: string;
  run(): Promise<void>;
}

/**
 * `rounds` rounds of every case once, the order rotated each round, so drift on a shared
 * machine falls on every case alike; after `warmup` rounds that are not kept.
 */
async function interleaved(
  cases: readonly Case[],
  rounds: number,
  warmup: number,
): Promise<Map<string, number[]>> {
  const times = new Map(cases.map((c) => [c.name, [] as number[]]));
  for (let round = -warmup; round < rounds; round++) {
    const shift = ((round % cases.length) + cases.length) % cases.length;
    for (const c of [...cases.slice(shift), ...cases.slice(0, shift)]) {
      const ms = await timed(() => c.run());
      if (round >= 0) times.get(c.name)?.push(ms);
    }
  }
  return times;
}

// ---- gRPC without protos (test/support/raw-grpc.ts): for plaintext and for paths nginx ends

async function expectStatus(what: string, got: Promise<grpc.status>, want: grpc.status) {
  const code = await got;
  if (code !== want) {
    throw new Error(`${what}: gRPC status ${grpc.status[code]}, expected ${grpc.status[want]}`);
  }
}

async function expectOk(what: string, got: Promise<{ ok: boolean }>) {
  const r = await got;
  if (!r.ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
}

/** TCP connections in TIME_WAIT with `port` at either end: each is one closed connection. */
function closedConnections(port: number): number {
  const out = spawnSync(
    "ss",
    ["-Htan", "state", "time-wait", `( sport = :${port} or dport = :${port} )`],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`ss failed: ${out.stderr}`);
  return out.stdout.split("\n").filter((l) => l.trim() !== "").length;
}

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

// ---- the bench

/** The stand-in keeps Envoy's fixed address; another real-bench run may hold it for a while. */
async function startStandInWhenFree(
  observer: ObserverRun,
  hostnames: readonly string[],
  dir: string,
): Promise<EnvoyStandIn> {
  const until = Date.now() + 3 * 60_000;
  for (let said = false; ; said = true) {
    try {
      return await startEnvoyStandIn(observer, hostnames, dir);
    } catch (e) {
      const taken = /is not free on this machine|was taken before nginx bound it/.test(String(e));
      if (!taken || Date.now() > until) throw e;
      if (!said) console.log("  (Envoy's address is taken by another run: waiting for it)");
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

interface Modes {
  direct: PodQuerier;
  thanos: PodQuerier;
  envoy: PodQuerier;
}

const MODE_LABEL: Record<keyof Modes, string> = {
  direct: "direct (the floor)",
  thanos: "thanos",
  envoy: "envoy (nginx stand-in)",
};

/** Prints the figures; returns each query and mode that misses the aim. */
async function queryLatency(modes: Modes, rounds: number, warmup: number): Promise<string[]> {
  // A fixed window in the past: every range query reads the same samples.
  const end = Math.floor(Date.now() / 1000);
  const queries = {
    "instant up": async (q: PodQuerier, mode: string) => {
      const a = await promQuery(q.http, "query", { query: "up" });
      const got = a.data.result.map((s) => `${s.metric.cluster}/${s.metric.job}`).sort();
      const want = CLUSTERS.flatMap((c) => [`${c}/extra`, `${c}/prometheus`]).sort();
      if (JSON.stringify(got) !== JSON.stringify(want) || (a.warnings ?? []).length > 0) {
        throw new Error(`${mode}: up answered ${got.join(", ")} ${JSON.stringify(a.warnings)}`);
      }
    },
    "range 30 s, step 1 s": async (q: PodQuerier, mode: string) => {
      const a = await promQuery(q.http, "query_range", {
        query: 'up{job="prometheus"}',
        start: String(end - 30),
        end: String(end),
        step: "1",
      });
      const got = a.data.result.map((s) => s.metric.cluster).sort();
      if (
        JSON.stringify(got) !== JSON.stringify(CLUSTERS) ||
        a.data.result.some((s) => (s.values ?? []).length < 3) ||
        (a.warnings ?? []).length > 0
      ) {
        throw new Error(`${mode}: range answered ${got.join(", ")} ${JSON.stringify(a.warnings)}`);
      }
    },
  };
  const cases: Case[] = [];
  for (const [query, run] of Object.entries(queries)) {
    for (const [mode, q] of Object.entries(modes) as [keyof Modes, PodQuerier][]) {
      cases.push({ name: `${query}|${mode}`, run: () => run(q, mode) });
    }
  }
  const times = await interleaved(cases, rounds, warmup);
  console.log(
    `\nPromQL through each Querier's HTTP API, one query at a time: ${rounds} interleaved ` +
      `rounds after ${warmup} warm-up rounds; every answer checked complete (both leaves, no ` +
      `warning). Aim: p50 over direct <= 20% of direct's p50 + 2 ms.\n`,
  );
  console.log(
    [
      padEnd("query", 21),
      padEnd("mode", 23),
      pad("p50", 9),
      pad("p99", 9),
      pad("mean", 9),
      pad("p50 over direct", 20),
      pad("aim", 14),
    ].join("  "),
  );
  const missed: string[] = [];
  for (const query of Object.keys(queries)) {
    const floor = times.get(`${query}|direct`) ?? [];
    const floorP50 = pct(floor, 0.5);
    for (const mode of Object.keys(modes) as (keyof Modes)[]) {
      const t = times.get(`${query}|${mode}`) ?? [];
      const over = pct(t, 0.5) - floorP50;
      const limit = 0.2 * floorP50 + 2;
      const met = over <= limit;
      if (mode !== "direct" && !met) missed.push(`${query}, ${MODE_LABEL[mode]}`);
      console.log(
        [
          padEnd(mode === "direct" ? query : "", 21),
          padEnd(MODE_LABEL[mode], 23),
          pad(f(pct(t, 0.5)), 9),
          pad(f(pct(t, 0.99)), 9),
          pad(f(mean(t)), 9),
          pad(
            mode === "direct" ? "" : `${signed(over)} (${((100 * over) / floorP50).toFixed(0)}%)`,
            20,
          ),
          pad(mode === "direct" ? `<= ${f(limit)}` : met ? "met" : "NOT met", 14),
        ].join("  "),
      );
    }
  }
  return missed;
}

interface GrpcTargets {
  sidecar: string;
  /** 127.0.0.1:<port> of leaf-a's ingress (ECDSA-P256, the default) and of an RSA-3072 one. */
  ingress: string;
  ingressRsa: string;
  /** Querier's settings for leaf-a in thanos mode, for each. */
  tls: UpstreamTls;
  tlsRsa: UpstreamTls;
  /** The stand-in's listener, and the :authority Querier sends it for leaf-a. */
  standIn: string;
  standInAuthority: string;
  /** leaf-a's ingress access log so far. */
  ingressLog: () => string;
}

async function grpcCalls(t: GrpcTargets, rounds: number, warmup: number): Promise<void> {
  const kept = {
    sidecar: rawConnection(t.sidecar, t.sidecar),
    standIn: rawConnection(t.standIn, t.standInAuthority),
    ingressRaw: rawConnection(t.ingress, t.tls.serverName, t.tls),
    ingress: openConnection(t.ingress, t.tls),
    ingressRsa: openConnection(t.ingressRsa, t.tlsRsa),
  };
  const once = (address: string, authority: string) => {
    const c = rawConnection(address, authority);
    return c.call(INFO).finally(() => c.close());
  };
  const K = {
    floor: "Sidecar directly, plaintext (the floor)",
    standIn404: "the stand-in answering itself (404), plaintext",
    ingress404: "leaf ingress answering itself (404), mTLS",
    ingress: "through the leaf ingress, mTLS (thanos mode)",
    standIn: "through the stand-in, then the ingress (envoy mode)",
    ingressRsa: "through an RSA-3072 leaf ingress, mTLS (thanos mode)",
  };
  const N = {
    floor: "direct, plaintext",
    ingress: "thanos mode: mTLS to the leaf ingress, ECDSA-P256",
    ingressRsa: "thanos mode: mTLS to the leaf ingress, RSA-3072",
    standIn: "envoy mode: plaintext to the stand-in, which dials the ingress",
  };
  try {
    const cases: Case[] = [
      { name: K.floor, run: () => expectStatus(K.floor, kept.sidecar.call(INFO), grpc.status.OK) },
      {
        name: K.standIn404,
        run: () =>
          expectStatus(K.standIn404, kept.standIn.call(NOT_ROUTED), grpc.status.UNIMPLEMENTED),
      },
      {
        name: K.ingress404,
        run: () =>
          expectStatus(K.ingress404, kept.ingressRaw.call(NOT_ROUTED), grpc.status.UNIMPLEMENTED),
      },
      { name: K.ingress, run: () => expectOk(K.ingress, kept.ingress.info()) },
      {
        name: K.standIn,
        run: () => expectStatus(K.standIn, kept.standIn.call(INFO), grpc.status.OK),
      },
      { name: K.ingressRsa, run: () => expectOk(K.ingressRsa, kept.ingressRsa.info()) },
      {
        name: `new|${N.floor}`,
        run: () => expectStatus(N.floor, once(t.sidecar, t.sidecar), grpc.status.OK),
      },
      { name: `new|${N.ingress}`, run: () => expectOk(N.ingress, callInfo(t.ingress, t.tls)) },
      {
        name: `new|${N.ingressRsa}`,
        run: () => expectOk(N.ingressRsa, callInfo(t.ingressRsa, t.tlsRsa)),
      },
      {
        name: `new|${N.standIn}`,
        run: () => expectStatus(N.standIn, once(t.standIn, t.standInAuthority), grpc.status.OK),
      },
    ];
    const times = await interleaved(cases, rounds, warmup);
    const med = (name: string) => pct(times.get(name) ?? [], 0.5);

    // How many upstream connections each nginx opens per call: each closed one waits in
    // TIME_WAIT; and, for the stand-in's, leaf-a's ingress logs the connection of every request.
    const PROBE = 50;
    const perCall = async (port: number, call: () => Promise<void>) => {
      const before = closedConnections(port);
      for (let i = 0; i < PROBE; i++) await call();
      return (closedConnections(port) - before) / PROBE;
    };
    const sidecarPort = portOf(t.sidecar);
    const ingressToSidecar = await perCall(sidecarPort, () =>
      expectOk(K.ingress, kept.ingress.info()),
    );
    const logBefore = parseAccessLog(t.ingressLog());
    const standInToIngress = await perCall(portOf(t.ingress), () =>
      expectStatus(K.standIn, kept.standIn.call(INFO), grpc.status.OK),
    );
    // Connections the ingress had not served a request on before the probe: the stand-in's new
    // ones (and any a Querier opened meanwhile). The ingress logs a request once it has ended.
    await new Promise((r) => setTimeout(r, 200));
    const seen = new Set(logBefore.map((l) => l.connection));
    const during = parseAccessLog(t.ingressLog()).slice(logBefore.length);
    const opened = new Set(during.map((l) => l.connection).filter((c) => !seen.has(c))).size;

    console.log(
      `\nWhere the time goes: one gRPC call to leaf-a (Info, or a path nginx answers itself) on a ` +
        `kept connection, median of ${rounds} interleaved rounds (a Node gRPC client):\n`,
    );
    const floor = med(K.floor);
    for (const name of [K.floor, K.standIn404, K.ingress404, K.ingress, K.standIn, K.ingressRsa]) {
      const over = name === K.floor ? "" : `${signed(med(name) - floor)} over the floor`;
      console.log(`  ${padEnd(name, 53)}  ${pad(f(med(name)), 9)}  ${over}`);
    }
    const ingressHop = med(K.ingress) - floor;
    const standInHop = med(K.standIn) - med(K.ingress);
    console.log(
      `\n  TLS records on a kept connection, (ingress 404) - (stand-in 404):      ` +
        `${signed(med(K.ingress404) - med(K.standIn404))}\n` +
        `  the ingress hop, (thanos mode) - (floor): plaintext upstream           ` +
        `${signed(ingressHop)}\n` +
        `  the Envoy stand-in's hop, (envoy mode) - (thanos mode): mTLS upstream  ` +
        `${signed(standInHop)}\n` +
        `  upstream connections closed per call (TIME_WAIT sockets over ${PROBE} calls): ` +
        `ingress -> Sidecar ${ingressToSidecar.toFixed(2)}, stand-in -> ingress ` +
        `${standInToIngress.toFixed(2)}\n` +
        `  new connections at leaf-a's ingress per call through the stand-in (its access log, ` +
        `${during.length} requests in the ${PROBE} calls' time): ${(opened / PROBE).toFixed(2)}`,
    );
    const reused = ingressToSidecar < 0.5 && standInToIngress < 0.5 && opened / PROBE < 0.5;
    console.log(
      (reused
        ? "  Both nginx stand-ins keep their upstream connections alive (the ingress as\n" +
          "  ingress-nginx does by default, the Envoy stand-in as Envoy's cluster pools them), so a\n" +
          "  call opens no connection upstream: the stand-in's hop is its proxying and the TLS\n" +
          "  records on a kept mTLS connection, no handshake.\n"
        : "  Calls still open upstream connections (the counts above): the stand-ins' upstream\n" +
          "  keepalive is not in effect, so a hop includes a new connection, for the Envoy\n" +
          "  stand-in a (resumed) mTLS handshake, which Envoy's pool would not pay.\n") +
        "  Querier calls every leaf in parallel, so a query pays the hops once, not once per leaf.",
    );

    console.log(
      `\nHandshake: a new connection and one Info call, ${rounds} interleaved rounds; its cost is ` +
        `the same call's median on a kept connection subtracted:\n`,
    );
    console.log([padEnd("", 63), pad("median", 9), pad("p95", 9), pad("handshake", 10)].join("  "));
    const keptOf: Record<string, string> = {
      [N.floor]: K.floor,
      [N.ingress]: K.ingress,
      [N.ingressRsa]: K.ingressRsa,
      [N.standIn]: K.standIn,
    };
    for (const name of Object.values(N)) {
      const xs = times.get(`new|${name}`) ?? [];
      console.log(
        [
          padEnd(name, 63),
          pad(f(pct(xs, 0.5)), 9),
          pad(f(pct(xs, 0.95)), 9),
          pad(signed(pct(xs, 0.5) - med(keptOf[name])), 10),
        ].join("  "),
      );
    }
    console.log(
      "  The client is Node's (grpc-js), not Querier's Go; the server side is nginx's, as in a\n" +
        "  cluster. The envoy mode's handshake is the local plaintext one: the stand-in's mTLS\n" +
        "  connection to the leaf comes from its pool (above), as Envoy's would; Querier opens a\n" +
        "  connection once and keeps it, so this is paid at start and after a connection drops,\n" +
        "  not per query.",
    );
  } finally {
    for (const c of Object.values(kept)) c.close();
  }
}

interface ChildCase {
  configBytes: number;
  secretBytes: number;
  refused?: string;
}

/** test/benchmarks/child.ts's measurement of the observer program on the mock runtime (as npm run bench). */
function programBytes(n: number, dataPath: string, leafFile: string): ChildCase {
  const run = spawnSync(
    process.execPath,
    [
      "-r",
      "ts-node/register/transpile-only",
      join(__dirname, "child.ts"),
      "program",
      String(n),
      dataPath,
      leafFile,
    ],
    { cwd: join(__dirname, "..", ".."), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  const line = run.stdout.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined)
    throw new Error(`test/benchmarks/child.ts ${n} ${dataPath} failed:\n${run.stderr}`);
  return JSON.parse(line) as ChildCase;
}

function configBytes(leaves: Record<string, LeafRun>, dir: string): void {
  console.log(
    "\nConfig bytes per leaf (the observer program on the mock runtime, test/benchmarks/child.ts as in npm " +
      "run bench): config = the ConfigMap's data (envoy.yaml + endpoints.yaml, or endpoints.yaml); " +
      "secrets = the Secrets' data (the SDS files, or the certificate files); per leaf between 1 " +
      "and 100 leaves = what one more leaf adds.\n",
  );
  console.log(
    [
      padEnd("key, dataPath", 20),
      pad("1 leaf", 14),
      pad("100 leaves", 16),
      pad("per leaf", 10),
      pad("config", 8),
      pad("secrets", 8),
    ].join("  "),
  );
  for (const [algorithm, run] of Object.entries(leaves)) {
    const file = join(dir, `leaf-${algorithm}.json`);
    // A (test) private key: in the run's directory, removed with it.
    writeFileSync(file, JSON.stringify({ bridge: run.bridge, clientKey: run.clientKey }), {
      mode: 0o600,
    });
    for (const dataPath of ["thanos", "envoy"]) {
      const [one, hundred] = [programBytes(1, dataPath, file), programBytes(100, dataPath, file)];
      const total = (c: ChildCase) => c.configBytes + c.secretBytes;
      const per = (pick: (c: ChildCase) => number) => (pick(hundred) - pick(one)) / 99;
      console.log(
        [
          padEnd(`${algorithm}, ${dataPath}`, 20),
          pad(`${total(one)} B`, 14),
          pad(`${(total(hundred) / 1024).toFixed(1)} KiB`, 16),
          pad(`${per(total).toFixed(0)} B`, 10),
          pad(`${per((c) => c.configBytes).toFixed(0)} B`, 8),
          pad(`${per((c) => c.secretBytes).toFixed(0)} B`, 8),
        ].join("  "),
      );
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "200" },
      warmup: { type: "string", default: "20" },
    },
  });
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  const watchdog = setTimeout(() => {
    console.error(`bench:datapath: not done within ${RUN_LIMIT_MS / 60_000} min; stopping`);
    process.exit(1);
  }, RUN_LIMIT_MS);
  watchdog.unref();
  const started = Date.now();
  console.log(
    `data path on the real bench: real Prometheus, Thanos Sidecar and Querier; nginx ` +
      `${nginxVersion()} as stand-in for ingress-nginx and, in envoy mode, for Envoy ` +
      `("envoy" below is envoy mode through the nginx stand-in, not Envoy)`,
  );
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} on 2 cores shared with other jobs: figures are noisy`,
  );

  const dir = tempDir("bench-datapath");
  const stops: (() => Promise<void>)[] = [];
  let rsa: LeafRun | undefined;
  let ecdsa: LeafRun | undefined;
  try {
    const [portA, portB, portRsa] = [await freePort(), await freePort(), await freePort()];
    const a = await runLeaf({ ...LEAF_A, publicPort: String(portA) }, "leaf-a");
    const b = await runLeaf({ ...LEAF_B, publicPort: String(portB) }, "leaf-b");
    // leaf-a again, with RSA-3072 keys, served by a second ingress in front of the same Sidecar.
    rsa = await runLeaf(
      { ...LEAF_A, publicPort: String(portRsa), keyAlgorithm: "RSA-3072" },
      "leaf-a",
    );
    ecdsa = a;
    const runs = { [STACK_A]: a, [STACK_B]: b };
    const hostnames = [a.bridge.serverName, b.bridge.serverName];
    const leaves: BenchLeaf[] = [];
    for (const [run, port] of [
      [a, portA],
      [b, portB],
    ] as const) {
      const leaf = await startBenchLeaf(run, port, dir);
      stops.push(() => leaf.stop());
      leaves.push(leaf);
    }
    const rsaIngress: Nginx = await startLeafNginx(rsa, leaves[0].sidecar.grpc, portRsa);
    stops.push(() => rsaIngress.stop());

    const envoyRun = await runObserver(OBSERVER_BASE, stacksOf(runs));
    const thanosRun = await runObserver({ ...OBSERVER_BASE, dataPath: "thanos" }, stacksOf(runs));
    const rsaRun = await runObserver(
      { ...OBSERVER_BASE, dataPath: "thanos" },
      stacksOf({ [STACK_A]: rsa, [STACK_B]: b }),
    );

    const proxy = await startStandInWhenFree(envoyRun, hostnames, dir);
    stops.push(() => proxy.stop());
    // The floor: the envoy-mode Querier container, its endpoints file naming the Sidecars.
    const flag = "--endpoint.sd-config-file=";
    const endpointsPath = envoyRun.pod.containers
      .find((c) => c.name === "querier")
      ?.args?.find((x) => x.startsWith(flag))
      ?.slice(flag.length);
    if (endpointsPath === undefined) throw new Error("Querier has no --endpoint.sd-config-file");
    const direct = await startPodQuerier(envoyRun, hostnames, dir, {
      name: "querier-direct",
      override: {
        [endpointsPath]: stringify({ endpoints: leaves.map((l) => ({ address: l.sidecar.grpc })) }),
      },
    });
    stops.push(() => direct.stop());
    const thanos = await startPodQuerier(thanosRun, hostnames, dir, { name: "querier-thanos" });
    stops.push(() => thanos.stop());
    const envoy = await startPodQuerier(envoyRun, hostnames, dir, { name: "querier-envoy" });
    stops.push(() => envoy.stop());
    const modes: Modes = { direct, thanos, envoy };
    for (const q of [direct, thanos, envoy]) await expectEveryLeafUp(q, CLUSTERS);
    await expectRangeFromEveryLeaf(direct, CLUSTERS);
    console.log(`set up in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    const missed = await queryLatency(modes, rounds, warmup);
    console.log(
      missed.length === 0
        ? "\nThe aim is met in both modes for both queries."
        : `\nThe aim is NOT met for: ${missed.join("; ")}. Where the time goes follows.`,
    );

    const listen = proxy.translation.listens[0];
    // What Querier dials for leaf-a in envoy mode, a name the pod's hostAliases give the stand-in.
    const standInAuthority = querierEndpoints(envoyRun)
      .map((e) => e.address)
      .find((x) => x.startsWith("leaf-a."));
    if (standInAuthority === undefined) throw new Error("envoy mode's Querier dials no leaf-a");
    await grpcCalls(
      {
        sidecar: leaves[0].sidecar.grpc,
        ingress: `127.0.0.1:${portA}`,
        ingressRsa: `127.0.0.1:${portRsa}`,
        tls: thanosUpstreamTls(thanosRun, thanosLeafAddress(a.bridge)),
        tlsRsa: thanosUpstreamTls(rsaRun, thanosLeafAddress(rsa.bridge)),
        standIn: `${listen.address}:${listen.port}`,
        standInAuthority,
        ingressLog: () => leaves[0].nginx.accessLog(),
      },
      rounds,
      warmup,
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => console.error(e));
    stops.length = 0;
  }
  try {
    // With every server stopped: CPU-bound, on the mock runtime.
    if (ecdsa !== undefined && rsa !== undefined) {
      configBytes({ "ECDSA-P256": ecdsa, "RSA-3072": rsa }, dir);
    }
  } finally {
    removeDir(dir);
  }
  console.log(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; run took ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
