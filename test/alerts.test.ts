import assert from "node:assert/strict";
import {
  certificateExpiryRuleSpec,
  envoyPodMonitorSpec,
} from "../components/observer/envoy/alerts";
import { sortLeaves } from "../components/common/contract";
import { envoyPodTemplate } from "../components/observer/envoy/pod";
import { ENVOY_SPEC } from "./support/observer";

describe("certificate-expiry alert generators", () => {
  it("scrapes Envoy's stats port on the Querier pods, naming the job after the pods", () => {
    assert.deepEqual(envoyPodMonitorSpec(), {
      jobLabel: "app.kubernetes.io/name",
      selector: {
        matchLabels: {
          "app.kubernetes.io/component": "querier",
          "app.kubernetes.io/name": "thanos-bridge",
        },
      },
      podMetricsEndpoints: [{ port: "envoy-stats", path: "/stats/prometheus" }],
    });
  });

  it("scrapes a port the Envoy container declares, on pods carrying the selected labels", () => {
    const template = envoyPodTemplate(
      {
        leaves: sortLeaves([]),
        endpointSuffix: "bridge.internal",
        querier: {
          image: "quay.io/thanos/thanos:v0.42.5",
          resources: { cpu: "500m", memory: "1Gi" },
          replicas: 2,
          replicaLabels: [],
          extraEndpoints: [],
          clientNamespaces: [],
        },
        envoy: ENVOY_SPEC,
      },
      { configMap: "thanos-bridge-observer-0123456789" },
    );
    const spec = envoyPodMonitorSpec();
    const envoy = template.spec.initContainers.find((c) => c.name === "envoy");
    assert.deepEqual(
      envoy?.ports.map((p) => p.name),
      spec.podMetricsEndpoints.map((e) => e.port),
    );
    for (const [key, value] of Object.entries(spec.selector.matchLabels)) {
      assert.equal(template.metadata.labels[key], value, key);
    }
    assert.equal(template.metadata.labels[spec.jobLabel], "thanos-bridge");
  });

  it("alerts per Envoy when its soonest certificate expiry is under the threshold for an hour", () => {
    assert.deepEqual(certificateExpiryRuleSpec("thanos", 14), {
      groups: [
        {
          name: "thanos-bridge-certificates",
          rules: [
            {
              alert: "ThanosBridgeCertificateExpiring",
              expr: 'envoy_server_days_until_first_cert_expiring{job="thanos-bridge",namespace="thanos"} < 14',
              for: "1h",
              labels: { severity: "warning" },
              annotations: {
                summary:
                  "Envoy in pod {{ $labels.namespace }}/{{ $labels.pod }} holds a certificate that expires in {{ $value }} days",
                description:
                  "A leaf's client certificate or CA that this Envoy uses expires in fewer than 14 days. `pulumi stack output leaves` on the observer lists each leaf's expiry times; renew that leaf's certificates with `pulumi up` on the leaf, then on the observer. Envoy reloads them without a restart once the kubelet has updated the pod's certificate volume.",
              },
            },
          ],
        },
      ],
    });
  });

  it("refuses a threshold that is not a whole number of days from 1 to 365", () => {
    for (const days of [0, -3, 366, 7.5]) {
      assert.throws(
        () => certificateExpiryRuleSpec("thanos", days),
        new RegExp(
          `^Error: expiry alert threshold ${days} must be a whole number of days from 1 to 365$`,
        ),
      );
    }
    // Both ends of the range are accepted.
    assert.match(certificateExpiryRuleSpec("thanos", 1).groups[0].rules[0].expr, / < 1$/);
    assert.match(certificateExpiryRuleSpec("thanos", 365).groups[0].rules[0].expr, / < 365$/);
  });
});
