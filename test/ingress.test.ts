import assert from "node:assert/strict";
import { LEAF_OBJECT_NAMES, grpcServicePath } from "../components/leaf/exposures/base";
import {
  LeafIngressInput,
  leafIngress,
  leafIngressAnnotations,
} from "../components/leaf/exposures/ingress-nginx";

const INPUT: LeafIngressInput = {
  clusterName: "leaf-a",
  namespace: "monitoring",
  hostname: "thanos.leaf-a.example.com",
  ingressClass: "nginx",
  pathType: "Prefix",
  sidecarService: "kube-prometheus-stack-thanos-discovery",
  sidecarPort: 10901,
  allowedServices: ["thanos.info.Info", "thanos.Store"],
  streamTimeoutSeconds: 900,
};

describe("leaf ingress generator", () => {
  it("sets exactly the ingress-nginx annotations for gRPC, client verification and long streams", () => {
    assert.deepEqual(leafIngressAnnotations(INPUT), {
      "nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream": "false",
      "nginx.ingress.kubernetes.io/auth-tls-secret": "monitoring/thanos-bridge-client-ca",
      "nginx.ingress.kubernetes.io/auth-tls-verify-client": "on",
      "nginx.ingress.kubernetes.io/auth-tls-verify-depth": "1",
      "nginx.ingress.kubernetes.io/backend-protocol": "GRPC",
      "nginx.ingress.kubernetes.io/proxy-read-timeout": "900",
      "nginx.ingress.kubernetes.io/proxy-send-timeout": "900",
      "nginx.ingress.kubernetes.io/ssl-redirect": "true",
    });
  });

  it("routes one path per allowed gRPC service, sorted, and nothing else", () => {
    const body = leafIngress(INPUT);
    assert.equal(body.spec.rules.length, 1);
    const [rule] = body.spec.rules;
    assert.equal(rule.host, "thanos.leaf-a.example.com");
    assert.deepEqual(
      rule.http.paths.map((p) => [p.path, p.pathType]),
      [
        ["/thanos.Store/", "Prefix"],
        ["/thanos.info.Info/", "Prefix"],
      ],
    );
    for (const path of rule.http.paths) {
      assert.deepEqual(path.backend, {
        service: { name: "kube-prometheus-stack-thanos-discovery", port: { number: 10901 } },
      });
    }
    assert.ok(!("defaultBackend" in body.spec), "a default backend would route every path");
  });

  it("serves TLS for the hostname from the server TLS Secret, on the configured class", () => {
    const body = leafIngress({
      ...INPUT,
      ingressClass: "nginx-external",
      pathType: "ImplementationSpecific",
    });
    assert.equal(body.spec.ingressClassName, "nginx-external");
    assert.deepEqual(body.spec.tls, [
      { hosts: ["thanos.leaf-a.example.com"], secretName: LEAF_OBJECT_NAMES.serverTlsSecret },
    ]);
    assert.ok(body.spec.rules[0].http.paths.every((p) => p.pathType === "ImplementationSpecific"));
  });

  it("maps a service name to the HTTP/2 path prefix of its methods", () => {
    assert.equal(grpcServicePath("thanos.Store"), "/thanos.Store/");
    assert.equal(grpcServicePath("thanos.info.Info"), "/thanos.info.Info/");
  });

  it("gives the same body whatever the order of the services", () => {
    const reversed = { ...INPUT, allowedServices: [...INPUT.allowedServices].reverse() };
    assert.equal(JSON.stringify(leafIngress(reversed)), JSON.stringify(leafIngress(INPUT)));
  });
});
