// The program's type check, once per command. `pulumi up` type-checks a TypeScript program
// before it runs it, at every stack; the commands check it here once instead, and then run every
// stack with PULUMI_NODEJS_TRANSPILE_ONLY=true, so 100 stacks cost one check, not 100. See
// docs/OPERATIONS.md, "What a run costs".
import { join, relative } from "node:path";
import ts from "typescript";

/** What the commands add to every stack's environment once the program has passed its check. */
export const CHECKED_PROGRAM_ENV: Readonly<Record<string, string>> = {
  PULUMI_NODEJS_TRANSPILE_ONLY: "true",
};

/**
 * Type-checks the program (index.ts and everything it imports) with the project's
 * tsconfig.json, as ts-node would at `pulumi up`. Returns one line per error, each naming its
 * file (relative to `repo`), line and column; none when the program is sound.
 */
export function typeCheckProgram(repo: string): string[] {
  const configPath = join(repo, "tsconfig.json");
  const diagnostics: ts.Diagnostic[] = [];
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    { noEmit: true },
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => diagnostics.push(d),
    },
  );
  if (parsed !== undefined) {
    const program = ts.createProgram({
      rootNames: [join(repo, "index.ts")],
      options: parsed.options,
    });
    diagnostics.push(...ts.getPreEmitDiagnostics(program));
  }
  return diagnostics
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
      if (d.file === undefined || d.start === undefined) return `TS${d.code}: ${message}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      const where = `${relative(repo, d.file.fileName)}:${line + 1}:${character + 1}`;
      return `${where}: TS${d.code}: ${message}`;
    });
}
