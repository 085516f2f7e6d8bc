import assert from "node:assert/strict";
import { sortLeaves } from "../components/common/contract";
import type { EnvoyLeaf } from "../components/observer/envoy/bootstrap";
import {
  ENVOY_POLICY_PORTS,
  EnvoyPathInput,
  assertFitsConfigMap,
  configHash,
  configMapName,
  envoyEndpointsConfig,
  envoyPodTemplate,
} from "../components/observer/envoy/pod";
import { querierNetworkPolicySpec } from "../components/observer/querier/front";
import { querierArgs } from "../components/observer/querier/pod";
import { MountedKey, fileReadProblems, resolveMountedFile } from "./support/mounts";
import { ENVOY_SPEC, PodSpec } from "./support/observer";
import { restrictedViolations } from "./support/pss";

const LEAVES: EnvoyLeaf[] = [
  {
    cluster: "leaf-b",
    host: "b.example.net",
    port: 443,
    serverName: "b.example.net",
    streamTimeoutSeconds: 600,
  },
  {
    cluster: "leaf-a",
    host: "a.example.com",
    port: 443,
    serverName: "a.example.com",
    streamTimeoutSeconds: 600,
  },
];
const INPUT: EnvoyPathInput = {
  leaves: sortLeaves(LEAVES),
  endpointSuffix: "bridge.internal",
  querier: {
    image: "quay.io/thanos/thanos:v0.42.5",
    resources: { cpu: "500m", memory: "1Gi" },
    replicas: 3,
    replicaLabels: ["replica", "prometheus_replica"],
    extraEndpoints: ["thanos-store:10901"],
    clientNamespaces: ["grafana"],
  },
  envoy: ENVOY_SPEC,
};
const pod = (): PodSpec =>
  envoyPodTemplate(INPUT, { configMap: "thanos-bridge-observer-0123456789" }).spec;

