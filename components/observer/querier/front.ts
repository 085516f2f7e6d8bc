// Pure generators for what stands in front of the Querier pods, on every data path: the
// Service, the NetworkPolicy that admits only the observer's and the client namespaces, and the
// PodDisruptionBudget. The Observer component declares what these return.

import { QUERIER_PORTS, querierSelector } from "./pod";

export function querierServiceSpec() {
  return {
    type: "ClusterIP",
    selector: querierSelector(),
    ports: [
      { name: "http", port: QUERIER_PORTS.http, targetPort: "http", protocol: "TCP" },
      { name: "grpc", port: QUERIER_PORTS.grpc, targetPort: "grpc", protocol: "TCP" },
    ],
  };
}

/**
 * Who may reach the Querier pods: pods in the observer's namespace and in the listed client
 * namespaces, on the data path's `ports` (Querier's HTTP and gRPC ports, and Envoy's metrics
 * port on that path); nothing else. Querier answers queries over every leaf's data, so it is
 * not open to the whole cluster. (Enforced by clusters whose network plugin implements
 * NetworkPolicy.)
 */
export function querierNetworkPolicySpec(
  namespace: string,
  clientNamespaces: readonly string[],
  ports: readonly number[],
) {
  return {
    podSelector: { matchLabels: querierSelector() },
    policyTypes: ["Ingress"],
    ingress: [
      {
        from: [
          {
            namespaceSelector: {
              matchExpressions: [
                {
                  key: "kubernetes.io/metadata.name",
                  operator: "In",
                  values: [...new Set([namespace, ...clientNamespaces])].sort(),
                },
              ],
            },
          },
        ],
        ports: ports.map((port) => ({
          port,
          protocol: "TCP",
        })),
      },
    ],
  };
}

/** One pod may be disrupted at a time, whatever the replica count (never blocks a drain). */
export function querierDisruptionBudgetSpec() {
  return { maxUnavailable: 1, selector: { matchLabels: querierSelector() } };
}
