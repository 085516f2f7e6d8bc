import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { LEAF_OBJECT_NAMES, LeafIngressInput, leafIngress, leafLabels } from "./ingress";

export interface LeafExposureArgs {
  /** What the Ingress routes and how (see `leafIngress`). */
  readonly ingress: LeafIngressInput;
  /**
   * Create the namespace. When false it must exist already: it is the namespace of the Thanos
   * sidecar Service, since an Ingress can only route to Services in its own namespace.
   * @default false
   */
  readonly createNamespace?: boolean;
  /** PEM of the ingress's server certificate. */
  readonly serverCertPem: pulumi.Input<string>;
  /** PEM of the server certificate's private key (kept secret). */
  readonly serverKeyPem: pulumi.Input<string>;
  /** PEM of the CA whose client certificates the ingress accepts. */
  readonly clientCaPem: pulumi.Input<string>;
  /** The Kubernetes provider of the leaf's cluster. */
  readonly provider: k8s.Provider;
}

/**
 * Exposes a leaf's Thanos sidecar through ingress-nginx: a kubernetes.io/tls Secret for the
 * hostname, a Secret with the client CA (`ca.crt`), and the Ingress itself.
 */
export class LeafExposure extends pulumi.ComponentResource {
  readonly ingress: k8s.networking.v1.Ingress;
  readonly serverTlsSecret: k8s.core.v1.Secret;
  readonly clientCaSecret: k8s.core.v1.Secret;

  constructor(name: string, args: LeafExposureArgs, opts?: pulumi.ComponentResourceOptions) {
    super("thanos-bridge:leaf:Exposure", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };
    const body = leafIngress(args.ingress);
    const labels = leafLabels(args.ingress.clusterName);

    const namespace = args.createNamespace
      ? new k8s.core.v1.Namespace(
          `${name}-namespace`,
          { metadata: { name: args.ingress.namespace, labels } },
          childOpts,
        ).metadata.name
      : pulumi.output(args.ingress.namespace);

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
    this.clientCaSecret = new k8s.core.v1.Secret(
      `${name}-client-ca`,
      {
        metadata: { name: LEAF_OBJECT_NAMES.clientCaSecret, namespace, labels },
        type: "Opaque",
        stringData: { "ca.crt": args.clientCaPem },
      },
      childOpts,
    );
    // The Ingress waits for both Secrets, so the controller never serves its fake certificate
    // or an Ingress whose client CA is missing.
    this.ingress = new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      { metadata: { ...body.metadata, namespace }, spec: body.spec },
      { ...childOpts, dependsOn: [this.serverTlsSecret, this.clientCaSecret] },
    );

    this.registerOutputs({
      ingress: this.ingress,
      serverTlsSecret: this.serverTlsSecret,
      clientCaSecret: this.clientCaSecret,
    });
  }
}
