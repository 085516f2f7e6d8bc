// "Did you mean": the nearest of the known keys or values to a misspelt one, for the loader's
// messages.

/** Levenshtein distance, for "did you mean" on keys and values. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The candidate `value` was most likely meant as: the same but for case, dashes and
 * underscores, else the nearest within a third of its length (at most 3 edits); none if two are
 * equally near.
 */
export function closest(value: string, candidates: readonly string[]): string | undefined {
  const fold = (v: string) => v.toLowerCase().replace(/[-_ ]/g, "");
  const same = candidates.filter((c) => fold(c) === fold(value));
  if (same.length === 1) return same[0];
  const limit = Math.min(3, Math.max(1, Math.floor(value.length / 3)));
  const scored = candidates
    .map((c) => ({ c, d: editDistance(fold(value), fold(c)) }))
    .filter((x) => x.d <= limit)
    .sort((x, y) => x.d - y.d);
  if (scored.length === 0 || (scored.length > 1 && scored[1].d === scored[0].d)) return undefined;
  return scored[0].c;
}

export const didYouMean = (value: string, candidates: readonly string[]): string => {
  const near = closest(value, candidates);
  return near === undefined ? "" : ` (did you mean ${near}?)`;
};
