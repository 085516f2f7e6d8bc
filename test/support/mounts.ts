// Resolves a file path seen by a container to the Secret or ConfigMap key behind it, through
// the container's volume mounts and the pod's volumes: the check of DESIGN invariant 4.

import type { PodSpec } from "./observer";

export interface MountedKey {
  readonly kind: "Secret" | "ConfigMap";
  readonly name: string;
  readonly key: string;
}

type Items = { key: string; path: string }[] | undefined;

function keyFor(items: Items, relative: string): string | undefined {
  if (items === undefined) return relative.includes("/") ? undefined : relative;
  return items.find((item) => item.path === relative)?.key;
}

/** The object key a path comes from, or a reason it does not resolve. */
export function resolveMountedFile(
  pod: PodSpec,
  containerName: string,
  path: string,
): MountedKey | string {
  const container = [...(pod.initContainers ?? []), ...pod.containers].find(
    (c) => c.name === containerName,
  );
  if (container === undefined) return `no container ${containerName}`;
  const mount = (container.volumeMounts ?? [])
    .filter((m) => path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (mount === undefined) return `${path}: no volume mount of ${containerName} contains it`;
  if (mount.subPath !== undefined) return `${path}: mount ${mount.name} uses subPath`;
  const relative = path.slice(mount.mountPath.length + 1);
  const volume = (pod.volumes ?? []).find((v) => v.name === mount.name) as
    | {
        configMap?: { name: string; items?: Items };
        secret?: { secretName: string; items?: Items };
        projected?: {
          sources: {
            secret?: { name: string; items?: Items };
            configMap?: { name: string; items?: Items };
          }[];
        };
      }
    | undefined;
  if (volume === undefined) return `${path}: no volume ${mount.name}`;
  const found: MountedKey[] = [];
  const add = (kind: MountedKey["kind"], name: string, items: Items) => {
    const key = keyFor(items, relative);
    if (key !== undefined) found.push({ kind, name, key });
  };
  if (volume.configMap) add("ConfigMap", volume.configMap.name, volume.configMap.items);
  if (volume.secret) add("Secret", volume.secret.secretName, volume.secret.items);
  for (const source of volume.projected?.sources ?? []) {
    if (source.secret) add("Secret", source.secret.name, source.secret.items);
    if (source.configMap) add("ConfigMap", source.configMap.name, source.configMap.items);
  }
  if (found.length === 0) return `${path}: volume ${mount.name} has no item for ${relative}`;
  if (found.length > 1)
    return `${path}: ${found.length} sources of volume ${mount.name} provide it`;
  return found[0];
}