describe("observer pod generator", () => {
  it("lists every leaf through Envoy, sorted, then the extra endpoints", () => {
    assert.deepEqual(envoyEndpointsConfig(INPUT), {
      endpoints: [
        { address: "leaf-a.bridge.internal:10000", strict: true },
        { address: "leaf-b.bridge.internal:10000", strict: true },
        { address: "thanos-store:10901" },
      ],
    });
  });

  it("starts Querier with the endpoints file, its fan-out limits and sorted replica labels", () => {
    assert.deepEqual(querierArgs(INPUT), [
      "query",
      "--log.level=info",
      "--http-address=0.0.0.0:10902",
      "--grpc-address=0.0.0.0:10901",
      "--http-grace-period=20s",
      "--grpc-grace-period=20s",
      "--endpoint.sd-config-file=/etc/thanos/endpoints.yaml",
      "--query.max-concurrent=20",
      "--query.max-concurrent-select=4",
      "--query.replica-label=prometheus_replica",
      "--query.replica-label=replica",
    ]);
  });

  it("hashes the config so that any change to a file changes the hash, and nothing else does", () => {
    const base = configHash({ "envoy.yaml": "a", "endpoints.yaml": "b" });
    assert.equal(configHash({ "endpoints.yaml": "b", "envoy.yaml": "a" }), base);
    assert.notEqual(configHash({ "envoy.yaml": "a ", "endpoints.yaml": "b" }), base);
    assert.notEqual(configHash({ "envoy.yaml": "ab", "endpoints.yaml": "" }), base);
    assert.match(base, /^[0-9a-f]{64}$/);
  });

  it("names the ConfigMap after its content", () => {
    const data = { "envoy.yaml": "a", "endpoints.yaml": "b" };
    assert.equal(configMapName(data), `thanos-bridge-observer-${configHash(data).slice(0, 10)}`);
    assert.notEqual(configMapName({ ...data, "envoy.yaml": "a2" }), configMapName(data));
  });

  it("names nothing of the leaves' certificates in the pod template but their Secrets", () => {
    const template = envoyPodTemplate(INPUT, { configMap: "thanos-bridge-observer-0123456789" });
    assert.deepEqual(template.metadata, {
      labels: {
        "app.kubernetes.io/component": "querier",
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/name": "thanos-bridge",
      },
    });
    assert.deepEqual(
      template.spec.volumes.find((v) => v.name === "leaf-certs"),
      {
        name: "leaf-certs",
        projected: {
          defaultMode: 0o440,
          sources: ["leaf-a", "leaf-b"].map((leaf) => ({
            secret: {
              name: `thanos-bridge-leaf-${leaf}`,
              items: [
                { key: "tls-certificate.yaml", path: `${leaf}/tls-certificate.yaml` },
                { key: "validation-context.yaml", path: `${leaf}/validation-context.yaml` },
              ],
            },
          })),
        },
      },
    );
  });

  it("runs Envoy with two workers, its config and no hot restart", () => {
    const envoy = pod().initContainers?.[0];
    assert.deepEqual(
      [envoy?.command, envoy?.args],
      [
        ["envoy"],
        [
          "--config-path",
          "/etc/envoy/config/envoy.yaml",
          "--disable-hot-restart",
          "--concurrency",
          "2",
          "--log-level",
          "info",
        ],
      ],
    );
  });

  it("refuses config that would not fit in one ConfigMap, saying what to do", () => {
    assertFitsConfigMap({ "envoy.yaml": "x".repeat(1000 * 1000) }, 380);
    assert.throws(
      () => assertFitsConfigMap({ "envoy.yaml": "x".repeat(1032192), "endpoints.yaml": "" }, 400),
      /^Error: 400 leaves need 1032216 bytes of Envoy and Querier config, more than one ConfigMap holds \(1032192 bytes with room for metadata\); split the leaves over several observer stacks and put one Querier above their Queriers$/,
    );
  });

  it("lets only its own and the client namespaces reach Querier and Envoy's metrics", () => {
    assert.deepEqual(
      querierNetworkPolicySpec("thanos", ["monitoring", "grafana", "thanos"], ENVOY_POLICY_PORTS),
      {
        podSelector: {
          matchLabels: {
            "app.kubernetes.io/component": "querier",
            "app.kubernetes.io/name": "thanos-bridge",
          },
        },
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
                      values: ["grafana", "monitoring", "thanos"],
                    },
                  ],
                },
              },
            ],
            ports: [
              { port: 10902, protocol: "TCP" },
              { port: 10901, protocol: "TCP" },
              { port: 9902, protocol: "TCP" },
            ],
          },
        ],
      },
    );
  });

  it("maps every leaf alias to loopback", () => {
    assert.deepEqual(pod().hostAliases, [
      { ip: "127.0.0.1", hostnames: ["leaf-a.bridge.internal", "leaf-b.bridge.internal"] },
    ]);
  });

  it("resolves each leaf's SDS files to that leaf's Secret, and the config to the ConfigMap", () => {
    const configMap = "thanos-bridge-observer-0123456789";
    const certs = "/etc/envoy/certs";
    const cases: [string, string, MountedKey][] = [
      [
        "envoy",
        `${certs}/leaf-b/tls-certificate.yaml`,
        {
          kind: "Secret",
          name: "thanos-bridge-leaf-leaf-b",
          key: "tls-certificate.yaml",
          mountPath: certs,
        },
      ],
      [
        "envoy",
        `${certs}/leaf-a/validation-context.yaml`,
        {
          kind: "Secret",
          name: "thanos-bridge-leaf-leaf-a",
          key: "validation-context.yaml",
          mountPath: certs,
        },
      ],
      [
        "envoy",
        "/etc/envoy/config/envoy.yaml",
        { kind: "ConfigMap", name: configMap, key: "envoy.yaml", mountPath: "/etc/envoy/config" },
      ],
      [
        "querier",
        "/etc/thanos/endpoints.yaml",
        { kind: "ConfigMap", name: configMap, key: "endpoints.yaml", mountPath: "/etc/thanos" },
      ],
    ];
    for (const [container, path, expected] of cases) {
      assert.deepEqual(resolveMountedFile(pod(), container, path), expected, path);
    }
  });
});

