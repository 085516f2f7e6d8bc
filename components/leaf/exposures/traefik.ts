// Pure generator for a leaf's Traefik exposure (traefik.io/v1alpha1, Traefik v3): an
// IngressRoute with one rule per allowed gRPC service to the sidecar over h2c, and a TLSOption
// that requires and verifies a client certificate from the leaf's CA bundle. The LeafExposure
// component declares what this returns.
//
// Field names and enums are those of Traefik's own CRDs (the bench applies these objects to a
// real API server with those CRDs installed, and runs them through a real Traefik; see
// test/real/exposure.test.ts).

import {
  LEAF_OBJECT_NAMES,
  LeafExposureInput,
  LeafObject,
  grpcServicePath,
  leafLabels,
} from "./base";

const TRAEFIK_API_VERSION = "traefik.io/v1alpha1";

/** Fixed object names, as for the Ingress: one leaf per namespace. */
const TRAEFIK_OBJECT_NAMES = {
  ingressRoute: LEAF_OBJECT_NAMES.ingress,
  tlsOption: LEAF_OBJECT_NAMES.ingress,
  /** Traefik reads `ca.crt` (or `tls.ca`) from each Secret of `clientAuth.secretNames`. */
  clientCaSecret: LEAF_OBJECT_NAMES.clientCaSecret,
  serverTlsSecret: LEAF_OBJECT_NAMES.serverTlsSecret,
} as const;

export interface LeafTraefikInput extends LeafExposureInput {
  /** The entry point of Traefik's static configuration that serves HTTPS on the public port. */
  readonly entryPoint: string;
}

/** A rule value in Traefik's matcher syntax: backquoted, so no escaping is needed. */
function quoted(value: string): string {
  if (value.includes("`"))
    throw new Error(`a Traefik rule value cannot hold a backquote: ${value}`);
  return `\`${value}\``;
}

/** The rule of one allowed service: the hostname, and the HTTP/2 path prefix of its methods. */
export function traefikRouteMatch(hostname: string, service: string): string {
  return `Host(${quoted(hostname)}) && PathPrefix(${quoted(grpcServicePath(service))})`;
}

/**
 * The TLSOption: TLS 1.2 or later (as the observer's Envoy speaks), a client certificate
 * required and verified against the CA bundle Secret, and strict SNI (no default certificate
 * for a client that names no known host).
 */
export function leafTlsOption(input: LeafTraefikInput): LeafObject {
  return {
    apiVersion: TRAEFIK_API_VERSION,
    kind: "TLSOption",
    metadata: {
      name: TRAEFIK_OBJECT_NAMES.tlsOption,
      namespace: input.namespace,
      labels: leafLabels(input.clusterName),
    },
    spec: {
      minVersion: "VersionTLS12",
      sniStrict: true,
      clientAuth: {
        clientAuthType: "RequireAndVerifyClientCert",
        secretNames: [TRAEFIK_OBJECT_NAMES.clientCaSecret],
      },
    },
  };
}

/**
 * The IngressRoute: on the entry point, one rule per allowed service (sorted), each to the
 * sidecar's gRPC port over h2c; TLS from the server certificate Secret with the TLSOption above.
 * Nothing else is routed, so any other path gets Traefik's 404.
 */
export function leafIngressRoute(input: LeafTraefikInput): LeafObject {
  const services = [...new Set(input.allowedServices)].sort();
  return {
    apiVersion: TRAEFIK_API_VERSION,
    kind: "IngressRoute",
    metadata: {
      name: TRAEFIK_OBJECT_NAMES.ingressRoute,
      namespace: input.namespace,
      labels: leafLabels(input.clusterName),
    },
    spec: {
      entryPoints: [input.entryPoint],
      routes: services.map((service) => ({
        kind: "Rule",
        match: traefikRouteMatch(input.hostname, service),
        services: [
          {
            kind: "Service",
            name: input.sidecarService,
            port: input.sidecarPort,
            scheme: "h2c",
          },
        ],
      })),
      tls: {
        secretName: TRAEFIK_OBJECT_NAMES.serverTlsSecret,
        options: { name: TRAEFIK_OBJECT_NAMES.tlsOption, namespace: input.namespace },
      },
    },
  };
}

interface LeafTraefikObjects {
  readonly ingressRoute: LeafObject;
  readonly tlsOption: LeafObject;
}

export function leafTraefikObjects(input: LeafTraefikInput): LeafTraefikObjects {
  return { ingressRoute: leafIngressRoute(input), tlsOption: leafTlsOption(input) };
}
