// Pure generator of the Secret data Envoy reads over SDS: each leaf's client certificate and key,
// and the CAs it trusts for that leaf, as files of Envoy's file-based SDS. The bootstrap
// (bootstrap.ts) names these files; the pod mounts them (pod.ts). No Pulumi imports.

import type { LeafCredentials } from "../../common/contract";
import { stableYaml } from "../../common/yaml";

/** Where the Envoy container sees every leaf's SDS files: one directory per leaf. */
export const SDS_CERT_DIR = "/etc/envoy/certs";

/** A message of Envoy's API packed as an `Any`: its type URL, then its fields. */
export const typed = (type: string, body: Record<string, unknown>): Record<string, unknown> => ({
  "@type": `type.googleapis.com/${type}`,
  ...body,
});

/** One SDS file Envoy reads for a leaf: the secret it holds, its Secret key and its path. */
export interface LeafSdsFile {
  /** Name of the SDS secret: in the bootstrap's `SdsSecretConfig` and in the file. */
  readonly secretName: string;
  /** Key of the leaf's Kubernetes Secret (`leafSecretName`) holding the file. */
  readonly key: string;
  /** Path relative to the certificate volume (`SDS_CERT_DIR`): `<cluster>/<key>`. */
  readonly volumePath: string;
  /** Absolute path in the Envoy container. */
  readonly path: string;
}

/** Both SDS files of one leaf: its client certificate and key, and the CAs it trusts. */
interface LeafCertFiles {
  readonly tlsCertificate: LeafSdsFile;
  readonly validationContext: LeafSdsFile;
}

/**
 * Where one leaf's credentials live, for the bootstrap and the pod's certificate volume alike:
 * one directory per leaf, `<cluster>/tls-certificate.yaml` and `<cluster>/validation-context.yaml`,
 * each an SDS file (`leafSdsFiles`) from a key of that leaf's Secret.
 */
export function leafCertFiles(cluster: string): LeafCertFiles {
  const file = (kind: string): LeafSdsFile => {
    const key = `${kind}.yaml`;
    const volumePath = `${cluster}/${key}`;
    return {
      secretName: `${cluster}-${kind}`,
      key,
      volumePath,
      path: `${SDS_CERT_DIR}/${volumePath}`,
    };
  };
  return { tlsCertificate: file("tls-certificate"), validationContext: file("validation-context") };
}

/**
 * The two SDS files of one leaf, by Secret key (`leafCertFiles`), as YAML. Envoy parses a
 * `path_config_source` file as an `envoy.service.discovery.v3.DiscoveryResponse` (Envoy's
 * source/extensions/config_subscription/filesystem/filesystem_subscription_impl.cc) and SDS
 * takes exactly one resource from it, an `envoy.extensions.transport_sockets.tls.v3.Secret` named
 * as in the bootstrap (source/common/secret/sds_api.cc: "Unexpected SDS secrets length",
 * "Unexpected SDS secret (expecting ...)"). The PEMs are inline, so the certificate and its key
 * are read together from one file, and a file changes exactly when the credentials do.
 */
export function leafSdsFiles(leaf: LeafCredentials): Record<string, string> {
  const files = leafCertFiles(leaf.cluster);
  const response = (file: LeafSdsFile, secret: Record<string, unknown>): string =>
    stableYaml({
      resources: [
        typed("envoy.extensions.transport_sockets.tls.v3.Secret", {
          name: file.secretName,
          ...secret,
        }),
      ],
    });
  return {
    [files.tlsCertificate.key]: response(files.tlsCertificate, {
      tls_certificate: {
        certificate_chain: { inline_string: leaf.clientCert },
        private_key: { inline_string: leaf.clientKey },
      },
    }),
    // The whole bundle: during a CA change both CAs are trusted.
    [files.validationContext.key]: response(files.validationContext, {
      validation_context: { trusted_ca: { inline_string: leaf.caCerts } },
    }),
  };
}
