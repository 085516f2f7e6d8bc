// The release's adoption basics: one version number everywhere it is written, a changelog entry
// for it with upgrade notes, and the license package.json names.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..");
const read = (file: string): string => readFileSync(join(ROOT, file), "utf8");

describe("release", () => {
  const pkg = JSON.parse(read("package.json")) as { version: string; license: string };
  const changelog = read("CHANGELOG.md");
  const releases = [...changelog.matchAll(/^## ([0-9]+\.[0-9]+\.[0-9]+)$/gm)].map((m) => m[1]);

  it("writes one version: package.json, package-lock.json, the changelog's newest entry, the README", () => {
    const lock = JSON.parse(read("package-lock.json")) as {
      version: string;
      packages: Record<string, { version?: string }>;
    };
    const [major, minor] = pkg.version.split(".");
    assert.deepEqual(
      {
        lock: lock.version,
        lockRoot: lock.packages[""].version,
        changelog: releases[0],
        readme: /This release \(([0-9.]+)\)/.exec(read("README.md"))?.[1],
      },
      {
        lock: pkg.version,
        lockRoot: pkg.version,
        changelog: pkg.version,
        readme: `${major}.${minor}`,
      },
    );
  });

  it("lists every release, newest first, each after the first with its upgrade notes", () => {
    assert.deepEqual(releases, ["0.4.0", "0.3.0", "0.2.0", "0.1.0"]);
    for (const [i, release] of releases.slice(0, -1).entries()) {
      const previous = releases[i + 1].split(".").slice(0, 2).join(".");
      const section = changelog.split(`## ${release}\n`)[1].split(/^## /m)[0];
      assert.match(
        section,
        new RegExp(`^### Upgrading from ${previous.replace(".", "\\.")}$`, "m"),
      );
    }
  });

  it("ships the license package.json names: the Apache License 2.0", () => {
    assert.equal(pkg.license, "Apache-2.0");
    const license = read("LICENSE");
    assert.match(license, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
    assert.match(license, /END OF TERMS AND CONDITIONS/);
  });
});
