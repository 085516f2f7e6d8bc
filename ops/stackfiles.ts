// The stack files of the project directory, read as the Pulumi CLI reads them: Pulumi.<stack>.yaml
// (the project file's extension; a .yml or .json one is never read), YAML merge keys honoured.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export interface StackFile {
  readonly stack: string;
  readonly text: string;
}

/** The stack files in a directory, sorted by stack name. */
export function readStackFiles(dir: string): StackFile[] {
  return readdirSync(dir)
    .map((name) => /^Pulumi\.(.+)\.yaml$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ stack: m[1], text: readFileSync(join(dir, m[0]), "utf8") }))
    .sort((a, b) => (a.stack < b.stack ? -1 : 1));
}

/**
 * Files named like stack files that Pulumi never reads: it looks for Pulumi.<stack>.yaml, with
 * the extension of the project file (Pulumi.yaml), so Pulumi.<stack>.yml is not one.
 */
export function ignoredStackFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /^Pulumi\.(.+)\.(ya?ml|json)$/i.test(name) && !/\.yaml$/.test(name))
    .sort();
}

/** A stack file's YAML as the CLI's reader takes it: merge keys (`<<: *defaults`) honoured. */
export function parseStackFile(text: string): unknown {
  return parse(text, { merge: true });
}
