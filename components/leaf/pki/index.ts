// The leaf's PKI as Pulumi resources: the LeafPki component, which turns the certificate specs
// (certspecs.ts) into @pulumi/tls keys and certificates with the clocks that renew them
// (docs/ROTATION.md).

import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as time from "@pulumiverse/time";
import { CaSchedule, CertSpec, KeySpec, PkiSettings, leafPkiSpec } from "./certspecs";
import { CertificateTimes, certificateTimes } from "../../common/contract";

interface LeafPkiArgs {
  readonly clusterName: string;
  /** The public hostname: the server certificate's SAN. */
  readonly hostname: string;
  readonly settings: PkiSettings;
  /** The CA generations to declare and the one that signs (`caSchedule`). */
  readonly schedule: CaSchedule;
}

/** A certificate and its private key. The key is a secret output. */
interface IssuedCertificate {
  readonly certPem: pulumi.Output<string>;
  readonly keyPem: pulumi.Output<string>;
  /** When it expires and when it is due for renewal, as the leaf's contract publishes them. */
  readonly expiry: pulumi.Output<CertificateTimes>;
}

/** One CA generation. Its key never leaves the component. */
interface LeafCa {
  readonly certPem: pulumi.Output<string>;
  /** When it expires and when the next generation should have replaced it. */
  readonly expiry: pulumi.Output<CertificateTimes>;
}

/** The contract's times of a certificate from the tls provider's notAfter. */
function expiryOf(
  notAfter: pulumi.Output<string>,
  cert: CertSpec,
): pulumi.Output<CertificateTimes> {
  return notAfter.apply((t) => certificateTimes(t, cert.renewBeforeHours));
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
 * A leaf's PKI: its CA generations (see `caSchedule`), the ingress's server certificate and the
 * client certificate the leaf issues to the observer. Each certificate has its own key; leaf
 * certificates go through a CSR and are signed by the schedule's signing CA.
 *
 * Renewal: each leaf certificate has a rotation clock (`@pulumiverse/time` Rotating) that turns
 * `validity - renewBefore` hours after issue, and whose new time is the `replacementTrigger` of
 * the key and the certificate (honoured by the Pulumi engine from CLI v3.208.0), so a run after
 * that moment issues a new key and certificate. The tls provider's early renewal asks the same,
 * which alone is not enough (pulumi-tls#39). A change of signing CA restarts the
 * clocks through their `triggers`, so keys are replaced along with the certificates.
 */
export class LeafPki extends pulumi.ComponentResource {
  /** Every trusted CA, oldest first. */
  readonly cas: readonly LeafCa[];
  readonly server: IssuedCertificate;
  readonly client: IssuedCertificate;

  constructor(name: string, args: LeafPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super("thanos-bridge:leaf:Pki", name, {}, opts);
    const spec = leafPkiSpec(args.settings, args.schedule, args);

    // Lineage 0 keeps the names of releases before caEpoch, so an upgrade replaces nothing.
    const { caEpoch } = args.settings;
    const lineage = caEpoch === 0 ? "" : `e${caEpoch}-`;
    const cas = spec.cas.map((ca) => {
      // Named by lineage and generation: a new generation is a new pair of resources, and a
      // retired one is deleted, while the CAs in between stay untouched; a new lineage replaces
      // them all.
      const part = `${name}-ca-${lineage}${ca.generation}`;
      const key = new tls.PrivateKey(`${part}-key`, keyArgs(ca.key), { parent: this });
      const cert = new tls.SelfSignedCert(
        part,
        {
          privateKeyPem: key.privateKeyPem,
          subject: subjectArgs(ca),
          isCaCertificate: ca.isCaCertificate,
          dnsNames: [...ca.dnsNames],
          allowedUses: [...ca.allowedUses],
          validityPeriodHours: ca.validityHours,
          // A CA never renews in place, which would drop the old CA at once: a new generation
          // replaces it (`caSchedule`).
          earlyRenewalHours: 0,
          // The subject key id becomes the authority key id of every certificate it signs.
          setSubjectKeyId: true,
          setAuthorityKeyId: true,
        },
        { parent: this },
      );
      return { generation: ca.generation, key, cert, expiry: expiryOf(cert.validityEndTime, ca) };
    });
    const signer = cas.find((ca) => ca.generation === spec.signer);
    if (signer === undefined) {
      throw new Error(`CA generation ${spec.signer} signs, but is not among the trusted CAs`);
    }
    this.cas = cas.map((ca) => ({ certPem: ca.cert.certPem, expiry: ca.expiry }));

    const issue = (part: string, cert: CertSpec): IssuedCertificate => {
      const clock = new time.Rotating(
        `${name}-${part}-clock`,
        {
          // Turns when the certificate is due for renewal.
          rotationHours: cert.validityHours - cert.renewBeforeHours,
          triggers: { signer: `${lineage}${spec.signer}` },
        },
        { parent: this },
      );
      const renewal = { parent: this, replacementTrigger: clock.rfc3339 };
      const key = new tls.PrivateKey(`${name}-${part}-key`, keyArgs(cert.key), renewal);
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
          caCertPem: signer.cert.certPem,
          caPrivateKeyPem: signer.key.privateKeyPem,
          isCaCertificate: cert.isCaCertificate,
          allowedUses: [...cert.allowedUses],
          validityPeriodHours: cert.validityHours,
          earlyRenewalHours: cert.renewBeforeHours,
          setSubjectKeyId: true,
        },
        renewal,
      );
      return {
        certPem: signed.certPem,
        keyPem: pulumi.secret(key.privateKeyPem),
        expiry: expiryOf(signed.validityEndTime, cert),
      };
    };
    this.server = issue("server", spec.server);
    this.client = issue("client", spec.client);

    this.registerOutputs({
      caCertPems: this.cas.map((ca) => ca.certPem),
      caExpiries: this.cas.map((ca) => ca.expiry),
      serverCertPem: this.server.certPem,
      serverExpiry: this.server.expiry,
      clientCertPem: this.client.certPem,
      clientKeyPem: this.client.keyPem,
      clientExpiry: this.client.expiry,
    });
  }
}
