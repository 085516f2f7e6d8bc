// Debian's nginx as a leaf's ingress-nginx, configured from the program's own Ingress and
// Secrets the way ingress-nginx renders those annotations: TLS from the Ingress's secret,
// HTTP/2, client verification from auth-tls-*, grpc_pass to the backend for the Ingress's paths
// only, over upstream connections kept alive as the controller's defaults keep them, and the
// controller's catch-all server (its own certificate, 404) for any other host.
// Listens on 127.0.0.1; tests start and stop it, and it is killed (its directory, which holds
// the keys, removed) if the test process exits or is interrupted.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import { selfSignedCa } from "./fake-tls";
import { CallResult } from "./grpc";
import { LeafRun } from "./leaf";
import { unwrapSecrets } from "./mocks";
import {
  NginxDidNotStart,
  NginxProcess,
  nginxFileDirectives,
  startNginxProcess,
} from "./nginx-process";
import { freePort, tempDir } from "./processes";

const PREFIX = "nginx.ingress.kubernetes.io/";

export interface IngressObject {
  metadata: { namespace: string; annotations?: Record<string, string> };
  spec: {
    tls?: { hosts: string[]; secretName: string }[];
    rules: {
      host: string;
      http: {
        paths: {
          path: string;
          pathType: string;
          backend: { service: { name: string; port: { number: number } } };
        }[];
      };
    }[];
  };
}

/** Secrets by `namespace/name`, as the program declares them (stringData). */
export type SecretsByName = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** What each `service:port` of the Ingress reaches here: a 127.0.0.1 address. */
export type ServiceAddresses = Readonly<Record<string, string>>;

/**
 * Annotations this translation renders, each with the values it supports. Anything else fails
 * the translation, so a test can never pass while silently ignoring part of the Ingress.
 */
const TRANSLATED: Record<string, (value: string) => boolean> = {
  "backend-protocol": (v) => v === "GRPC",
  "auth-tls-verify-client": (v) => ["on", "off", "optional", "optional_no_ca"].includes(v),
  "auth-tls-secret": (v) => /^[a-z0-9-]+\/[a-z0-9.-]+$/.test(v),
  "auth-tls-verify-depth": (v) => /^[0-9]+$/.test(v),
  // "false" is the controller's behaviour without the annotation: nothing to render.
  "auth-tls-pass-certificate-to-upstream": (v) => v === "false",
  // Only a TLS listener is rendered here, so there is no plain-HTTP server to redirect from.
  "ssl-redirect": (v) => v === "true",
  "proxy-read-timeout": (v) => /^[0-9]+$/.test(v),
  "proxy-send-timeout": (v) => /^[0-9]+$/.test(v),
};

/**
 * ingress-nginx's upstream keepalive: its ConfigMap options and their defaults (ingress-nginx
 * docs, user-guide/nginx-configuration/configmap.md), which the controller renders into its
 * upstream block (`upstream_balancer`) as the directives of the same names. None is set by the
 * program, so the defaults hold: upstream-keepalive-connections 320, upstream-keepalive-time
 * "1h", upstream-keepalive-timeout 60 (seconds), upstream-keepalive-requests 10000.
 */
const UPSTREAM_KEEPALIVE = {
  keepalive: "320",
  keepalive_time: "1h",
  keepalive_timeout: "60s",
  keepalive_requests: "10000",
} as const;

/**
 * The upstream block for a backend Service, named as ingress-nginx names its backends
 * (`<namespace>-<service>-<port>`). The controller has one upstream for all, its Lua balancer
 * picking the endpoint; here each Service has its own, its one server the Service's address.
 * Its connections are cached per endpoint address either way.
 */
function upstreamBlock(name: string, address: string): string {
  return [
    `  upstream ${name} {`,
    `    server ${address};`,
    ...Object.entries(UPSTREAM_KEEPALIVE).map(([directive, value]) => `    ${directive} ${value};`),
    "  }",
  ].join("\n");
}

