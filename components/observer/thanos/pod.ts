// Pure generators for the Thanos data path's pod: Querier alone, built on the Querier base
// (../querier/pod.ts), reading its endpoints file and every leaf's credentials from one projected
// volume of whole objects (endpoints.ts says which). The Thanos path (index.ts) declares it.

import { QUERIER_PORTS, querierArgs, querierContainer, querierPodTemplate } from "../querier/pod";
import type { QuerierSettings } from "../settings";
import { THANOS_OBJECT_NAMES, shardNames } from "./endpoints";

/** Querier re-reads its endpoints file this often (Thanos' default is 5m). */
const ENDPOINTS_RELOAD_INTERVAL = "1m";

/** Querier's settings: everything the pod template depends on in this data path. */
export type QuerierSpec = Pick<
  QuerierSettings,
  "image" | "resources" | "replicas" | "replicaLabels"
>;

export function thanosQuerierArgs(querier: QuerierSpec): string[] {
  return [
    ...querierArgs({ querier }),
    // The file changes in place as leaves come and go; Thanos compares its content each time.
    `--endpoint.sd-config-reload-interval=${ENDPOINTS_RELOAD_INTERVAL}`,
  ];
}

/**
 * The pod template: Querier alone, its endpoints file and every leaf's credentials in one
 * projected volume of whole objects. It depends on no leaf, so leaves coming and going and
 * renewed certificates leave it byte for byte as it was: the pods keep running.
 */
export function thanosPodTemplate(querier: QuerierSpec) {
  return querierPodTemplate({
    containers: [querierContainer(querier, thanosQuerierArgs(querier))],
    volumes: [
      {
        // Whole objects: a key added to a shard appears as a file without a new template,
        // and the kubelet swaps `..data` in this volume's root for the files of every source
        // at once.
        name: "querier-config",
        projected: {
          defaultMode: 0o440,
          sources: [
            { configMap: { name: THANOS_OBJECT_NAMES.endpoints } },
            ...shardNames().map((name) => ({ secret: { name } })),
          ],
        },
      },
    ],
  });
}

/** Querier's ports: the NetworkPolicy opens these and nothing of Envoy. */
export const THANOS_POLICY_PORTS: readonly number[] = [QUERIER_PORTS.http, QUERIER_PORTS.grpc];
