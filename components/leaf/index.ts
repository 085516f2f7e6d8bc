// The leaf's Kubernetes objects: the LeafExposure component, which serves the leaf's server
// certificate and client CA bundle and routes the allowed gRPC services to the sidecar, through
// the exposure the config chooses (exposures/, one generator each; docs/EXPOSURES.md).

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { awaitAnnotations } from "../common/await";
import {
  GATEWAY_OBJECT_NAMES,
  LeafGatewayInput,
  leafGatewayObjects,
} from "./exposures/gateway-api";
import { LEAF_OBJECT_NAMES, leafLabels } from "./exposures/base";
import { LeafIngressInput, leafIngress } from "./exposures/ingress-nginx";
import { LeafTraefikInput, leafTraefikObjects } from "./exposures/traefik";

/** What publishes the sidecar, with the input of its generator. */
export type LeafExposureSpec =
  | { readonly kind: "ingress-nginx"; readonly ingress: LeafIngressInput }
  | { readonly kind: "gateway-api"; readonly gateway: LeafGatewayInput }
  | { readonly kind: "traefik"; readonly traefik: LeafTraefikInput };

interface LeafExposureArgs {
  /** The leaf's name, for labels. */
  readonly clusterName: string;
  /**
   * The sidecar Service's namespace, where the certificate objects and the routing objects go
   * (an Ingress, a GRPCRoute or an IngressRoute routes only to Services in its own namespace).
   */
  readonly namespace: string;
  readonly exposure: LeafExposureSpec;
  /**
   * Create the namespace. When false it must exist already. A Gateway in another namespace
   * (`gatewayNamespace`) needs that namespace to exist either way.
   * @default false
   */
  readonly createNamespace?: boolean;
  /** PEM of the server certificate for the hostname. */
  readonly serverCertPem: pulumi.Input<string>;
  /** PEM of the server certificate's private key (kept secret). */
  readonly serverKeyPem: pulumi.Input<string>;
  /** PEM bundle of the CAs whose client certificates are accepted (both during a CA change). */
  readonly clientCaPem: pulumi.Input<string>;
  /** The Kubernetes provider of the leaf's cluster. */
  readonly provider: k8s.Provider;
  /** Do not wait for the Ingress to get an address (ingress-nginx only: nothing else waits). */
  readonly skipAwait?: boolean;
}

/**
 * Exposes a leaf's Thanos sidecar: a kubernetes.io/tls Secret for the hostname, the client CA
 * bundle (`ca.crt`, in a Secret, or a ConfigMap for Gateway API), and the routing objects of the
 * chosen exposure. Whatever the exposure, only the allowed gRPC services are routed and only
 * clients with a certificate from the bundle are admitted; the stack's outputs do not depend on
 * it.
 */
export class LeafExposure extends pulumi.ComponentResource {
  readonly serverTlsSecret: k8s.core.v1.Secret;
  /** The client CA bundle: a Secret (ingress-nginx, Traefik) or a ConfigMap (Gateway API). */
  readonly clientCa: k8s.core.v1.Secret | k8s.core.v1.ConfigMap;
  /** The objects that route, by kind (`Ingress`, `Gateway`, `GRPCRoute`, ...). */
  readonly routing: Readonly<Record<string, pulumi.CustomResource>>;

