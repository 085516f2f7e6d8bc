// Part of `npm run bench`: the cost of a TLS handshake plus a first gRPC call through the real
// path (nginx configured from the leaf's Ingress, client with Envoy's settings) for each key
// algorithm, measured in the same run. Figures only.
import { callInfo, startBackend } from "../test/support/grpc";
import { LEAF_A, LEAF_B, runLeaf } from "../test/support/leaf";
import { nginxAvailable, startLeafNginx } from "../test/support/nginx";
import { OBSERVER, envoyUpstreamTls, runObserver, stacksOf } from "../test/support/observer";

const ALGORITHMS = ["ECDSA-P256", "RSA-2048", "RSA-3072"];
const SEQUENTIAL = 200;
const PARALLEL = 8;
const WINDOW_MS = 3000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function benchTls(): Promise<void> {
  if (!nginxAvailable()) {
    console.log("\nTLS handshakes: skipped, nginx is not installed (apt-get install nginx-light)");
    return;
  }
  console.log(
    `\nTLS handshake + first Info call through nginx, new connection each (${SEQUENTIAL} in a row; ` +
      `then ${PARALLEL} in parallel for ${WINDOW_MS / 1000} s)\n`,
  );
  console.log(
    ["algorithm", "median", "p95", "handshakes/s"]
      .map((h, i) => h.padStart(i === 0 ? 10 : 9))
      .join("  "),
  );
  for (const algorithm of ALGORITHMS) {
    const a = await runLeaf({ ...LEAF_A, keyAlgorithm: algorithm }, "leaf-a");
    const b = await runLeaf(LEAF_B, "leaf-b");
    const observer = await runObserver(
      OBSERVER,
      stacksOf({ "acme/thanos-bridge/leaf-a": a, "acme/thanos-bridge/leaf-b": b }),
    );
    const settings = envoyUpstreamTls(observer, "leaf-a");
    const backend = await startBackend();
    const nginx = await startLeafNginx(a, backend.address);
    const address = `127.0.0.1:${nginx.port}`;
    try {
      const times: number[] = [];
      for (let i = 0; i < SEQUENTIAL; i++) {
        const start = process.hrtime.bigint();
        const result = await callInfo(address, settings);
        if (!result.ok) throw new Error(`call failed: ${JSON.stringify(result)}`);
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      times.sort((x, y) => x - y);
      let done = 0;
      const until = Date.now() + WINDOW_MS;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (Date.now() < until) {
            if ((await callInfo(address, settings)).ok) done++;
          }
        }),
      );
      console.log(
        [
          algorithm.padStart(10),
          `${percentile(times, 50).toFixed(2)} ms`.padStart(9),
          `${percentile(times, 95).toFixed(2)} ms`.padStart(9),
          (done / (WINDOW_MS / 1000)).toFixed(0).padStart(12),
        ].join("  "),
      );
    } finally {
      await nginx.stop();
      await backend.close();
    }
  }
  console.log(
    "\nclient and nginx share this machine's 2 cores; the figures compare algorithms, they do not size a server",
  );
}
