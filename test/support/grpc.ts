// A gRPC backend standing in for the Thanos sidecar (plaintext h2c on 127.0.0.1), and a client
// that dials through TLS with exactly the settings Envoy would use for one leaf.

import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";
import { PeerCertificate, connect as tlsConnect } from "node:tls";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";

const FIXTURES = join(__dirname, "..", "fixtures");

type Unary = (
  request: object,
  options: { deadline: Date },
  callback: (error: grpc.ServiceError | null, response?: Record<string, unknown>) => void,
) => grpc.ClientUnaryCall;

interface ServiceClient extends grpc.Client {
  [method: string]: unknown;
}

type ServiceClientConstructor = grpc.ServiceClientConstructor;

function loadServices(): {
  Info: ServiceClientConstructor;
  Store: ServiceClientConstructor;
  Rules: ServiceClientConstructor;
} {
  const definition = loader.loadSync(
    [join(FIXTURES, "info.proto"), join(FIXTURES, "store.proto")],
    {
      keepCase: true,
      longs: String,
      defaults: true,
    },
  );
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    thanos: {
      Store: ServiceClientConstructor;
      Rules: ServiceClientConstructor;
      info: { Info: ServiceClientConstructor };
    };
  };
  return { Info: root.thanos.info.Info, Store: root.thanos.Store, Rules: root.thanos.Rules };
}

const SERVICES = loadServices();

export interface Backend {
  readonly address: string;
  /** gRPC paths the backend answered, in order. */
  readonly calls: string[];
  close(): Promise<void>;
}

/** Starts the stand-in sidecar on 127.0.0.1 (an ephemeral port). */
export async function startBackend(): Promise<Backend> {
  const server = new grpc.Server();
  const calls: string[] = [];
  server.addService(SERVICES.Info.service, {
    Info: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
      calls.push("/thanos.info.Info/Info");
      callback(null, { component_type: "sidecar" });
    },
  });
  server.addService(SERVICES.Store.service, {
    // Three series at once; or, asked for more (max_time), one every min_time milliseconds: a
    // long stream that outlives a reload.
    Series: (call: grpc.ServerWritableStream<{ min_time: string; max_time: string }, object>) => {
      calls.push("/thanos.Store/Series");
      const count = Number(call.request.max_time);
      if (count <= 1) {
        for (const series of ['up{job="a"}', 'up{job="b"}', 'up{job="c"}']) call.write({ series });
        call.end();
        return;
      }
      let sent = 0;
      const timer = setInterval(() => {
        call.write({ series: `up{n="${sent}"}` });
        if (++sent === count) {
          clearInterval(timer);
          call.end();
        }
      }, Number(call.request.min_time));
      call.on("cancelled", () => clearInterval(timer));
    },
  });
  server.addService(SERVICES.Rules.service, {
    Rules: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
      calls.push("/thanos.Rules/Rules");
      callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}

/** What Envoy presents and expects for one leaf (from its cluster's UpstreamTlsContext). */
export interface UpstreamTls {
  /** SNI, and the DNS SAN the server certificate must carry. */
  readonly serverName: string;
  /** The :authority sent upstream (the route's host_rewrite_literal); default serverName. */
  readonly authority?: string;
  /** The CAs trusted for the server certificate (a PEM bundle), and no other. */
  readonly ca: string;
  /** Client certificate and key; absent to connect without one. */
  readonly cert?: string;
  readonly key?: string;
}

export type CallResult =
  | { readonly ok: true; readonly messages: number }
  | { readonly ok: false; readonly code: grpc.status; readonly details: string };

/**
 * Envoy's `match_typed_subject_alt_names` with an exact DNS matcher: the certificate must carry
 * the server name as a DNS SAN; unlike Node's default check, no fallback to the common name.
 */
function exactDnsSan(serverName: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const names = (cert.subjectaltname ?? "").split(", ");
    return names.includes(`DNS:${serverName}`)
      ? undefined
      : new Error(
          `ERR_TLS_CERT_ALTNAME_INVALID: ${serverName} is not a DNS SAN of ${cert.subjectaltname ?? "(none)"}`,
        );
  };
}

