// The data path on the real bench: per leaf a real Prometheus and Thanos Sidecar behind nginx
// (standing in for ingress-nginx, rendered from the leaf's own Ingress and Secrets), and the
// observer's real Querier run with the files the program generated, as its pod sees them.
import { join } from "node:path";
import { LeafRun } from "../../support/leaf";
import { Nginx, startLeafNginx } from "../../support/nginx";
import { ObserverRun, PodSpec } from "../../support/observer";
import { unwrapSecrets } from "../../support/mocks";
import { realBinary } from "./bench";
import {
  ObjectData,
  Volume,
  PodMount,
  hostsFile,
  startInPod,
  volumeFiles,
  writeContainerVolumes,
  writeVolume,
} from "./pod";
import { freePort, waitFor } from "../../support/processes";
import { Running, eventually, promQuery, startPrometheus, startSidecar } from "./thanos";

export interface BenchLeaf {
  readonly cluster: string;
  readonly prometheus: Running;
  readonly sidecar: Running & { readonly grpc: string };
  readonly nginx: Nginx;
  stop(): Promise<void>;
}

/**
 * A leaf: Prometheus (external labels `cluster` and `prometheus_replica`, scraping itself and
 * its Sidecar), the Sidecar, and nginx serving the leaf's Ingress on `port`, the leaf's
 * `publicPort`, in front of the Sidecar's gRPC port.
 */
export async function startBenchLeaf(run: LeafRun, port: number, dir: string): Promise<BenchLeaf> {
  const cluster = run.bridge.cluster;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const sidecarHttp = await freePort();
    const prometheus = await startPrometheus(`prometheus-${cluster}`, dir, {
      externalLabels: { cluster, prometheus_replica: `prometheus-${cluster}-0` },
      extraTargets: [`127.0.0.1:${sidecarHttp}`],
    });
    stops.push(() => prometheus.stop());
    const sidecar = await startSidecar(`sidecar-${cluster}`, dir, prometheus, sidecarHttp);
    stops.push(() => sidecar.stop());
    const nginx = await startLeafNginx(run, sidecar.grpc, port);
    stops.push(() => nginx.stop());
    return { cluster, prometheus, sidecar, nginx, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The Secrets and ConfigMaps an observer run declared, by kind and name. */
export function observerObjects(run: ObserverRun): ObjectData {
  return (kind, name) => {
    const type = kind === "Secret" ? "kubernetes:core/v1:Secret" : "kubernetes:core/v1:ConfigMap";
    for (const r of run.mocks.ofType(type)) {
      const o = unwrapSecrets(r.inputs) as {
        metadata: { name: string };
        stringData?: Record<string, string>;
        data?: Record<string, string>;
      };
      if (o.metadata.name === name) return o.stringData ?? o.data ?? {};
    }
    return undefined;
  };
}

/**
 * The names the pod resolves and where: each leaf's hostname by DNS (here: 127.0.0.1, where its
 * nginx listens), and the pod's hostAliases.
 */
export function podNames(pod: PodSpec, leafHostnames: readonly string[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const host of leafHostnames) names[host] = "127.0.0.1";
  for (const alias of pod.hostAliases ?? []) {
    for (const host of alias.hostnames) names[host] = alias.ip;
  }
  return names;
}

export interface PodQuerier extends Running {
  readonly mounts: readonly PodMount[];
}

/**
 * The observer's Querier container, run for real: its own args from the Deployment, except the
 * two listen addresses (0.0.0.0 in the pod), which move to free ports on 127.0.0.1; its volumes
 * written as the kubelet writes them and mounted at their paths; names resolved as in the pod.
 */
export async function startPodQuerier(
  run: ObserverRun,
  leafHostnames: readonly string[],
  dir: string,
  options: {
    /** Files (by their path in the pod) given other content: a deliberate mis-wiring. */
    readonly override?: Readonly<Record<string, string>>;
    readonly name?: string;
  } = {},
): Promise<PodQuerier> {
  const container = run.pod.containers.find((c) => c.name === "querier");
  if (container === undefined) throw new Error("the observer pod has no querier container");
  const [http, grpc] = [await freePort(), await freePort()];
  const args = (container.args ?? []).map((a) =>
    a.startsWith("--http-address=")
      ? `--http-address=127.0.0.1:${http}`
      : a.startsWith("--grpc-address=")
        ? `--grpc-address=127.0.0.1:${grpc}`
        : a,
  );
  if (args[0] !== "query") throw new Error(`querier args do not start with "query": ${args[0]}`);
  const name = options.name ?? "querier";
  const mounts = writeContainerVolumes(run.pod, "querier", observerObjects(run), join(dir, name));
  for (const [mount, files] of volumeWith(run, mounts, options.override ?? {})) {
    writeVolume(mount.dir, files);
  }
  const process = startInPod(
    name,
    realBinary("thanos"),
    args,
    mounts,
    hostsFile(podNames(run.pod, leafHostnames)),
    dir,
  );
  const url = `http://127.0.0.1:${http}`;
  await waitFor(
    `${name} /-/ready`,
    async () => (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(5000) })).ok,
    [process],
    60_000,
  );
  return { process, http: url, mounts, stop: () => process.stop() };
}

