/**
 * A strict validator for Envoy configuration written as plain JavaScript objects (what
 * envoy.yaml parses to), checked against Envoy's own v3 .proto files.
 *
 * Envoy reads YAML by turning it into JSON and parsing that with the proto3 JSON mapping
 * (https://protobuf.dev/programming-guides/json/), then runs the protoc-gen-validate (PGV)
 * rules embedded in the protos. protobufjs's `fromObject`/`verify` are no substitute: they drop
 * unknown fields silently and accept loosely typed values, so this walks the protobufjs
 * reflection by hand and reports every problem it finds, each prefixed with a path such as
 * `static_resources.clusters[0].transport_socket.typed_config(<@type>).common_tls_context`.
 * Problems about a key (unknown, deprecated, missing, oneof) carry the path of the message
 * that holds the key; problems about a value carry the path of the value itself.
 */
import { existsSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import * as protobuf from "protobufjs";

/** Include roots of the protos vendored by @grpc/grpc-js-xds (the same layout protoc uses). */
const XDS_DEPS = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const INCLUDE_DIRS = [
  ...["envoy-api", "xds", "protoc-gen-validate", "googleapis"].map((d) => join(XDS_DEPS, d)),
  // google/protobuf/descriptor.proto (imported by the option definitions) ships with protobufjs.
  // The other google/protobuf/*.proto files never reach resolvePath: Root.load takes them from
  // its built-in `protobuf.common` definitions.
  dirname(require.resolve("protobufjs/package.json")),
];

/**
 * The proto files loaded (plus everything they import). Only message types defined in these
 * files or their imports can be named by an Any's "@type"; add a file here to make more resolvable.
 */
export const ENVOY_PROTO_FILES: readonly string[] = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  // What a path_config_source file holds (SDS from files).
  "envoy/service/discovery/v3/discovery.proto",
  "xds/type/v3/typed_struct.proto",
  "udpa/type/v1/typed_struct.proto",
];

let cachedRoot: protobuf.Root | undefined;

/** Loads (once per process, about 0.2 s) and returns the protobufjs Root for ENVOY_PROTO_FILES. */
export function loadEnvoyProtos(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    const found = INCLUDE_DIRS.map((dir) => join(dir, target)).find((p) => existsSync(p));
    return found ?? target; // unresolved: let loadSync fail with ENOENT naming the import
  };
  // keepCase: field names stay snake_case as in the .proto files and in Envoy YAML.
  root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
  root.resolveAll();
  cachedRoot = root;
  return root;
}

const fullName = (obj: protobuf.ReflectionObject): string => obj.fullName.replace(/^\./, "");

/** The message type with exactly this fully qualified name, if loaded. */
function lookupMessage(name: string): protobuf.Type | undefined {
  const found = loadEnvoyProtos().lookup(name);
  // lookup() also searches nested namespaces for partial names: insist on an exact match.
  return found instanceof protobuf.Type && fullName(found) === name ? found : undefined;
}

/** True if `typeName` (e.g. "envoy.config.cluster.v3.Cluster") can be used in an Any's "@type". */
export function isResolvableType(typeName: string): boolean {
  return lookupMessage(typeName) !== undefined;
}

/** A field or oneof option as protobufjs flattens it, e.g. "(validate.rules).message.required". */
function opt(obj: { options?: Record<string, unknown> }, key: string): unknown {
  return obj.options?.[key];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  const kind = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  const json = JSON.stringify(v) ?? ""; // undefined for functions and symbols
  return `${kind} ${json.length > 40 ? `${json.slice(0, 37)}...` : json}`;
}

/** [min, max] of an integer type by name ("uint32" → [0, 2^32-1]); undefined if not one. */
function intRange(kind: string): [bigint, bigint] | undefined {
  const m = /^(u?int|sint|s?fixed)(32|64)$/.exec(kind);
  if (!m) return undefined;
  const bits = BigInt(m[2]);
  if (m[1] === "uint" || m[1] === "fixed") return [0n, 2n ** bits - 1n];
  return [-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n];
}
/** Wrappers (google.protobuf.UInt32Value...) are written as the bare scalar, not {value: ...}. */
const WRAPPERS: Record<string, string> = Object.fromEntries(
  ["Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"].map((n) => [
    `google.protobuf.${n}Value`,
    n.toLowerCase(),
  ]),
);
/** Well-known types whose JSON form is not an object; inside an Any they sit under "value". */
const CUSTOM_JSON = new Set([
  ...Object.keys(WRAPPERS),
  ...["Any", "Duration", "Timestamp", "FieldMask", "Struct", "Value", "ListValue"].map(
    (n) => `google.protobuf.${n}`,
  ),
]);
// Duration: seconds with up to 9 fractional digits and an "s" suffix ("0s", "1.5s", "-2s").
const DURATION_RE = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const BASE64_RE = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2,3}={0,2})?$/; // std or URL-safe
const MAX_DURATION_SECONDS = 315_576_000_000; // ±10000 years, the proto3 Duration range

