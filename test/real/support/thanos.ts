// Real Prometheus, Thanos Sidecar and Thanos Querier on 127.0.0.1, built by `npm run real:build`.
// Each start returns once the process answers its readiness endpoint; `stop()` ends it (and the
// process registry in test/support/processes.ts ends it anyway when the test process exits).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { realBinary } from "./bench";
import { BenchProcess, freePort, waitFor } from "../../support/processes";

const READY_TIMEOUT_MS = 60_000;

export interface Running {
  readonly process: BenchProcess;
  /** http://127.0.0.1:<port> of its HTTP API. */
  readonly http: string;
  stop(): Promise<void>;
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return res.ok;
}

async function started(process: BenchProcess, http: string, readyPath: string): Promise<Running> {
  await waitFor(
    `${process.name} ${http}${readyPath}`,
    () => httpOk(`${http}${readyPath}`),
    [process],
    READY_TIMEOUT_MS,
  );
  return { process, http, stop: () => process.stop() };
}

export interface PrometheusOptions {
  /** External labels, as a leaf's kube-prometheus-stack sets them (cluster, replica). */
  readonly externalLabels: Readonly<Record<string, string>>;
  /** Scrape targets besides Prometheus itself (host:port). */
  readonly extraTargets?: readonly string[];
}

/** Prometheus scraping itself (and `extraTargets`) every second, its TSDB under `dir`. */
export async function startPrometheus(
  name: string,
  dir: string,
  options: PrometheusOptions,
): Promise<Running & { readonly tsdb: string }> {
  const port = await freePort();
  const self = `127.0.0.1:${port}`;
  const config = join(dir, `${name}.yml`);
  writeFileSync(
    config,
    stringify({
      global: {
        scrape_interval: "1s",
        evaluation_interval: "1s",
        external_labels: options.externalLabels,
      },
      scrape_configs: [
        { job_name: "prometheus", static_configs: [{ targets: [self] }] },
        ...(options.extraTargets?.length
          ? [{ job_name: "extra", static_configs: [{ targets: [...options.extraTargets] }] }]
          : []),
      ],
    }),
  );
  const tsdb = join(dir, `${name}-tsdb`);
  const process = BenchProcess.start(
    name,
    realBinary("prometheus"),
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${tsdb}`,
      `--web.listen-address=${self}`,
      // The sidecar needs equal block durations (as kube-prometheus-stack sets with Thanos).
      "--storage.tsdb.min-block-duration=2h",
      "--storage.tsdb.max-block-duration=2h",
      "--log.level=warn",
    ],
    dir,
  );
  return { ...(await started(process, `http://${self}`, "/-/ready")), tsdb };
}

/**
 * A Thanos Sidecar for `prometheus`; its plain gRPC StoreAPI on 127.0.0.1. `httpPort` lets
 * Prometheus scrape it before it starts.
 */
export async function startSidecar(
  name: string,
  dir: string,
  prometheus: Running & { readonly tsdb: string },
  httpPort?: number,
): Promise<Running & { readonly grpc: string }> {
  const [grpc, http] = [await freePort(), httpPort ?? (await freePort())];
  const process = BenchProcess.start(
    name,
    realBinary("thanos"),
    [
      "sidecar",
      `--prometheus.url=${prometheus.http}`,
      `--tsdb.path=${prometheus.tsdb}`,
      `--grpc-address=127.0.0.1:${grpc}`,
      `--http-address=127.0.0.1:${http}`,
      "--log.level=warn",
    ],
    dir,
  );
  return {
    ...(await started(process, `http://127.0.0.1:${http}`, "/-/ready")),
    grpc: `127.0.0.1:${grpc}`,
  };
}

/** Thanos Querier reading the endpoints file `endpointsFile` (`--endpoint.sd-config-file`). */
export async function startQuerier(
  name: string,
  dir: string,
  endpointsFile: string,
  extraArgs: readonly string[] = [],
): Promise<Running> {
  const [grpc, http] = [await freePort(), await freePort()];
  const process = BenchProcess.start(
    name,
    realBinary("thanos"),
    [
      "query",
      `--http-address=127.0.0.1:${http}`,
      `--grpc-address=127.0.0.1:${grpc}`,
      `--endpoint.sd-config-file=${endpointsFile}`,
      "--log.level=warn",
      ...extraArgs,
    ],
    dir,
  );
  return started(process, `http://127.0.0.1:${http}`, "/-/ready");
}

export interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: [number, string][];
}

export interface QueryAnswer {
  readonly status: string;
  readonly data: { readonly resultType: string; readonly result: PromSeries[] };
  readonly warnings?: string[];
}

/** GET <querier>/api/v1/<path>?<params>: a PromQL query, answered as JSON. */
export async function promQuery(
  http: string,
  path: "query" | "query_range",
  params: Record<string, string>,
): Promise<QueryAnswer> {
  const res = await fetch(`${http}/api/v1/${path}?${new URLSearchParams(params).toString()}`, {
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as QueryAnswer & { error?: string };
  if (!res.ok || body.status !== "success") {
    throw new Error(`${path} ${JSON.stringify(params)}: ${res.status} ${body.error ?? ""}`);
  }
  return body;
}

/** Polls `probe` (at most `timeoutMs`) until it holds, for data that arrives with scrapes. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  watched: readonly Running[],
  timeoutMs = 30_000,
): Promise<T> {
  let found: T | undefined;
  await waitFor(
    what,
    async () => {
      found = await probe();
      return found !== undefined;
    },
    watched.map((r) => r.process),
    timeoutMs,
  );
  return found as T;
}
