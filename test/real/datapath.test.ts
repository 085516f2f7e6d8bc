// The data path for real, in the observer's `thanos` mode: two leaves, each a real Prometheus
// and Thanos Sidecar behind nginx (the ingress-nginx stand-in, rendered from the leaf's own
// Ingress and Secrets), and the observer's real Thanos Querier run with the endpoints file and
// certificate files the program generated, mounted where its pod mounts them, resolving each
// leaf's hostname to 127.0.0.1 (invariants 2, 3 and 8 of docs/ARCHITECTURE.md).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { parse } from "yaml";
import { LEAF_A, LEAF_B, LeafRun, STEADY_NOW, intoGeneration, runLeaf } from "../support/leaf";
import { FakeState } from "../support/mocks";
import { leafIngressObjects } from "../support/nginx";
import { OBSERVER, ObserverRun, mountedFile, runObserver, stacksOf } from "../support/observer";
import {
  BenchLeaf,
  LoadResult,
  PodQuerier,
  queryLoop,
  startBenchLeaf,
  startPodQuerier,
  expectEveryLeafUp,
  expectRangeFromEveryLeaf,
  stores,
  updatePodVolumes,
} from "./support/bridge";
import { freePort, removeDir, tempDir } from "./support/processes";
import { Running, eventually, promQuery } from "./support/thanos";

const STACK_A = "acme/thanos-bridge/leaf-a";
const STACK_B = "acme/thanos-bridge/leaf-b";

/** The leaf clusters Querier's `up` answer has series for, sorted. */
async function clustersAnswering(querier: PodQuerier): Promise<string[]> {
  const answer = await promQuery(querier.http, "query", { query: "up" });
  return [...new Set(answer.data.result.map((s) => s.metric.cluster))].sort();
}

describe("the real data path, Thanos-native mTLS (dataPath: thanos)", function () {
  let dir: string;
  let leaves: BenchLeaf[] = [];
  let runs: Record<string, LeafRun>;
  let observer: ObserverRun;
  let querier: PodQuerier | undefined;
  const hostnames = () => Object.values(runs).map((r) => r.bridge.serverName);

  before(async function () {
    dir = tempDir("datapath");
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await runLeaf({ ...LEAF_A, publicPort: String(portA) }, "leaf-a");
    const b = await runLeaf({ ...LEAF_B, publicPort: String(portB) }, "leaf-b");
    runs = { [STACK_A]: a, [STACK_B]: b };
    leaves = [await startBenchLeaf(a, portA, dir), await startBenchLeaf(b, portB, dir)];
    observer = await runObserver({ ...OBSERVER, dataPath: "thanos" }, stacksOf(runs));
    querier = await startPodQuerier(observer, hostnames(), dir);
  });

  after(async () => {
    await querier?.stop();
    for (const leaf of leaves) await leaf.stop();
    if (dir !== undefined) removeDir(dir);
  });

  it("answers an instant query with every leaf's series, through each leaf's ingress", async () => {
    const q = querier as PodQuerier;
    await expectEveryLeafUp(q, ["leaf-a", "leaf-b"]);
    assert.deepEqual(await clustersAnswering(q), ["leaf-a", "leaf-b"]);
  });

  it("streams a range query through the leaves' Series calls", async () => {
    const q = querier as PodQuerier;
    await expectRangeFromEveryLeaf(q, ["leaf-a", "leaf-b"]);
  });

  it("shows both leaves up in Querier's endpoint status, with their labels", async () => {
    const all = await stores(querier as PodQuerier);
    const sidecars = (all.sidecar ?? []).map((s) => ({
      name: s.name,
      labels: s.labelSets,
      lastError: s.lastError,
    }));
    assert.deepEqual(
      sidecars.sort((x, y) => x.name.localeCompare(y.name)),
      Object.values(runs)
        .map((r) => ({
          name: r.bridge.endpoint,
          labels: [
            { cluster: r.bridge.cluster, prometheus_replica: `prometheus-${r.bridge.cluster}-0` },
          ],
          lastError: null,
        }))
        .sort((x, y) => x.name.localeCompare(y.name)),
    );
  });
  it("refuses leaf-b's client certificate at leaf-a: leaf-a down, only leaf-b's data", async () => {
    const endpoints = endpointsOf(observer);
    const tlsOf = (stack: string) => {
      const e = endpoints.find((x) => x.address === runs[stack].bridge.endpoint);
      assert.ok(e?.client_config !== undefined, `no TLS endpoint for ${stack}`);
      return e.client_config.tls_config;
    };
    const [a, b] = [tlsOf(STACK_A), tlsOf(STACK_B)];
    // The same files and config, but leaf-a's client certificate and key are leaf-b's.
    const wrong = await startPodQuerier(observer, hostnames(), dir, {
      name: "querier-miswired",
      override: {
        [a.cert_file]: mountedFile(observer, "querier", b.cert_file),
        [a.key_file]: mountedFile(observer, "querier", b.key_file),
      },
    });
    try {
      const answer = await eventually(
        "leaf-b's series through the miswired Querier",
        async () => {
          const up = await promQuery(wrong.http, "query", { query: 'up{job="prometheus"}' });
          return up.data.result.length > 0 ? up : undefined;
        },
        [wrong],
      );
      assert.deepEqual([...new Set(answer.data.result.map((s) => s.metric.cluster))], ["leaf-b"]);
      // leaf-a is strict, so Querier asks it anyway and says why its part is missing.
      const leafA = runs[STACK_A].bridge.endpoint;
      const warnings = answer.warnings ?? [];
      assert.ok(
        warnings.some((w) => w.includes(`Addr: ${leafA}`)),
        `no partial-response warning names ${leafA}: ${JSON.stringify(warnings)}`,
      );
      const status = await stores(wrong);
      const listed = Object.values(status)
        .flat()
        .filter((e) => e.lastError === null)
        .map((e) => e.name);
      assert.deepEqual(listed, [runs[STACK_B].bridge.endpoint], "only leaf-b is up");
      // nginx refused it at the handshake, for the reason expected.
      assert.match(leaves[0].nginx.errorLog(), /client SSL certificate verify error/);
      console.log(`      leaf-a, as Querier reports it: ${warnings[0]}`);
    } finally {
      await wrong.stop();
    }
  });
});

