// The data path for real, in the observer's `thanos` mode: two leaves, each a real Prometheus
// and Thanos Sidecar behind nginx (the ingress-nginx stand-in, rendered from the leaf's own
// Ingress and Secrets), and the observer's real Thanos Querier run with the endpoints file and
// certificate files the program generated, mounted where its pod mounts them, resolving each
// leaf's hostname to 127.0.0.1 (invariants 2, 3 and 8 of docs/ARCHITECTURE.md).
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import { thanosLeafAddress } from "../../components/observer/thanos/endpoints";
import { LEAF_A, LEAF_B, LeafRun, runLeaf } from "../support/leaf";
import { unwrapSecrets } from "../support/mocks";
import { OBSERVER, ObserverRun, mountedFile, runObserver, stacksOf } from "../support/observer";
import {
  BenchLeaf,
  LoadResult,
  LoopAnswer,
  PodQuerier,
  queryLoop,
  startBenchLeaf,
  startPodQuerier,
  expectEveryLeafUp,
  expectRangeFromEveryLeaf,
  stores,
  untilLoadAnswers,
  updatePodVolumes,
} from "./support/bridge";
import { freePort, removeDir, tempDir } from "../support/processes";
import { STACK_A, STACK_B } from "./support/scenario";
import { eventually, promQuery } from "./support/thanos";

/** The leaf clusters Querier's `up` answer has series for, sorted. */
async function clustersAnswering(querier: PodQuerier): Promise<string[]> {
  const answer = await promQuery(querier.http, "query", { query: "up" });
  return [...new Set(answer.data.result.map((s) => s.metric.cluster))].sort();
}

/** Querier's endpoint status for its Sidecars: address, labels and last error, by address. */
async function sidecarStatus(querier: PodQuerier) {
  const all = await stores(querier);
  return (all.sidecar ?? [])
    .map((s) => ({ name: s.name, labels: s.labelSets, lastError: s.lastError }))
    .sort((x, y) => x.name.localeCompare(y.name));
}