/** lowerCamelCase JSON name that the proto3 JSON parser accepts besides the field name. */
const jsonName = (f: protobuf.Field): string =>
  f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

const keyIndexCache = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();
/** Every accepted key of a message (proto name and JSON name) → its field. */
function keyIndex(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = keyIndexCache.get(type);
  if (!index) {
    index = new Map();
    for (const f of type.fieldsArray) index.set(jsonName(f), f);
    for (const f of type.fieldsArray) index.set(f.name, f); // a proto name wins any clash
    keyIndexCache.set(type, index);
  }
  return index;
}

class Walker {
  readonly problems: string[] = [];

  private report(path: string, problem: string): void {
    this.problems.push(`${path || "<root>"}: ${problem}`);
  }

  private expected(path: string, what: string, v: unknown): void {
    this.report(path, `expected ${what}, got ${describe(v)}`);
  }

  /** Any value whose declared type is the message `type`. */
  message(type: protobuf.Type, v: unknown, path: string): void {
    const name = fullName(type);
    const wrapped = WRAPPERS[name];
    if (wrapped) return this.scalar(wrapped, v, path);
    switch (name) {
      case "google.protobuf.Any":
        return this.any(v, path);
      case "google.protobuf.Duration":
        if (typeof v !== "string" || !DURATION_RE.test(v)) {
          return this.expected(path, `a Duration string like "5s" or "0.25s"`, v);
        }
        if (Math.abs(parseFloat(v)) > MAX_DURATION_SECONDS) this.report(path, "Duration too big");
        return;
      case "google.protobuf.Timestamp":
        if (typeof v !== "string" || !TIMESTAMP_RE.test(v) || Number.isNaN(Date.parse(v))) {
          this.expected(path, "an RFC 3339 timestamp string", v);
        }
        return;
      case "google.protobuf.FieldMask": // comma-separated paths in one string
        if (typeof v !== "string") this.expected(path, "a FieldMask string", v);
        return;
      case "google.protobuf.Struct":
        if (!isPlainObject(v)) this.expected(path, "an object (Struct)", v);
        return;
      case "google.protobuf.ListValue":
        if (!Array.isArray(v)) this.expected(path, "an array (ListValue)", v);
        return;
      case "google.protobuf.Value": // any JSON value
        return;
    }
    // Everything else, including google.protobuf.Empty (no fields, so only {} passes).
    if (!isPlainObject(v)) return this.expected(path, `an object (${name})`, v);
    this.fields(type, v, path, []);
  }

  /** The keys of an object holding a message of `type` (`ignore`: keys handled by the caller). */
  fields(type: protobuf.Type, obj: Record<string, unknown>, path: string, ignore: string[]): void {
    const name = fullName(type);
    const present = new Map<protobuf.Field, string>(); // field → the key it was given under
    for (const [key, v] of Object.entries(obj)) {
      if (ignore.includes(key)) continue;
      const field = keyIndex(type).get(key);
      if (!field) {
        this.report(path, `unknown field "${key}" in ${name}`);
        continue;
      }
      const previous = present.get(field);
      if (previous !== undefined) this.report(path, `"${field.name}" given twice ("${previous}")`);
      // JSON mapping: null means "not set" (the default); undefined is how JS says the same.
      if (v === null || v === undefined) continue;
      present.set(field, key);
      // Current Envoy rejects most deprecated v3 fields unless runtime flags allow them.
      if (opt(field, "deprecated") === true)
        this.report(path, `deprecated field "${key}" in ${name}`);
      this.field(field, v, path ? `${path}.${key}` : key);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.oneof.filter((n) => present.has(type.fields[n]));
      const what = `oneof "${oneof.name}" of ${name}`;
      if (set.length > 1) this.report(path, `${what} has several members set: ${set.join(", ")}`);
      else if (set.length === 0 && opt(oneof, "(validate.required)") === true) {
        this.report(path, `missing required ${what} (set one of: ${oneof.oneof.join(", ")})`);
      }
    }
    // PGV rules that also fire when a field is absent (an absent scalar is its default: "" / []).
    // Members of a oneof are checked only when set, as PGV does.
    for (const f of type.fieldsArray) {
      if (present.has(f) || f.partOf) continue;
      const minLen = opt(f, "(validate.rules).string.min_len");
      const minItems = opt(f, "(validate.rules).repeated.min_items");
      const missing = `missing required field "${f.name}" of ${name}`;
      if (opt(f, "(validate.rules).message.required") === true) this.report(path, missing);
      else if (typeof minLen === "number" && minLen > 0 && !f.repeated) {
        this.report(path, `${missing} (string min_len ${minLen})`);
      } else if (typeof minItems === "number" && minItems > 0) {
        this.report(path, `${missing} (min_items ${minItems})`);
      }
    }
  }

