// The Envoy data path (`dataPath: envoy`, the default): Querier speaks plain gRPC to an Envoy
// sidecar on loopback, which originates the mutual TLS to each leaf (docs/DATA-PATHS.md, Envoy).
// Its objects: one immutable ConfigMap named after its content (envoy.yaml and the endpoints
// file), one Secret per leaf stack with Envoy's SDS files, and optionally the certificate-expiry
// alert. No Service exposes Envoy.

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stableYaml } from "../../common/yaml";
import type { DataPath } from "../querier";
import { QUERIER_FAN_OUT, QUERIER_NAME, THANOS_PATHS } from "../querier/pod";
import type { EnvoySettings, QuerierSettings } from "../settings";
import { MONITORING_API_VERSION, certificateExpiryRuleSpec, envoyPodMonitorSpec } from "./alerts";
import { ENVOY_PATHS, envoyBootstrap, leafEndpoint } from "./bootstrap";
import {
  ENVOY_POLICY_PORTS,
  EnvoyPathInput,
  assertFitsConfigMap,
  configMapName,
  envoyEndpointsConfig,
  envoyPodTemplate,
  leafSecretName,
} from "./pod";
import { leafSdsFiles } from "./sds";

/** What the Envoy path reads of the Observer's settings. */
interface EnvoyPathSettings {
  /** The observer's namespace as configured, which the alert's expression names. */
  readonly namespace: string;
  /** Leaf `x` is dialled as `x.<endpointSuffix>`. */
  readonly endpointSuffix: string;
  readonly querier: QuerierSettings;
  readonly envoy: EnvoySettings;
  /**
   * Alert when a certificate Envoy uses expires in fewer than this many days (1 to 365): a
   * PodMonitor for Envoy's metrics and a PrometheusRule, which need prometheus-operator's CRDs.
   * Unset or 0: neither is declared.
   */
  readonly expiryAlertDays?: number;
}

export function envoyPath(settings: EnvoyPathSettings): DataPath {
  return {
    policyPorts: ENVOY_POLICY_PORTS,
    address: (leaf) => leafEndpoint(leaf.cluster, settings.endpointSuffix),
    declare: ({ name, opts, metadata, references, leaves }) => {
      const input = leaves.apply((sorted): EnvoyPathInput => ({
        leaves: sorted,
        endpointSuffix: settings.endpointSuffix,
        querier: settings.querier,
        envoy: settings.envoy,
      }));
      const data = input.apply((i) => {
        const files = {
          [ENVOY_PATHS.configFile]: stableYaml(
            envoyBootstrap(i.leaves, {
              endpointSuffix: i.endpointSuffix,
              fanOut: QUERIER_FAN_OUT,
              ipFamily: i.envoy.ipFamily,
              accessLog: i.envoy.accessLog,
            }),
          ),
          [THANOS_PATHS.endpointsFile]: stableYaml(envoyEndpointsConfig(i)),
        };
        assertFitsConfigMap(files, i.leaves.length);
        return files;
      });

      const config = new k8s.core.v1.ConfigMap(
        `${name}-config`,
        { metadata: { name: data.apply(configMapName), ...metadata }, immutable: true, data },
        opts,
      );
      // One Secret per leaf stack, named after the leaf's cluster, holding what Envoy presents
      // to that leaf and the CA it trusts for it. Each depends on the ConfigMap, whose data is
      // only computed once the leaves passed `distinctLeaves`: no Secret is declared when two
      // leaves share a cluster name, so one cannot overwrite the other's credentials. (Deriving
      // each Secret from the checked list instead would make it depend on every leaf: N² links.)
      const leafSecrets = references.map(
        (leaf) =>
          new k8s.core.v1.Secret(
            `${name}-leaf-${leaf.stack}`,
            {
              metadata: pulumi.all([leaf.bridge, metadata.namespace]).apply(([b, ns]) => ({
                name: leafSecretName(b.cluster),
                namespace: ns,
                labels: metadata.labels,
              })),
              type: "Opaque",
              // Envoy's two SDS files for the leaf; a renewal changes them and nothing else.
              stringData: pulumi
                .all([leaf.bridge, leaf.clientKey])
                .apply(([b, key]) => leafSdsFiles({ ...b, clientKey: key })),
            },
            { ...opts, dependsOn: [config] },
          ),
      );

      const days = settings.expiryAlertDays;
      if (days !== undefined && days !== 0) {
        const alertMetadata = { name: QUERIER_NAME, ...metadata };
        new k8s.apiextensions.CustomResource(
          `${name}-pod-monitor`,
          {
            apiVersion: MONITORING_API_VERSION,
            kind: "PodMonitor",
            metadata: alertMetadata,
            spec: envoyPodMonitorSpec(),
          },
          opts,
        );
        new k8s.apiextensions.CustomResource(
          `${name}-expiry-alert`,
          {
            apiVersion: MONITORING_API_VERSION,
            kind: "PrometheusRule",
            metadata: alertMetadata,
            spec: certificateExpiryRuleSpec(settings.namespace, days),
          },
          opts,
        );
      }

      // Names the config alone, so renewed certificates leave the pods running.
      const podTemplate = pulumi
        .all([input, data])
        .apply(([i, d]) => envoyPodTemplate(i, { configMap: configMapName(d) }));
      return { config, leafSecrets, podTemplate };
    },
  };
}