const DAY_MS = 24 * 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();

/** The request lines nginx logged with client certificate `serial` (nginx logs it in hex). */
function requestsWith(leaf: BenchLeaf, serial: string): number {
  return leaf.nginx
    .accessLog()
    .split("\n")
    .filter((l) => l.split(" ")[0]?.toUpperCase() === serial).length;
}

/**
 * Zero failed and zero partial answers; the message shows the first few problems and the last
 * lines of the logs of `processes` (Querier's, the Sidecars'), to tell why.
 */
function assertNoneFailed(r: LoadResult, processes: readonly Running[] = []): void {
  assert.deepEqual(
    { partial: r.partial, failed: r.failed },
    { partial: 0, failed: 0 },
    `first problems: ${r.problems.slice(0, 3).join("\n")}\n` +
      processes.map((p) => `--- ${p.process.name}:\n${p.process.logTail(15)}`).join("\n"),
  );
}

function report(what: string, r: LoadResult): void {
  console.log(
    `      ${what}: ${r.ok + r.partial + r.failed + r.silent} queries, ${r.ok} complete, ` +
      `${r.partial} partial, ${r.failed} failed; ${r.silent} without the untouched leaf and ` +
      "without a warning (Querier's own, not the bridge's: see README, Data paths)",
  );
}

/**
 * Two leaves and the observer's Querier in thanos mode, one leaf stack's state kept so that
 * later runs renew it; `config` is leaf-a's config.
 */