/** Renders nginx.conf for one Ingress; writes the certificate files it needs into `dir`. */
export function renderNginx(
  ingress: IngressObject,
  secrets: SecretsByName,
  services: ServiceAddresses,
  port: number,
  dir: string,
): string {
  const ns = ingress.metadata.namespace;
  const annotations = ingress.metadata.annotations ?? {};
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(PREFIX)) continue;
    const supported = TRANSLATED[key.slice(PREFIX.length)];
    if (supported === undefined || !supported(value)) {
      throw new Error(`renderNginx: ${key}: ${JSON.stringify(value)} is not translated`);
    }
  }
  const annotation = (name: string): string | undefined => annotations[PREFIX + name];
  if (annotation("backend-protocol") !== "GRPC") {
    throw new Error("renderNginx: only backend-protocol GRPC is translated");
  }
  const secret = (ref: string): Readonly<Record<string, string>> => {
    const found = secrets[ref];
    if (found === undefined) throw new Error(`renderNginx: no Secret ${ref}`);
    return found;
  };

  const tls = ingress.spec.tls?.[0];
  if (tls === undefined) throw new Error("renderNginx: the Ingress has no TLS");
  const serverTls = secret(`${ns}/${tls.secretName}`);
  writeFileSync(join(dir, "tls.crt"), serverTls["tls.crt"]);
  writeFileSync(join(dir, "tls.key"), serverTls["tls.key"], { mode: 0o600 });

  const verifyLines: string[] = [];
  const verify = annotation("auth-tls-verify-client");
  if (verify !== undefined && verify !== "off") {
    const caRef = annotation("auth-tls-secret");
    if (caRef === undefined)
      throw new Error("renderNginx: auth-tls-verify-client without auth-tls-secret");
    // ingress-nginx refuses a CA Secret from another namespace by default (v1.12+).
    if (!caRef.startsWith(`${ns}/`))
      throw new Error(`renderNginx: auth-tls-secret ${caRef} is not in ${ns}`);
    writeFileSync(join(dir, "ca.crt"), secret(caRef)["ca.crt"]);
    verifyLines.push(
      `ssl_client_certificate ${join(dir, "ca.crt")};`,
      `ssl_verify_client ${verify};`,
      `ssl_verify_depth ${annotation("auth-tls-verify-depth") ?? "1"};`,
    );
  }
  // ingress-nginx writes proxy-*-timeout as grpc_*_timeout for gRPC backends; connect: its 5 s.
  const timeouts = [
    "grpc_connect_timeout 5s;",
    ...[
      ["proxy-read-timeout", "grpc_read_timeout"],
      ["proxy-send-timeout", "grpc_send_timeout"],
    ]
      .filter(([a]) => annotation(a) !== undefined)
      .map(([a, directive]) => `${directive} ${annotation(a)}s;`),
  ];

  const upstreams = new Map<string, string>();
  const servers = ingress.spec.rules.map((rule) => {
    if (!tls.hosts.includes(rule.host)) throw new Error(`renderNginx: no TLS for ${rule.host}`);
    const locations = rule.http.paths.map((p) => {
      const target = `${p.backend.service.name}:${p.backend.service.port.number}`;
      const address = services[target];
      if (address === undefined) throw new Error(`renderNginx: no address for Service ${target}`);
      const upstream = `${ns}-${p.backend.service.name}-${p.backend.service.port.number}`;
      upstreams.set(upstream, upstreamBlock(upstream, address));
      // Prefix and ImplementationSpecific become prefix locations, Exact an exact one.
      const match = p.pathType === "Exact" ? `= ${p.path}` : p.path;
      return [
        `    location ${match} {`,
        // Upstream keepalive needs nothing more for grpc_pass (HTTP/2 to the backend).
        `      grpc_pass grpc://${upstream};`,
        ...timeouts.map((t) => `      ${t}`),
        "    }",
      ].join("\n");
    });
    return [
      "  server {",
      `    listen 127.0.0.1:${port} ssl http2;`,
      `    server_name ${rule.host};`,
      `    ssl_certificate ${join(dir, "tls.crt")};`,
      `    ssl_certificate_key ${join(dir, "tls.key")};`,
      // ingress-nginx's default protocols.
      "    ssl_protocols TLSv1.2 TLSv1.3;",
      ...verifyLines.map((l) => `    ${l}`),
      ...locations,
      // No default backend on the Ingress: any other path is not routed.
      "    location / {\n      return 404;\n    }",
      "  }",
    ].join("\n");
  });

  // The controller's catch-all server for any other host, with its own certificate.
  const fallback = selfSignedCa("Kubernetes Ingress Controller Fake Certificate");
  writeFileSync(join(dir, "default.crt"), fallback.certPem);
  writeFileSync(join(dir, "default.key"), fallback.keyPem, { mode: 0o600 });
  const catchAll = [
    "  server {",
    `    listen 127.0.0.1:${port} ssl http2 default_server;`,
    "    server_name _;",
    `    ssl_certificate ${join(dir, "default.crt")};`,
    `    ssl_certificate_key ${join(dir, "default.key")};`,
    "    ssl_protocols TLSv1.2 TLSv1.3;",
    "    location / {\n      return 404;\n    }",
    "  }",
  ].join("\n");

  const paths = nginxFileDirectives(dir, "bridge");
  return [
    "worker_processes 1;",
    ...paths.main,
    "events { worker_connections 256; }",
    "http {",
    // Which client certificate each request came with: the real bench reads it to see when
    // Querier moves to a renewed certificate. And on which client connection (nginx's serial
    // number of it, and its requests so far): the bench reads it to see connections reused.
    "  log_format bridge '$ssl_client_serial $status $request_uri $connection $connection_requests';",
    ...paths.http.map((l) => `  ${l}`),
    ...upstreams.values(),
    catchAll,
    ...servers,
    "}",
    "",
  ].join("\n");
}