function client(
  service: ServiceClientConstructor,
  address: string,
  tls: UpstreamTls,
  channel?: grpc.Channel,
): ServiceClient {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(tls.ca),
    tls.key === undefined ? null : Buffer.from(tls.key),
    tls.cert === undefined ? null : Buffer.from(tls.cert),
    { checkServerIdentity: exactDnsSan(tls.serverName) },
  );
  return new service(address, credentials, {
    // SNI from the cluster's sni, :authority from the route's rewrite, as Envoy sends them.
    "grpc.ssl_target_name_override": tls.serverName,
    "grpc.default_authority": tls.authority ?? tls.serverName,
    ...(channel === undefined ? {} : { channelOverride: channel }),
  });
}

const deadline = (ms: number) => new Date(Date.now() + ms);

function unaryOn(c: ServiceClient, method: string, timeoutMs: number): Promise<CallResult> {
  return new Promise<CallResult>((resolve) => {
    (c[method] as Unary).call(c, {}, { deadline: deadline(timeoutMs) }, (error) => {
      resolve(
        error ? { ok: false, code: error.code, details: error.details } : { ok: true, messages: 1 },
      );
    });
  });
}

function seriesOn(
  c: ServiceClient,
  timeoutMs: number,
  count: number,
  intervalMs: number,
): Promise<CallResult> {
  return new Promise<CallResult>((resolve) => {
    const stream = (
      c.Series as (r: object, o: { deadline: Date }) => grpc.ClientReadableStream<object>
    ).call(
      c,
      { min_time: String(intervalMs), max_time: String(count) },
      { deadline: deadline(timeoutMs) },
    );
    let messages = 0;
    stream.on("data", () => messages++);
    stream.on("error", (error: grpc.ServiceError) =>
      resolve({ ok: false, code: error.code, details: error.details }),
    );
    stream.on("end", () => resolve({ ok: true, messages }));
  });
}

/** One call on a new connection (a fresh TLS handshake), closed afterwards. */
function unary(
  service: ServiceClientConstructor,
  method: string,
  address: string,
  tls: UpstreamTls,
  timeoutMs: number,
): Promise<CallResult> {
  const c = client(service, address, tls);
  return unaryOn(c, method, timeoutMs).finally(() => c.close());
}

/** `/thanos.info.Info/Info`, the call Querier makes first. */
export function callInfo(address: string, tls: UpstreamTls, timeoutMs = 5000): Promise<CallResult> {
  return unary(SERVICES.Info, "Info", address, tls, timeoutMs);
}

/** `/thanos.Rules/Rules`: a Thanos service outside the default allowlist. */
export function callRules(
  address: string,
  tls: UpstreamTls,
  timeoutMs = 5000,
): Promise<CallResult> {
  return unary(SERVICES.Rules, "Rules", address, tls, timeoutMs);
}

/** `/thanos.Store/Series`, a server stream on a new connection; counts the messages received. */
export function callSeries(
  address: string,
  tls: UpstreamTls,
  timeoutMs = 5000,
): Promise<CallResult> {
  const c = client(SERVICES.Store, address, tls);
  return seriesOn(c, timeoutMs, 1, 0).finally(() => c.close());
}

/**
 * One long-lived HTTP/2 connection, as Envoy keeps to each leaf: calls and streams share it
 * until close().
 */
export interface Connection {
  info(timeoutMs?: number): Promise<CallResult>;
  /** A stream of `count` series, one every `intervalMs`. */
  series(count: number, intervalMs: number, timeoutMs?: number): Promise<CallResult>;
  close(): void;
}

export function openConnection(address: string, tls: UpstreamTls): Connection {
  const info = client(SERVICES.Info, address, tls);
  // The Store client rides on the Info client's channel: one connection for both.
  const store = client(SERVICES.Store, address, tls, info.getChannel() as grpc.Channel);
  return {
    info: (timeoutMs = 10_000) => unaryOn(info, "Info", timeoutMs),
    series: (count, intervalMs, timeoutMs = 30_000) =>
      seriesOn(store, timeoutMs, count, intervalMs),
    close: () => info.close(),
  };
}

/** The certificate a TLS server presents for a server name. */
export function servedCertificate(port: number, serverName: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: serverName,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      const raw = socket.getPeerX509Certificate();
      socket.destroy();
      if (raw === undefined) reject(new Error("no certificate"));
      else resolve(raw);
    });
    socket.once("error", reject);
  });
}
