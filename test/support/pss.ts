// The Kubernetes Pod Security Standards, "restricted" profile (which includes "baseline"), as
// checks over a pod spec: https://kubernetes.io/docs/concepts/security/pod-security-standards/
// Every container counts: init (native sidecars included), regular and ephemeral.

import type { Container, PodSpec } from "./observer";

type Context = Record<string, unknown> | undefined;

const RESTRICTED_VOLUME_TYPES = [
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
];
const SAFE_SYSCTLS = [
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
];

const get = (context: Context, key: string): unknown => (context ?? {})[key];

/** Violations of the restricted profile, each naming the container or field; [] when none. */
export function restrictedViolations(pod: PodSpec): string[] {
  const problems: string[] = [];
  const podContext = pod.securityContext;
  for (const key of ["hostNetwork", "hostPID", "hostIPC"]) {
    if (pod[key] === true) problems.push(`pod: ${key} is true`);
  }
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== "name");
    if (type === undefined || !RESTRICTED_VOLUME_TYPES.includes(type)) {
      problems.push(`volume ${String(volume.name)}: type ${String(type)} is not allowed`);
    }
  }
  for (const sysctl of (get(podContext, "sysctls") as { name: string }[] | undefined) ?? []) {
    if (!SAFE_SYSCTLS.includes(sysctl.name)) problems.push(`pod: sysctl ${sysctl.name} is unsafe`);
  }
  const podSeccomp = get(get(podContext, "seccompProfile") as Context, "type");
  const podNonRoot = get(podContext, "runAsNonRoot");
  if (get(podContext, "runAsUser") === 0) problems.push("pod: runAsUser is 0");

  const containers: Container[] = [
    ...(pod.initContainers ?? []),
    ...pod.containers,
    ...((pod.ephemeralContainers as Container[] | undefined) ?? []),
  ];
  for (const c of containers) {
    const where = `container ${c.name}`;
    const sc = c.securityContext;
    if (get(sc, "privileged") === true) problems.push(`${where}: privileged`);
    if (get(sc, "allowPrivilegeEscalation") !== false) {
      problems.push(`${where}: allowPrivilegeEscalation is not false`);
    }
    const nonRoot = get(sc, "runAsNonRoot") ?? podNonRoot;
    if (nonRoot !== true) problems.push(`${where}: runAsNonRoot is not true`);
    if (get(sc, "runAsUser") === 0) problems.push(`${where}: runAsUser is 0`);
    const seccomp = get(get(sc, "seccompProfile") as Context, "type") ?? podSeccomp;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
      problems.push(
        `${where}: seccompProfile is ${String(seccomp)}, not RuntimeDefault or Localhost`,
      );
    }
    const caps = (get(sc, "capabilities") ?? {}) as { add?: string[]; drop?: string[] };
    if (!(caps.drop ?? []).includes("ALL")) problems.push(`${where}: capabilities do not drop ALL`);
    for (const cap of caps.add ?? []) {
      if (cap !== "NET_BIND_SERVICE") problems.push(`${where}: adds capability ${cap}`);
    }
    const procMount = get(sc, "procMount");
    if (procMount !== undefined && procMount !== "Default") {
      problems.push(`${where}: procMount is ${JSON.stringify(procMount)}`);
    }
    for (const port of (c.ports ?? []) as { hostPort?: number }[]) {
      if ((port.hostPort ?? 0) !== 0) problems.push(`${where}: hostPort ${port.hostPort}`);
    }
  }
  return problems;
}
