// Real Prometheus 3 behind a real Thanos Sidecar, queried by a real Thanos Querier on the plain
// gRPC path (no bridge in between yet): the components the data-path tests stand on work
// together, report the versions they were built as, and the Sidecar accepts Prometheus 3.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { component, componentVersion } from "./build/components";
import { removeDir, tempDir } from "../support/processes";
import {
  Running,
  eventually,
  promQuery,
  startPrometheus,
  startQuerier,
  startSidecar,
} from "./support/thanos";

const version = (name: string) => componentVersion(component(name)).replace(/^v/, "");

describe("real Prometheus, Thanos Sidecar and Thanos Querier", function () {
  let dir: string;
  const running: Running[] = [];
  let querier: Running;

  before(async function () {
    dir = tempDir("thanos");
    const prometheus = await startPrometheus("prometheus-leaf-a", dir, {
      externalLabels: { cluster: "leaf-a", prometheus_replica: "prometheus-0" },
    });
    running.push(prometheus);
    const sidecar = await startSidecar("sidecar-leaf-a", dir, prometheus);
    running.push(sidecar);
    const endpoints = join(dir, "endpoints.yaml");
    writeFileSync(endpoints, stringify({ endpoints: [{ address: sidecar.grpc }] }));
    querier = await startQuerier("querier", dir, endpoints, [
      "--query.replica-label=prometheus_replica",
    ]);
    running.push(querier);
  });

  after(async () => {
    await Promise.all(running.reverse().map((r) => r.stop()));
    if (dir !== undefined) removeDir(dir);
  });

  it("each reports the version real:build pinned", async () => {
    const prometheus = running[0];
    const info = async (http: string) =>
      (
        (await (await fetch(`${http}/api/v1/status/buildinfo`)).json()) as {
          data: { version: string };
        }
      ).data.version;
    assert.equal(await info(prometheus.http), version("prometheus"));
    assert.equal(await info(querier.http), version("thanos"));
  });

  it("an instant query returns the leaf's series with its external labels", async () => {
    const result = await eventually(
      "up{cluster=leaf-a} through Querier",
      async () => {
        const answer = await promQuery(querier.http, "query", { query: "up" });
        return answer.data.result.length > 0 ? answer.data.result : undefined;
      },
      running,
    );
    for (const series of result) {
      assert.equal(series.metric.cluster, "leaf-a");
      // Deduplication drops the replica label.
      assert.equal(series.metric.prometheus_replica, undefined);
      assert.equal(series.value?.[1], "1");
    }
  });

  it("Querier lists the Sidecar as a store with the leaf's labels", async () => {
    const stores = (await (await fetch(`${querier.http}/api/v1/stores`)).json()) as {
      data: Record<
        string,
        { name: string; labelSets: Record<string, string>[]; lastError: unknown }[]
      >;
    };
    const sidecars = stores.data.sidecar ?? [];
    assert.equal(sidecars.length, 1, JSON.stringify(stores.data));
    assert.equal(sidecars[0].lastError, null);
    assert.deepEqual(sidecars[0].labelSets, [
      { cluster: "leaf-a", prometheus_replica: "prometheus-0" },
    ]);
  });
});