/**
 * What the kubelet does when the observer's Secrets or ConfigMaps change under a running pod:
 * rewrites each volume in place (the `..data` swap). Refuses when the new run's pod template
 * differs from the running one, since that would be a rollout, not an update in place.
 */
export function updatePodVolumes(
  querier: PodQuerier,
  running: ObserverRun,
  next: ObserverRun,
): void {
  if (JSON.stringify(running.pod) !== JSON.stringify(next.pod)) {
    throw new Error("the pod template changed: Kubernetes would replace the pod, not update it");
  }
  const data = observerObjects(next);
  for (const mount of querier.mounts) {
    const volume = (next.pod.volumes ?? []).find((v) => v.name === mount.volume);
    if (volume === undefined) throw new Error(`no volume ${mount.volume}`);
    writeVolume(mount.dir, volumeFiles(volume as unknown as Volume, data));
  }
}

/** What the load loops ask Querier: one series per leaf, from its Prometheus scraping itself. */
export const LOAD_QUERY = 'up{job="prometheus"}';

/**
 * How a load loop's answers came out. A leaf may fail and say so (`warned`: Querier's
 * partial-response warning names it); what must never happen is `silent`: an answer that lacks
 * a leaf and says nothing, which a dashboard would show as that cluster's zero.
 */
export interface LoadResult {
  /** Every expected leaf, no warning. */
  readonly ok: number;
  /** A warning, whatever the answer held: a leaf failed, and Querier said so. */
  readonly warned: number;
  /** Lacking an expected leaf, with no warning and no error. */
  readonly silent: number;
  /** No answer: an HTTP or query error. */
  readonly failed: number;
  readonly problems: readonly string[];
}

/** One answer of a query loop: when it was asked and answered (ms), and what it held. */
export interface LoopAnswer {
  readonly started: number;
  readonly ended: number;
  /** The clusters the answer has series of, sorted. */
  readonly clusters: readonly string[];
  readonly warnings: readonly string[];
}

/** The kind of a load answer when `expect` are the leaves it must hold. */
export function loadAnswerKind(
  answer: Pick<LoopAnswer, "clusters" | "warnings">,
  expect: readonly string[],
): "ok" | "warned" | "silent" {
  if (answer.warnings.length > 0) return "warned";
  return expect.every((c) => answer.clusters.includes(c)) ? "ok" : "silent";
}

/** The clusters and warnings of one answer to LOAD_QUERY. */
async function askLoad(querier: Running): Promise<Pick<LoopAnswer, "clusters" | "warnings">> {
  const answer = await promQuery(querier.http, "query", { query: LOAD_QUERY });
  return {
    clusters: [...new Set(answer.data.result.map((s) => s.metric.cluster))].sort(),
    warnings: answer.warnings ?? [],
  };
}

/**
 * Waits until Querier answers LOAD_QUERY with exactly `clusters` and no warning: the condition a
 * load loop's first answer is judged by. Each leaf's Prometheus scrapes itself and its Sidecar
 * at offsets of their own within the scrape interval, so `up` of one job can be there a second
 * before the other's: waiting on another query would let the loop start early.
 */
export async function untilLoadAnswers(querier: Running, clusters: readonly string[]) {
  const want = [...clusters].sort().join("+");
  let seen = "";
  await eventually(
    `${LOAD_QUERY} from exactly ${want}`,
    async () => {
      const a = await askLoad(querier);
      seen = `${a.clusters.join("+")} ${JSON.stringify(a.warnings)}`;
      return a.clusters.join("+") === want && a.warnings.length === 0 ? true : undefined;
    },
    [querier],
    60_000,
  ).catch((e: unknown) => {
    throw new Error(`${String(e)}; last answer: ${seen}`);
  });
}

/**
 * Sends LOAD_QUERY to Querier every `intervalMs` until `stop()` resolves its promise, at most
 * `maxQueries`, and counts the answers by `loadAnswerKind` against `expect`. `onAnswer` sees
 * every answer, for a test whose expected leaves change as it runs.
 */