/**
 * nginx serving one Ingress. Its error log has the client certificate failures; its access log
 * one line per request (parseAccessLog).
 */
export interface Nginx extends Omit<NginxProcess, "reload"> {
  readonly port: number;
  /** Rewrites the config and certificate files, then reloads gracefully (SIGHUP). */
  reload(ingress: IngressObject, secrets: SecretsByName): Promise<void>;
}

/**
 * One line of the access log (`log_format bridge`):
 * `<client serial> <status> <path> <connection> <requests on that connection>`.
 */
export interface AccessLogLine {
  /** The client certificate's serial, in hex as nginx logs it; "-" without one. */
  readonly serial: string;
  readonly status: string;
  readonly path: string;
  /** nginx's serial number of the client connection the request came on. */
  readonly connection: string;
  /** The requests that connection had carried, this one included. */
  readonly requests: number;
}

export function parseAccessLog(log: string): AccessLogLine[] {
  return log
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [serial, status, path, connection, requests] = l.split(" ");
      return { serial, status, path, connection, requests: Number(requests) };
    });
}

/**
 * Starts nginx for one Ingress, on a free port (retried if another process takes it first) or on
 * `fixedPort`.
 */
export async function startNginx(
  ingress: IngressObject,
  secrets: SecretsByName,
  services: ServiceAddresses,
  attempts = 3,
  /** Listen here (a leaf's `publicPort`) instead of on a free port of nginx's choosing. */
  fixedPort?: number,
): Promise<Nginx> {
  const dir = tempDir("nginx");
  const port = fixedPort ?? (await freePort());
  let nginx: NginxProcess;
  try {
    nginx = await startNginxProcess(dir, renderNginx(ingress, secrets, services, port, dir));
  } catch (e) {
    const taken = e instanceof NginxDidNotStart && e.output.includes("Address already in use");
    if (taken && attempts > 1 && fixedPort === undefined) {
      return startNginx(ingress, secrets, services, attempts - 1);
    }
    throw e;
  }
  return {
    ...nginx,
    port,
    reload: (nextIngress, nextSecrets) =>
      nginx.reload(renderNginx(nextIngress, nextSecrets, services, port, dir)),
  };
}

/** A leaf's Ingress and Secrets, as the program declared them on the mock runtime. */
export function leafIngressObjects(run: LeafRun): {
  ingress: IngressObject;
  secrets: SecretsByName;
} {
  const ingress = unwrapSecrets(
    run.mocks.one("kubernetes:networking.k8s.io/v1:Ingress").inputs,
  ) as IngressObject;
  const secrets: Record<string, Record<string, string>> = {};
  for (const r of run.mocks.ofType("kubernetes:core/v1:Secret")) {
    const s = unwrapSecrets(r.inputs) as {
      metadata: { name: string; namespace: string };
      stringData: Record<string, string>;
    };
    secrets[`${s.metadata.namespace}/${s.metadata.name}`] = s.stringData;
  }
  return { ingress, secrets };
}

/**
 * nginx serving a leaf's Ingress, its sidecar Service pointed at `backend` (host:port), on
 * `port` if given (the leaf's load balancer port), else on a free one.
 */
export function startLeafNginx(run: LeafRun, backend: string, port?: number): Promise<Nginx> {
  const { ingress, secrets } = leafIngressObjects(run);
  const services: Record<string, string> = {};
  for (const rule of ingress.spec.rules) {
    for (const path of rule.http.paths) {
      services[`${path.backend.service.name}:${path.backend.service.port.number}`] = backend;
    }
  }
  return startNginx(ingress, secrets, services, 3, port);
}

/**
 * Calls `call`, then checks nginx refused it for its client certificate: with
 * `ssl_verify_client on` nginx finishes the handshake, logs why (matching `logged`), and
 * answers 400 (gRPC's INTERNAL); the backend (its `calls`) sees nothing.
 */
export async function assertRefusedByNginx(
  nginx: Nginx,
  backend: { readonly calls: readonly string[] },
  call: () => Promise<CallResult>,
  logged: RegExp,
): Promise<void> {
  const logBefore = nginx.errorLog().length;
  const callsBefore = backend.calls.length;
  const result = await call();
  assert.ok(
    !result.ok &&
      result.code === grpc.status.INTERNAL &&
      result.details.includes("HTTP status code 400"),
    JSON.stringify(result),
  );
  assert.match(nginx.errorLog().slice(logBefore), logged);
  assert.equal(backend.calls.length, callsBefore, "the backend saw the call");
}
