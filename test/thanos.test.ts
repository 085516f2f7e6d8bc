// The generators of `dataPath: thanos` (components/observer/thanos/), called directly.
import assert from "node:assert/strict";
import { parse } from "yaml";
import { joinPemBundle, sortLeaves } from "../components/common/contract";
import { stableYaml } from "../components/common/yaml";
import { objectDataBytes, querierDeploymentSpec } from "../components/observer/querier/pod";
import {
  LEAF_SHARDS,
  assertThanosFits,
  caBundleFingerprint,
  leafShard,
  shardNames,
  thanosEndpointsConfig,
  thanosLeafAddress,
  thanosLeafFiles,
  thanosShardData,
} from "../components/observer/thanos/endpoints";
import {
  QuerierSpec,
  thanosPodTemplate,
  thanosQuerierArgs,
} from "../components/observer/thanos/pod";
import { fileReadProblems, resolveMountedFile } from "./support/mounts";
import { PodSpec } from "./support/observer";
import { restrictedViolations } from "./support/pss";
import { thanosFilePaths } from "./support/thanos-files";

const QUERIER: QuerierSpec = {
  image: "quay.io/thanos/thanos:v0.42.5",
  resources: { cpu: "500m", memory: "1Gi" },
  replicas: 3,
  replicaLabels: ["replica", "prometheus_replica"],
};

/** A stand-in PEM block of `bytes` characters in all (the generators never parse PEMs). */
function pem(label: string, bytes: number): string {
  const head = `-----BEGIN ${label}-----\n`;
  const tail = `\n-----END ${label}-----\n`;
  return head + "A".repeat(bytes - head.length - tail.length) + tail;
}

const CA_1 = pem("CERTIFICATE", 700);
const CA_2 = pem("CERTIFICATE", 701);
const CA_3 = pem("CERTIFICATE", 702);

function upstream(cluster: string, caCerts = CA_1) {
  const host = `thanos.${cluster}.example.com`;
  return { cluster, endpoint: `${host}:443`, serverName: host, caCerts };
}

/** `n` leaves named leaf-0000…, as the bench makes them. */
const leafNames = (n: number) =>
  Array.from({ length: n }, (_, i) => `leaf-${String(i).padStart(4, "0")}`);

