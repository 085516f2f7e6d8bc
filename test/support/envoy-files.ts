// The files an Envoy config reads, for the mount checks of the tests (invariant 4 of
// docs/ARCHITECTURE.md). Test-only: the program never needs to list them.

/** A file Envoy reads, and the directory whose moves make Envoy read it again, if any. */
export interface EnvoyFileRead {
  readonly path: string;
  readonly watchedDirectory?: string;
}

/**
 * Every file the config reads: each `filename` of a DataSource and each `path` of a
 * PathConfigSource, with the `watched_directory` of the message that names it. Sorted by path.
 * For the mount checks (invariant 4 of docs/ARCHITECTURE.md).
 */
export function envoyFileReads(config: unknown): readonly EnvoyFileRead[] {
  const found = new Map<string, EnvoyFileRead>();
  const add = (path: string, watchedDirectory: string | undefined): void => {
    const key = `${path}\0${watchedDirectory ?? ""}`;
    found.set(key, watchedDirectory === undefined ? { path } : { path, watchedDirectory });
  };
  const walk = (value: unknown, watched: string | undefined): void => {
    if (Array.isArray(value)) return value.forEach((v) => walk(v, watched));
    if (typeof value !== "object" || value === null) return;
    const obj = value as Record<string, unknown>;
    // A watched_directory governs the files named in the message that holds it.
    const own = (obj.watched_directory as { path?: unknown } | undefined)?.path;
    const here = typeof own === "string" ? own : watched;
    for (const [key, child] of Object.entries(obj)) {
      if (key === "filename" && typeof child === "string") add(child, here);
      else if (key === "path_config_source" && typeof child === "object" && child !== null) {
        const source = child as { path?: unknown; watched_directory?: { path?: unknown } };
        const dir = source.watched_directory?.path;
        if (typeof source.path === "string") {
          add(source.path, typeof dir === "string" ? dir : undefined);
        }
      } else walk(child, here);
    }
  };
  walk(config, undefined);
  // Keys sort by path, then by directory ("\0" sorts first).
  return [...found.keys()].sort().map((key) => found.get(key) as EnvoyFileRead);
}

/** Every file path the config reads (`envoyFileReads`), sorted and distinct. */
export function envoyFilePaths(config: unknown): readonly string[] {
  return [...new Set(envoyFileReads(config).map((r) => r.path))];
}
