// The bench's stand-in plugins for pulumi-tls and @pulumiverse/time (test/real/plugins/standins.ts)
// serve the npm SDKs' tokens with the SDKs' own property names and types, read here from the
// SDKs' declarations, and decide check, diff and replace as the Terraform providers do.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  Kind,
  ROTATING,
  ResourceTable,
  TIME_TABLES,
  TLS_TABLES,
  checkInputs,
  diffInputs,
  now,
  rotationTime,
} from "./real/plugins/standins";

const MODULES = join(__dirname, "..", "node_modules");

/** The properties of `export interface <name>` in a declaration file, with their kinds. */
function declared(file: string, name: string): Record<string, Kind> {
  const text = readFileSync(join(MODULES, file), "utf8");
  const start = text.indexOf(`export interface ${name} {`);
  assert.ok(start >= 0, `${file} declares no ${name}`);
  const body = text.slice(start, text.indexOf("\n}", start));
  const props: Record<string, Kind> = {};
  for (const m of body.matchAll(/^\s+(?:readonly )?([A-Za-z0-9]+)\??: (.*)$/gm)) {
    const type = m[2];
    props[m[1]] = /Input<string>\[\]/.test(type)
      ? "string[]"
      : /Input<\{/.test(type)
        ? "map"
        : /inputs\./.test(type)
          ? "object"
          : /Input<string/.test(type)
            ? "string"
            : /Input<number/.test(type)
              ? "number"
              : "boolean";
  }
  return props;
}

/** The SDK class of a token, by its file: `tls:index/privateKey:PrivateKey` → privateKey. */
function sdkFiles(token: string): { pkg: string; base: string; cls: string } {
  const [pkg, mod, cls] = token.split(":");
  return {
    pkg: pkg === "tls" ? "@pulumi/tls" : "@pulumiverse/time",
    base: mod.split("/")[1],
    cls,
  };
}

/** What the SDK declares that the stand-ins leave out: write-only inputs the program never sets. */
const NOT_SERVED: Readonly<Record<string, readonly string[]>> = {
  "tls:index/privateKey:PrivateKey": [],
  "tls:index/certRequest:CertRequest": ["privateKeyPemWo", "privateKeyPemWoVersion"],
  "tls:index/selfSignedCert:SelfSignedCert": ["privateKeyPemWo", "privateKeyPemWoVersion"],
  "tls:index/locallySignedCert:LocallySignedCert": [
    "caPrivateKeyPemWo",
    "caPrivateKeyPemWoVersion",
  ],
  [ROTATING]: [],
};

describe("stand-in plugins: the SDKs' tokens, names and types", () => {
  const tables: [string, ResourceTable][] = [
    ...Object.entries(TLS_TABLES),
    ...Object.entries(TIME_TABLES),
  ];

  for (const [token, table] of tables) {
    it(`${token}: every input the SDK declares, with its type, but the write-only ones`, () => {
      const { pkg, base, cls } = sdkFiles(token);
      const js = readFileSync(join(MODULES, pkg, `${base}.js`), "utf8");
      assert.ok(js.includes(`__pulumiType = '${token}'`), `${pkg} has no ${token}`);
      const args = declared(join(pkg, `${base}.d.ts`), `${cls}Args`);
      const served = Object.fromEntries(
        Object.entries(args).filter(([k]) => !NOT_SERVED[token].includes(k)),
      );
      assert.deepEqual(table.inputs, served);
    });

    it(`${token}: its outputs are properties of the SDK's state, with their types`, () => {
      const { pkg, base, cls } = sdkFiles(token);
      const state = declared(join(pkg, `${base}.d.ts`), `${cls}State`);
      for (const [name, kind] of Object.entries({ ...table.inputs, ...table.outputs })) {
        assert.equal(state[name], kind, `${cls}State.${name}`);
      }
    });
  }
});

describe("stand-in plugins: check, diff and replace", () => {
  const cert = TLS_TABLES["tls:index/locallySignedCert:LocallySignedCert"];

  it("check names a missing required input, an unknown one and a wrong type", () => {
    assert.deepEqual(
      checkInputs(cert, { allowedUses: "server_auth", nope: 1 }).map((f) => f.reason),
      [
        "allowedUses must be a string[]",
        "nope is not an input of this resource",
        "Missing required property 'caCertPem'",
        "Missing required property 'caPrivateKeyPem'",
        "Missing required property 'certRequestPem'",
        "Missing required property 'validityPeriodHours'",
      ],
    );
  });

  it("a new earlyRenewalHours updates in place; any other input change replaces", () => {
    const olds = { validityPeriodHours: 10, earlyRenewalHours: 1, certRequestPem: "a" };
    assert.deepEqual(diffInputs(cert, olds, { ...olds, earlyRenewalHours: 2 }), {
      changed: ["earlyRenewalHours"],
      replaces: [],
    });
    assert.deepEqual(diffInputs(cert, olds, { ...olds, certRequestPem: "b" }), {
      changed: ["certRequestPem"],
      replaces: ["certRequestPem"],
    });
  });

  it("a Rotating keeps its computed times when they are not set, and turns after its period", () => {
    const clock = TIME_TABLES[ROTATING];
    const olds = { rotationHours: 5, rfc3339: "2026-01-01T00:00:00Z", triggers: { signer: "1" } };
    assert.deepEqual(diffInputs(clock, olds, { rotationHours: 5, triggers: { signer: "1" } }), {
      changed: [],
      replaces: [],
    });
    assert.deepEqual(
      diffInputs(clock, olds, { rotationHours: 5, triggers: { signer: "2" } }).replaces,
      ["triggers"],
    );
    assert.equal(
      new Date(
        rotationTime(Date.parse("2026-01-31T00:00:00Z"), { rotationMonths: 1 }),
      ).toISOString(),
      "2026-03-03T00:00:00.000Z",
    );
  });

  it("reads now from THANOS_BRIDGE_TEST_NOW, and refuses a value that is not a time", () => {
    assert.equal(now({ THANOS_BRIDGE_TEST_NOW: "2030-01-01T00:00:00Z" }), Date.UTC(2030, 0, 1));
    assert.throws(
      () => now({ THANOS_BRIDGE_TEST_NOW: "soon" }),
      /THANOS_BRIDGE_TEST_NOW is not a time: soon/,
    );
  });
});
