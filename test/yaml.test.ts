import assert from "node:assert/strict";
import { parse } from "yaml";
import { stableYaml } from "../components/common/yaml";

describe("stableYaml", () => {
  it("sorts map keys at every depth, so key order does not change the bytes", () => {
    const a = stableYaml({ b: 1, a: { d: [{ k: 1, j: 2 }], c: "z" } });
    const b = stableYaml({ a: { c: "z", d: [{ j: 2, k: 1 }] }, b: 1 });
    assert.equal(a, b);
    assert.equal(a, "a:\n  c: z\n  d:\n    - j: 2\n      k: 1\nb: 1\n");
  });

  it("quotes strings a YAML 1.1 or 1.2 reader would take for booleans, numbers or null", () => {
    const value = {
      a: "on",
      b: "yes",
      c: "1",
      d: "true",
      e: "0o7",
      f: "1_000",
      g: "~",
      h: "off",
      i: "y",
    };
    const text = stableYaml(value);
    assert.deepEqual(parse(text, { version: "1.1" }), value);
    assert.deepEqual(parse(text, { version: "1.2" }), value);
  });

  it("writes multi-line strings such as PEM bundles as block literals that read back exactly", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const text = stableYaml({ ca: pem });
    assert.equal(
      text,
      "ca: |\n  -----BEGIN CERTIFICATE-----\n  MIIB\n  -----END CERTIFICATE-----\n",
    );
    assert.deepEqual(parse(text, { version: "1.1" }), { ca: pem });
    assert.deepEqual(parse(text, { version: "1.2" }), { ca: pem });
  });

  it("keeps real booleans and numbers as such, and long strings on one line", () => {
    const long = "x".repeat(300);
    assert.equal(stableYaml({ count: 5, on: true, s: long }), `count: 5\n"on": true\ns: ${long}\n`);
  });
});
