// Pure generator for a leaf's ingress-nginx exposure: the annotations and the
// networking.k8s.io/v1 Ingress body. The LeafExposure component declares what this returns.
//
// Annotation names and values follow the ingress-nginx annotation reference
// (docs/user-guide/nginx-configuration/annotations.md). All of them are rated Low or Medium in
// its annotations-risk table, so they pass the default `annotations-risk-level` (High since
// controller v1.12); no snippet annotation is used (disabled by default since v1.9).

import { LEAF_OBJECT_NAMES, LeafExposureInput, grpcServicePath, leafLabels } from "./base";

const INGRESS_NGINX = "nginx.ingress.kubernetes.io";

export interface LeafIngressInput extends LeafExposureInput {
  readonly ingressClass: string;
  readonly pathType: "Prefix" | "ImplementationSpecific";
  readonly streamTimeoutSeconds: number;
}

function sortedRecord(entries: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

export function leafIngressAnnotations(input: LeafIngressInput): Record<string, string> {
  const timeout = String(input.streamTimeoutSeconds);
  return sortedRecord({
    // The sidecar speaks plaintext gRPC (h2c); ingress-nginx then uses grpc_pass.
    [`${INGRESS_NGINX}/backend-protocol`]: "GRPC",
    // Require a client certificate issued by this leaf's CA; the CA Secret must live in the
    // Ingress's namespace (cross-namespace references are refused since controller v1.12).
    [`${INGRESS_NGINX}/auth-tls-verify-client`]: "on",
    [`${INGRESS_NGINX}/auth-tls-secret`]: `${input.namespace}/${LEAF_OBJECT_NAMES.clientCaSecret}`,
    // The observer's certificate is signed directly by the leaf CA: no intermediates.
    [`${INGRESS_NGINX}/auth-tls-verify-depth`]: "1",
    [`${INGRESS_NGINX}/auth-tls-pass-certificate-to-upstream`]: "false",
    // Plain HTTP only ever answers with a redirect to HTTPS.
    [`${INGRESS_NGINX}/ssl-redirect`]: "true",
    // ingress-nginx copies these into grpc_read_timeout / grpc_send_timeout for GRPC backends;
    // its 60 s default cuts StoreAPI Series streams that pause between frames.
    [`${INGRESS_NGINX}/proxy-read-timeout`]: timeout,
    [`${INGRESS_NGINX}/proxy-send-timeout`]: timeout,
  });
}

interface IngressBody {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
  };
  readonly spec: {
    readonly ingressClassName: string;
    readonly tls: { readonly hosts: string[]; readonly secretName: string }[];
    readonly rules: {
      readonly host: string;
      readonly http: {
        readonly paths: {
          readonly path: string;
          readonly pathType: string;
          readonly backend: {
            readonly service: { readonly name: string; readonly port: { readonly number: number } };
          };
        }[];
      };
    }[];
  };
}

/**
 * The leaf's Ingress: TLS for the hostname, one path per allowed gRPC service to the sidecar's
 * gRPC port, and no default backend, so every other path gets the controller's 404.
 */
export function leafIngress(input: LeafIngressInput): IngressBody {
  const services = [...new Set(input.allowedServices)].sort();
  return {
    metadata: {
      name: LEAF_OBJECT_NAMES.ingress,
      namespace: input.namespace,
      labels: leafLabels(input.clusterName),
      annotations: leafIngressAnnotations(input),
    },
    spec: {
      ingressClassName: input.ingressClass,
      tls: [{ hosts: [input.hostname], secretName: LEAF_OBJECT_NAMES.serverTlsSecret }],
      rules: [
        {
          host: input.hostname,
          http: {
            paths: services.map((service) => ({
              path: grpcServicePath(service),
              pathType: input.pathType,
              backend: {
                service: { name: input.sidecarService, port: { number: input.sidecarPort } },
              },
            })),
          },
        },
      ],
    },
  };
}
