// Pure checks shared by config loading and the leaf→observer contract parser.
// No Pulumi imports: everything here is tested directly.

/** RFC 1123 label, as Kubernetes namespaces and our cluster names require. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** RFC 1035 label: Kubernetes Service names must also start with a letter. */
const DNS_1035_LABEL = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

export function isServiceName(value: string): boolean {
  return DNS_1035_LABEL.test(value);
}

/** RFC 1123 subdomain (lowercase labels joined by dots, at most 253 characters). */
export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && value.split(".").every(isDnsLabel);
}

/**
 * A public hostname a certificate can name: a lowercase subdomain of at least two labels, no
 * wildcard, no trailing dot, and not an IPv4 address in disguise.
 */
export function isFqdn(value: string): boolean {
  const labels = value.split(".");
  return labels.length >= 2 && isDnsSubdomain(value) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}

export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/**
 * A fully qualified protobuf service name as it appears in a gRPC path
 * (`/<package>.<Service>/<Method>`), e.g. `thanos.Store` or `thanos.info.Info`.
 */
export function isGrpcServiceName(value: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(value);
}

/** Strict RFC 3339 date-time with a zone, as the tls provider reports validity. */
export function isRfc3339(value: string): boolean {
  return (
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) &&
    !Number.isNaN(Date.parse(value))
  );
}
