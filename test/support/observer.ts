import assert from "node:assert/strict";
import { parse } from "yaml";
import { CLIENT_KEY_OUTPUT, BRIDGE_OUTPUT } from "../../components/common/contract";
import type { EnvoySettings } from "../../components/observer/settings";
import { runStack } from "../../stacks";
import { ObservedLeaf, ObserverStackOutputs } from "../../stacks/observer";
import { validateSdsFile } from "./envoy-validator";
import { UpstreamTls } from "./grpc";
import { LeafRun, leafRawConfig } from "./leaf";
import { KeysOf, resolveMountedFile } from "./mounts";
import {
  RecordedResource,
  RecordingMocks,
  StackOutputs,
  promiseOf,
  runOnMocks,
  unwrapSecrets,
} from "./mocks";

/** The Envoy sidecar as the config's defaults give it, for tests of the pod generators. */
export const ENVOY_SPEC: EnvoySettings = {
  image: "envoyproxy/envoy:v1.38.3",
  resources: { cpu: "100m", memory: "256Mi" },
  ipFamily: "IPv4",
  accessLog: "errors",
};

export const OBSERVER = {
  role: "observer",
  namespace: "thanos",
  leaves: '["acme/thanos-bridge/leaf-a","acme/thanos-bridge/leaf-b"]',
  extraEndpoints: '["dnssrv+_grpc._tcp.thanos-store.thanos.svc.cluster.local"]',
};

/** What StackReferences to these leaf runs see, as the Pulumi service would return it. */
export function stacksOf(runs: Record<string, LeafRun>): Record<string, StackOutputs> {
  return Object.fromEntries(
    Object.entries(runs).map(([stack, run]) => [
      stack,
      {
        outputs: { [BRIDGE_OUTPUT]: run.bridge, [CLIENT_KEY_OUTPUT]: run.clientKey },
        secretOutputNames: [CLIENT_KEY_OUTPUT],
      },
    ]),
  );
}

export interface ObserverRun {
  readonly mocks: RecordingMocks;
  readonly leaves: readonly ObservedLeaf[];
  /** The ConfigMap's files. */
  readonly files: Record<string, string>;
  /** envoy.yaml, parsed; {} when the ConfigMap has none (`dataPath: thanos`). */
  readonly envoy: Record<string, unknown>;
  readonly deployment: RecordedResource;
  /** The Deployment's pod template spec, secrets unwrapped. */
  readonly pod: PodSpec;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  restartPolicy?: string;
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  securityContext?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Record<string, unknown>[];
  securityContext?: Record<string, unknown>;
  hostAliases?: { ip: string; hostnames: string[] }[];
  [key: string]: unknown;
}

export async function runObserver(
  values: Record<string, string>,
  stacks: Readonly<Record<string, StackOutputs>>,
): Promise<ObserverRun> {
  const { mocks, result } = await runOnMocks(
    () => runStack(leafRawConfig(values), "observer") as ObserverStackOutputs,
    { stack: "observer", stacks },
  );
  const leaves = await promiseOf(result.leaves);
  const config = unwrapSecrets(mocks.one("kubernetes:core/v1:ConfigMap").inputs) as {
    data: Record<string, string>;
  };
  const deployment = mocks.one("kubernetes:apps/v1:Deployment");
  const spec = unwrapSecrets(deployment.inputs) as { spec: { template: { spec: PodSpec } } };
  return {
    mocks,
    leaves,
    files: config.data,
    envoy:
      config.data["envoy.yaml"] === undefined
        ? {}
        : (parse(config.data["envoy.yaml"]) as Record<string, unknown>),
    deployment,
    pod: spec.spec.template.spec,
  };
}

/** The Secrets or ConfigMaps of that kind and name the program creates in the pod's namespace. */
function createdObjects(run: ObserverRun, kind: "Secret" | "ConfigMap", name: string) {
  const type = kind === "Secret" ? "kubernetes:core/v1:Secret" : "kubernetes:core/v1:ConfigMap";
  const namespace = (unwrapSecrets(run.deployment.inputs) as { metadata: { namespace: string } })
    .metadata.namespace;
  return run.mocks.ofType(type).filter((r) => {
    const meta = (unwrapSecrets(r.inputs) as { metadata: { name: string; namespace: string } })
      .metadata;
    return meta.name === name && meta.namespace === namespace;
  });
}

