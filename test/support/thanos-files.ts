// The files an endpoints file of `dataPath: thanos` names, for the mount checks of the tests
// (invariant 4 of docs/ARCHITECTURE.md). Test-only: the program never needs to list them.

/** Every file path an endpoints file names (`cert_file`, `key_file`, `ca_file`), sorted. */
export function thanosFilePaths(config: unknown): readonly string[] {
  const paths = new Set<string>();
  const clientConfigs: unknown[] = [];
  const doc = (config ?? {}) as { default_client_config?: unknown; endpoints?: unknown };
  clientConfigs.push(doc.default_client_config);
  if (Array.isArray(doc.endpoints)) {
    for (const e of doc.endpoints)
      clientConfigs.push((e as { client_config?: unknown }).client_config);
  }
  for (const c of clientConfigs) {
    const tls = (c as { tls_config?: Record<string, unknown> } | undefined)?.tls_config ?? {};
    for (const field of ["cert_file", "key_file", "ca_file"]) {
      const path = tls[field];
      if (typeof path === "string" && path !== "") paths.add(path);
    }
  }
  return [...paths].sort();
}