describe("thanos data path generators", () => {
  it("puts each leaf in the shard of its name's hash, the same on every run and release", () => {
    // Pinned: a different shard for a leaf would only move its files, but every leaf at once
    // would move if the hash changed, and with them the pods' mounted files.
    assert.deepEqual(["leaf-a", "leaf-b"].map(leafShard), [
      "thanos-bridge-leaves-24",
      "thanos-bridge-leaves-04",
    ]);
    assert.equal(shardNames().length, LEAF_SHARDS);
    assert.deepEqual(shardNames().slice(0, 2), [
      "thanos-bridge-leaves-00",
      "thanos-bridge-leaves-01",
    ]);
    // 1,000 leaves spread over every shard, none with more than twice its share.
    const counts = new Map<string, number>();
    for (const cluster of leafNames(1000)) {
      counts.set(leafShard(cluster), (counts.get(leafShard(cluster)) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), shardNames());
    assert.ok(
      Math.max(...counts.values()) <= (2 * 1000) / LEAF_SHARDS,
      JSON.stringify([...counts]),
    );
  });

  it("dials a leaf at its public endpoint, with a query naming its CA bundle's fingerprint", () => {
    const address = (bundle: string) => thanosLeafAddress(upstream("leaf-a", bundle));
    // Pinned: a new fingerprint function would re-address every leaf on the first observer run.
    assert.equal(address(CA_1), "dns:///thanos.leaf-a.example.com:443?ca=c0d82df7e6948273");
    // Each step of a CA change that changes the bundle changes the address, and so does an
    // emergency CA change (one CA replaced by another); the switch step keeps the bundle.
    const steps = [CA_1, joinPemBundle([CA_2, CA_1]), CA_2, CA_3];
    assert.equal(new Set(steps.map(address)).size, steps.length, steps.map(address).join(" "));
    // The same CAs in another order, or with other line breaks, are the same address.
    assert.equal(address(joinPemBundle([CA_1, CA_2])), address(joinPemBundle([CA_2, CA_1])));
    assert.equal(address(CA_1.replace(/\n/g, "\r\n")), address(CA_1));
    // Thanos takes an address with a "+" for a DNS service-discovery name.
    for (const step of steps) assert.doesNotMatch(address(step), /\+/);
    assert.equal(caBundleFingerprint(CA_1), "c0d82df7e6948273");
  });

  it("gives every leaf its own TLS in the endpoints file, sorted, then the extra endpoints plain", () => {
    const config = thanosEndpointsConfig(
      sortLeaves([upstream("leaf-b"), upstream("leaf-a", joinPemBundle([CA_2, CA_1]))]),
      ["thanos-store:10901", "dnssrv+_grpc._tcp.thanos-rule.monitoring.svc"],
    );
    const tls = (cluster: string) => ({
      server_name: `thanos.${cluster}.example.com`,
      tls_config: {
        enabled: true,
        cert_file: `/etc/thanos/${cluster}.tls.crt`,
        key_file: `/etc/thanos/${cluster}.tls.key`,
        ca_file: `/etc/thanos/${cluster}.ca.crt`,
        min_version: "1.2",
      },
    });
    assert.deepEqual(config, {
      endpoints: [
        {
          address: thanosLeafAddress(upstream("leaf-a", joinPemBundle([CA_2, CA_1]))),
          strict: true,
          client_config: tls("leaf-a"),
        },
        {
          address: thanosLeafAddress(upstream("leaf-b")),
          strict: true,
          client_config: tls("leaf-b"),
        },
        { address: "dnssrv+_grpc._tcp.thanos-rule.monitoring.svc" },
        { address: "thanos-store:10901" },
      ],
    });
    // min_version stays a string in YAML (Thanos takes "1.0" to "1.3"), enabled a boolean.
    const yaml = stableYaml(config);
    assert.match(yaml, /min_version: "1\.2"/);
    assert.deepEqual(parse(yaml), config);
    assert.deepEqual(thanosFilePaths(parse(yaml)), [
      "/etc/thanos/leaf-a.ca.crt",
      "/etc/thanos/leaf-a.tls.crt",
      "/etc/thanos/leaf-a.tls.key",
      "/etc/thanos/leaf-b.ca.crt",
      "/etc/thanos/leaf-b.tls.crt",
      "/etc/thanos/leaf-b.tls.key",
    ]);
  });

  it("finds the files of default_client_config too, and none where there are none", () => {
    assert.deepEqual(
      thanosFilePaths({
        default_client_config: { tls_config: { ca_file: "/etc/ca.crt", cert_file: "" } },
        endpoints: [{ address: "a:1" }],
      }),
      ["/etc/ca.crt"],
    );
    assert.deepEqual(thanosFilePaths({ endpoints: [{ address: "a:1" }] }), []);
  });

  it("fills each leaf's shard with its certificate, key and CA bundle, and every shard exists", () => {
    const leaves = ["leaf-a", "leaf-b"].map((cluster) => ({
      cluster,
      clientCert: `cert of ${cluster}`,
      clientKey: `key of ${cluster}`,
      caCerts: `CAs of ${cluster}`,
    }));
    const shards = thanosShardData(sortLeaves(leaves), (l) => l.clientKey);
    assert.deepEqual(Object.keys(shards), shardNames());
    for (const [name, data] of Object.entries(shards)) {
      const expected: Record<string, string> = {};
      for (const leaf of leaves.filter((l) => leafShard(l.cluster) === name)) {
        const files = thanosLeafFiles(leaf.cluster);
        expected[files.cert.key] = leaf.clientCert;
        expected[files.key.key] = leaf.clientKey;
        expected[files.ca.key] = leaf.caCerts;
      }
      assert.deepEqual(data, expected, name);
    }
    assert.deepEqual(shards["thanos-bridge-leaves-24"], {
      "leaf-a.ca.crt": "CAs of leaf-a",
      "leaf-a.tls.crt": "cert of leaf-a",
      "leaf-a.tls.key": "key of leaf-a",
    });
  });

  it("builds a pod of Querier alone, its files from one projected volume of whole objects", () => {
    const template = thanosPodTemplate(QUERIER);
    const pod = template.spec as PodSpec;
    assert.deepEqual(
      pod.containers.map((c) => c.name),
      ["querier"],
    );
    assert.equal(pod.initContainers, undefined);
    assert.equal(pod.hostAliases, undefined);
    assert.deepEqual(pod.volumes, [
      {
        name: "querier-config",
        projected: {
          defaultMode: 0o440,
          sources: [
            { configMap: { name: "thanos-bridge-endpoints" } },
            ...shardNames().map((name) => ({ secret: { name } })),
          ],
        },
      },
    ]);
    assert.deepEqual(pod.containers[0].volumeMounts, [
      { name: "querier-config", mountPath: "/etc/thanos", readOnly: true },
    ]);
    assert.deepEqual(restrictedViolations(pod), []);
    assert.equal(
      querierDeploymentSpec(QUERIER.replicas, thanosPodTemplate(QUERIER)).template.spec
        .containers[0].image,
      QUERIER.image,
    );
  });

  it("starts Querier with the endpoints file, reloaded every minute", () => {
    assert.deepEqual(thanosQuerierArgs(QUERIER), [
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
      "--endpoint.sd-config-reload-interval=1m",
    ]);
  });

  it("resolves a whole-object source only to keys its object holds", () => {
    const pod = thanosPodTemplate(QUERIER).spec as PodSpec;
    const shards = thanosShardData(
      sortLeaves([{ cluster: "leaf-a", clientCert: "c", clientKey: "k", caCerts: "ca" }]),
      (l) => l.clientKey,
    );
    const keysOf = (kind: string, name: string) =>
      kind === "ConfigMap"
        ? name === "thanos-bridge-endpoints"
          ? ["endpoints.yaml"]
          : undefined
        : shards[name] === undefined
          ? undefined
          : Object.keys(shards[name]);
    assert.deepEqual(resolveMountedFile(pod, "querier", "/etc/thanos/leaf-a.tls.key", keysOf), {
      kind: "Secret",
      name: "thanos-bridge-leaves-24",
      key: "leaf-a.tls.key",
      mountPath: "/etc/thanos",
    });
    assert.deepEqual(resolveMountedFile(pod, "querier", "/etc/thanos/endpoints.yaml", keysOf), {
      kind: "ConfigMap",
      name: "thanos-bridge-endpoints",
      key: "endpoints.yaml",
      mountPath: "/etc/thanos",
    });
    // Not in any object: refused, whatever the volume's sources.
    assert.equal(
      resolveMountedFile(pod, "querier", "/etc/thanos/leaf-b.tls.key", keysOf),
      "/etc/thanos/leaf-b.tls.key: volume querier-config has no item for leaf-b.tls.key",
    );
    // Without the objects' keys every whole source could hold it: ambiguous, so refused too.
    assert.equal(
      resolveMountedFile(pod, "querier", "/etc/thanos/leaf-a.tls.key"),
      `/etc/thanos/leaf-a.tls.key: ${LEAF_SHARDS + 1} sources of volume querier-config provide it`,
    );
    // A polled read needs no watched directory, but a mount the kubelet updates.
    const read = [{ path: "/etc/thanos/leaf-a.tls.crt", polled: true }];
    assert.deepEqual(fileReadProblems(pod, "querier", read, keysOf), []);
    const subPath = structuredClone(pod);
    subPath.containers[0].volumeMounts = [
      { name: "querier-config", mountPath: "/etc/thanos", readOnly: true, subPath: "x" },
    ];
    assert.deepEqual(fileReadProblems(subPath, "querier", read, keysOf), [
      "/etc/thanos/leaf-a.tls.crt: mount querier-config uses subPath",
    ]);
    // Not polled and not watched: an update would never be read.
    assert.deepEqual(fileReadProblems(pod, "querier", [{ path: read[0].path }], keysOf), [
      "/etc/thanos/leaf-a.tls.crt: no watched directory, so an update of its volume is never read",
    ]);
  });

  describe("capacity", () => {
    // The largest credentials a leaf can have: RSA-4096 certificates, an RSA-4096 PKCS#8 key,
    // and two CAs (a CA change), each about as large as openssl writes them.
    const largest = (cluster: string) => ({
      cluster,
      clientCert: pem("CERTIFICATE", 2000),
      clientKey: pem("PRIVATE KEY", 3300),
      caCerts: joinPemBundle([pem("CERTIFICATE", 2000), pem("CERTIFICATE", 2000)]),
    });

    it("takes 1,000 leaves in one observer: a few hundred bytes of endpoints file per leaf", () => {
      const clusters = leafNames(1000);
      const endpoints = {
        "endpoints.yaml": stableYaml(
          thanosEndpointsConfig(
            sortLeaves(clusters.map((c) => upstream(c, joinPemBundle([CA_2, CA_1])))),
            [],
          ),
        ),
      };
      const shards = thanosShardData(sortLeaves(clusters.map(largest)), (l) => l.clientKey);
      assert.doesNotThrow(() => assertThanosFits(endpoints, shards, 1000));
      const perLeaf = objectDataBytes(endpoints) / 1000;
      assert.ok(perLeaf > 200 && perLeaf < 400, `${perLeaf} bytes per leaf`);
      const fullest = Math.max(...Object.values(shards).map(objectDataBytes));
      assert.ok(fullest < 1024 * 1024 * 0.75, `the fullest shard holds ${fullest} bytes`);
    });

    it("refuses an endpoints file or a shard that would not fit its object, saying what to do", () => {
      const shards = thanosShardData(sortLeaves([]), () => "");
      assert.throws(
        () => assertThanosFits({ "endpoints.yaml": "x".repeat(1032192) }, shards, 3500),
        (e: Error) =>
          e.message ===
          "3500 leaves need 1032206 bytes of Querier endpoints config, more than one ConfigMap holds (1032192 bytes with room for metadata); split the leaves over several observer stacks and put one Querier above their Queriers",
      );
      const full = {
        ...shards,
        "thanos-bridge-leaves-07": {
          "a.tls.crt": "x".repeat(1032192),
          "a.tls.key": "",
          "a.ca.crt": "",
        },
      };
      assert.throws(
        () => assertThanosFits({ "endpoints.yaml": "" }, full, 1),
        (e: Error) =>
          e.message ===
          "Secret thanos-bridge-leaves-07 would hold 1032218 bytes of credentials for 1 leaf, more than one Secret holds (1032192 bytes with room for metadata); split the leaves over several observer stacks and put one Querier above their Queriers",
      );
      // Right at the limit is accepted.
      assert.doesNotThrow(() =>
        assertThanosFits({ "endpoints.yaml": "x".repeat(1032192 - 14) }, shards, 3500),
      );
    });
  });
});
