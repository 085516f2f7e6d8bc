import * as pulumi from "@pulumi/pulumi";
import { CaSchedule, caSchedule } from "../components/leaf/pki/certspecs";
import { LeafBridgeOutput, joinPemBundle, leafBridgeOutput } from "../components/common/contract";
import { LeafExposure, LeafExposureSpec } from "../components/leaf";
import { LeafPki } from "../components/leaf/pki";
import { LeafConfig } from "./config";
import { kubernetesProvider } from "./kubernetes";

/** The stack outputs of a leaf: the contract of components/common/contract.ts. */
export interface LeafStackOutputs {
  /** Public part of the contract; holds no secret. */
  readonly bridge: pulumi.Output<LeafBridgeOutput>;
  /** The observer's client key, a secret output. */
  readonly bridgeClientKey: pulumi.Output<string>;
  /** Where the CA change stands: phase, trusted and signing generations, next change. */
  readonly caSchedule: CaSchedule;
}

interface LeafStack {
  readonly pki: LeafPki;
  readonly exposure: LeafExposure;
  readonly outputs: LeafStackOutputs;
}

/**
 * The exposure's generator input from the config. Every exposure serves the same hostname with
 * the same Secrets and CA bundle, so the stack's outputs (the contract) do not depend on it.
 */
function exposureSpec(config: LeafConfig): LeafExposureSpec {
  const common = {
    clusterName: config.clusterName,
    namespace: config.namespace,
    hostname: config.hostname,
    sidecarService: config.sidecarService,
    sidecarPort: config.sidecarPort,
    allowedServices: config.allowedServices,
  };
  switch (config.exposure.kind) {
    case "ingress-nginx":
      return {
        kind: "ingress-nginx",
        ingress: {
          ...common,
          ingressClass: config.ingressClass,
          pathType: config.ingressPathType,
          streamTimeoutSeconds: config.streamTimeoutSeconds,
        },
      };
    case "gateway-api":
      return {
        kind: "gateway-api",
        gateway: {
          ...common,
          gatewayClassName: config.exposure.gatewayClassName,
          gatewayNamespace: config.exposure.gatewayNamespace,
          // The Gateway's listener is where the observer connects: the contract's port.
          port: config.publicPort,
        },
      };
    case "traefik":
      return { kind: "traefik", traefik: { ...common, entryPoint: config.exposure.entryPoint } };
  }
}

/**
 * Declares a leaf: its PKI, its exposure, and the outputs the observer reads. `now`
 * places the leaf in its CA schedule; the program reads the clock once, at start.
 */
export function leafStack(config: LeafConfig, now: Date): LeafStack {
  const name = config.clusterName;
  const provider = kubernetesProvider(name, config.kubernetes);
  const schedule = caSchedule(config.pki.ca, now);
  const pki = new LeafPki(name, {
    clusterName: name,
    hostname: config.hostname,
    settings: config.pki,
    schedule,
  });
  // Newest first (see LeafBridgeOutput.caCerts), for the ingress and the observer alike.
  const caBundle = pulumi.all([...pki.cas].reverse().map((ca) => ca.certPem));
  const newestCa = pki.cas[pki.cas.length - 1];
  const exposure = new LeafExposure(name, {
    clusterName: name,
    namespace: config.namespace,
    exposure: exposureSpec(config),
    createNamespace: config.createNamespace,
    serverCertPem: pki.server.certPem,
    serverKeyPem: pki.server.keyPem,
    clientCaPem: caBundle.apply(joinPemBundle),
    provider,
    skipAwait: config.kubernetes.kind === "cluster" && config.kubernetes.skipAwait,
  });

  const bridge = pulumi
    .all([caBundle, pki.client.certPem, newestCa.expiry, pki.server.expiry, pki.client.expiry])
    .apply(([caCerts, clientCert, ca, server, client]) =>
      leafBridgeOutput({
        cluster: name,
        host: config.hostname,
        port: config.publicPort,
        caCerts: joinPemBundle(caCerts),
        clientCert,
        // The newest CA: it is due once its successor should exist.
        expiry: { ca, server, client },
        streamTimeoutSeconds: config.streamTimeoutSeconds,
      }),
    );
  return {
    pki,
    exposure,
    outputs: { bridge, bridgeClientKey: pulumi.secret(pki.client.keyPem), caSchedule: schedule },
  };
}