  constructor(name: string, args: LeafExposureArgs, opts?: pulumi.ComponentResourceOptions) {
    super("thanos-bridge:leaf:Exposure", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };
    const labels = leafLabels(args.clusterName);

    const namespace = args.createNamespace
      ? new k8s.core.v1.Namespace(
          `${name}-namespace`,
          { metadata: { name: args.namespace, labels } },
          childOpts,
        ).metadata.name
      : pulumi.output(args.namespace);

    this.serverTlsSecret = new k8s.core.v1.Secret(
      `${name}-server-tls`,
      {
        metadata: { name: LEAF_OBJECT_NAMES.serverTlsSecret, namespace, labels },
        type: "kubernetes.io/tls",
        stringData: {
          "tls.crt": args.serverCertPem,
          "tls.key": pulumi.secret(args.serverKeyPem),
        },
      },
      childOpts,
    );
    this.clientCa =
      args.exposure.kind === "gateway-api"
        ? new k8s.core.v1.ConfigMap(
            `${name}-client-ca-bundle`,
            {
              metadata: { name: GATEWAY_OBJECT_NAMES.clientCaConfigMap, namespace, labels },
              data: { "ca.crt": args.clientCaPem },
            },
            childOpts,
          )
        : new k8s.core.v1.Secret(
            `${name}-client-ca`,
            {
              metadata: { name: LEAF_OBJECT_NAMES.clientCaSecret, namespace, labels },
              type: "Opaque",
              stringData: { "ca.crt": args.clientCaPem },
            },
            childOpts,
          );
    // Routing waits for the certificate objects, so no controller ever serves the hostname with
    // its own default certificate or without the client CA.
    const certificates = [this.serverTlsSecret, this.clientCa];

    switch (args.exposure.kind) {
      case "ingress-nginx": {
        const body = leafIngress(args.exposure.ingress);
        const ingress = new k8s.networking.v1.Ingress(
          `${name}-ingress`,
          {
            metadata: {
              ...body.metadata,
              annotations: {
                ...body.metadata.annotations,
                ...awaitAnnotations(args.skipAwait).annotations,
              },
              namespace,
            },
            spec: body.spec,
          },
          { ...childOpts, dependsOn: certificates },
        );
        this.routing = { Ingress: ingress };
        break;
      }
      case "gateway-api": {
        const objects = leafGatewayObjects(args.exposure.gateway);
        const grant =
          objects.referenceGrant !== undefined
            ? new k8s.apiextensions.CustomResource(
                `${name}-reference-grant`,
                {
                  ...objects.referenceGrant,
                  metadata: { ...objects.referenceGrant.metadata, namespace },
                },
                { ...childOpts, dependsOn: certificates },
              )
            : undefined;
        // The Gateway names the Secret and the ConfigMap; in another namespace, through the grant.
        const ownNamespace = objects.gateway.metadata.namespace === args.namespace;
        const gateway = new k8s.apiextensions.CustomResource(
          `${name}-gateway`,
          {
            ...objects.gateway,
            metadata: {
              ...objects.gateway.metadata,
              namespace: ownNamespace ? namespace : objects.gateway.metadata.namespace,
            },
          },
          { ...childOpts, dependsOn: [...certificates, ...(grant !== undefined ? [grant] : [])] },
        );
        const route = new k8s.apiextensions.CustomResource(
          `${name}-grpc-route`,
          { ...objects.route, metadata: { ...objects.route.metadata, namespace } },
          { ...childOpts, dependsOn: [gateway] },
        );
        this.routing = {
          Gateway: gateway,
          GRPCRoute: route,
          ...(grant !== undefined ? { ReferenceGrant: grant } : {}),
        };
        break;
      }
      case "traefik": {
        const objects = leafTraefikObjects(args.exposure.traefik);
        // The TLSOption first: a router whose TLS options are missing is not served with client
        // verification, so the IngressRoute must never exist without it.
        const tlsOption = new k8s.apiextensions.CustomResource(
          `${name}-tls-option`,
          { ...objects.tlsOption, metadata: { ...objects.tlsOption.metadata, namespace } },
          { ...childOpts, dependsOn: certificates },
        );
        const ingressRoute = new k8s.apiextensions.CustomResource(
          `${name}-ingress-route`,
          { ...objects.ingressRoute, metadata: { ...objects.ingressRoute.metadata, namespace } },
          { ...childOpts, dependsOn: [...certificates, tlsOption] },
        );
        this.routing = { IngressRoute: ingressRoute, TLSOption: tlsOption };
        break;
      }
    }

    this.registerOutputs({
      serverTlsSecret: this.serverTlsSecret,
      clientCa: this.clientCa,
      ...this.routing,
    });
  }
}
