import assert from "node:assert/strict";
import {
  GATEWAY_LISTENER,
  LeafGatewayInput,
  leafGateway,
  leafGatewayObjects,
  leafGrpcRoute,
  leafReferenceGrant,
} from "../components/leaf/exposures/gateway-api";

const INPUT: LeafGatewayInput = {
  clusterName: "leaf-a",
  namespace: "monitoring",
  gatewayNamespace: "",
  gatewayClassName: "eg",
  hostname: "thanos.leaf-a.example.com",
  port: 443,
  sidecarService: "kube-prometheus-stack-thanos-discovery",
  sidecarPort: 10901,
  allowedServices: ["thanos.info.Info", "thanos.Store"],
};

type Listener = {
  name: string;
  hostname: string;
  port: number;
  protocol: string;
  tls: { mode: string; certificateRefs: Record<string, string>[] };
  allowedRoutes: { kinds: unknown[]; namespaces: Record<string, unknown> };
};
const listeners = (spec: Record<string, unknown>) => spec.listeners as Listener[];

describe("leaf Gateway API generator", () => {
  it("gives the leaf its own Gateway of the configured class, in the leaf's namespace", () => {
    const gateway = leafGateway(INPUT);
    assert.equal(gateway.apiVersion, "gateway.networking.k8s.io/v1");
    assert.equal(gateway.kind, "Gateway");
    assert.deepEqual(
      [gateway.metadata.name, gateway.metadata.namespace],
      ["thanos-bridge", "monitoring"],
    );
    assert.equal(gateway.spec.gatewayClassName, "eg");
  });

  it("has one HTTPS listener for the hostname, terminating TLS with the server certificate Secret", () => {
    assert.deepEqual(listeners(leafGateway({ ...INPUT, port: 8443 }).spec), [
      {
        name: GATEWAY_LISTENER,
        hostname: "thanos.leaf-a.example.com",
        port: 8443,
        protocol: "HTTPS",
        tls: {
          mode: "Terminate",
          certificateRefs: [{ group: "", kind: "Secret", name: "thanos-bridge-server-tls" }],
        },
        allowedRoutes: {
          kinds: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute" }],
          namespaces: { from: "Same" },
        },
      },
    ]);
  });

  it("validates client certificates against the CA bundle ConfigMap, refusing any other", () => {
    assert.deepEqual(leafGateway(INPUT).spec.tls, {
      frontend: {
        default: {
          validation: {
            caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "thanos-bridge-client-ca" }],
            mode: "AllowValidOnly",
          },
        },
      },
    });
  });

  it("routes one rule per allowed service, sorted, to the sidecar's gRPC port", () => {
    const route = leafGrpcRoute(INPUT);
    assert.equal(route.kind, "GRPCRoute");
    assert.equal(route.metadata.namespace, "monitoring");
    assert.deepEqual(route.spec.parentRefs, [
      {
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        name: "thanos-bridge",
        sectionName: GATEWAY_LISTENER,
      },
    ]);
    assert.deepEqual(route.spec.hostnames, ["thanos.leaf-a.example.com"]);
    const backend = {
      group: "",
      kind: "Service",
      name: "kube-prometheus-stack-thanos-discovery",
      port: 10901,
    };
    assert.deepEqual(route.spec.rules, [
      { matches: [{ method: { type: "Exact", service: "thanos.Store" } }], backendRefs: [backend] },
      {
        matches: [{ method: { type: "Exact", service: "thanos.info.Info" } }],
        backendRefs: [backend],
      },
    ]);
  });

  it("needs no ReferenceGrant when the Gateway is in the leaf's namespace", () => {
    assert.equal(leafReferenceGrant(INPUT), undefined);
    assert.equal(leafReferenceGrant({ ...INPUT, gatewayNamespace: "monitoring" }), undefined);
    assert.ok(!("referenceGrant" in leafGatewayObjects(INPUT)));
  });

  it("in another namespace: names the leaf's namespace in every reference, and grants exactly those", () => {
    const input = { ...INPUT, gatewayNamespace: "gateways" };
    const { gateway, route, referenceGrant } = leafGatewayObjects(input);
    assert.equal(gateway.metadata.namespace, "gateways");
    const [listener] = listeners(gateway.spec);
    assert.deepEqual(listener.tls.certificateRefs, [
      { group: "", kind: "Secret", name: "thanos-bridge-server-tls", namespace: "monitoring" },
    ]);
    // Only the leaf's namespace may attach routes to it.
    assert.deepEqual(listener.allowedRoutes.namespaces, {
      from: "Selector",
      selector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
    });
    const tls = gateway.spec.tls as {
      frontend: { default: { validation: { caCertificateRefs: unknown[] } } };
    };
    assert.deepEqual(tls.frontend.default.validation.caCertificateRefs, [
      { group: "", kind: "ConfigMap", name: "thanos-bridge-client-ca", namespace: "monitoring" },
    ]);
    // The route stays with its backend; its parent is found in the Gateway's namespace.
    assert.equal(route.metadata.namespace, "monitoring");
    assert.equal((route.spec.parentRefs as Record<string, string>[])[0].namespace, "gateways");
    assert.deepEqual(referenceGrant, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "ReferenceGrant",
      metadata: {
        name: "thanos-bridge-gateway",
        namespace: "monitoring",
        labels: gateway.metadata.labels,
      },
      spec: {
        from: [{ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "gateways" }],
        to: [
          { group: "", kind: "ConfigMap", name: "thanos-bridge-client-ca" },
          { group: "", kind: "Secret", name: "thanos-bridge-server-tls" },
        ],
      },
    });
  });

  it("gives the same objects whatever the order of the services", () => {
    const reversed = { ...INPUT, allowedServices: [...INPUT.allowedServices].reverse() };
    assert.equal(
      JSON.stringify(leafGatewayObjects(reversed)),
      JSON.stringify(leafGatewayObjects(INPUT)),
    );
  });
});
