// Kubernetes CPU and memory quantities of the observer's containers, and the least each
// container is given.

import type { ContainerResources } from "../../components/observer/settings";
import { Reader, show } from "./reader";

/** A Kubernetes quantity without exponent forms: `500m`, `2`, `1.5`, `256Mi`, `1G`. */
const CPU_QUANTITY = /^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$/;
const MEMORY_QUANTITY = /^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$/;

/** Millicores of a CPU quantity (`CPU_QUANTITY`). */
function millicores(cpu: string): number {
  return cpu.endsWith("m") ? Number(cpu.slice(0, -1)) : Math.round(Number(cpu) * 1000);
}

const MEMORY_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Bytes of a memory quantity (`MEMORY_QUANTITY`). */
function bytes(memory: string): number {
  const [, digits, unit] = /^([0-9]+)([A-Za-z]*)$/.exec(memory) ?? ["", "0", ""];
  return Number(digits) * (MEMORY_UNITS[unit] ?? 0);
}

/**
 * The least a container is given: what it needs to start and serve one leaf. Below it the pod
 * is throttled to a stop or killed for memory, which the quantities alone would not say.
 */
export const RESOURCE_FLOORS = {
  querier: { cpu: "100m", memory: "128Mi", what: "Querier" },
  envoy: { cpu: "10m", memory: "32Mi", what: "Envoy" },
} as const;

export function readResources(
  r: Reader,
  cpuKey: "querierCpu" | "envoyCpu",
  memoryKey: "querierMemory" | "envoyMemory",
  floor: (typeof RESOURCE_FLOORS)[keyof typeof RESOURCE_FLOORS],
): ContainerResources {
  const cpu = r.value(cpuKey);
  if (!CPU_QUANTITY.test(cpu)) {
    r.problem(
      cpuKey,
      `${show(cpu)} is not allowed; use a CPU quantity such as 250m or 1 (at least ${floor.cpu})`,
    );
  } else if (millicores(cpu) < millicores(floor.cpu)) {
    r.problem(
      cpuKey,
      `${show(cpu)} is not allowed; ${floor.what} needs at least ${floor.cpu} of CPU`,
    );
  }
  const memory = r.value(memoryKey);
  if (!MEMORY_QUANTITY.test(memory)) {
    r.problem(
      memoryKey,
      `${show(memory)} is not allowed; use a memory quantity such as 512Mi or 2Gi (at least ` +
        `${floor.memory})`,
    );
  } else if (bytes(memory) < bytes(floor.memory)) {
    r.problem(
      memoryKey,
      `${show(memory)} is not allowed; ${floor.what} needs at least ${floor.memory} of memory` +
        (/^[0-9]+$/.test(memory) ? " (a quantity without a unit is bytes)" : ""),
    );
  }
  return { cpu, memory };
}
