// Part of `npm run bench`: the cost of a TLS handshake plus a first gRPC call through the real
// path (nginx configured from the leaf's Ingress, client with Envoy's settings) for each key
// algorithm. Rounds interleave the algorithms after a warm-up, so drift on a shared machine
// spreads over all of them; the spread between rounds is printed. Figures only.
import { Backend, UpstreamTls, callInfo, startBackend } from "../support/grpc";
import { LEAF_A, LEAF_B, runLeaf } from "../support/leaf";
import { Nginx, startLeafNginx } from "../support/nginx";
import { nginxAvailable } from "../support/nginx-process";
import { OBSERVER, envoyUpstreamTls, runObserver, stacksOf } from "../support/observer";

const ALGORITHMS = ["ECDSA-P256", "RSA-2048", "RSA-3072"];
const ROUNDS = 3;
const SEQUENTIAL = 100;
const PARALLEL = 8;
const WINDOW_MS = 2000;

interface Target {
  algorithm: string;
  nginx: Nginx;
  address: string;
  settings: UpstreamTls;
  latencies: number[];
  roundMedians: number[];
  rates: number[];
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length * 0.95)];

async function call(target: Target): Promise<number> {
  const start = process.hrtime.bigint();
  const result = await callInfo(target.address, target.settings);
  if (!result.ok) throw new Error(`${target.algorithm}: call failed: ${JSON.stringify(result)}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function benchTls(): Promise<void> {
  if (!nginxAvailable()) {
    console.log("\nTLS handshakes: skipped, nginx is not installed (apt-get install nginx-light)");
    return;
  }
  const targets: Target[] = [];
  let backend: Backend | undefined;
  try {
    backend = await startBackend();
    for (const algorithm of ALGORITHMS) {
      const a = await runLeaf({ ...LEAF_A, keyAlgorithm: algorithm }, "leaf-a");
      const b = await runLeaf(LEAF_B, "leaf-b");
      const observer = await runObserver(
        OBSERVER,
        stacksOf({ "acme/thanos-bridge/leaf-a": a, "acme/thanos-bridge/leaf-b": b }),
      );
      const nginx = await startLeafNginx(a, backend.address);
      targets.push({
        algorithm,
        nginx,
        address: `127.0.0.1:${nginx.port}`,
        settings: envoyUpstreamTls(observer, "leaf-a"),
        latencies: [],
        roundMedians: [],
        rates: [],
      });
    }
    for (const target of targets) for (let i = 0; i < 20; i++) await call(target); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        const times: number[] = [];
        for (let i = 0; i < SEQUENTIAL; i++) times.push(await call(target));
        target.latencies.push(...times);
        target.roundMedians.push(median(times));
        let done = 0;
        const until = Date.now() + WINDOW_MS;
        await Promise.all(
          Array.from({ length: PARALLEL }, async () => {
            while (Date.now() < until) {
              await call(target);
              done++;
            }
          }),
        );
        target.rates.push(done / (WINDOW_MS / 1000));
      }
    }
  } finally {
    for (const target of targets) await target.nginx.stop();
    await backend?.close();
  }
  console.log(
    `\nTLS handshake + first Info call through nginx on a new connection: ${ROUNDS} interleaved ` +
      `rounds of ${SEQUENTIAL} in a row, then ${PARALLEL} in parallel for ${WINDOW_MS / 1000} s\n`,
  );
  console.log(
    ["algorithm", "median", "p95", "round medians", "handshakes/s"]
      .map((h, i) => (i === 0 ? h.padStart(10) : h.padStart(i === 3 ? 22 : 12)))
      .join("  "),
  );
  for (const t of targets) {
    console.log(
      [
        t.algorithm.padStart(10),
        `${median(t.latencies).toFixed(2)} ms`.padStart(12),
        `${p95(t.latencies).toFixed(2)} ms`.padStart(12),
        t.roundMedians
          .map((m) => m.toFixed(1))
          .join(" / ")
          .padStart(22),
        `${median(t.rates).toFixed(0)}`.padStart(12),
      ].join("  "),
    );
  }
  console.log(
    "\none client process and one nginx worker share 2 cores: the figures compare algorithms,\n" +
      "the rate is bounded by the client's own cost per new connection; they do not size a server",
  );
}
