// The bridge under load, the same in both data paths: two leaves (Prometheus, Sidecar, nginx as
// the ingress), the observer's Querier run from its pod spec and, in envoy mode, the Envoy
// stand-in; steps the way the runner takes them (a leaf's run, then the observer's) and the
// transitions' answers, phase by phase.
import type { DataPathName } from "../../../components/observer";
import { thanosLeafAddress } from "../../../components/observer/thanos/endpoints";
import { LEAF_A, LEAF_B, LeafRun, runLeaf } from "../../support/leaf";
import { FakeState } from "../../support/mocks";
import { leafIngressObjects } from "../../support/nginx";
import { OBSERVER, ObserverRun, runObserver, stacksOf } from "../../support/observer";
import {
  BenchLeaf,
  LoadResult,
  LoopAnswer,
  PodQuerier,
  loadAnswerKind,
  queryLoop,
  startBenchLeaf,
  startPodQuerier,
  stores,
  untilLoadAnswers,
  updatePodVolumes,
} from "./bridge";
import { EnvoyStandIn, startEnvoyStandIn } from "./envoy-standin";
import { freePort } from "../../support/processes";
import { eventually } from "./thanos";

export const STACK_A = "acme/thanos-bridge/leaf-a";
export const STACK_B = "acme/thanos-bridge/leaf-b";
export const CLUSTERS = ["leaf-a", "leaf-b"] as const;

export interface Bridge {
  readonly runs: Record<string, LeafRun>;
  readonly leaves: readonly BenchLeaf[];
  readonly ports: readonly number[];
  readonly querier: PodQuerier;
  /** The observer's last run, as its objects are now. */
  observer(): ObserverRun;
  /**
   * leaf-a's run at `now` with `config` (leaf-a's), on the state of its first run so that it
   * renews: its ingress reloads with its objects.
   */
  leafRun(config: Record<string, string>, now: Date): Promise<LeafRun>;
  /**
   * The observer's run with leaf-a as `leaf`, applied where its objects live without a new pod
   * template (refused otherwise): Querier's files swapped as the kubelet swaps `..data`, and in
   * envoy mode the Envoy stand-in's SDS files too. In thanos mode it resolves once Querier dials
   * leaf-a's address as the run wrote it, healthy (it reads its endpoints file once a minute).
   */
  observerRun(leaf: LeafRun): Promise<ObserverRun>;
  stop(): Promise<void>;
}

/** The hostnames the observer's pod resolves: every leaf's. */
export const hostnamesOf = (runs: Record<string, LeafRun>) =>
  Object.values(runs).map((r) => r.bridge.serverName);

/**
 * Two leaves and the observer in `dataPath`, leaf-a run at `now` with `config`; resolves once
 * Querier answers the load query with both leaves.
 */
export async function bridgeAt(
  dir: string,
  dataPath: DataPathName,
  now: Date,
  config: Record<string, string> = LEAF_A,
): Promise<Bridge> {
  const ports = [await freePort(), await freePort()];
  const state = new FakeState();
  const a = await runLeaf({ ...config, publicPort: String(ports[0]) }, "leaf-a", state, now);
  const b = await runLeaf({ ...LEAF_B, publicPort: String(ports[1]) }, "leaf-b");
  const runs = { [STACK_A]: a, [STACK_B]: b };
  const observe = (leaf: LeafRun) =>
    runObserver({ ...OBSERVER, dataPath }, stacksOf({ ...runs, [STACK_A]: leaf }));
  const leaves: BenchLeaf[] = [];
  let proxy: EnvoyStandIn | undefined;
  let querier: PodQuerier | undefined;
  const stop = async () => {
    await querier?.stop();
    await proxy?.stop();
    for (const leaf of leaves) await leaf.stop();
  };
  try {
    leaves.push(await startBenchLeaf(a, ports[0], dir), await startBenchLeaf(b, ports[1], dir));
    let running = await observe(a);
    if (dataPath === "envoy") proxy = await startEnvoyStandIn(running, hostnamesOf(runs), dir);
    const q = await startPodQuerier(running, hostnamesOf(runs), dir);
    querier = q;
    await untilLoadAnswers(q, CLUSTERS);
    return {
      runs,
      leaves,
      ports,
      querier: q,
      observer: () => running,
      leafRun: async (leafConfig, at) => {
        const leaf = await runLeaf(
          { ...leafConfig, publicPort: String(ports[0]) },
          "leaf-a",
          state,
          at,
        );
        const objects = leafIngressObjects(leaf);
        await leaves[0].nginx.reload(objects.ingress, objects.secrets);
        return leaf;
      },
      observerRun: async (leaf) => {
        const next = await observe(leaf);
        updatePodVolumes(q, running, next);
        await proxy?.reload(next);
        running = next;
        if (dataPath === "thanos") await untilDialled(q, thanosLeafAddress(leaf.bridge));
        return next;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Waits (at most 100 s: Querier re-reads its endpoints file once a minute) until Querier's
 * endpoint status shows `address` healthy.
 */
export async function untilDialled(querier: PodQuerier, address: string): Promise<void> {
  await eventually(
    `Querier dials ${address}`,
    async () =>
      Object.values(await stores(querier))
        .flat()
        .some((e) => e.name === address && e.lastError === null)
        ? true
        : undefined,
    [querier],
    100_000,
  );
}

/** Answers counted by phase: a phase's name, and how many answers of each kind it had. */
export interface Phases {
  /** Marks now as the start of phase `index`. */
  mark(index: number): void;
  readonly counts: readonly { readonly name: string; readonly kinds: Map<string, number> }[];
  /** `name: 12 ok, 3 warned; …` */
  summary(): string;
}

/**
 * A load loop over both leaves whose answers are also counted by phase. A phase is steady or a
 * change; an answer that overlaps several phases counts in the first change among them (it may
 * have met the change), else in the phase it ended in. Phase 0
 * starts with the loop; `mark` starts the others, in order.
 */
export function phasedLoop(
  querier: () => PodQuerier,
  phases: readonly { readonly name: string; readonly steady: boolean }[],
  options: { intervalMs: number; maxQueries: number },
): { phases: Phases; stop(): Promise<LoadResult> } {
  const marks: number[] = [0];
  const counts = phases.map(({ name }) => ({ name, kinds: new Map<string, number>() }));
  const phaseAt = (t: number) => marks.filter((m) => m <= t).length - 1;
  const phaseOf = (a: LoopAnswer) => {
    const [from, to] = [phaseAt(a.started), phaseAt(a.ended)];
    for (let i = from; i <= to; i++) if (!phases[i].steady) return i;
    return to;
  };
  const loop = queryLoop(querier, CLUSTERS, {
    ...options,
    onAnswer: (a) => {
      const kinds = counts[phaseOf(a)].kinds;
      const kind = loadAnswerKind(a, CLUSTERS);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    },
  });
  return {
    phases: {
      mark: (index) => {
        if (index !== marks.length) throw new Error(`phase ${index} marked out of order`);
        marks.push(Date.now());
      },
      counts,
      summary: () =>
        counts
          .map((p) => `${p.name}: ${[...p.kinds].map(([k, n]) => `${n} ${k}`).join(", ")}`)
          .join("; "),
    },
    stop: () => loop.stop(),
  };
}