  /** A present, non-null field value: repeated → array, map → object, else a single value. */
  field(f: protobuf.Field, v: unknown, path: string): void {
    if (f instanceof protobuf.MapField) {
      // JSON object keys are always strings; they must still parse as the proto key type.
      if (!isPlainObject(v)) return this.expected(path, "an object (map)", v);
      for (const [k, item] of Object.entries(v)) {
        const itemPath = `${path}[${JSON.stringify(k)}]`;
        if (f.keyType === "bool" && k !== "true" && k !== "false") {
          this.report(itemPath, `map key must be "true" or "false"`);
        } else if (f.keyType !== "string" && f.keyType !== "bool") {
          const n = /^-?\d+$/.test(k) ? k : NaN;
          this.scalar(f.keyType, f.keyType.endsWith("64") ? n : Number(n), `${itemPath} (key)`);
        }
        this.single(f, item, itemPath);
      }
    } else if (f.repeated) {
      if (!Array.isArray(v)) return this.expected(path, "an array", v);
      const minItems = opt(f, "(validate.rules).repeated.min_items");
      if (typeof minItems === "number" && v.length < minItems) {
        this.report(path, `needs at least ${minItems} item(s), got ${v.length}`);
      }
      v.forEach((item: unknown, i) => this.single(f, item, `${path}[${i}]`));
    } else {
      this.single(f, v, path);
      this.rules(f, v, path);
    }
  }

  /** One value of the field's element type (repeated/map elements may not be null). */
  single(f: protobuf.Field, v: unknown, path: string): void {
    const t = f.resolvedType;
    if (t instanceof protobuf.Type) this.message(t, v, path);
    else if (t instanceof protobuf.Enum) this.enumValue(t, v, path);
    else this.scalar(f.type, v, path);
  }

  /** A few PGV rules on singular scalars (also wrappers): string min_len, numeric bounds. */
  rules(f: protobuf.Field, v: unknown, path: string): void {
    const t = f.resolvedType;
    const kind = t instanceof protobuf.Type ? WRAPPERS[fullName(t)] : f.type;
    const minLen = opt(f, `(validate.rules).string.min_len`);
    if (typeof v === "string" && typeof minLen === "number" && [...v].length < minLen) {
      this.report(path, `string shorter than min_len ${minLen}`);
    }
    if (kind === undefined || typeof v !== "number") return;
    for (const op of ["gt", "gte", "lt", "lte"]) {
      const b = opt(f, `(validate.rules).${kind}.${op}`);
      if (typeof b !== "number") continue;
      const holds = op === "gt" ? v > b : op === "gte" ? v >= b : op === "lt" ? v < b : v <= b;
      if (!holds) this.report(path, `must be ${op} ${b}, got ${v}`);
    }
  }

  /** Enums: a value name, or the number of a defined value. */
  enumValue(e: protobuf.Enum, v: unknown, path: string): void {
    const name =
      typeof v === "string" ? v : Number.isInteger(v) ? e.valuesById[v as number] : undefined;
    if (name === undefined || !Object.hasOwn(e.values, name)) {
      const allowed = Object.keys(e.values).join(", ");
      return this.report(path, `invalid ${fullName(e)} value ${describe(v)} (allowed: ${allowed})`);
    }
    const valueOptions: Record<string, unknown> | undefined = e.valuesOptions?.[name];
    if (valueOptions?.deprecated === true) this.report(path, `deprecated enum value ${name}`);
  }

