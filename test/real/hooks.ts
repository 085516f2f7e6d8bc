// Root hooks of `npm run test:real`: before anything runs, say what is real and what stands in.
import { benchLines, realBinary, requiredBinaries } from "./support/bench";

export function mochaGlobalSetup(): void {
  console.log("thanos-bridge real bench:");
  for (const line of benchLines()) console.log(`  ${line}`);
  // Fail at once, naming the command, rather than in every test.
  for (const name of requiredBinaries()) realBinary(name);
}
