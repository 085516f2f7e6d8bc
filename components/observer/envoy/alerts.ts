// Pure generators for the observer's optional certificate-expiry alert, as prometheus-operator
// objects: a PodMonitor that scrapes Envoy's metrics on the Querier pods, and a PrometheusRule
// that fires when a certificate Envoy uses is close to its expiry. The Envoy path (index.ts)
// declares them when `expiryAlertDays` is set.

import { querierSelector } from "../querier/pod";
import { ENVOY_METRICS_PATH } from "./bootstrap";
import { ENVOY_STATS_PORT_NAME } from "./pod";

/** API group and version of prometheus-operator's PodMonitor and PrometheusRule. */
export const MONITORING_API_VERSION = "monitoring.coreos.com/v1";

/**
 * Envoy's server statistic `server.days_until_first_cert_expiring` (a gauge: "number of days
 * until the next certificate being managed will expire", Envoy docs, Statistics, Server), as its
 * Prometheus endpoint names it: `envoy_` and the stat name with dots turned into underscores.
 * It is the minimum over every TLS context Envoy holds (ContextManagerImpl::
 * daysUntilFirstCertExpires), upstream client contexts included, and a context is built from
 * each secret SDS delivers. Per context it counts the certificate chain Envoy presents (the
 * leaf-issued client certificate) and the trusted CA, which for a bundle is only its first
 * certificate (the default cert validator keeps the first as `ca_cert_`). Leaves list their CAs
 * newest first, so during a CA change that is the new CA, not the one being retired. It never
 * counts the leaves' server certificates.
 */
const CERT_EXPIRY_METRIC = "envoy_server_days_until_first_cert_expiring";

/** The `job` label of Envoy's metrics: the pods' `app.kubernetes.io/name`, via `jobLabel`. */
const JOB_LABEL = "app.kubernetes.io/name";

/** Scrapes the Envoy sidecar of every Querier pod in the PodMonitor's namespace. */
export function envoyPodMonitorSpec() {
  return {
    jobLabel: JOB_LABEL,
    selector: { matchLabels: querierSelector() },
    podMetricsEndpoints: [{ port: ENVOY_STATS_PORT_NAME, path: ENVOY_METRICS_PATH }],
  };
}

/**
 * One alert per Envoy (per pod) whose soonest certificate expiry is fewer than `days` whole
 * days away, for an hour: the gauge moves once a day, so an hour costs nothing and rides out a
 * scrape gap or a restart.
 */
export function certificateExpiryRuleSpec(namespace: string, days: number) {
  if (!Number.isInteger(days) || days < 1 || days > 365) {
    throw new Error(`expiry alert threshold ${days} must be a whole number of days from 1 to 365`);
  }
  const job = querierSelector()[JOB_LABEL];
  return {
    groups: [
      {
        name: "thanos-bridge-certificates",
        rules: [
          {
            alert: "ThanosBridgeCertificateExpiring",
            expr: `${CERT_EXPIRY_METRIC}{job="${job}",namespace="${namespace}"} < ${days}`,
            for: "1h",
            labels: { severity: "warning" },
            annotations: {
              summary:
                "Envoy in pod {{ $labels.namespace }}/{{ $labels.pod }} holds a certificate " +
                "that expires in {{ $value }} days",
              description:
                `A leaf's client certificate or CA that this Envoy uses expires in fewer than ` +
                `${days} days. \`pulumi stack output leaves\` on the observer lists each leaf's ` +
                "expiry times; renew that leaf's certificates with `pulumi up` on the leaf, then " +
                "on the observer. Envoy reloads them without a restart once the kubelet has " +
                "updated the pod's certificate volume.",
            },
          },
        ],
      },
    ],
  };
}
