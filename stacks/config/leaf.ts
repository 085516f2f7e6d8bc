// A leaf's config: its identity and hostname, the sidecar it exposes and how, and its PKI, with
// the rules across these keys.

import type { CertificateLifetime, PkiSettings } from "../../components/leaf/pki/certspecs";
import {
  isDnsLabel,
  isDnsSubdomain,
  isFqdn,
  isGrpcServiceName,
  isServiceName,
} from "../../components/common/validate";
import { ConfigValues, REQUIRED_SERVICES, THANOS_SERVICES } from "../keys";
import { RawConfig, Reader, fieldKeys, fullKey, show } from "./reader";
import { KubernetesTarget, TARGET_KEYS, readKubernetesTarget, checkNamespace } from "./target";

/**
 * The leaf's exposure and the settings only it reads. The keys of the other exposures may stay
 * set (they are checked, not used): switching is then one line, and so is switching back.
 */
export type LeafExposureConfig =
  | { readonly kind: "ingress-nginx" }
  | {
      readonly kind: "gateway-api";
      readonly gatewayClassName: string;
      /** Where the leaf's own Gateway goes: the leaf's namespace unless set. */
      readonly gatewayNamespace: string;
    }
  | { readonly kind: "traefik"; readonly entryPoint: string };

/** Leaf keys read into a structure of LeafConfig; each other leaf key is a field of its own. */
const GROUPED = [
  "role",
  "exposure",
  "gatewayClassName",
  "gatewayNamespace",
  "traefikEntryPoint",
  "keyAlgorithm",
  "caValidityHours",
  "caRenewBeforeHours",
  "serverValidityHours",
  "serverRenewBeforeHours",
  "clientValidityHours",
  "clientRenewBeforeHours",
  "rotationIntervalHours",
  "caEpoch",
  ...TARGET_KEYS,
] as const;
const FIELDS = fieldKeys("leaf", GROUPED);

export interface LeafConfig extends Pick<ConfigValues, (typeof FIELDS)[number]> {
  readonly role: "leaf";
  readonly exposure: LeafExposureConfig;
  readonly pki: PkiSettings;
  readonly kubernetes: KubernetesTarget;
}

/** The PKI settings; `rotationIntervalHours` only bounds the renewal windows, so it stays here. */
function readPki(r: Reader): PkiSettings {
  const keyAlgorithm = r.value("keyAlgorithm");
  const interval = r.value("rotationIntervalHours");
  const lifetime = (kind: "ca" | "server" | "client"): CertificateLifetime => {
    const validityKey = `${kind}ValidityHours` as const;
    const renewKey = `${kind}RenewBeforeHours` as const;
    const validityHours = r.value(validityKey);
    const renewBeforeHours = r.value(renewKey);
    if (renewBeforeHours >= validityHours) {
      r.problem(
        renewKey,
        `${renewBeforeHours} is not allowed; it must be shorter than ${fullKey(validityKey)} ` +
          `(${validityHours}), or the certificate would be renewed on every run`,
      );
    }
    return { validityHours, renewBeforeHours };
  };
  const ca = lifetime("ca");
  const server = lifetime("server");
  const client = lifetime("client");
  for (const [kind, l] of [
    ["server", server],
    ["client", client],
  ] as const) {
    if (l.renewBeforeHours < 2 * interval) {
      r.problem(
        `${kind}RenewBeforeHours`,
        `${l.renewBeforeHours} is not allowed; it must be at least twice ` +
          `${fullKey("rotationIntervalHours")} (${2 * interval}), so that a certificate due for ` +
          `renewal meets two scheduled runs before it expires and one failed run does no harm`,
      );
    }
  }
  // See caSchedule: the new CA is trusted for the first half of the renew-before window and
  // signs in the second; each half must span two scheduled runs.
  if (ca.renewBeforeHours < 4 * interval) {
    r.problem(
      "caRenewBeforeHours",
      `${ca.renewBeforeHours} is not allowed; it must be at least 4 times ` +
        `${fullKey("rotationIntervalHours")} (${4 * interval}): a CA change has two halves (the ` +
        `new CA trusted, then signing), and each must span two scheduled runs`,
    );
  }
  // A generation lasts validity - renewBefore; it must not end before its overlap with the
  // previous generation has, or three CAs would overlap.
  if (ca.validityHours < 2 * ca.renewBeforeHours) {
    r.problem(
      "caValidityHours",
      `${ca.validityHours} is not allowed; it must be at least twice ` +
        `${fullKey("caRenewBeforeHours")} (${2 * ca.renewBeforeHours}), so that a CA change ` +
        `ends before the next one begins`,
    );
  }
  const caEpoch = r.value("caEpoch");
  return { keyAlgorithm, ca, server, client, caEpoch };
}

/** Sorted, without duplicates. */
function readAllowedServices(r: Reader): readonly string[] {
  const services = r.value("allowedServices");
  if (services.length === 0) {
    r.problem("allowedServices", `[] is not allowed; list at least one gRPC service`);
  }
  for (const service of services) {
    const known = THANOS_SERVICES.find((t) => t.toLowerCase() === service.toLowerCase());
    if (!isGrpcServiceName(service)) {
      r.problem(
        "allowedServices",
        `${show(service)} is not a fully qualified gRPC service name; use <package>.<Service>, ` +
          `e.g. thanos.Store or thanos.info.Info`,
      );
    } else if (known !== undefined && known !== service) {
      r.problem(
        "allowedServices",
        `${show(service)} is not allowed; gRPC paths are case-sensitive, so it would match no ` +
          `call: write ${known}`,
      );
    }
  }
  if (services.length > 0) {
    const missing = REQUIRED_SERVICES.filter((s) => !services.includes(s));
    if (missing.length > 0) {
      r.problem(
        "allowedServices",
        `${show(services)} leaves out ${missing.join(" and ")}, which Querier calls on every ` +
          `store, so the observer could not use this leaf; add ${missing.join(" and ")}`,
      );
    }
  }
  const duplicates = services.filter((s, i) => services.indexOf(s) !== i);
  for (const service of [...new Set(duplicates)]) {
    r.problem("allowedServices", `${show(service)} is listed more than once`);
  }
  return [...new Set(services)].sort();
}