async function bridgeAt(
  dir: string,
  now: Date,
  config: Record<string, string> = LEAF_A,
): Promise<{
  state: FakeState;
  runs: Record<string, LeafRun>;
  leaves: BenchLeaf[];
  observer: ObserverRun;
  querier: PodQuerier;
  ports: number[];
  stop(): Promise<void>;
}> {
  const ports = [await freePort(), await freePort()];
  const state = new FakeState();
  const a = await runLeaf({ ...config, publicPort: String(ports[0]) }, "leaf-a", state, now);
  const b = await runLeaf({ ...LEAF_B, publicPort: String(ports[1]) }, "leaf-b");
  const runs = { [STACK_A]: a, [STACK_B]: b };
  const leaves: BenchLeaf[] = [];
  let querier: PodQuerier | undefined;
  const stop = async () => {
    await querier?.stop();
    for (const leaf of leaves) await leaf.stop();
  };
  try {
    leaves.push(await startBenchLeaf(a, ports[0], dir), await startBenchLeaf(b, ports[1], dir));
    const observer = await runObserver({ ...OBSERVER, dataPath: "thanos" }, stacksOf(runs));
    querier = await startPodQuerier(
      observer,
      [a, b].map((r) => r.bridge.serverName),
      dir,
    );
    const q = querier;
    await eventually(
      "both leaves answer",
      async () => ((await clustersAnswering(q)).length === 2 ? true : undefined),
      [q],
    );
    return { state, runs, leaves, observer, querier, ports, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Querier's endpoints file as the program wrote it (through the pod's mounts). */
function endpointsOf(run: ObserverRun): {
  address: string;
  client_config?: { tls_config: { cert_file: string; key_file: string; ca_file: string } };
}[] {
  const querier = run.pod.containers.find((c) => c.name === "querier");
  const flag = querier?.args?.find((a) => a.startsWith("--endpoint.sd-config-file="));
  assert.ok(flag !== undefined, "Querier reads no endpoints file");
  const file = parse(mountedFile(run, "querier", flag.split("=")[1])) as {
    endpoints: ReturnType<typeof endpointsOf>;
  };
  return file.endpoints;
}

describe("the real data path under rotation (dataPath: thanos)", function () {
  this.timeout(180_000);
  let dir: string;

  beforeEach(() => {
    dir = tempDir("rotation");
  });
  afterEach(() => removeDir(dir));

  it("renews leaf-a's server and client certificates under 10 queries a second: none fails", async () => {
    const bridge = await bridgeAt(dir, STEADY_NOW);
    try {
      const [nginxA] = bridge.leaves;
      const before = bridge.runs[STACK_A];
      const loopStart = Date.now();
      const loop = queryLoop(() => bridge.querier, ["leaf-a", "leaf-b"], {
        intervalMs: 100,
        maxQueries: 200,
        changing: "leaf-a",
      });
      await sleep(3000);
      // The runner's order: the leaf first (its ingress reloads), then the observer.
      const later = new Date(STEADY_NOW.getTime() + 61 * DAY_MS);
      const renewed = await runLeaf(
        { ...LEAF_A, publicPort: String(bridge.ports[0]) },
        "leaf-a",
        bridge.state,
        later,
      );
      assert.notEqual(renewed.bridge.clientCert, before.bridge.clientCert, "no new client cert");
      const objects = leafIngressObjects(renewed);
      await nginxA.nginx.reload(objects.ingress, objects.secrets);
      const observer = await runObserver(
        { ...OBSERVER, dataPath: "thanos" },
        stacksOf({ ...bridge.runs, [STACK_A]: renewed }),
      );
      // Refuses if the pod template changed: a renewal must not restart Querier.
      updatePodVolumes(bridge.querier, bridge.observer, observer);
      const newSerial = serialOf(renewed.bridge.clientCert);
      // Querier re-reads its client certificate at a handshake: see whether one happens by
      // itself, then make nginx close its connections (a reload) and see the next one.
      const untilSeen = async (ms: number): Promise<number | undefined> => {
        const from = Date.now();
        while (Date.now() - from < ms) {
          if (requestsWith(nginxA, newSerial) > 0) return Date.now() - from;
          await sleep(100);
        }
        return undefined;
      };
      const byItself = await untilSeen(5000);
      await nginxA.nginx.reload(objects.ingress, objects.secrets);
      const afterReconnect = byItself ?? (await untilSeen(10_000));
      // 20 s of load in all.
      await sleep(Math.max(0, 20_000 - (Date.now() - loopStart)));
      const result = await loop.stop();
      report("certificate renewal", result);
      console.log(
        `      renewed client certificate: ${
          byItself !== undefined
            ? `presented ${byItself} ms after the swap, with no reconnect`
            : "not presented within 5 s on the open connection; " +
              (afterReconnect !== undefined
                ? `presented ${afterReconnect} ms after nginx closed it`
                : "not even after nginx closed it")
        }`,
      );
      assert.ok(afterReconnect !== undefined, "Querier never presented its renewed certificate");
      assertNoneFailed(result, [
        bridge.querier,
        ...bridge.leaves.flatMap((l) => [l.sidecar, l.prometheus]),
      ]);
      assert.ok(result.ok >= 150, `only ${result.ok} queries answered in 20 s`);
      assert.ok(requestsWith(nginxA, serialOf(before.bridge.clientCert)) > 0);
    } finally {
      await bridge.stop();
    }
  });
  it("changes leaf-a's CA with the overlap, run by run, under load: no query fails", async function () {
    this.timeout(420_000);
    // Certificates valid for a year, so only the CA schedule re-issues them between runs.
    const config = { ...LEAF_A, serverValidityHours: "8760", clientValidityHours: "8760" };
    const bridge = await bridgeAt(dir, intoGeneration(16, -1), config);
    let current: PodQuerier = bridge.querier;
    let running = bridge.observer;
    const steps: string[] = [];
    try {
      const [nginxA] = bridge.leaves;
      const loop = queryLoop(() => current, ["leaf-a", "leaf-b"], {
        intervalMs: 100,
        maxQueries: 4000,
        changing: "leaf-a",
      });
      for (const [i, day] of [1, 183, 366].entries()) {
        await sleep(3000);
        const leaf = await runLeaf(
          { ...config, publicPort: String(bridge.ports[0]) },
          "leaf-a",
          bridge.state,
          intoGeneration(16, day),
        );
        const objects = leafIngressObjects(leaf);
        await nginxA.nginx.reload(objects.ingress, objects.secrets);
        const next = await runObserver(
          { ...OBSERVER, dataPath: "thanos" },
          stacksOf({ ...bridge.runs, [STACK_A]: leaf }),
        );
        if (JSON.stringify(next.pod) === JSON.stringify(running.pod)) {
          updatePodVolumes(current, running, next);
          // Querier polls its endpoints file (--endpoint.sd-config-reload-interval): the next
          // step of a real CA change comes months later, so wait until it dials what the file
          // now names, healthy, before the leaf moves on.
          const address = endpointsOf(next).find((e) =>
            e.address.endsWith(leaf.bridge.endpoint),
          )?.address;
          const q = current;
          const from = Date.now();
          await eventually(
            `Querier dials ${String(address)}`,
            async () =>
              Object.values(await stores(q))
                .flat()
                .some((e) => e.name === address && e.lastError === null)
                ? true
                : undefined,
            [q],
            100_000,
          );
          steps.push(
            `day ${day}: files updated in place, ${address} in use after ${Math.round((Date.now() - from) / 1000)} s`,
          );
        } else {
          // A new pod template: the Deployment adds a ready pod before it removes one.
          const old = current;
          const fresh = await startPodQuerier(
            next,
            [leaf, bridge.runs[STACK_B]].map((r) => r.bridge.serverName),
            dir,
            {
              name: `querier-${i + 1}`,
            },
          );
          await eventually(
            "the new pod sees both leaves",
            async () => ((await clustersAnswering(fresh)).length === 2 ? true : undefined),
            [fresh],
          );
          current = fresh;
          await old.stop();
          steps.push(`day ${day}: pod replaced`);
        }
        running = next;
      }
      await sleep(3000);
      const result = await loop.stop();
      report(`CA change (${steps.join("; ")})`, result);
      assertNoneFailed(result, [
        current,
        ...bridge.leaves.flatMap((l) => [l.sidecar, l.prometheus]),
      ]);
      assert.ok(result.ok >= 100, `only ${result.ok} queries answered`);
    } finally {
      await current.stop();
      await bridge.stop();
    }
  });
});