function dataOf(object: RecordedResource): Record<string, string> {
  const inputs = unwrapSecrets(object.inputs) as {
    stringData?: Record<string, string>;
    data?: Record<string, string>;
  };
  return inputs.stringData ?? inputs.data ?? {};
}

/**
 * The keys of each object the program creates, as the kubelet would project them from a source
 * without `items`; undefined for an object the program does not create.
 */
export function createdKeys(run: ObserverRun): KeysOf {
  return (kind, name) => {
    const objects = createdObjects(run, kind, name);
    return objects.length === 1 ? Object.keys(dataOf(objects[0])) : undefined;
  };
}

/**
 * The content of a file a container of the observer pod reads, found the way the kubelet would:
 * through the container's volume mounts to a key of a Secret or ConfigMap the program creates.
 */
export function mountedFile(run: ObserverRun, container: string, path: string): string {
  const resolved = resolveMountedFile(run.pod, container, path, createdKeys(run));
  if (typeof resolved === "string") assert.fail(`${path} does not resolve: ${resolved}`);
  const objects = createdObjects(run, resolved.kind, resolved.name);
  assert.equal(
    objects.length,
    1,
    `${path}: the program creates no ${resolved.kind} ${resolved.name}`,
  );
  const data = dataOf(objects[0]);
  assert.ok(
    resolved.key in data,
    `${path}: ${resolved.kind} ${resolved.name} has no key ${resolved.key}`,
  );
  return data[resolved.key];
}

/** An SDS reference as the bootstrap writes it (`SdsSecretConfig` from a file). */
export interface SdsSecretConfig {
  name: string;
  sds_config: { path_config_source: { path: string; watched_directory?: { path: string } } };
}

interface TlsContext {
  sni: string;
  common_tls_context: {
    tls_certificate_sds_secret_configs: SdsSecretConfig[];
    combined_validation_context: {
      default_validation_context: {
        match_typed_subject_alt_names: { matcher: { exact: string } }[];
      };
      validation_context_sds_secret_config: SdsSecretConfig;
    };
  };
}

type Inline = { inline_string: string };

/**
 * The secret an SDS reference of envoy.yaml delivers: its file followed through the Envoy
 * container's mounts to the Kubernetes Secret the program wrote, parsed, and checked as Envoy
 * checks it (one resource, a Secret of that name and kind; strict against the protos).
 */
export function sdsSecret(
  run: ObserverRun,
  ref: SdsSecretConfig,
  kind: "tls_certificate" | "validation_context",
): Record<string, unknown> {
  const path = ref.sds_config.path_config_source.path;
  const file = parse(mountedFile(run, "envoy", path)) as { resources: Record<string, unknown>[] };
  assert.deepEqual(validateSdsFile(file, ref.name, kind), [], `${path} is not what Envoy takes`);
  return file.resources[0][kind] as Record<string, unknown>;
}

/** The PEM an inline DataSource holds; fails for any other kind of DataSource. */
function inlinePem(source: unknown, what: string): string {
  const pem = (source as Partial<Inline> | undefined)?.inline_string;
  assert.ok(typeof pem === "string", `${what} is not an inline_string`);
  return pem;
}

/**
 * What Envoy presents to and expects of one leaf: read from that leaf's cluster in envoy.yaml,
 * each SDS file resolved through the pod's mounts to the Secret the program wrote and its PEMs
 * taken from there. No shortcut around the program's wiring.
 */
