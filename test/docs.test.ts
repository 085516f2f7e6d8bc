// The architecture document is the one the code cites: every "invariant N" named in code and
// tests is defined in docs/ARCHITECTURE.md, and nothing cites a file outside the repository.
// The README and docs/ link to each other: every relative link resolves, to a file and, with an
// anchor, to a heading of that file.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = join(__dirname, "..");

/** Files git tracks or would track (untracked, not ignored), as the repository holds them. */
function repositoryFiles(): string[] {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter((f) => f !== "" && !f.startsWith("node_modules/"));
}

/** The numbered invariants of docs/ARCHITECTURE.md's "## Invariants" section. */
export function definedInvariants(doc: string): number[] {
  const section = /## Invariants\n([\s\S]*?)\n## /.exec(doc);
  assert.ok(section !== null, "docs/ARCHITECTURE.md has no ## Invariants section");
  return [...section[1].matchAll(/^(\d+)\. \*\*/gm)].map((m) => Number(m[1]));
}

/** Every invariant number a text names: "invariant 4", "invariants 2, 3", "invariants 2 and 4". */
export function citedInvariants(text: string): number[] {
  return [...text.matchAll(/invariants? (\d+(?:(?:, | and )\d+)*)/gi)].flatMap((m) =>
    m[1].split(/, | and /).map(Number),
  );
}

describe("docs/ARCHITECTURE.md", () => {
  const doc = readFileSync(join(ROOT, "docs", "ARCHITECTURE.md"), "utf8");
  const sources = repositoryFiles().filter((f) => /\.(ts|go|sh|mjs)$|^\.ci\//.test(f));

  it("numbers its invariants 1 to 8 without a gap", () => {
    assert.deepEqual(definedInvariants(doc), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("defines every invariant that code and tests name", () => {
    const defined = new Set(definedInvariants(doc));
    const undefinedCites = sources.flatMap((f) =>
      citedInvariants(readFileSync(join(ROOT, f), "utf8"))
        .filter((n) => !defined.has(n))
        .map((n) => `${f}: invariant ${n}`),
    );
    assert.deepEqual(undefinedCites, []);
    // The check sees the citations it is meant to see.
    assert.deepEqual(
      citedInvariants("(invariants 2, 3) and invariant 7, invariants 2 and 4"),
      [2, 3, 7, 2, 4],
    );
  });

  it("is what the code cites: no file outside the repository, no DESIGN.md", () => {
    const outside = [...sources, ...repositoryFiles().filter((f) => f.endsWith(".md"))]
      // This file spells the patterns out.
      .filter((f) => f !== "test/docs.test.ts")
      .flatMap((f) =>
        /\.\.\/shared|DESIGN\.md|DESIGN invariant|REAL-COMPONENTS/.test(
          readFileSync(join(ROOT, f), "utf8"),
        )
          ? [f]
          : [],
      );
    assert.deepEqual(outside, []);
  });
});

/** Markdown without its fenced code blocks, line for line (a fence's lines become empty). */
function withoutFences(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line;
  });
}

/**
 * The anchor GitHub gives a heading: its text as rendered (code spans and links reduced to their
 * text, emphasis marks gone), lowercased, every character but letters, digits, spaces, `-` and
 * `_` dropped, spaces made `-`.
 */
export function headingSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[`*]/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a markdown file's headings give, a repeated one suffixed -1, -2 as GitHub does. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutFences(markdown)) {
    const m = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const slug = headingSlug(m[1]);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** The targets of a markdown file's inline links, outside code blocks and code spans. */
export function linkTargets(markdown: string): string[] {
  return withoutFences(markdown).flatMap((line) =>
    [...line.replace(/`[^`]*`/g, "").matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]),
  );
}

/** What is wrong with each relative link of `file` (repository-relative), or nothing. */
export function brokenLinks(file: string, root: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  return linkTargets(text).flatMap((target) => {
    // A URL (https:, mailto:) is not the repository's to check.
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return [];
    const [path, anchor] = target.split("#", 2) as [string, string | undefined];
    const resolved = path === "" ? file : normalize(join(dirname(file), path));
    if (resolved.startsWith("..") || relative(root, join(root, resolved)).startsWith("..")) {
      return [`${file}: ${target}: outside the repository`];
    }
    if (!existsSync(join(root, resolved))) return [`${file}: ${target}: no file ${resolved}`];
    if (anchor === undefined) return [];
    if (!resolved.endsWith(".md"))
      return [`${file}: ${target}: an anchor into a non-markdown file`];
    return anchors(readFileSync(join(root, resolved), "utf8")).has(anchor)
      ? []
      : [`${file}: ${target}: no heading #${anchor} in ${resolved}`];
  });
}

describe("README.md and docs/*.md links", () => {
  const files = [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];

  it("every relative link names a file that exists and, with an anchor, a heading in it", () => {
    assert.deepEqual(
      files.flatMap((f) => brokenLinks(f, ROOT)),
      [],
    );
    // The check sees links: the README links into docs/ with anchors.
    assert.ok(
      linkTargets(readFileSync(join(ROOT, "README.md"), "utf8")).some((t) =>
        /^docs\/.+\.md#/.test(t),
      ),
    );
  });

  it("spells anchors as GitHub does", () => {
    assert.equal(
      headingSlug("Querier's own mutual TLS (`dataPath: thanos`)"),
      "queriers-own-mutual-tls-datapath-thanos",
    );
    assert.equal(
      headingSlug("Checking stack files: `npm run check`"),
      "checking-stack-files-npm-run-check",
    );
    assert.equal(headingSlug("What is verified, and how"), "what-is-verified-and-how");
    assert.equal(headingSlug("See [the docs](docs/X.md) now"), "see-the-docs-now");
    assert.deepEqual(
      [...anchors("# A\n\n```\n# not a heading\n```\n## A\n## B-c_d\n")],
      ["a", "a-1", "b-c_d"],
    );
    assert.deepEqual(
      linkTargets("[x](a.md#b) `[y](z.md)` [u](https://e.org)\n```\n[v](w.md)\n```"),
      ["a.md#b", "https://e.org"],
    );
  });
});
