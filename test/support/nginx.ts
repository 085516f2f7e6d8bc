// Debian's nginx as a leaf's ingress-nginx, configured from the program's own Ingress and
// Secrets the way ingress-nginx renders those annotations: TLS from the Ingress's secret,
// HTTP/2, client verification from auth-tls-*, grpc_pass to the backend for the Ingress's paths
// only, over upstream connections kept alive as the controller's defaults keep them, and the
// controller's catch-all server (its own certificate, 404) for any other host.
// Listens on 127.0.0.1; tests start and stop it, and it is killed (its directory, which holds
// the keys, removed) if the test process exits or is interrupted.

import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { selfSignedCa } from "./fake-tls";
import { LeafRun } from "./leaf";
import { unwrapSecrets } from "./mocks";
import { freePort, removeDir, signalTracked, tempDir, track } from "./processes";

export const NGINX_BINARY = process.env.NGINX_BINARY ?? "/usr/sbin/nginx";
export const nginxAvailable = (): boolean => existsSync(NGINX_BINARY);

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

  const temp = join(dir, "temp");
  mkdirSync(temp, { recursive: true });
  chmodSync(temp, 0o777);
  return [
    "worker_processes 1;",
    `pid ${join(dir, "nginx.pid")};`,
    `error_log ${join(dir, "error.log")} info;`,
    "events { worker_connections 256; }",
    "http {",
    // Which client certificate each request came with: the real bench reads it to see when
    // Querier moves to a renewed certificate. And on which client connection (nginx's serial
    // number of it, and its requests so far): the bench reads it to see connections reused.
    "  log_format bridge '$ssl_client_serial $status $request_uri $connection $connection_requests';",
    `  access_log ${join(dir, "access.log")} bridge;`,
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${temp};`),
    ...upstreams.values(),
    catchAll,
    ...servers,
    "}",
    "",
  ].join("\n");
}

export interface Nginx {
  readonly port: number;
  /** The master's pid; it leads a process group with its workers. */
  readonly pid: number;
  /** Rewrites the config and certificate files, then reloads gracefully (SIGHUP). */
  reload(ingress: IngressObject, secrets: SecretsByName): Promise<void>;
  /** The error log so far; client certificate failures are logged there at level info. */
  errorLog(): string;
  /**
   * The access log so far: one line per request,
   * `<client serial> <status> <path> <connection> <requests on that connection>`.
   */
  accessLog(): string;
  stop(): Promise<void>;
}

/** One line of the access log (`log_format bridge`). */
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
 * Starts nginx in the foreground for one Ingress. It is up once its pid file exists: nginx
 * writes it after binding its listener, so the port is nginx's and nobody else's.
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
  const conf = join(dir, "nginx.conf");
  const pidFile = join(dir, "nginx.pid");
  writeFileSync(conf, renderNginx(ingress, secrets, services, port, dir));
  const child = track(
    spawn(
      NGINX_BINARY,
      ["-p", dir, "-c", conf, "-e", join(dir, "error.log"), "-g", "daemon off;"],
      {
        stdio: ["ignore", "ignore", "pipe"],
        detached: true,
      },
    ),
    { group: true },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      resolve();
    });
    child.once("error", (e) => {
      stderr += String(e);
      exited = true;
      resolve();
    });
  });
  const until = Date.now() + 10_000;
  while (
    !exited &&
    !(existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() === String(child.pid))
  ) {
    if (Date.now() > until) {
      signalTracked(child, "SIGKILL");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (exited || Date.now() > until) {
    await exit;
    removeDir(dir);
    if (attempts > 1 && fixedPort === undefined && stderr.includes("Address already in use")) {
      return startNginx(ingress, secrets, services, attempts - 1);
    }
    throw new Error(`nginx did not start: ${stderr}`);
  }
  const log = join(dir, "error.log");
  return {
    port,
    pid: child.pid ?? 0,
    reload: async (nextIngress, nextSecrets) => {
      writeFileSync(conf, renderNginx(nextIngress, nextSecrets, services, port, dir));
      await reloadNginx(child, log);
    },
    errorLog: () => (existsSync(log) ? readFileSync(log, "utf8") : ""),
    accessLog: () => {
      const file = join(dir, "access.log");
      return existsSync(file) ? readFileSync(file, "utf8") : "";
    },
    stop: async () => {
      signalTracked(child, "SIGQUIT");
      const killer = setTimeout(() => signalTracked(child, "SIGKILL"), 5000);
      await exit;
      clearTimeout(killer);
      removeDir(dir);
    },
  };
}

/** How long a reloaded nginx may take to start its new workers. */
const NEW_WORKERS_MS = 30_000;
/**
 * How long its old workers may take to finish: the last streams they carry, then up to nginx's
 * `lingering_time` (30 s by default, which no config here sets) reading what a client still
 * sends on a connection they closed.
 */
const OLD_WORKERS_MS = 60_000;

/** The TCP sockets (`ss -tnp` lines) the processes `pids` hold, for a message. */
function socketsOf(pids: readonly string[]): string {
  const out = spawnSync("ss", ["-Htnp"], { encoding: "utf8" });
  if (out.status !== 0) return `(ss: ${out.error?.message ?? out.stderr.trim()})`;
  const lines = out.stdout.split("\n").filter((l) => pids.some((p) => l.includes(`pid=${p},`)));
  return lines.length === 0 ? "(none)" : lines.join("\n");
}

/**
 * Reloads the nginx master `master` gracefully (SIGHUP: new workers with the files as they now
 * are; the old ones finish what they carry) and resolves once its error log `log` (level info)
 * says a new worker started, or with `oldWorkersGone`, once every worker that ran before the
 * reload has exited too (until then a client connection they hold is served the old way). Old
 * workers that take more than 5 s are named, with the connections they hold; past the limits
 * the error says what was missing and quotes the log since the reload.
 */
export async function reloadNginx(
  master: ChildProcess,
  log: string,
  options: { readonly oldWorkersGone?: boolean } = {},
): Promise<void> {
  const text = () => readFileSync(log, "utf8");
  const before = text();
  const since = () => text().slice(before.length);
  const started = (t: string) => [...t.matchAll(/start worker process (\d+)/g)].map((m) => m[1]);
  const exited = (t: string) =>
    new Set([...t.matchAll(/worker process (\d+) exited/g)].map((m) => m[1]));
  const old = started(before).filter((pid) => !exited(before).has(pid));
  const left = () => {
    const gone = exited(since());
    return old.filter((pid) => !gone.has(pid));
  };
  const from = Date.now();
  const fail = (what: string) =>
    new Error(
      `nginx did not reload within ${Math.round((Date.now() - from) / 1000)} s: ${what}\n` +
        `its error log since the reload (${log}):\n${since().trimEnd().split("\n").slice(-40).join("\n")}`,
    );
  master.kill("SIGHUP");
  while (started(since()).length === 0) {
    if (Date.now() - from > NEW_WORKERS_MS) throw fail("no new worker started");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!options.oldWorkersGone) return;
  let slow: string | undefined;
  while (left().length > 0) {
    const waited = Date.now() - from;
    if (slow === undefined && waited > 5000) slow = socketsOf(left());
    if (waited > OLD_WORKERS_MS) {
      throw fail(`old workers ${left().join(", ")} still running, holding:\n${socketsOf(left())}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (slow !== undefined) {
    console.log(
      `      nginx's old workers took ${Math.round((Date.now() - from) / 1000)} s to finish; ` +
        `at 5 s they held:\n${slow.replace(/^/gm, "        ")}`,
    );
  }
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
