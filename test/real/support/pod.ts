// Runs a real binary the way a container of the program's pod would see its files: each volume
// mount of that container is written out as the kubelet writes a Secret, ConfigMap or projected
// volume (a timestamped directory, the `..data` link to it, one link per top-level entry), and
// bind-mounted at its mount path in a mount namespace of the process's own (`unshare -m`), with
// an /etc/hosts built from the names the pod resolves. Nothing in the generated config changes.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { BenchProcess, onCleanUp } from "../../support/processes";
import type { PodSpec } from "../../support/observer";

/** The data of a Secret or ConfigMap the program declared, by kind and name; undefined if none. */
export type ObjectData = (
  kind: "Secret" | "ConfigMap",
  name: string,
) => Readonly<Record<string, string>> | undefined;

type Items = { key: string; path: string }[] | undefined;

export interface Volume {
  name: string;
  configMap?: { name: string; items?: Items };
  secret?: { secretName: string; items?: Items };
  projected?: {
    sources: {
      secret?: { name: string; items?: Items };
      configMap?: { name: string; items?: Items };
    }[];
  };
}

/** The files of a volume, path → content, as the kubelet would project them. */
export function volumeFiles(volume: Volume, data: ObjectData): Record<string, string> {
  const files: Record<string, string> = {};
  const add = (kind: "Secret" | "ConfigMap", name: string, items: Items) => {
    const content = data(kind, name);
    if (content === undefined) throw new Error(`volume ${volume.name}: no ${kind} ${name}`);
    const entries = items ?? Object.keys(content).map((key) => ({ key, path: key }));
    for (const { key, path } of entries) {
      if (!(key in content))
        throw new Error(`volume ${volume.name}: ${kind} ${name} has no ${key}`);
      files[path] = content[key];
    }
  };
  if (volume.configMap) add("ConfigMap", volume.configMap.name, volume.configMap.items);
  if (volume.secret) add("Secret", volume.secret.secretName, volume.secret.items);
  for (const s of volume.projected?.sources ?? []) {
    if (s.secret) add("Secret", s.secret.name, s.secret.items);
    if (s.configMap) add("ConfigMap", s.configMap.name, s.configMap.items);
  }
  if (Object.keys(files).length === 0 && !volume.configMap && !volume.secret && !volume.projected) {
    throw new Error(`volume ${volume.name}: only configMap, secret and projected are written here`);
  }
  return files;
}

let generation = 0;

/**
 * Writes `files` into `dir` as the kubelet's atomic writer does: into a new `..<stamp>`
 * directory, then `..data_tmp` → `..data` renamed over the old link in one step, the
 * top-level links made or removed, and the old directory deleted. A reader that follows
 * `dir/<path>` sees the old files or the new ones, never a mix.
 */
export function writeVolume(dir: string, files: Readonly<Record<string, string>>): void {
  mkdirSync(dir, { recursive: true });
  const old = readdirSync(dir).filter((e) => e.startsWith("..") && e !== "..data");
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, "_")}.${generation++}`;
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, stamp, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content, { mode: 0o644 });
  }
  symlinkSync(stamp, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  const top = new Set(Object.keys(files).map((p) => p.split("/")[0]));
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith("..") && !top.has(entry)) unlinkSync(join(dir, entry));
  }
  for (const entry of top) {
    if (!existsSync(join(dir, entry))) symlinkSync(join("..data", entry), join(dir, entry));
  }
  for (const entry of old) rmSync(join(dir, entry), { recursive: true, force: true });
}

export interface PodMount {
  readonly volume: string;
  readonly mountPath: string;
  /** Where the volume's files are on the host. */
  readonly dir: string;
}

/** Writes out every volume `container` mounts, under `root`; subPath mounts are refused. */
export function writeContainerVolumes(
  pod: PodSpec,
  container: string,
  data: ObjectData,
  root: string,
): PodMount[] {
  const c = [...(pod.initContainers ?? []), ...pod.containers].find((x) => x.name === container);
  if (c === undefined) throw new Error(`the pod has no container ${container}`);
  return (c.volumeMounts ?? []).map((m) => {
    if (m.subPath !== undefined) throw new Error(`${container}: mount ${m.name} uses subPath`);
    const volume = (pod.volumes ?? []).find((v) => v.name === m.name) as Volume | undefined;
    if (volume === undefined) throw new Error(`${container}: no volume ${m.name}`);
    const dir = join(root, "volumes", m.name);
    writeVolume(dir, volumeFiles(volume, data));
    return { volume: m.name, mountPath: m.mountPath, dir };
  });
}

/** /etc/hosts content: each name on its own line with its address, sorted. */
export function hostsFile(names: Readonly<Record<string, string>>): string {
  const lines = Object.entries(names)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, ip]) => `${ip} ${name}`);
  return ["127.0.0.1 localhost", ...lines, ""].join("\n");
}

const created: string[] = [];
onCleanUp(() => {
  for (const dir of created.reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty or gone: leave it
    }
  }
});

/** Creates the mount point if the host lacks it; it is removed (if empty) when the run ends. */
function ensureMountPoint(path: string): void {
  const missing: string[] = [];
  for (let p = path; !existsSync(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) {
    mkdirSync(p);
    created.push(p);
  }
}

/**
 * Starts `binary` in a mount namespace of its own where each mount's directory is bind-mounted
 * (read-only) at its mount path and /etc/hosts is `hosts`. Needs root (CI and the bench run as
 * root) and util-linux `unshare`.
 */
export function startInPod(
  name: string,
  binary: string,
  args: readonly string[],
  mounts: readonly PodMount[],
  hosts: string,
  logDir: string,
): BenchProcess {
  const hostsPath = join(logDir, `${name}.hosts`);
  writeFileSync(hostsPath, hosts);
  for (const m of mounts) ensureMountPoint(m.mountPath);
  const binds = [
    ...mounts.map((m) => `mount --bind -o ro ${quote(m.dir)} ${quote(m.mountPath)}`),
    `mount --bind -o ro ${quote(hostsPath)} /etc/hosts`,
  ];
  const script = `set -e; ${binds.join("; ")}; exec "$@"`;
  return BenchProcess.start(
    name,
    "unshare",
    ["--mount", "--propagation", "private", "sh", "-c", script, "pod", binary, ...args],
    logDir,
  );
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}
