// Reads a stack's raw config, key by key, as the registry (stacks/keys.ts) declares each key,
// and collects every problem instead of stopping at the first, so that a stack hears of all of
// them at once.

import { ConfigKey, ConfigValues, KeyOf, PROJECT, Role, keysOf, specOf } from "../keys";
import { didYouMean } from "./suggest";

/** Raw config as Pulumi hands it to the program: full keys (`thanos-bridge:hostname`) to text. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

export const fullKey = (key: string): string => `${PROJECT}:${key}`;
/** Longest value a message repeats in full; a longer one is cut, with its length. */
const SHOWN_CHARACTERS = 60;

/** A value as messages quote it: JSON, cut after SHOWN_CHARACTERS with its length said. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  if (typeof value !== "string" || value.length <= SHOWN_CHARACTERS) return text;
  return `${JSON.stringify(value.slice(0, SHOWN_CHARACTERS)).slice(0, -1)}..." (${value.length} characters)`;
}

/**
 * A role's keys but `grouped`: those its config holds as fields of their own, each typed and read
 * as its entry in stacks/keys.ts says, so that a key without a rule of its own is that entry alone.
 */
export function fieldKeys<R extends Role, G extends KeyOf<R>>(
  role: R,
  grouped: readonly G[],
): Exclude<KeyOf<R>, G>[] {
  return keysOf(role).filter((key): key is Exclude<KeyOf<R>, G> => !grouped.includes(key as G));
}

/** Collects problems while reading typed values; each key reads as its default on error. */
export class Reader {
  private readonly found: { readonly key: ConfigKey; readonly text: string }[] = [];
  /** Each key's value once read: a rule's key read again as a field says its problems once. */
  private readonly read = new Map<ConfigKey, unknown>();

  constructor(private readonly raw: RawConfig) {}

  get problems(): readonly string[] {
    return this.found.map((p) => p.text);
  }

  /** The problems about keys the stack sets (the others are only defaults, or missing). */
  problemsOfSetKeys(): readonly string[] {
    return this.found.filter((p) => this.raw[fullKey(p.key)] !== undefined).map((p) => p.text);
  }

  hasProblem(key: ConfigKey): boolean {
    return this.found.some((p) => p.key === key);
  }

  problem(key: ConfigKey, message: string): void {
    const text = `${fullKey(key)}: ${message}`;
    if (!this.found.some((p) => p.text === text)) this.found.push({ key, text });
  }

  /** True when the key holds a value other than its default (so it was set on purpose). */
  isSet(key: ConfigKey): boolean {
    const text = this.text(key);
    if (text === undefined) return false;
    const spec = specOf(key);
    const asText = Array.isArray(spec.default)
      ? JSON.stringify(spec.default)
      : String(spec.default);
    return text !== asText;
  }

  /** The raw text, or undefined for unset or empty. Whitespace around it is a problem. */
  private text(key: ConfigKey): string | undefined {
    const value = this.raw[fullKey(key)];
    if (value === undefined || value === "") return undefined;
    // Kubeconfig contents are a document: their line breaks are theirs.
    if (key === "kubeconfig") return value;
    const trimmed = value.trim();
    if (trimmed !== value && specOf(key).type !== "array") {
      this.problem(
        key,
        `${show(value)} has whitespace around it; remove it (${show(trimmed)} is what was meant)`,
      );
    }
    return trimmed === "" ? undefined : trimmed;
  }

  /**
   * The key's value, as its entry types and bounds it (its default if it is wrong); `range`
   * words an integer key's range in the message, where "from min to max" would mislead.
   */
  value<K extends ConfigKey>(key: K, range?: string): ConfigValues[K] {
    if (!this.read.has(key)) this.read.set(key, this.parse(key, range));
    return this.read.get(key) as ConfigValues[K];
  }

  /** The keys' values, read in the order given. */
  values<K extends ConfigKey>(keys: readonly K[]): Pick<ConfigValues, K> {
    return Object.fromEntries(keys.map((key) => [key, this.value(key)])) as Pick<ConfigValues, K>;
  }

  private parse(key: ConfigKey, range?: string): unknown {
    switch (specOf(key).type) {
      case "integer":
        return this.integer(key, range);
      case "boolean":
        return this.boolean(key);
      case "array":
        return this.stringList(key);
      case "string":
        return specOf(key).allowed === undefined ? this.string(key) : this.oneOf(key);
    }
  }

  private string(key: ConfigKey): string {
    return this.text(key) ?? String(specOf(key).default);
  }

  /** One of the key's `allowed` values. */
  private oneOf(key: ConfigKey): string {
    const allowed = specOf(key).allowed ?? [];
    const value = this.string(key);
    if (allowed.includes(value)) return value;
    this.problem(
      key,
      `${show(value)} is not allowed; use one of ${allowed.join(", ")}${didYouMean(value, allowed)}`,
    );
    return allowed[0];
  }

  /** A whole number in the key's range. */
  private integer(key: ConfigKey, range?: string): number {
    const spec = specOf(key);
    const [min, max] = [spec.min ?? 0, spec.max ?? Number.MAX_SAFE_INTEGER];
    const text = this.text(key);
    if (text === undefined) return spec.default as number;
    const value = /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      const use = range ?? `a whole number from ${min} to ${max}`;
      const unit = /^[0-9]+ ?[a-z]+$/i.test(text) ? ", without a unit" : "";
      this.problem(key, `${show(text)} is not allowed; use ${use}${unit}`);
      return spec.default as number;
    }
    return value;
  }

  private boolean(key: ConfigKey): boolean {
    const spec = specOf(key);
    const text = this.text(key);
    if (text === undefined) return spec.default as boolean;
    if (text === "true" || text === "false") return text === "true";
    const meant = /^(true|yes|on|1)$/i.test(text)
      ? " (did you mean true?)"
      : /^(false|no|off|0)$/i.test(text)
        ? " (did you mean false?)"
        : "";
    this.problem(key, `${show(text)} is not allowed; use true or false${meant}`);
    return spec.default as boolean;
  }

  private stringList(key: ConfigKey): readonly string[] {
    const spec = specOf(key);
    const text = this.text(key);
    if (text === undefined) return spec.default as readonly string[];
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (typeof value === "string" || (value === undefined && !text.startsWith("["))) {
      // A list written as a string: `key: a,b` or `pulumi config set key a`.
      this.problem(
        key,
        `${show(typeof value === "string" ? value : text)} is a string, not a list; write it in the stack file as a YAML list ` +
          `(one "- item" per line), or \`pulumi config set --path '${key}[0]' <item>\``,
      );
      return spec.default as readonly string[];
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      this.problem(key, `${show(text)} is not allowed; use a YAML list of strings`);
      return spec.default as readonly string[];
    }
    for (const item of value) {
      if (item.trim() !== item) {
        this.problem(key, `${show(item)} has whitespace around it; remove it`);
      }
    }
    return value.map((v) => v.trim());
  }
}