export function queryLoop(
  /** The Querier to ask, read before each query (a rollout moves it, as a Service would). */
  querier: () => Running,
  expect: readonly string[],
  options: {
    intervalMs: number;
    maxQueries: number;
    onAnswer?: (answer: LoopAnswer) => void;
  },
): { stop(): Promise<LoadResult> } {
  let stopped = false;
  const counts = { ok: 0, warned: 0, silent: 0, failed: 0 };
  const problems: string[] = [];
  const loop = (async () => {
    for (let i = 0; i < options.maxQueries && !stopped; i++) {
      const started = Date.now();
      try {
        const answer = await askLoad(querier());
        const ended = Date.now();
        options.onAnswer?.({ started, ended, ...answer });
        const kind = loadAnswerKind(answer, expect);
        counts[kind]++;
        if (kind !== "ok") {
          problems.push(
            `${kind} at ${new Date(started).toISOString()}: ${answer.clusters.join(",")} ` +
              JSON.stringify(answer.warnings),
          );
        }
      } catch (e) {
        counts.failed++;
        problems.push(`failed at ${new Date(started).toISOString()}: ${(e as Error).message}`);
      }
      await new Promise((r) =>
        setTimeout(r, Math.max(0, options.intervalMs - (Date.now() - started))),
      );
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { ...counts, problems };
    },
  };
}

/** One line for a test's output: how many answers of each kind. */
export function loadSummary(what: string, r: LoadResult): string {
  return (
    `${what}: ${r.ok + r.warned + r.silent + r.failed} answers, ${r.ok} complete, ` +
    `${r.warned} with a warning, ${r.silent} silently lacking a leaf, ${r.failed} failed`
  );
}

/** Where a file the pod reads at `path` comes from: its volume mount and path inside it. */
export function mountOf(
  mounts: readonly PodMount[],
  path: string,
): { mount: PodMount; relative: string } {
  const mount = mounts
    .filter((m) => path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (mount === undefined) throw new Error(`${path} is in no volume mount`);
  return { mount, relative: path.slice(mount.mountPath.length + 1) };
}

/** The files of `volume` as `run` declares them, with `replace` (path in the pod → content). */
export function volumeWith(
  run: ObserverRun,
  mounts: readonly PodMount[],
  replace: Readonly<Record<string, string>>,
): Map<PodMount, Record<string, string>> {
  const out = new Map<PodMount, Record<string, string>>();
  for (const [path, content] of Object.entries(replace)) {
    const { mount, relative } = mountOf(mounts, path);
    let files = out.get(mount);
    if (files === undefined) {
      const volume = (run.pod.volumes ?? []).find((v) => v.name === mount.volume);
      files = volumeFiles(volume as unknown as Volume, observerObjects(run));
      out.set(mount, files);
    }
    if (!(relative in files)) throw new Error(`${path}: volume ${mount.volume} has no ${relative}`);
    files[relative] = content;
  }
  return out;
}

export interface StoreStatus {
  readonly name: string;
  readonly labelSets: Record<string, string>[];
  readonly lastError: string | null;
}

/** Querier's endpoint status (`/api/v1/stores`), by component type. */
export async function stores(querier: Running): Promise<Record<string, StoreStatus[]>> {
  const res = await fetch(`${querier.http}/api/v1/stores`, { signal: AbortSignal.timeout(10_000) });
  return ((await res.json()) as { data: Record<string, StoreStatus[]> }).data;
}

/**
 * Waits until `up` through Querier answers for both jobs (Prometheus itself, and its Sidecar)
 * of every leaf in `clusters`, once their Prometheus have scraped; fails with the last answer.
 */
export async function expectEveryLeafUp(querier: Running, clusters: readonly string[]) {
  const expected = clusters.flatMap((c) => [`${c}/extra`, `${c}/prometheus`]).sort();
  let seen: string[] = [];
  await eventually(
    "up for both jobs of every leaf",
    async () => {
      const up = await promQuery(querier.http, "query", { query: "up" });
      seen = up.data.result.map((s) => `${s.metric.cluster}/${s.metric.job}`).sort();
      return JSON.stringify(seen) === JSON.stringify(expected) ? true : undefined;
    },
    [querier],
  ).catch((e: unknown) => {
    throw new Error(`${String(e)}; last answer: ${seen.join(", ")}`);
  });
}

/**
 * A range query over the last 10 s through Querier, streamed from every leaf's Series calls:
 * waits for three samples from each of `clusters`, then checks every sample is 1.
 */
export async function expectRangeFromEveryLeaf(querier: Running, clusters: readonly string[]) {
  const range = async () => {
    const end = Math.floor(Date.now() / 1000);
    return promQuery(querier.http, "query_range", {
      query: 'up{job="prometheus"}',
      start: String(end - 10),
      end: String(end),
      step: "1",
    });
  };
  // A leaf's samples start when its Prometheus first scraped.
  const answer = await eventually(
    "three samples from each leaf",
    async () => {
      const a = await range();
      return a.data.result.length === clusters.length &&
        a.data.result.every((s) => (s.values ?? []).length >= 3)
        ? a
        : undefined;
    },
    [querier],
  );
  if (answer.data.resultType !== "matrix")
    throw new Error(`not a matrix: ${answer.data.resultType}`);
  const got = answer.data.result.map((s) => s.metric.cluster).sort();
  if (JSON.stringify(got) !== JSON.stringify([...clusters].sort())) {
    throw new Error(`range query answered for ${got.join(", ")}`);
  }
  for (const series of answer.data.result) {
    for (const [, value] of series.values ?? []) {
      if (value !== "1") throw new Error(`${series.metric.cluster}: up was ${value}`);
    }
  }
}
