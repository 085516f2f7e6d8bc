// Keys kept in the wrong form in a stack file: encrypted though the program uses them in plain
// text, or kubeconfig contents (credentials) in plain text.

import { CONFIG_SCHEMA, PROJECT, specOf } from "../keys";
import { KUBERNETES_KEYS } from "./foreign";
import { RawConfig, fullKey } from "./reader";

/** Where a stack's kubeconfig may be set: the project's key, or the provider's, taken as it. */
const KUBECONFIG_KEYS = [fullKey("kubeconfig"), "kubernetes:kubeconfig"];

/** Whether the kubeconfig is set encrypted: a target, though its value cannot be read offline. */
export function kubeconfigEncrypted(encrypted: ReadonlySet<string>): boolean {
  return KUBECONFIG_KEYS.some((key) => encrypted.has(key));
}

/** Kubeconfig contents rather than a path: a document (several lines, or JSON), not a file name. */
const KUBECONFIG_CONTENTS = /\n|^\s*\{|^\s*(apiVersion|clusters|contexts|users|kind)\s*:/;

/**
 * What the stack file keeps in the wrong form: a key encrypted (`secure:`) that the program uses
 * in plain text, in its outputs and objects, or kubeconfig contents, which hold credentials, in
 * plain text in a file meant for git. Needs to know which keys are encrypted: `npm run check`
 * does, from the stack file.
 */
export function secrecyProblems(raw: RawConfig, encrypted: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const key of [...encrypted].sort()) {
    const name = key.startsWith(`${PROJECT}:`) ? key.slice(PROJECT.length + 1) : undefined;
    const ours =
      KUBERNETES_KEYS[key] ?? (name !== undefined && name in CONFIG_SCHEMA ? name : undefined);
    if (ours === undefined || specOf(ours).secret === true) continue;
    problems.push(
      `${key} is encrypted (secure:), but it is not a secret: the program uses it in plain text, ` +
        `in its outputs and objects; set it in plain text, \`pulumi config set ${ours} <value>\``,
    );
  }
  for (const key of KUBECONFIG_KEYS) {
    const value = raw[key];
    if (value === undefined || encrypted.has(key) || !KUBECONFIG_CONTENTS.test(value)) continue;
    problems.push(
      `${key} holds kubeconfig contents (${value.length} characters, credentials) in plain text, ` +
        `in a stack file meant for git; give a path instead, or set the contents encrypted: ` +
        `\`pulumi config set --secret ${key.startsWith(PROJECT) ? "kubeconfig" : key} < <file>\``,
    );
  }
  return problems;
}
