// The Thanos data path (`dataPath: thanos`): Querier originates the mutual TLS to each leaf
// itself, with no Envoy (docs/DATA-PATHS.md, Querier's own mutual TLS). Its objects: a fixed set
// of Secrets holding the leaves' credentials, and a ConfigMap of a fixed name with the endpoints
// file; the pod template names no leaf (docs/ARCHITECTURE.md, Decisions).

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stableYaml } from "../../common/yaml";
import type { DataPath } from "../querier";
import { THANOS_PATHS } from "../querier/pod";
import type { QuerierSettings } from "../settings";
import {
  THANOS_OBJECT_NAMES,
  assertThanosFits,
  shardNames,
  thanosEndpointsConfig,
  thanosLeafAddress,
  thanosShardData,
} from "./endpoints";
import { THANOS_POLICY_PORTS, thanosPodTemplate } from "./pod";

/** What the Thanos path reads of the Observer's settings. */
interface ThanosPathSettings {
  readonly querier: QuerierSettings;
  /** Refused: the alert reads Envoy's metrics, and this path has no Envoy. */
  readonly expiryAlertDays?: number;
}

export function thanosPath(settings: ThanosPathSettings): DataPath {
  if (settings.expiryAlertDays !== undefined && settings.expiryAlertDays !== 0) {
    throw new Error(
      "expiryAlertDays alerts on Envoy's certificate-expiry gauge, and dataPath thanos has no Envoy",
    );
  }
  return {
    policyPorts: THANOS_POLICY_PORTS,
    address: thanosLeafAddress,
    // Their order on an update: the credential shards, then the endpoints file that names them,
    // so a leaf's files exist before Querier is told to dial it. (On a removal the shard loses
    // the leaf's files first, which only drops the leaf from Querier a moment early: Querier
    // skips an endpoint whose files it cannot read.)
    declare: ({ name, opts, metadata, references, leaves }) => {
      const keys = pulumi.all(references.map((l) => l.clientKey));
      // From the checked list (`distinctLeaves`): when two leaves share a cluster name no shard
      // is declared, so one cannot overwrite the other's credentials. Refused here, before any
      // object, when a shard or the endpoints file would not fit its object.
      const files = pulumi.all([leaves, keys]).apply(([sorted, clientKeys]) => {
        const keyOf = new Map(references.map((l, i) => [l.stack, clientKeys[i]]));
        const shards = thanosShardData(sorted, (l) => {
          const clientKey = keyOf.get(l.stack);
          if (clientKey === undefined) throw new Error(`stack ${l.stack}: no client key read`);
          return clientKey;
        });
        const endpoints = {
          [THANOS_PATHS.endpointsFile]: stableYaml(
            thanosEndpointsConfig(sorted, settings.querier.extraEndpoints),
          ),
        };
        assertThanosFits(endpoints, shards, sorted.length);
        return { endpoints, shards };
      });
      // A fixed set of names, so the pod template does not change as leaves come and go.
      const leafSecrets = shardNames().map(
        (shard, i) =>
          new k8s.core.v1.Secret(
            `${name}-leaves-${String(i).padStart(2, "0")}`,
            {
              metadata: { name: shard, ...metadata },
              type: "Opaque",
              stringData: pulumi.secret(files.apply((f) => f.shards[shard])),
            },
            opts,
          ),
      );
      // Mutable and of one name: the kubelet updates it in the pods' volume and Querier re-reads
      // it. It changes only when a leaf comes or goes or a leaf's CA bundle changes.
      const config = new k8s.core.v1.ConfigMap(
        `${name}-endpoints`,
        {
          metadata: { name: THANOS_OBJECT_NAMES.endpoints, ...metadata },
          data: files.apply((f) => f.endpoints),
        },
        { ...opts, dependsOn: leafSecrets },
      );
      return { config, leafSecrets, podTemplate: thanosPodTemplate(settings.querier) };
    },
  };
}
