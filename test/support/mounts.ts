// Resolves a file path seen by a container to the Secret or ConfigMap key behind it, through
// the container's volume mounts and the pod's volumes: the check of invariant 4 (docs/ARCHITECTURE.md).

import type { PodSpec } from "./observer";

export interface MountedKey {
  readonly kind: "Secret" | "ConfigMap";
  readonly name: string;
  readonly key: string;
  /** Mount path of the volume holding the file: the root the kubelet's updates happen in. */
  readonly mountPath: string;
}

type Items = { key: string; path: string }[] | undefined;

/**
 * The keys an object holds, or undefined when the caller does not say. A source without `items`
 * projects every key of its object as a file named after the key; only the object tells which.
 */
export type KeysOf = (kind: MountedKey["kind"], name: string) => readonly string[] | undefined;

function keyFor(
  items: Items,
  relative: string,
  keys: readonly string[] | undefined,
): string | undefined {
  if (items === undefined) {
    if (relative.includes("/")) return undefined;
    return keys === undefined || keys.includes(relative) ? relative : undefined;
  }
  return items.find((item) => item.path === relative)?.key;
}

/**
 * The object key a path comes from, or a reason it does not resolve. Pass `keysOf` to resolve
 * files of whole objects (sources without `items`), several of which may share a volume.
 */
export function resolveMountedFile(
  pod: PodSpec,
  containerName: string,
  path: string,
  keysOf?: KeysOf,
): MountedKey | string {
  const container = [...(pod.initContainers ?? []), ...pod.containers].find(
    (c) => c.name === containerName,
  );
  if (container === undefined) return `no container ${containerName}`;
  const mount = (container.volumeMounts ?? [])
    .filter((m) => path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (mount === undefined) return `${path}: no volume mount of ${containerName} contains it`;
  // Also refused because the kubelet never updates a subPath mount.
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
    const key = keyFor(items, relative, keysOf?.(kind, name));
    if (key !== undefined) found.push({ kind, name, key, mountPath: mount.mountPath });
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

/** A file a container reads, and the directory watched for its updates, if any. */
export interface FileRead {
  readonly path: string;
  readonly watchedDirectory?: string;
  /**
   * Read again by its path when it matters (Thanos: the endpoints file on a timer, a client
   * certificate and key at each handshake once their mtime changed), which follows the kubelet's
   * `..data` link to the new content: no watched directory is needed, only a volume the kubelet
   * updates (no subPath).
   */
  readonly polled?: boolean;
}

/**
 * Every way the files a container reads break invariant 4 (docs/ARCHITECTURE.md): a file that does not resolve
 * to a key, that is not re-read when the kubelet updates its volume (no watched directory), or
 * whose watched directory is not its volume's root. [] when none does.
 *
 * The kubelet updates a Secret, ConfigMap or projected volume by renaming `..data_tmp` to
 * `..data` in the volume's root (kubernetes pkg/volume/util/atomic_writer.go); every file and
 * subdirectory is a link through `..data`, so only a watch on the root sees that move.
 */
export function fileReadProblems(
  pod: PodSpec,
  containerName: string,
  reads: readonly FileRead[],
  keysOf?: KeysOf,
): string[] {
  return reads.flatMap(({ path, watchedDirectory, polled }) => {
    const resolved = resolveMountedFile(pod, containerName, path, keysOf);
    if (typeof resolved === "string") return [resolved];
    if (polled === true && watchedDirectory === undefined) return [];
    if (watchedDirectory === undefined) {
      return [`${path}: no watched directory, so an update of its volume is never read`];
    }
    if (watchedDirectory === resolved.mountPath) return [];
    return [
      `${path}: watched directory ${watchedDirectory} is not ${resolved.mountPath}, the root ` +
        "of the volume holding it, where the kubelet swaps ..data",
    ];
  });
}
