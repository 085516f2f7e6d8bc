// What the real-API-server tests do to the bench's kube-apiserver (invariant 7 of
// docs/ARCHITECTURE.md): install CRDs and wait until they are served, create the namespaces the
// stacks expect to exist, and server-side apply objects as a dry run and then for real,
// collecting every warning.
import { DeclaredStack } from "./declared";
import { KubeClient, KubeObject } from "./kube";
import { waitFor } from "../../support/processes";

/** `Kind namespace/name`: how the tests name an object. */
export const idOf = (o: KubeObject): string =>
  `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/** Applies each object as a dry run, then for real; returns every warning, by object. */
export async function applyAll(
  kube: KubeClient,
  objects: readonly KubeObject[],
): Promise<{ applied: KubeObject[]; warnings: string[] }> {
  const applied: KubeObject[] = [];
  const warnings: string[] = [];
  for (const obj of objects) {
    const id = idOf(obj);
    for (const dryRun of [true, false]) {
      const answer = await kube.apply(obj, { dryRun });
      warnings.push(...answer.warnings.map((w) => `${id}${dryRun ? " (dry run)" : ""}: ${w}`));
      if (!dryRun) applied.push(answer.body);
    }
  }
  return { applied, warnings };
}

/** Namespaces the stacks use but do not declare, as the clusters have them already. */
export async function ensureNamespaces(
  kube: KubeClient,
  stacks: readonly DeclaredStack[],
): Promise<void> {
  const declared = new Set(
    stacks.flatMap((s) =>
      s.objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name),
    ),
  );
  const used = new Set(stacks.flatMap((s) => s.objects.flatMap((o) => o.metadata.namespace ?? [])));
  for (const name of [...used].filter((n) => !declared.has(n)).sort()) {
    await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  }
}

/**
 * Applies CRDs and waits until each is Established and discovery serves its kind in every
 * served version: discovery follows Established asynchronously (here within 2 ms, measured on a
 * quiet machine), and a client asking in between would be told the group version is not served.
 */
export async function installCrds(kube: KubeClient, crds: readonly KubeObject[]): Promise<void> {
  for (const crd of crds) await kube.apply(crd);
  const served = crds.flatMap((crd) => {
    const spec = crd.spec as {
      group: string;
      names: { kind: string };
      versions: { name: string; served: boolean }[];
    };
    return spec.versions
      .filter((v) => v.served)
      .map((v) => ({ apiVersion: `${spec.group}/${v.name}`, kind: spec.names.kind }));
  });
  await waitFor(
    "CRDs established and in discovery",
    async () => {
      for (const crd of crds) {
        const got = await kube.get(crd.apiVersion, crd.kind, undefined, crd.metadata.name);
        const conditions = (got.status as { conditions?: { type: string; status: string }[] })
          ?.conditions;
        if (!conditions?.some((c) => c.type === "Established" && c.status === "True")) return false;
      }
      kube.forgetDiscovery();
      // A group version discovery does not serve yet throws: waitFor keeps its message.
      for (const { apiVersion, kind } of served) await kube.resource(apiVersion, kind);
      return true;
    },
    [],
    30_000,
  );
}