describe("test checkers", () => {
  it("the mount resolver refuses files that are not mounted", () => {
    assert.equal(
      resolveMountedFile(pod(), "envoy", "/etc/envoy/certs/leaf-c/tls-certificate.yaml"),
      "/etc/envoy/certs/leaf-c/tls-certificate.yaml: volume leaf-certs has no item for leaf-c/tls-certificate.yaml",
    );
    assert.equal(
      resolveMountedFile(pod(), "querier", "/etc/envoy/certs/leaf-a/tls-certificate.yaml"),
      "/etc/envoy/certs/leaf-a/tls-certificate.yaml: no volume mount of querier contains it",
    );
    assert.equal(resolveMountedFile(pod(), "nginx", "/x"), "no container nginx");
  });

  it("the file-read check wants each file watched at the root of the volume holding it", () => {
    const file = "/etc/envoy/certs/leaf-a/tls-certificate.yaml";
    const problems = (watchedDirectory?: string) =>
      fileReadProblems(pod(), "envoy", [{ path: file, watchedDirectory }]);
    assert.deepEqual(problems("/etc/envoy/certs"), []);
    // The leaf's own directory is a link into ..data: nothing is ever moved inside it.
    assert.deepEqual(problems("/etc/envoy/certs/leaf-a"), [
      `${file}: watched directory /etc/envoy/certs/leaf-a is not /etc/envoy/certs, the root of the volume holding it, where the kubelet swaps ..data`,
    ]);
    assert.deepEqual(problems("/etc/envoy"), [
      `${file}: watched directory /etc/envoy is not /etc/envoy/certs, the root of the volume holding it, where the kubelet swaps ..data`,
    ]);
    assert.deepEqual(problems(undefined), [
      `${file}: no watched directory, so an update of its volume is never read`,
    ]);
    assert.deepEqual(
      fileReadProblems(pod(), "envoy", [{ path: "/etc/envoy/certs/leaf-c/tls-certificate.yaml" }]),
      [
        "/etc/envoy/certs/leaf-c/tls-certificate.yaml: volume leaf-certs has no item for leaf-c/tls-certificate.yaml",
      ],
    );
    const subPath = structuredClone(pod());
    const mounts = subPath.initContainers?.[0].volumeMounts ?? [];
    mounts[1] = { ...mounts[1], subPath: "leaf-a" };
    assert.deepEqual(
      fileReadProblems(subPath, "envoy", [{ path: file, watchedDirectory: "/etc/envoy/certs" }]),
      [`${file}: mount leaf-certs uses subPath`],
    );
  });

  it("the Pod Security checker passes the observer pod and catches each kind of violation", () => {
    assert.deepEqual(restrictedViolations(pod()), []);
    const broken = (edit: (p: PodSpec) => void): string[] => {
      const p = structuredClone(pod());
      edit(p);
      return restrictedViolations(p);
    };
    const envoy = (p: PodSpec) => p.initContainers?.[0].securityContext as Record<string, unknown>;
    const querier = (p: PodSpec) => p.containers[0].securityContext as Record<string, unknown>;
    assert.deepEqual(
      broken((p) => (p.hostNetwork = true)),
      ["pod: hostNetwork is true"],
    );
    assert.deepEqual(
      broken((p) => delete envoy(p).allowPrivilegeEscalation),
      ["container envoy: allowPrivilegeEscalation is not false"],
    );
    assert.deepEqual(
      broken((p) => {
        delete (p.securityContext as Record<string, unknown>).runAsNonRoot;
        delete querier(p).runAsNonRoot;
      }),
      ["container querier: runAsNonRoot is not true"],
    );
    assert.deepEqual(
      broken((p) => (querier(p).capabilities = { drop: ["NET_RAW"], add: ["SYS_ADMIN"] })),
      [
        "container querier: capabilities do not drop ALL",
        "container querier: adds capability SYS_ADMIN",
      ],
    );
    assert.deepEqual(
      broken((p) => {
        delete (p.securityContext as Record<string, unknown>).seccompProfile;
        delete envoy(p).seccompProfile;
        querier(p).seccompProfile = { type: "Unconfined" };
      }),
      [
        "container envoy: seccompProfile is undefined, not RuntimeDefault or Localhost",
        "container querier: seccompProfile is Unconfined, not RuntimeDefault or Localhost",
      ],
    );
    assert.deepEqual(
      broken((p) => p.volumes?.push({ name: "host", hostPath: { path: "/" } })),
      ["volume host: type hostPath is not allowed"],
    );
    assert.deepEqual(
      broken((p) => (envoy(p).privileged = true)),
      ["container envoy: privileged"],
    );
  });
});
