// Real Traefik (built by `npm run real:build traefik`) as a leaf's ingress controller, reading the
// bench's kube-apiserver through a kubeconfig: its kubernetescrd provider (the program's
// IngressRoute and TLSOption) or its kubernetesIngressNGINX provider (the program's Ingress). It
// listens on 127.0.0.1 only, and stops, with its files, at `stop()` or when the process ends.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { CallResult } from "../../support/grpc";
import { realBinary } from "./bench";
import { KubeClient, KubeObject } from "./kube";
import { BenchProcess, freePort, removeDir, tempDir, waitFor } from "../../support/processes";

/** How long Traefik may take to start and load the routers it is expected to serve. */
const START_TIMEOUT_MS = 60_000;

export type TraefikProvider = "kubernetesCRD" | "kubernetesIngressNGINX";

export interface TraefikOptions {
  readonly kubeconfig: string;
  readonly provider: TraefikProvider;
  /** The namespace it watches (one leaf's). */
  readonly namespace: string;
  /** The entry point serving HTTPS: the IngressRoute's `entryPoints`. */
  readonly entryPoint: string;
}

export interface Traefik {
  /** The HTTPS entry point's port on 127.0.0.1. */
  readonly port: number;
  readonly process: BenchProcess;
  /** Traefik's API (routers, services), on its own port. */
  readonly api: string;
  /** The routers Traefik has loaded, by name, with their status. */
  routers(): Promise<TraefikRouter[]>;
  /** The log so far (Traefik writes one line per event). */
  log(): string;
  stop(): Promise<void>;
}

export interface TraefikRouter {
  readonly name: string;
  readonly rule: string;
  readonly status: string;
  readonly tls?: { options?: string };
  readonly entryPoints?: string[];
  readonly error?: string[];
}

/**
 * Starts Traefik with one HTTPS entry point and its API on loopback, and waits until it has
 * loaded at least `expectRouters` enabled routers from the API server.
 */
export async function startTraefik(
  name: string,
  options: TraefikOptions,
  expectRouters: number,
): Promise<Traefik> {
  const dir = tempDir("traefik");
  const [port, apiPort] = [await freePort(), await freePort()];
  const provider = `--providers.${options.provider}`;
  const args = [
    `--entryPoints.${options.entryPoint}.address=127.0.0.1:${port}`,
    `--entryPoints.traefik.address=127.0.0.1:${apiPort}`,
    "--api.insecure=true",
    "--api.dashboard=false",
    "--global.checkNewVersion=false",
    "--global.sendAnonymousUsage=false",
    "--log.level=DEBUG",
    provider,
    ...(options.provider === "kubernetesCRD"
      ? [`${provider}.namespaces=${options.namespace}`]
      : [`${provider}.watchNamespace=${options.namespace}`]),
  ];
  const proc = BenchProcess.start(name, realBinary("traefik"), args, dir, {
    ...process.env,
    KUBECONFIG: options.kubeconfig,
  });
  const api = `http://127.0.0.1:${apiPort}`;
  const routers = async (): Promise<TraefikRouter[]> => {
    const answer = await fetch(`${api}/api/http/routers`);
    if (!answer.ok) throw new Error(`GET /api/http/routers: ${answer.status}`);
    return (await answer.json()) as TraefikRouter[];
  };
  const stop = async () => {
    await proc.stop();
    removeDir(dir);
  };
  try {
    await waitFor(
      `${name}: ${expectRouters} routers loaded`,
      async () =>
        (await routers()).filter((r) => r.status === "enabled" && !r.name.endsWith("@internal"))
          .length >= expectRouters,
      [proc],
      START_TIMEOUT_MS,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    port,
    process: proc,
    api,
    routers,
    log: () => proc.logTail(100_000),
    stop,
  };
}

/**
 * The sidecar Service as a cluster has it, and an EndpointSlice that puts its named port on a
 * backend here (`host:port`), the way the EndpointSlice controller would for a ready pod.
 * Returns the API server's warnings.
 */
export async function exposeBackend(
  kube: KubeClient,
  namespace: string,
  service: string,
  servicePort: number,
  backend: string,
): Promise<string[]> {
  const [address, port] = backend.split(":");
  const objects: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: service, namespace },
      spec: { ports: [{ name: "grpc", port: servicePort, targetPort: Number(port) }] },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${service}-bench`,
        namespace,
        labels: { "kubernetes.io/service-name": service },
      },
      // The API server refuses loopback IPs in an IPv4 slice ("may not be in the loopback
      // range"); an FQDN slice takes the address as a name, and Traefik dials it as it is.
      addressType: "FQDN",
      ports: [{ name: "grpc", port: Number(port), protocol: "TCP" }],
      endpoints: [{ addresses: [address], conditions: { ready: true, serving: true } }],
    },
  ];
  const warnings: string[] = [];
  for (const obj of objects) warnings.push(...(await kube.apply(obj)).warnings);
  return warnings;
}

/**
 * Calls `call`, then checks Traefik refused the client certificate during the handshake: Go's
 * TLS server aborts it, so the call fails as UNAVAILABLE before any HTTP/2 stream, Traefik logs
 * the handshake error (matching `logged`), and the backend (its `calls`) sees nothing.
 */
export async function assertRefusedInHandshake(
  traefik: Traefik,
  backend: { readonly calls: readonly string[] },
  call: () => Promise<CallResult>,
  logged: RegExp,
): Promise<void> {
  const logBefore = traefik.log().length;
  const callsBefore = backend.calls.length;
  const result = await call();
  assert.ok(!result.ok && result.code === grpc.status.UNAVAILABLE, JSON.stringify(result));
  // Traefik writes the handshake error to its log a moment after the connection closes.
  const deadline = Date.now() + 5000;
  while (!logged.test(traefik.log().slice(logBefore)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(traefik.log().slice(logBefore), logged);
  assert.equal(backend.calls.length, callsBefore, "the backend saw the call");
}
