// A gRPC client without protos, for calls to any method with the same bytes on the wire: an
// empty request (an empty InfoRequest), the status code back. For plaintext peers (a Sidecar,
// the Envoy stand-in) and for paths nginx answers itself.
import * as grpc from "@grpc/grpc-js";
import { UpstreamTls } from "./grpc";

export interface RawConnection {
  /** One call to `method` on this connection; resolves to its gRPC status code. */
  call(method: string): Promise<grpc.status>;
  close(): void;
}

/**
 * A gRPC connection of its own (no shared subchannel), sending `authority` as :authority.
 * Plaintext, or mutual TLS with a leaf's settings (SNI and name check on `tls.serverName`).
 */
export function rawConnection(
  address: string,
  authority: string,
  tls?: UpstreamTls,
): RawConnection {
  const credentials =
    tls === undefined
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(
          Buffer.from(tls.ca),
          Buffer.from(tls.key ?? ""),
          Buffer.from(tls.cert ?? ""),
        );
  const client = new grpc.Client(address, credentials, {
    "grpc.default_authority": authority,
    "grpc.use_local_subchannel_pool": 1,
    ...(tls === undefined ? {} : { "grpc.ssl_target_name_override": tls.serverName }),
  });
  const bytes = (b: Buffer) => b;
  return {
    call: (method) =>
      new Promise((resolve) => {
        client.makeUnaryRequest(
          method,
          bytes,
          bytes,
          Buffer.alloc(0),
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (error) => resolve(error === null ? grpc.status.OK : error.code),
        );
      }),
    close: () => client.close(),
  };
}
