import * as pulumi from "@pulumi/pulumi";
import { leafPkiSpec } from "../components/certspecs";
import { LeafBridgeOutput, leafBridgeOutput, renewAfter } from "../components/contract";
import { LeafExposure } from "../components/exposure";
import { LeafPki } from "../components/pki";
import { LeafConfig } from "./config";
import { kubernetesProvider } from "./kubernetes";

/** The stack outputs of a leaf: the contract of components/contract.ts. */
export interface LeafStackOutputs {
  /** Public part of the contract; holds no secret. */
  readonly bridge: pulumi.Output<LeafBridgeOutput>;
  /** The observer's client key, a secret output. */
  readonly bridgeClientKey: pulumi.Output<string>;
}

export interface LeafStack {
  readonly pki: LeafPki;
  readonly exposure: LeafExposure;
  readonly outputs: LeafStackOutputs;
}

/** Declares a leaf: its PKI, its ingress exposure, and the outputs the observer reads. */
export function leafStack(config: LeafConfig): LeafStack {
  const name = config.clusterName;
  const provider = kubernetesProvider(name, config.kubernetes);
  const pki = new LeafPki(name, {
    spec: leafPkiSpec({ clusterName: name, hostname: config.hostname, ...config.pki }),
  });
  const exposure = new LeafExposure(name, {
    ingress: {
      clusterName: name,
      namespace: config.namespace,
      hostname: config.hostname,
      ingressClass: config.ingressClass,
      pathType: config.ingressPathType,
      sidecarService: config.sidecarService,
      sidecarPort: config.sidecarPort,
      allowedServices: config.allowedServices,
      streamTimeoutSeconds: config.streamTimeoutSeconds,
    },
    createNamespace: config.createNamespace,
    serverCertPem: pki.server.certPem,
    serverKeyPem: pki.server.keyPem,
    clientCaPem: pki.ca.certPem,
    provider,
  });

  const bridge = pulumi
    .all([pki.ca.certPem, pki.client.certPem, pki.ca.expiry, pki.server.expiry, pki.client.expiry])
    .apply(([caCert, clientCert, ca, server, client]) =>
      leafBridgeOutput({
        cluster: name,
        host: config.hostname,
        port: config.publicPort,
        caCerts: [caCert],
        clientCert,
        expiry: {
          ca: { notAfter: ca, renewAfter: renewAfter(ca, config.pki.certValidityHours) },
          server: { notAfter: server, renewAfter: renewAfter(server, config.pki.renewBeforeHours) },
          client: { notAfter: client, renewAfter: renewAfter(client, config.pki.renewBeforeHours) },
        },
      }),
    );
  return {
    pki,
    exposure,
    outputs: { bridge, bridgeClientKey: pulumi.secret(pki.client.keyPem) },
  };
}