  /** Scalars by the JSON mapping. */
  scalar(kind: string, v: unknown, path: string): void {
    let ok: boolean;
    const range = intRange(kind);
    if (range) {
      // 64-bit integers are decimal strings in JSON (numbers are accepted too). 32-bit ones are
      // numbers; the spec also accepts strings for them, but a quoted port is a bug: refused.
      const integral =
        (typeof v === "number" && Number.isInteger(v)) ||
        (kind.endsWith("64") && typeof v === "string" && /^-?\d+$/.test(v));
      ok = integral && BigInt(v) >= range[0] && BigInt(v) <= range[1];
    } else if (kind === "double" || kind === "float") {
      ok =
        (typeof v === "number" && Number.isFinite(v)) ||
        ["NaN", "Infinity", "-Infinity"].includes(v as string);
    } else if (kind === "string") {
      ok = typeof v === "string";
    } else if (kind === "bool") {
      ok = typeof v === "boolean";
    } else if (kind === "bytes") {
      ok = typeof v === "string" && BASE64_RE.test(v);
    } else {
      throw new Error(`envoy-validator: unhandled scalar type ${kind}`);
    }
    if (!ok) this.expected(path, range ? `${kind} in range` : kind, v);
  }

  /**
   * google.protobuf.Any: {"@type": "type.googleapis.com/<full.Name>", ...fields of that message}.
   * For a well-known type with a custom JSON form the payload is {"@type": ..., "value": <json>}.
   */
  any(v: unknown, path: string): void {
    if (!isPlainObject(v)) return this.expected(path, `an object with "@type" (Any)`, v);
    const url = v["@type"];
    if (url === undefined) return this.report(path, `missing "@type" in Any`);
    if (typeof url !== "string") return this.expected(`${path}["@type"]`, "a string", url);
    const typeName = url.slice(url.lastIndexOf("/") + 1);
    const type = url.includes("/") ? lookupMessage(typeName) : undefined;
    if (!type) {
      return this.report(path, `unknown @type "${url}" (no such message in ENVOY_PROTO_FILES)`);
    }
    const inner = `${path}(${typeName})`;
    if (!CUSTOM_JSON.has(typeName)) return this.fields(type, v, inner, ["@type"]);
    for (const key of Object.keys(v)) {
      if (key !== "@type" && key !== "value") this.report(inner, `unknown field "${key}"`);
    }
    this.message(type, v.value, `${inner}.value`);
  }
}

/** Problems found in `value` read as the message type `typeName` (fully qualified); [] if valid. */
export function validateMessage(typeName: string, value: unknown): string[] {
  const type = lookupMessage(typeName);
  if (!type) throw new Error(`envoy-validator: no message type ${typeName} in ENVOY_PROTO_FILES`);
  const walker = new Walker();
  walker.message(type, value, "");
  return walker.problems;
}

/** Problems found in an Envoy bootstrap config (envoy.config.bootstrap.v3.Bootstrap); [] if valid. */
export function validateEnvoyBootstrap(config: unknown): string[] {
  return validateMessage("envoy.config.bootstrap.v3.Bootstrap", config);
}

const SECRET_TYPE = "envoy.extensions.transport_sockets.tls.v3.Secret";

/**
 * Problems Envoy would find in a file that an SdsSecretConfig reads through path_config_source;
 * [] if none. Envoy parses the file as a DiscoveryResponse (checked strictly here, the Secret
 * inside its Any included), and SDS then wants exactly one resource, a Secret with the name the
 * bootstrap gives (Envoy's source/common/secret/sds_api.cc). `kind` is the Secret's member the
 * referring field needs: `tls_certificate` or `validation_context`.
 */
export function validateSdsFile(
  file: unknown,
  secretName: string,
  kind: "tls_certificate" | "validation_context",
): string[] {
  const problems = validateMessage("envoy.service.discovery.v3.DiscoveryResponse", file);
  const resources = isPlainObject(file) && Array.isArray(file.resources) ? file.resources : [];
  if (resources.length !== 1) {
    return [...problems, `resources: SDS takes exactly one resource, got ${resources.length}`];
  }
  const secret: unknown = resources[0];
  if (!isPlainObject(secret) || secret["@type"] !== `type.googleapis.com/${SECRET_TYPE}`) {
    return [...problems, `resources[0]: its @type must be ${SECRET_TYPE}`];
  }
  if (secret.name !== secretName) {
    problems.push(
      `resources[0].name: ${describe(secret.name)}, but the bootstrap asks for ${JSON.stringify(secretName)}`,
    );
  }
  if (secret[kind] === undefined || secret[kind] === null) {
    problems.push(`resources[0]: no ${kind}, which the bootstrap's reference to it needs`);
  }
  return problems;
}

/** Throws an Error listing every problem if `config` is not a valid Envoy bootstrap. */
export function assertValidEnvoyBootstrap(config: unknown): void {
  const problems = validateEnvoyBootstrap(config);
  if (problems.length > 0) {
    throw new Error(
      `invalid Envoy bootstrap (${problems.length} problem(s)):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
}