export function envoyUpstreamTls(run: ObserverRun, cluster: string): UpstreamTls {
  const clusters = (
    run.envoy.static_resources as {
      clusters: { name: string; transport_socket?: { typed_config: TlsContext } }[];
    }
  ).clusters;
  const tls = clusters.find((c) => c.name === cluster)?.transport_socket?.typed_config;
  assert.ok(tls !== undefined, `envoy.yaml has no TLS cluster ${cluster}`);
  const ctx = tls.common_tls_context;
  const validation = ctx.combined_validation_context;
  const san = validation.default_validation_context.match_typed_subject_alt_names.map(
    (m) => m.matcher.exact,
  );
  assert.deepEqual(san, [tls.sni], "Envoy must expect the SAN it sends as SNI");
  // A client context takes one certificate.
  assert.equal(ctx.tls_certificate_sds_secret_configs.length, 1);
  const certificate = sdsSecret(run, ctx.tls_certificate_sds_secret_configs[0], "tls_certificate");
  const trusted = sdsSecret(
    run,
    validation.validation_context_sds_secret_config,
    "validation_context",
  );
  // The :authority Envoy sends: the rewrite on the route to this cluster, else Querier's own.
  const listeners = (
    run.envoy.static_resources as {
      listeners: { name: string; filter_chains: { filters: { typed_config: unknown }[] }[] }[];
    }
  ).listeners;
  const hcm = listeners.find((l) => l.name === "leaves")?.filter_chains[0].filters[0]
    .typed_config as {
    route_config: {
      virtual_hosts: {
        domains: string[];
        routes: { route: { cluster: string; host_rewrite_literal?: string } }[];
      }[];
    };
  };
  const vhost = hcm.route_config.virtual_hosts.find((v) =>
    v.routes.some((r) => r.route.cluster === cluster),
  );
  assert.ok(vhost !== undefined, `no virtual host routes to ${cluster}`);
  const route = vhost.routes.find((r) => r.route.cluster === cluster);
  return {
    serverName: tls.sni,
    authority: route?.route.host_rewrite_literal ?? vhost.domains[0],
    ca: inlinePem(trusted.trusted_ca, "trusted_ca"),
    cert: inlinePem(certificate.certificate_chain, "certificate_chain"),
    key: inlinePem(certificate.private_key, "private_key"),
  };
}

/** One endpoint of Querier's endpoints file with its own TLS (`dataPath: thanos`). */
export interface ThanosEndpoint {
  address: string;
  client_config?: {
    server_name: string;
    tls_config: {
      enabled: boolean;
      cert_file: string;
      key_file: string;
      ca_file: string;
      min_version: string;
    };
  };
}

/** Querier's endpoints file, parsed, as the Querier container reads it through its mounts. */
export function querierEndpoints(run: ObserverRun): ThanosEndpoint[] {
  const querier = run.pod.containers.find((c) => c.name === "querier");
  const flag = "--endpoint.sd-config-file=";
  const path = querier?.args?.find((a) => a.startsWith(flag))?.slice(flag.length);
  assert.ok(path !== undefined, "Querier has no --endpoint.sd-config-file");
  return (parse(mountedFile(run, "querier", path)) as { endpoints: ThanosEndpoint[] }).endpoints;
}

/**
 * What Querier presents to and expects of one leaf with `dataPath: thanos`: the endpoint whose
 * address is `address`, its three files followed through the Querier container's mounts to the
 * Secret the program wrote. The :authority is the address's `host:port`: its path, with no
 * `dns:///` scheme and no query (grpc-go strips the query from a target).
 */
export function thanosUpstreamTls(run: ObserverRun, address: string): UpstreamTls {
  const endpoint = querierEndpoints(run).find((e) => e.address === address);
  assert.ok(endpoint?.client_config !== undefined, `no endpoint ${address} with TLS`);
  const { server_name, tls_config } = endpoint.client_config;
  assert.equal(tls_config.enabled, true, `${address}: TLS is not enabled`);
  return {
    serverName: server_name,
    authority: address.replace(/^dns:\/\/\//, "").replace(/\?.*$/, ""),
    ca: mountedFile(run, "querier", tls_config.ca_file),
    cert: mountedFile(run, "querier", tls_config.cert_file),
    key: mountedFile(run, "querier", tls_config.key_file),
  };
}
