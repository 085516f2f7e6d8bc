import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CertSpec, KeySpec, LeafPkiSpec } from "./certspecs";

export interface LeafPkiArgs {
  /** Subjects, SANs, usages and validity of the three certificates (see `leafPkiSpec`). */
  readonly spec: LeafPkiSpec;
}

/** A certificate and its private key. The key is a secret output. */
export interface IssuedCertificate {
  readonly certPem: pulumi.Output<string>;
  readonly keyPem: pulumi.Output<string>;
  /** notAfter, RFC 3339. */
  readonly expiry: pulumi.Output<string>;
}

function keyArgs(key: KeySpec): tls.PrivateKeyArgs {
  return key.algorithm === "ECDSA"
    ? { algorithm: "ECDSA", ecdsaCurve: key.ecdsaCurve }
    : { algorithm: "RSA", rsaBits: key.rsaBits };
}

function subjectArgs(spec: CertSpec): tls.types.input.CertRequestSubject {
  return { ...spec.subject };
}

/**
 * A leaf's PKI: its own CA, the ingress's server certificate and the client certificate the leaf
 * issues to the observer. Each certificate has its own key; leaf certificates go through a CSR.
 */
export class LeafPki extends pulumi.ComponentResource {
  readonly ca: { readonly certPem: pulumi.Output<string>; readonly expiry: pulumi.Output<string> };
  readonly server: IssuedCertificate;
  readonly client: IssuedCertificate;

  constructor(name: string, args: LeafPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super("thanos-bridge:leaf:Pki", name, {}, opts);
    const { spec } = args;

    const caKey = new tls.PrivateKey(`${name}-ca-key`, keyArgs(spec.ca.key), { parent: this });
    const caCert = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        subject: subjectArgs(spec.ca),
        isCaCertificate: spec.ca.isCaCertificate,
        dnsNames: [...spec.ca.dnsNames],
        allowedUses: [...spec.ca.allowedUses],
        validityPeriodHours: spec.ca.validityPeriodHours,
        earlyRenewalHours: spec.ca.earlyRenewalHours,
        // The subject key id becomes the authority key id of every certificate it signs.
        setSubjectKeyId: true,
        setAuthorityKeyId: true,
      },
      { parent: this },
    );
    // The CA key never leaves this component: it only signs the two certificates below.
    this.ca = { certPem: caCert.certPem, expiry: caCert.validityEndTime };

    const issue = (part: string, cert: CertSpec): IssuedCertificate => {
      const key = new tls.PrivateKey(`${name}-${part}-key`, keyArgs(cert.key), { parent: this });
      const csr = new tls.CertRequest(
        `${name}-${part}-csr`,
        {
          privateKeyPem: key.privateKeyPem,
          subject: subjectArgs(cert),
          dnsNames: [...cert.dnsNames],
        },
        { parent: this },
      );
      const signed = new tls.LocallySignedCert(
        `${name}-${part}-cert`,
        {
          certRequestPem: csr.certRequestPem,
          caCertPem: caCert.certPem,
          caPrivateKeyPem: caKey.privateKeyPem,
          isCaCertificate: cert.isCaCertificate,
          allowedUses: [...cert.allowedUses],
          validityPeriodHours: cert.validityPeriodHours,
          earlyRenewalHours: cert.earlyRenewalHours,
          setSubjectKeyId: true,
        },
        { parent: this },
      );
      return {
        certPem: signed.certPem,
        keyPem: pulumi.secret(key.privateKeyPem),
        expiry: signed.validityEndTime,
      };
    };
    this.server = issue("server", spec.server);
    this.client = issue("client", spec.client);

    this.registerOutputs({
      caCertPem: this.ca.certPem,
      caExpiry: this.ca.expiry,
      serverCertPem: this.server.certPem,
      serverExpiry: this.server.expiry,
      clientCertPem: this.client.certPem,
      clientKeyPem: this.client.keyPem,
      clientExpiry: this.client.expiry,
    });
  }
}
