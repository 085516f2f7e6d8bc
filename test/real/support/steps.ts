// For a suite whose tests are the steps of one scenario, each building on what the one before
// left behind: once a step fails, the later steps are skipped (shown as pending), so the failure
// reported is the first one, not the cascade of later steps that lack its results.

/**
 * Call inside the suite's `describe`. Returns whether a step has failed, for a nested suite's
 * `before` hook to skip its setup (`if (failed()) this.skip()`).
 */
export function stepByStep(): () => boolean {
  let failed = false;
  beforeEach(function () {
    if (failed) this.skip();
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });
  return () => failed;
}