/** The endpoint status of these leaves, each up: its address and its Prometheus's labels. */
function sidecarsUp(leaves: readonly LeafRun[]) {
  return leaves
    .map((r) => ({
      name: thanosLeafAddress(r.bridge),
      labels: [
        { cluster: r.bridge.cluster, prometheus_replica: `prometheus-${r.bridge.cluster}-0` },
      ],
      lastError: null,
    }))
    .sort((x, y) => x.name.localeCompare(y.name));
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
    assert.deepEqual(await sidecarStatus(querier as PodQuerier), sidecarsUp(Object.values(runs)));
  });
  it("refuses leaf-b's client certificate at leaf-a: leaf-a down, only leaf-b's data", async () => {
    const endpoints = endpointsOf(observer);
    const tlsOf = (stack: string) => {
      const e = endpoints.find((x) => x.address === thanosLeafAddress(runs[stack].bridge));
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
      const leafA = thanosLeafAddress(runs[STACK_A].bridge);
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
      assert.deepEqual(listed, [thanosLeafAddress(runs[STACK_B].bridge)], "only leaf-b is up");
      // nginx refused it at the handshake, for the reason expected.
      assert.match(leaves[0].nginx.errorLog(), /client SSL certificate verify error/);
      console.log(`      leaf-a, as Querier reports it: ${warnings[0]}`);
    } finally {
      await wrong.stop();
    }
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** The time Querier's process started, as it reports it (`process_start_time_seconds`). */
async function processStart(querier: PodQuerier): Promise<string> {
  const res = await fetch(`${querier.http}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const line = (await res.text())
    .split("\n")
    .find((l) => l.startsWith("process_start_time_seconds "));
  assert.ok(line !== undefined, "Querier exports no process_start_time_seconds");
  return line.split(" ")[1];
}

/**
 * Waits (at most 100 s: Querier re-reads its endpoints file once a minute) until Querier's
 * endpoint status is exactly `expected`; returns when that answer arrived. Fails with the last
 * status seen.
 */
async function statusBecomes(
  querier: PodQuerier,
  expected: ReturnType<typeof sidecarsUp>,
  what: string,
): Promise<number> {
  let at = 0;
  await eventually(
    what,
    async () => {
      const seen = await sidecarStatus(querier);
      at = Date.now();
      if (!isDeepStrictEqual(seen, expected)) throw new Error(`status ${JSON.stringify(seen)}`);
      return true;
    },
    [querier],
    100_000,
  );
  return at;
}

/** What Querier logs for an endpoint whose TLS files it cannot read (it leaves it out). */
const SKIPPED = "skipping endpoint due to TLS configuration error";

const logSize = (q: PodQuerier) => statSync(q.process.logFile).size;
/** Querier's log from byte `from` on. */
const logSince = (q: PodQuerier, from: number) =>
  readFileSync(q.process.logFile).subarray(from).toString("utf8");
const countIn = (text: string, what: string) => text.split(what).length - 1;

/**
 * Waits (at most 100 s) until Querier's log from byte `from` on says it re-read its endpoints
 * file with a new content (Thanos compares it each `--endpoint.sd-config-reload-interval`);
 * returns the time of that line (ms).
 */
async function endpointsFileRead(querier: PodQuerier, from: number): Promise<number> {
  const line = await eventually(
    "Querier re-reads its endpoints file",
    () =>
      Promise.resolve(
        logSince(querier, from)
          .split("\n")
          .find((l) => l.includes('msg="reloading endpoint config"')),
      ),
    [querier],
    100_000,
  );
  const at = Date.parse(/\bts=(\S+)/.exec(line)?.[1] ?? "");
  assert.ok(!Number.isNaN(at), `no time in Querier's log line: ${line}`);
  return at;
}

/**
 * The phases of a leaf added then another removed, and the clusters an answer may hold in each.
 * A phase of change runs from the files' swap until Querier's endpoint status shows the change:
 * until then Querier has not acted on the new files (it reads the endpoints file once a minute),
 * so an answer without the leaf being added, or with the leaf being removed, is expected, and
 * allowed, there only.
 */
const LEAF_PHASES = [
  { name: "leaf-a only", allowed: [["leaf-a"]] },
  { name: "leaf-b being added", allowed: [["leaf-a"], ["leaf-a", "leaf-b"]] },
  { name: "both", allowed: [["leaf-a", "leaf-b"]] },
  { name: "leaf-a being removed", allowed: [["leaf-a", "leaf-b"], ["leaf-b"]] },
  { name: "leaf-b only", allowed: [["leaf-b"]] },
] as const;

/**
 * What an answer was in its phase: the clusters it held (`leaf-a+leaf-b`) when the phase allows
 * them; `warning` for any warning (a partial response); `silent` for an answer lacking a leaf
 * the phase does not change, with no warning (see `LoadResult`); `unexpected` for a cluster the
 * phase does not allow at all (leaf-b before it was added, leaf-a after it was removed).
 */
function answerKind(answer: LoopAnswer, allowed: readonly (readonly string[])[]): string {
  if (answer.warnings.length > 0) return "warning";
  const got = answer.clusters.join("+");
  if (allowed.some((set) => set.join("+") === got)) return got;
  const known = new Set(allowed.flat());
  return answer.clusters.every((c) => known.has(c)) ? "silent" : "unexpected";
}

// The "no restart" decision of docs/ARCHITECTURE.md (in thanos mode the pod template names no
// leaf), on the real Querier: the observer's renders with leaf-a, both leaves and leaf-b, their
// files swapped under the running process the way the kubelet swaps `..data` (invariant 4).
describe("the real data path as leaves come and go (dataPath: thanos): no restart", function () {
  this.timeout(360_000);
  let dir: string;
  let runs: Record<string, LeafRun>;
  const leaves: BenchLeaf[] = [];
  /** The observer rendered with leaf-a only, with both leaves, and with leaf-b only. */
  let renders: { a: ObserverRun; ab: ObserverRun; b: ObserverRun };
  let querier: PodQuerier | undefined;

  /** The observer run (mock runtime) with these leaf stacks in its `leaves`. */
  const observe = (stacks: readonly string[]) =>
    runObserver(
      { ...OBSERVER, dataPath: "thanos", leaves: JSON.stringify(stacks) },
      stacksOf(Object.fromEntries(stacks.map((s) => [s, runs[s]]))),
    );

  before(async () => {
    dir = tempDir("leaves");
    const [portA, portB] = [await freePort(), await freePort()];
    runs = {
      [STACK_A]: await runLeaf({ ...LEAF_A, publicPort: String(portA) }, "leaf-a"),
      [STACK_B]: await runLeaf({ ...LEAF_B, publicPort: String(portB) }, "leaf-b"),
    };
    // Both leaves run from the start; the observer knows leaf-a only.
    leaves.push(await startBenchLeaf(runs[STACK_A], portA, dir));
    leaves.push(await startBenchLeaf(runs[STACK_B], portB, dir));
    renders = {
      a: await observe([STACK_A]),
      ab: await observe([STACK_A, STACK_B]),
      b: await observe([STACK_B]),
    };
    // The pod resolves every leaf's hostname (by DNS in a cluster), known to Querier or not.
    querier = await startPodQuerier(
      renders.a,
      Object.values(runs).map((r) => r.bridge.serverName),
      dir,
    );
  });

  after(async () => {
    await querier?.stop();
    for (const leaf of leaves) await leaf.stop();
    if (dir !== undefined) removeDir(dir);
  });

  it("declares the same Deployment for leaf-a, both leaves and leaf-b: only the files change", () => {
    const deployment = (r: ObserverRun) =>
      unwrapSecrets(r.deployment.inputs) as { spec: { template: unknown } };
    const objects = (r: ObserverRun) =>
      r.mocks.resources
        .filter((x) => x.type.startsWith("kubernetes:"))
        .map((x) => `${x.type} ${x.name}`)
        .sort();
    const extra = JSON.parse(OBSERVER.extraEndpoints) as string[];
    const addresses = (stacks: string[]) => [
      ...stacks.map((s) => thanosLeafAddress(runs[s].bridge)),
      ...extra,
    ];
    const { a, ab, b } = renders;
    // The change is real: each endpoints file names its own leaves.
    assert.deepEqual(
      [a, ab, b].map((r) => endpointsOf(r).map((e) => e.address)),
      [addresses([STACK_A]), addresses([STACK_A, STACK_B]), addresses([STACK_B])],
    );
    for (const [what, r] of [
      ["both leaves", ab],
      ["leaf-b only", b],
    ] as const) {
      // A different template would be a rollout: Kubernetes replaces the pods.
      assert.deepEqual(
        deployment(r).spec.template,
        deployment(a).spec.template,
        `the pod template for ${what} differs from leaf-a's`,
      );
      assert.deepEqual(deployment(r), deployment(a), `the Deployment for ${what} differs`);
      // The same objects, changed in place: no Secret or ConfigMap comes or goes.
      assert.deepEqual(objects(r), objects(a), `the objects declared for ${what} differ`);
    }
  });

  it("adds leaf-b, then removes leaf-a, under 20 queries a second: one Querier process, no answer silently lacking a leaf", async () => {
    const q = querier as PodQuerier;
    const [a, b] = [runs[STACK_A], runs[STACK_B]];
    await untilLoadAnswers(q, ["leaf-a"]);
    // leaf-b runs and its hostname resolves, but Querier has not been told of it.
    assert.deepEqual(await sidecarStatus(q), sidecarsUp([a]));
    const pid = q.process.child.pid;
    const startedAt = await processStart(q);
    const sameProcess = async (when: string) => {
      assert.equal(q.process.exitStatus, undefined, `Querier exited ${when}`);
      assert.equal(await processStart(q), startedAt, `Querier restarted ${when}`);
      assert.equal(q.process.child.pid, pid, `another Querier process ${when}`);
    };

    // When each phase began (ms): the files swapped, then the change seen in the status.
    const marks: {
      added?: number;
      addedSeen?: number;
      removed?: number;
      removedSeen?: number;
    } = {};
    // An answer belongs to a phase of change if it overlaps it at all: from the swap (an answer
    // that ended before it is of the phase before) until the change is seen (an answer asked
    // after that, whose endpoints Querier picked after it, is of the phase after).
    const phaseOf = (answer: LoopAnswer): number => {
      if (marks.added === undefined || answer.ended < marks.added) return 0;
      if (marks.addedSeen === undefined || answer.started < marks.addedSeen) return 1;
      if (marks.removed === undefined || answer.ended < marks.removed) return 2;
      if (marks.removedSeen === undefined || answer.started < marks.removedSeen) return 3;
      return 4;
    };
    const tally = LEAF_PHASES.map(() => new Map<string, number>());
    const problems: string[] = [];
    // The loop's own counts are for one fixed set of leaves; here the set changes, so only its
    // failed queries are taken from it, and every answer is judged by its phase (`answerKind`).
    const loop = queryLoop(() => q, ["leaf-a", "leaf-b"], {
      intervalMs: 50,
      maxQueries: 6000,
      onAnswer: (answer) => {
        const phase = phaseOf(answer);
        const kind = answerKind(answer, LEAF_PHASES[phase].allowed);
        tally[phase].set(kind, (tally[phase].get(kind) ?? 0) + 1);
        if (kind === "warning" || kind === "silent" || kind === "unexpected") {
          problems.push(
            `${LEAF_PHASES[phase].name}: ${kind} ${answer.clusters.join(",")} ` +
              JSON.stringify(answer.warnings),
          );
        }
      },
    });
    let result: LoadResult;
    let [addedRead, removedRead, skipped] = [0, 0, 0];
    try {
      await sleep(3000);
      // The observer's run with leaf-b added: in the cluster, its shard and the endpoints file
      // change in place and the kubelet swaps the volume's `..data`.
      marks.added = Date.now();
      const logAtAdd = logSize(q);
      updatePodVolumes(q, renders.a, renders.ab);
      marks.addedSeen = await statusBecomes(q, sidecarsUp([a, b]), "leaf-b in Querier's status");
      addedRead = await endpointsFileRead(q, logAtAdd);
      await sameProcess("while leaf-b was added");
      await expectEveryLeafUp(q, ["leaf-a", "leaf-b"]);
      await sleep(3000);
      // The observer's run with leaf-a removed from its `leaves`. The swap takes leaf-a's files
      // out of its shard at once with the endpoints file, and Querier, which builds every
      // endpoint's TLS from its files at each endpoint update (every 5 s), skips leaf-a from the
      // next one: it leaves the status before Querier reads the new endpoints file.
      marks.removed = Date.now();
      const logAtRemoval = logSize(q);
      updatePodVolumes(q, renders.ab, renders.b);
      marks.removedSeen = await statusBecomes(q, sidecarsUp([b]), "leaf-a gone from the status");
      await sameProcess("while leaf-a was removed");
      await expectEveryLeafUp(q, ["leaf-b"]);
      // Then the endpoints file is read, and leaf-a is no longer configured at all: a whole
      // endpoint update (5 s) after that read logs no endpoint skipped.
      removedRead = await endpointsFileRead(q, logAtRemoval);
      skipped = logSince(q, logAtRemoval)
        .split("\n")
        .filter((l) => l.includes(SKIPPED) && l.includes(a.bridge.endpoint)).length;
      await sleep(1000);
      const settled = logSize(q);
      await sleep(6000);
      assert.equal(
        countIn(logSince(q, settled), SKIPPED),
        0,
        `Querier still configured with an endpoint it skips:\n${logSince(q, settled)}`,
      );
      await sameProcess("after it read the endpoints file without leaf-a");
    } finally {
      result = await loop.stop();
    }
    const seconds = (from?: number, to?: number) => (((to ?? 0) - (from ?? 0)) / 1000).toFixed(1);
    console.log(
      `      leaf-b added: in Querier's endpoint status ${seconds(marks.added, marks.addedSeen)} s ` +
        `after the swap (its endpoints file re-read ${seconds(marks.added, addedRead)} s after)`,
    );
    console.log(
      `      leaf-a removed: gone from the status ${seconds(marks.removed, marks.removedSeen)} s ` +
        `after the swap (its files gone, Querier logged "${SKIPPED}" ${skipped} times), ` +
        `the endpoints file re-read ${seconds(marks.removed, removedRead)} s after the swap ` +
        "(Querier reads it once a minute)",
    );
    const counts = tally.map((t, i) => {
      const kinds = [...t.entries()].map(([k, n]) => `${n} ${k === "" ? "empty" : k}`);
      return `${LEAF_PHASES[i].name}: ${kinds.join(", ") || "none"}`;
    });
    const total = (kind: string) => tally.reduce((n, t) => n + (t.get(kind) ?? 0), 0);
    console.log(
      `      leaves added and removed: ${result.ok + result.warned + result.silent + result.failed} ` +
        `answers, ${result.failed} failed, ${total("warning")} with a warning, ` +
        `${total("silent")} silently lacking a leaf its phase does not change; by phase: ` +
        `${counts.join("; ")}`,
    );
    await sameProcess("by the end");
    // Zero failed queries; no answer with a warning, silently lacking a leaf its phase keeps, or
    // with a leaf its phase does not allow. What is not asserted: when answers lacking leaf-b
    // stopped while it was added (that is Querier's once-a-minute read, printed above).
    assert.equal(result.failed, 0, `failed: ${result.problems.slice(0, 3).join("\n")}`);
    assert.deepEqual(problems.slice(0, 5), [], `${problems.length} answers wrong`);
    // The steady phases were under load too.
    for (const i of [0, 2, 4]) {
      const key = LEAF_PHASES[i].allowed[0].join("+");
      assert.ok(tally[i].has(key), `no answer with ${key} while ${LEAF_PHASES[i].name}`);
    }
  });
});
