// Deterministic YAML for everything the program writes into a ConfigMap or Secret (envoy.yaml,
// endpoints files, SDS files): the same value always gives the same bytes (invariant 6 of
// docs/ARCHITECTURE.md), readable the same by YAML 1.1 and 1.2 readers.

import { Document, isScalar, parse, visit } from "yaml";

/** Plain scalars a YAML 1.1 reader may resolve to something other than a string. */
const MAYBE_SPECIAL_11 = /^([-+.0-9~]|(y|yes|n|no|on|off|true|false|null)$)/i;

/** True when a YAML 1.1 reader would not read the plain scalar back as this same string. */
function ambiguousIn11(text: string): boolean {
  if (!MAYBE_SPECIAL_11.test(text)) return false;
  try {
    return parse(text, { version: "1.1" }) !== text;
  } catch {
    return true;
  }
}

/**
 * Serialises a plain value to YAML deterministically: map keys sorted, no line folding, no
 * anchors, so the same value always gives the same bytes. Strings that a YAML 1.1 reader would
 * take for something else (`on`, `yes`, `0755`; Kubernetes tooling reads YAML 1.1) are quoted.
 * Multi-line strings (PEM bundles) are block literals, line for line as they are.
 */
export function stableYaml(value: unknown): string {
  const doc = new Document(value, { sortMapEntries: true, aliasDuplicateObjects: false });
  visit(doc, {
    Scalar(_key, node) {
      // A string with a line break is written as a block literal (`|`), which every reader
      // takes as a string; only single-line plain scalars can be misread.
      if (
        isScalar(node) &&
        typeof node.value === "string" &&
        !node.value.includes("\n") &&
        ambiguousIn11(node.value)
      ) {
        node.type = "QUOTE_DOUBLE";
      }
    },
  });
  return doc.toString({ lineWidth: 0 });
}