/** GRPCRoute allows 16 rules, and the gateway-api exposure gives each allowed service one. */
const GRPC_ROUTE_MAX_RULES = 16;
/** A Traefik entry point's name, as its static configuration names it. */
const ENTRY_POINT = /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

function readExposure(r: Reader, allowedServices: readonly string[]): LeafExposureConfig {
  const kind = r.value("exposure");
  // Every exposure's keys are checked whatever the exposure, so a prepared switch is valid.
  const gatewayClassName = r.value("gatewayClassName");
  if (gatewayClassName !== "" && !isDnsSubdomain(gatewayClassName)) {
    r.problem(
      "gatewayClassName",
      `${show(gatewayClassName)} is not allowed; use the name of a GatewayClass (a lowercase DNS subdomain)`,
    );
  }
  const gatewayNamespace = r.value("gatewayNamespace");
  if (gatewayNamespace !== "" && !isDnsLabel(gatewayNamespace)) {
    r.problem(
      "gatewayNamespace",
      `${show(gatewayNamespace)} is not allowed; use a namespace name (a DNS label), or leave it ` +
        `empty for the leaf's own namespace`,
    );
  }
  const entryPoint = r.value("traefikEntryPoint");
  if (!ENTRY_POINT.test(entryPoint)) {
    r.problem(
      "traefikEntryPoint",
      `${show(entryPoint)} is not allowed; use the name of an entry point of Traefik's static ` +
        `configuration (letters, digits, "-" and "_"), e.g. websecure`,
    );
  }
  switch (kind) {
    case "ingress-nginx":
      return { kind };
    case "traefik":
      return { kind, entryPoint };
    case "gateway-api":
      if (gatewayClassName === "") {
        r.problem(
          "gatewayClassName",
          `is required with ${fullKey("exposure")} gateway-api: the GatewayClass of the ` +
            `cluster's Gateway API implementation (\`kubectl get gatewayclass\`), e.g. eg`,
        );
      }
      if (allowedServices.length > GRPC_ROUTE_MAX_RULES) {
        r.problem(
          "allowedServices",
          `${allowedServices.length} services are not allowed with ${fullKey("exposure")} ` +
            `gateway-api; a GRPCRoute holds at most ${GRPC_ROUTE_MAX_RULES} rules, one per service`,
        );
      }
      return { kind, gatewayClassName, gatewayNamespace };
  }
}

/** The leaf's cluster name: the stack's name unless set. */
function readClusterName(r: Reader, stack: string): string {
  const clusterName = r.value("clusterName");
  if (clusterName === "") {
    if (!isDnsLabel(stack)) {
      r.problem(
        "clusterName",
        `is not set, and the stack name ${show(stack)} is not a DNS label to default to; ` +
          `set it to lowercase letters, digits and "-" (at most 63), e.g. leaf-a`,
      );
    }
    return stack;
  }
  if (!isDnsLabel(clusterName)) {
    r.problem(
      "clusterName",
      `${show(clusterName)} is not allowed; use a DNS label: lowercase letters, digits and "-", ` +
        `starting and ending with a letter or digit, at most 63 characters`,
    );
  }
  return clusterName;
}

/**
 * A leaf's cluster name and hostname as its stack reads them, even when other keys are wrong:
 * `npm run check` holds them unique across the leaves.
 */
export function readLeafIdentity(
  raw: RawConfig,
  stack: string,
): { readonly clusterName: string; readonly hostname: string } {
  const r = new Reader(raw);
  return { clusterName: readClusterName(r, stack), hostname: r.value("hostname") };
}

/**
 * The keys with a rule of their own are read first, then the others as their entries say, then
 * the structures: each problem in the order of the keys a reader of the stack file would check.
 */
export function readLeafConfig(r: Reader, stack: string): LeafConfig {
  const clusterName = readClusterName(r, stack);
  const hostname = r.value("hostname");
  if (hostname === "") {
    r.problem(
      "hostname",
      `is required for a leaf: the public DNS name of its ingress, e.g. thanos.leaf-a.example.com`,
    );
  } else if (!isFqdn(hostname)) {
    r.problem(
      "hostname",
      `${show(hostname)} is not allowed; use a fully qualified lowercase DNS name with no ` +
        `wildcard or trailing dot, e.g. thanos.leaf-a.example.com`,
    );
  }

  checkNamespace(r);
  const sidecarService = r.value("sidecarService");
  if (!isServiceName(sidecarService)) {
    r.problem(
      "sidecarService",
      `${show(sidecarService)} is not allowed; a Service name starts with a lowercase letter and ` +
        `has only lowercase letters, digits and "-" (at most 63)`,
    );
  }
  const ingressClass = r.value("ingressClass");
  if (!isDnsSubdomain(ingressClass)) {
    r.problem(
      "ingressClass",
      `${show(ingressClass)} is not allowed; use the name of an IngressClass (a lowercase DNS subdomain)`,
    );
  }

  const allowedServices = readAllowedServices(r);
  return {
    ...r.values(FIELDS),
    role: "leaf",
    clusterName,
    allowedServices,
    exposure: readExposure(r, allowedServices),
    pki: readPki(r),
    kubernetes: readKubernetesTarget(r),
  };
}
