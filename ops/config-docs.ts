// npm run config:docs: writes what is generated from the config keys (stacks/keys.ts): the
// config section of Pulumi.yaml and the reference docs/CONFIG.md. test/config.test.ts fails when
// either differs from what this would write, so a new key is one entry in stacks/keys.ts and one
// run of this.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { format, resolveConfig } from "prettier";
import { parseDocument } from "yaml";
import { CONFIG_SCHEMA, ConfigKey, ConfigKeySpec, specOf } from "../stacks/keys";

export const PROJECT_DIR = join(__dirname, "..");
export const CONFIG_DOC = "docs/CONFIG.md";

/** One key as Pulumi.yaml declares it (the CLI checks a value's type against it). */
export interface DeclaredKey {
  readonly type: ConfigKeySpec["type"];
  readonly default: ConfigKeySpec["default"];
  readonly items?: { readonly type: "string" };
  readonly description: string;
}

/** The `config:` section of Pulumi.yaml, in the order the keys are declared. */
export function pulumiYamlConfig(): Record<string, DeclaredKey> {
  return Object.fromEntries(
    (Object.keys(CONFIG_SCHEMA) as ConfigKey[]).map((key) => {
      const spec = specOf(key);
      const declared: DeclaredKey = {
        type: spec.type,
        ...(spec.type === "array" ? { items: { type: "string" as const } } : {}),
        default: spec.default,
        description: spec.description,
      };
      return [key, declared];
    }),
  );
}

const code = (v: unknown) => `\`${String(v)}\``;

function shownDefault(spec: ConfigKeySpec): string {
  const values: readonly unknown[] = Array.isArray(spec.default) ? spec.default : [spec.default];
  return values.length === 0 || values[0] === "" ? "—" : values.map(code).join(", ");
}

function shownAllowed(spec: ConfigKeySpec): string {
  if (spec.allowed !== undefined) return spec.allowed.map(code).join(", ");
  if (spec.min !== undefined) return `${spec.min} to ${String(spec.max)}`;
  return "";
}

/** docs/CONFIG.md before formatting: the table of every key. */
function configReferenceText(): string {
  const rows = (Object.keys(CONFIG_SCHEMA) as ConfigKey[]).map((key) => {
    const spec = specOf(key);
    const cells = [
      code(key),
      spec.type,
      shownDefault(spec),
      spec.roles,
      shownAllowed(spec),
      spec.description.replaceAll("|", "\\|"),
    ];
    return `| ${cells.join(" | ")} |`;
  });
  return [
    "# Configuration reference",
    "",
    "<!-- Generated from stacks/keys.ts by `npm run config:docs`; a test fails when it is stale. -->",
    "",
    "Keys are set with `pulumi config set <key> <value>` (the project namespace is",
    "`thanos-bridge`), lists with `pulumi config set --path 'leaves[0]' <value>` or in the stack",
    "file as YAML. `npm run check` checks every stack file here before anything runs; the program",
    "checks the stack's config again before it declares anything, and reports every problem at",
    "once, each with the key, the value and what is allowed.",
    "",
    "A key of the other role set to anything but its default is an error, as is a key unknown in",
    "the project's namespace (the nearest known key is suggested), a key in a misspelt namespace",
    "(`thanos_bridge:`), and a `kubernetes:` key other than `kubernetes:context` and",
    "`kubernetes:kubeconfig`, which are taken as `kubeContext` and `kubeconfig`: every Kubernetes",
    "resource gets the stack's own provider, which reads no `kubernetes:` key. The keys of a leaf",
    "exposure other than its `exposure` are checked but not used, so a switch can be prepared.",
    "",
    "| key | type | default | role | allowed | description |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

/** `text` formatted as the repository keeps the file `relative` (its prettier settings). */
async function formatted(text: string, relative: string): Promise<string> {
  const filepath = join(PROJECT_DIR, relative);
  return format(text, { ...((await resolveConfig(filepath)) ?? {}), filepath });
}

/** docs/CONFIG.md as the repository keeps it. */
export function configReference(): Promise<string> {
  return formatted(configReferenceText(), CONFIG_DOC);
}

/** Pulumi.yaml's text with its config section replaced by the generated one. */
export function pulumiYamlWithConfig(text: string): Promise<string> {
  const doc = parseDocument(text);
  doc.set("config", doc.createNode(pulumiYamlConfig()));
  return formatted(doc.toString({ lineWidth: 100 }), "Pulumi.yaml");
}

async function main(): Promise<void> {
  const project = join(PROJECT_DIR, "Pulumi.yaml");
  writeFileSync(project, await pulumiYamlWithConfig(readFileSync(project, "utf8")));
  writeFileSync(join(PROJECT_DIR, CONFIG_DOC), await configReference());
  console.log(`config:docs: wrote Pulumi.yaml's config section and ${CONFIG_DOC}`);
}

if (require.main === module) void main();
