import assert from "node:assert/strict";
import {
  LeafTraefikInput,
  leafIngressRoute,
  leafTlsOption,
  leafTraefikObjects,
  traefikRouteMatch,
} from "../components/leaf/exposures/traefik";

const INPUT: LeafTraefikInput = {
  clusterName: "leaf-a",
  namespace: "monitoring",
  hostname: "thanos.leaf-a.example.com",
  entryPoint: "websecure",
  sidecarService: "kube-prometheus-stack-thanos-discovery",
  sidecarPort: 10901,
  allowedServices: ["thanos.info.Info", "thanos.Store"],
};

describe("leaf Traefik generator", () => {
  it("matches the hostname and one service's path prefix per rule", () => {
    assert.equal(
      traefikRouteMatch("thanos.leaf-a.example.com", "thanos.Store"),
      "Host(`thanos.leaf-a.example.com`) && PathPrefix(`/thanos.Store/`)",
    );
    assert.throws(() => traefikRouteMatch("a`b.example.com", "thanos.Store"), /backquote/);
  });

  it("routes one rule per allowed service, sorted, to the sidecar over h2c, on the entry point", () => {
    const route = leafIngressRoute({ ...INPUT, entryPoint: "thanos" });
    assert.equal(route.apiVersion, "traefik.io/v1alpha1");
    assert.equal(route.kind, "IngressRoute");
    assert.deepEqual(
      [route.metadata.name, route.metadata.namespace],
      ["thanos-bridge", "monitoring"],
    );
    assert.deepEqual(route.spec.entryPoints, ["thanos"]);
    const service = {
      kind: "Service",
      name: "kube-prometheus-stack-thanos-discovery",
      port: 10901,
      scheme: "h2c",
    };
    assert.deepEqual(route.spec.routes, [
      {
        kind: "Rule",
        match: "Host(`thanos.leaf-a.example.com`) && PathPrefix(`/thanos.Store/`)",
        services: [service],
      },
      {
        kind: "Rule",
        match: "Host(`thanos.leaf-a.example.com`) && PathPrefix(`/thanos.info.Info/`)",
        services: [service],
      },
    ]);
  });

  it("serves the server certificate Secret with the leaf's TLSOption", () => {
    assert.deepEqual(leafIngressRoute(INPUT).spec.tls, {
      secretName: "thanos-bridge-server-tls",
      options: { name: "thanos-bridge", namespace: "monitoring" },
    });
  });

  it("requires and verifies a client certificate from the CA bundle Secret, TLS 1.2 or later", () => {
    const option = leafTlsOption(INPUT);
    assert.equal(option.kind, "TLSOption");
    assert.deepEqual(
      [option.metadata.name, option.metadata.namespace],
      ["thanos-bridge", "monitoring"],
    );
    assert.deepEqual(option.spec, {
      minVersion: "VersionTLS12",
      sniStrict: true,
      clientAuth: {
        clientAuthType: "RequireAndVerifyClientCert",
        secretNames: ["thanos-bridge-client-ca"],
      },
    });
  });

  it("gives the same objects whatever the order of the services", () => {
    const reversed = { ...INPUT, allowedServices: [...INPUT.allowedServices].reverse() };
    assert.equal(
      JSON.stringify(leafTraefikObjects(reversed)),
      JSON.stringify(leafTraefikObjects(INPUT)),
    );
  });
});
