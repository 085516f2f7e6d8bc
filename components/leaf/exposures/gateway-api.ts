// Pure generator for a leaf's Gateway API exposure (gateway.networking.k8s.io/v1, v1.5 or later
// for frontend client-certificate validation): the leaf's own Gateway, one GRPCRoute, and a
// ReferenceGrant only when the Gateway sits in another namespace than the objects it names.
// The LeafExposure component declares what this returns.
//
// Field names and rules are those of the Gateway API v1.6 standard CRDs (the bench applies these
// objects to a real API server with those CRDs installed; see test/real/exposure.test.ts).
//
// Why the leaf owns its Gateway: client-certificate validation belongs to a Gateway and a port
// (`spec.tls.frontend`), not to a route. A Gateway shared with other applications would either
// trust this leaf's CA for every HTTPS listener on the port, or need a port per leaf configured
// by whoever owns it; neither keeps "only this leaf's CA" (invariant 2 of docs/ARCHITECTURE.md)
// in the leaf stack's hands.

import { LEAF_OBJECT_NAMES, LeafExposureInput, LeafObject, leafLabels } from "./base";

const GATEWAY_GROUP = "gateway.networking.k8s.io";
const GATEWAY_API_VERSION = `${GATEWAY_GROUP}/v1`;

/** The Gateway's one listener: HTTPS for the hostname, GRPCRoutes only. */
export const GATEWAY_LISTENER = "thanos-grpc";

/** Fixed object names, as for the Ingress: one leaf per namespace. */
export const GATEWAY_OBJECT_NAMES = {
  gateway: LEAF_OBJECT_NAMES.ingress,
  route: LEAF_OBJECT_NAMES.ingress,
  referenceGrant: `${LEAF_OBJECT_NAMES.ingress}-gateway`,
  /** A ConfigMap, as the spec's core support names for caCertificateRefs; key `ca.crt`. */
  clientCaConfigMap: LEAF_OBJECT_NAMES.clientCaSecret,
  serverTlsSecret: LEAF_OBJECT_NAMES.serverTlsSecret,
} as const;

export interface LeafGatewayInput extends LeafExposureInput {
  /** Where the Gateway goes; the leaf's namespace when equal or empty. */
  readonly gatewayNamespace: string;
  readonly gatewayClassName: string;
  /** The listener's port: where the Gateway serves HTTPS (the contract's endpoint port). */
  readonly port: number;
}

interface LeafGatewayObjects {
  readonly gateway: LeafObject;
  readonly route: LeafObject;
  /** Present only when the Gateway's namespace is not the leaf's. */
  readonly referenceGrant?: LeafObject;
}

/** The namespace of the Gateway: the leaf's own unless another is set. */
function gatewayNamespaceOf(input: LeafGatewayInput): string {
  return input.gatewayNamespace === "" ? input.namespace : input.gatewayNamespace;
}

/**
 * The leaf's Gateway: one HTTPS listener for the hostname on `port`, terminating TLS with the
 * server certificate Secret, admitting GRPCRoutes from the leaf's namespace only, and frontend
 * validation of client certificates against the CA bundle ConfigMap (AllowValidOnly: a client
 * without a valid certificate is refused).
 */
export function leafGateway(input: LeafGatewayInput): LeafObject {
  const namespace = gatewayNamespaceOf(input);
  const crossNamespace = namespace !== input.namespace;
  // Same-namespace references leave `namespace` out; the others name it (and need the grant).
  const inLeaf = crossNamespace ? { namespace: input.namespace } : {};
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: "Gateway",
    metadata: {
      name: GATEWAY_OBJECT_NAMES.gateway,
      namespace,
      labels: leafLabels(input.clusterName),
    },
    spec: {
      gatewayClassName: input.gatewayClassName,
      listeners: [
        {
          name: GATEWAY_LISTENER,
          hostname: input.hostname,
          port: input.port,
          protocol: "HTTPS",
          tls: {
            mode: "Terminate",
            certificateRefs: [
              { group: "", kind: "Secret", name: GATEWAY_OBJECT_NAMES.serverTlsSecret, ...inLeaf },
            ],
          },
          allowedRoutes: {
            kinds: [{ group: GATEWAY_GROUP, kind: "GRPCRoute" }],
            namespaces: crossNamespace
              ? {
                  from: "Selector",
                  selector: { matchLabels: { "kubernetes.io/metadata.name": input.namespace } },
                }
              : { from: "Same" },
          },
        },
      ],
      tls: {
        frontend: {
          // The Gateway has one port, so the default applies to it; no per-port override.
          default: {
            validation: {
              // Core support is one ConfigMap with `ca.crt`; during a CA change that key holds
              // both CAs, which the spec leaves to the implementation (docs/EXPOSURES.md,
              // Gateway API: the leaf owns its Gateway).
              caCertificateRefs: [
                {
                  group: "",
                  kind: "ConfigMap",
                  name: GATEWAY_OBJECT_NAMES.clientCaConfigMap,
                  ...inLeaf,
                },
              ],
              mode: "AllowValidOnly",
            },
          },
        },
      },
    },
  };
}

/**
 * The GRPCRoute: the hostname, one rule per allowed service (an Exact match on the service, any
 * method), each to the sidecar's gRPC port. No rule matches anything else, so other services get
 * the implementation's "not found".
 */
export function leafGrpcRoute(input: LeafGatewayInput): LeafObject {
  const services = [...new Set(input.allowedServices)].sort();
  const namespace = gatewayNamespaceOf(input);
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: "GRPCRoute",
    metadata: {
      name: GATEWAY_OBJECT_NAMES.route,
      namespace: input.namespace,
      labels: leafLabels(input.clusterName),
    },
    spec: {
      parentRefs: [
        {
          group: GATEWAY_GROUP,
          kind: "Gateway",
          name: GATEWAY_OBJECT_NAMES.gateway,
          ...(namespace !== input.namespace ? { namespace } : {}),
          sectionName: GATEWAY_LISTENER,
        },
      ],
      hostnames: [input.hostname],
      rules: services.map((service) => ({
        matches: [{ method: { type: "Exact", service } }],
        backendRefs: [
          { group: "", kind: "Service", name: input.sidecarService, port: input.sidecarPort },
        ],
      })),
    },
  };
}

/**
 * A ReferenceGrant in the leaf's namespace letting the Gateway (in its own namespace) use the
 * server certificate Secret and the CA ConfigMap, by name and nothing else. None is needed when
 * the Gateway is in the leaf's namespace: the route and its backend are always there.
 */
export function leafReferenceGrant(input: LeafGatewayInput): LeafObject | undefined {
  const namespace = gatewayNamespaceOf(input);
  if (namespace === input.namespace) return undefined;
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: "ReferenceGrant",
    metadata: {
      name: GATEWAY_OBJECT_NAMES.referenceGrant,
      namespace: input.namespace,
      labels: leafLabels(input.clusterName),
    },
    spec: {
      from: [{ group: GATEWAY_GROUP, kind: "Gateway", namespace }],
      to: [
        { group: "", kind: "ConfigMap", name: GATEWAY_OBJECT_NAMES.clientCaConfigMap },
        { group: "", kind: "Secret", name: GATEWAY_OBJECT_NAMES.serverTlsSecret },
      ],
    },
  };
}

export function leafGatewayObjects(input: LeafGatewayInput): LeafGatewayObjects {
  const referenceGrant = leafReferenceGrant(input);
  return {
    gateway: leafGateway(input),
    route: leafGrpcRoute(input),
    ...(referenceGrant !== undefined ? { referenceGrant } : {}),
  };
}
