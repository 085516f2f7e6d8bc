// Debian's nginx as a leaf's ingress-nginx, configured from the program's own Ingress and
// Secrets the way ingress-nginx renders those annotations: TLS from the Ingress's secret,
// HTTP/2, client verification from auth-tls-*, grpc_pass to the backend for the Ingress's
// paths only. Listens on 127.0.0.1; tests start and stop it.

import { ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LeafRun } from "./leaf";
import { unwrapSecrets } from "./mocks";

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
  const known = new Set([
    "backend-protocol",
    "auth-tls-verify-client",
    "auth-tls-secret",
    "auth-tls-verify-depth",
    "auth-tls-pass-certificate-to-upstream",
    "ssl-redirect",
    "proxy-read-timeout",
    "proxy-send-timeout",
  ]);
  for (const key of Object.keys(annotations)) {
    if (key.startsWith(PREFIX) && !known.has(key.slice(PREFIX.length))) {
      throw new Error(
        `renderNginx: annotation ${key} is not translated; add it before relying on it`,
      );
    }
  }
  const annotation = (name: string): string | undefined => annotations[PREFIX + name];
  if (annotation("backend-protocol") !== "GRPC") {
    throw new Error(
      `renderNginx: only backend-protocol GRPC is translated, got ${annotation("backend-protocol")}`,
    );
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

  const lines: string[] = [];
  const verify = annotation("auth-tls-verify-client");
  if (verify !== undefined) {
    const caRef = annotation("auth-tls-secret");
    if (caRef === undefined)
      throw new Error("renderNginx: auth-tls-verify-client without auth-tls-secret");
    // ingress-nginx refuses a CA Secret from another namespace by default (v1.12+).
    if (!caRef.startsWith(`${ns}/`))
      throw new Error(`renderNginx: auth-tls-secret ${caRef} is not in ${ns}`);
    writeFileSync(join(dir, "ca.crt"), secret(caRef)["ca.crt"]);
    lines.push(
      `ssl_client_certificate ${join(dir, "ca.crt")};`,
      `ssl_verify_client ${verify};`,
      `ssl_verify_depth ${annotation("auth-tls-verify-depth") ?? "1"};`,
    );
  }
  const timeouts = [
    ["proxy-read-timeout", "grpc_read_timeout"],
    ["proxy-send-timeout", "grpc_send_timeout"],
  ]
    .filter(([a]) => annotation(a) !== undefined)
    .map(([a, directive]) => `${directive} ${annotation(a)}s;`);

  const servers = ingress.spec.rules.map((rule) => {
    if (!(tls.hosts ?? []).includes(rule.host))
      throw new Error(`renderNginx: no TLS for ${rule.host}`);
    const locations = rule.http.paths.map((p) => {
      const upstream = services[`${p.backend.service.name}:${p.backend.service.port.number}`];
      if (upstream === undefined) {
        throw new Error(
          `renderNginx: no address for Service ${p.backend.service.name}:${p.backend.service.port.number}`,
        );
      }
      // Prefix and ImplementationSpecific become prefix locations, Exact an exact one.
      const match = p.pathType === "Exact" ? `= ${p.path}` : p.path;
      return `    location ${match} {\n      grpc_pass grpc://${upstream};\n${timeouts.map((t) => `      ${t}\n`).join("")}    }`;
    });
    return [
      `  server {`,
      `    listen 127.0.0.1:${port} ssl http2;`,
      `    server_name ${rule.host};`,
      `    ssl_certificate ${join(dir, "tls.crt")};`,
      `    ssl_certificate_key ${join(dir, "tls.key")};`,
      // ingress-nginx's default protocols.
      `    ssl_protocols TLSv1.2 TLSv1.3;`,
      ...lines.map((l) => `    ${l}`),
      ...locations,
      // No default backend: any other path is not routed.
      `    location / {\n      return 404;\n    }`,
      `  }`,
    ].join("\n");
  });

  const temp = join(dir, "temp");
  mkdirSync(temp, { recursive: true });
  chmodSync(temp, 0o777);
  return [
    "worker_processes 1;",
    `pid ${join(dir, "nginx.pid")};`,
    `error_log ${join(dir, "error.log")} info;`,
    "events { worker_connections 256; }",
    "http {",
    "  access_log off;",
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${temp};`),
    ...servers,
    "}",
    "",
  ].join("\n");
}

export interface Nginx {
  readonly dir: string;
  readonly port: number;
  /** Rewrites the certificate files from the given Secrets and reloads gracefully. */
  reload(ingress: IngressObject, secrets: SecretsByName): Promise<void>;
  errorLog(): string;
  stop(): Promise<void>;
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        if (Date.now() > until) reject(new Error(`nginx did not listen on 127.0.0.1:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** A free port on 127.0.0.1, from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === "object" && address !== null ? address.port : 0),
      );
    });
  });
}

/** Starts nginx in the foreground for one Ingress; stop() ends it and removes its files. */
export async function startNginx(
  ingress: IngressObject,
  secrets: SecretsByName,
  services: ServiceAddresses,
): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), "thanos-bridge-nginx-"));
  const port = await freePort();
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, renderNginx(ingress, secrets, services, port, dir));
  const child: ChildProcess = spawn(
    NGINX_BINARY,
    ["-p", dir, "-c", conf, "-e", join(dir, "error.log"), "-g", "daemon off;"],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await Promise.race([
      waitForPort(port, 5000),
      exited.then(() => {
        throw new Error(`nginx exited: ${stderr}`);
      }),
    ]);
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    port,
    reload: async (nextIngress, nextSecrets) => {
      writeFileSync(conf, renderNginx(nextIngress, nextSecrets, services, port, dir));
      child.kill("SIGHUP");
      // The master re-reads the config and starts new workers; old ones finish their requests.
      await new Promise((resolve) => setTimeout(resolve, 300));
    },
    errorLog: () =>
      existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : "",
    stop: async () => {
      child.kill("SIGQUIT");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
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

/** nginx serving a leaf's Ingress, its sidecar Service pointed at `backend` (host:port). */
export function startLeafNginx(run: LeafRun, backend: string): Promise<Nginx> {
  const { ingress, secrets } = leafIngressObjects(run);
  const services: Record<string, string> = {};
  for (const rule of ingress.spec.rules) {
    for (const path of rule.http.paths) {
      services[`${path.backend.service.name}:${path.backend.service.port.number}`] = backend;
    }
  }
  return startNginx(ingress, secrets, services);
}
