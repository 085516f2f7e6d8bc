// Debian's nginx as the tests run it, whatever it stands in for (a leaf's ingress-nginx in
// ./nginx.ts, the observer's Envoy in ../real/support/envoy-standin.ts): one master in the
// foreground leading a process group of the registry (./processes.ts), its files in one
// directory that holds keys and goes with it, up once its pid file names it, reloaded
// gracefully, stopped with SIGQUIT and, if it lingers, SIGKILL. The stand-ins differ only in the
// config they render, so the process's lifecycle is written once, here.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, signalTracked, track } from "./processes";

export const NGINX_BINARY = process.env.NGINX_BINARY ?? "/usr/sbin/nginx";
export const nginxAvailable = (): boolean => existsSync(NGINX_BINARY);

/** How long nginx may take to bind its listeners and write its pid file. */
const START_MS = 10_000;
/** How long a stopping nginx may take to finish before it is killed. */
const STOP_GRACE_MS = 5000;

/**
 * The directives of nginx.conf that put nginx's files in `dir`, where the process started on it
 * looks for them: `main` for the top level (pid file, error log at level info, which logs client
 * certificate failures), `http` for the http block (the access log in `logFormat`, and the
 * temporary files, in a directory the workers, running as nobody, can write).
 */
export function nginxFileDirectives(
  dir: string,
  logFormat: string,
): { readonly main: string[]; readonly http: string[] } {
  const temp = join(dir, "temp");
  return {
    main: [`pid ${join(dir, "nginx.pid")};`, `error_log ${join(dir, "error.log")} info;`],
    http: [
      `access_log ${join(dir, "access.log")} ${logFormat};`,
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${temp};`),
    ],
  };
}

/** nginx exited, or never wrote its pid file, before it was up; `output` is what it said. */
export class NginxDidNotStart extends Error {
  constructor(readonly output: string) {
    super(`nginx did not start: ${output}`);
  }
}

export interface NginxProcess {
  /** The master's pid; it leads a process group with its workers. */
  readonly pid: number;
  /** The error log so far. */
  errorLog(): string;
  /** The access log so far. */
  accessLog(): string;
  /** Writes `config` as nginx.conf, then reloads gracefully (see reloadNginx). */
  reload(config: string, options?: { readonly oldWorkersGone?: boolean }): Promise<void>;
  /** Stops nginx and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts nginx in the foreground on `config`, written as `dir`/nginx.conf; the config names its
 * files with nginxFileDirectives(`dir`, …). `wrap` turns nginx's command line into the one
 * spawned, which must end by exec'ing nginx so that the child's pid is the master's. nginx is up
 * once its pid file names it: nginx writes it after binding its listeners, so they are its own.
 * From here on `dir` belongs to the process: it is removed at `stop()`, and at once if nginx
 * does not start (NginxDidNotStart, with its stderr and error log).
 */
export async function startNginxProcess(
  dir: string,
  config: string,
  wrap: (nginx: string[]) => string[] = (nginx) => nginx,
): Promise<NginxProcess> {
  const conf = join(dir, "nginx.conf");
  const pidFile = join(dir, "nginx.pid");
  const errorLog = join(dir, "error.log");
  const temp = join(dir, "temp");
  mkdirSync(temp, { recursive: true });
  chmodSync(temp, 0o777);
  writeFileSync(conf, config);
  const nginx = [NGINX_BINARY, "-p", dir, "-c", conf, "-e", errorLog, "-g", "daemon off;"];
  const [command, ...args] = wrap(nginx);
  const child = track(
    spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], detached: true }),
    { group: true },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    const done = () => {
      exited = true;
      resolve();
    };
    child.once("exit", done);
    child.once("error", (e) => {
      stderr += String(e);
      done();
    });
  });
  const read = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");
  const until = Date.now() + START_MS;
  while (!exited && read(pidFile).trim() !== String(child.pid)) {
    if (Date.now() > until) {
      signalTracked(child, "SIGKILL");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (exited || Date.now() > until) {
    await exit;
    const output = `${stderr}${read(errorLog)}`;
    removeDir(dir);
    throw new NginxDidNotStart(output);
  }
  return {
    pid: child.pid ?? 0,
    errorLog: () => read(errorLog),
    accessLog: () => read(join(dir, "access.log")),
    reload: async (next, options) => {
      writeFileSync(conf, next);
      await reloadNginx(child, errorLog, options);
    },
    stop: async () => {
      signalTracked(child, "SIGQUIT");
      const killer = setTimeout(() => signalTracked(child, "SIGKILL"), STOP_GRACE_MS);
      await exit;
      clearTimeout(killer);
      removeDir(dir);
    },
  };
}

/** How long a reloaded nginx may take to start its new workers. */
const NEW_WORKERS_MS = 30_000;
/**
 * How long its old workers may take to finish: the last streams they carry, then up to nginx's
 * `lingering_time` (30 s by default, which no config here sets) reading what a client still
 * sends on a connection they closed.
 */
const OLD_WORKERS_MS = 60_000;

/** The TCP sockets (`ss -tnp` lines) the processes `pids` hold, for a message. */
function socketsOf(pids: readonly string[]): string {
  const out = spawnSync("ss", ["-Htnp"], { encoding: "utf8" });
  if (out.status !== 0) return `(ss: ${out.error?.message ?? out.stderr.trim()})`;
  const lines = out.stdout.split("\n").filter((l) => pids.some((p) => l.includes(`pid=${p},`)));
  return lines.length === 0 ? "(none)" : lines.join("\n");
}

/**
 * Reloads the nginx master `master` gracefully (SIGHUP: new workers with the files as they now
 * are; the old ones finish what they carry) and resolves once its error log `log` (level info)
 * says a new worker started, or with `oldWorkersGone`, once every worker that ran before the
 * reload has exited too (until then a client connection they hold is served the old way). Old
 * workers that take more than 5 s are named, with the connections they hold; past the limits
 * the error says what was missing and quotes the log since the reload.
 */
async function reloadNginx(
  master: ChildProcess,
  log: string,
  options: { readonly oldWorkersGone?: boolean } = {},
): Promise<void> {
  const text = () => readFileSync(log, "utf8");
  const before = text();
  const since = () => text().slice(before.length);
  const started = (t: string) => [...t.matchAll(/start worker process (\d+)/g)].map((m) => m[1]);
  const exited = (t: string) =>
    new Set([...t.matchAll(/worker process (\d+) exited/g)].map((m) => m[1]));
  const old = started(before).filter((pid) => !exited(before).has(pid));
  const left = () => {
    const gone = exited(since());
    return old.filter((pid) => !gone.has(pid));
  };
  const from = Date.now();
  const fail = (what: string) =>
    new Error(
      `nginx did not reload within ${Math.round((Date.now() - from) / 1000)} s: ${what}\n` +
        `its error log since the reload (${log}):\n${since().trimEnd().split("\n").slice(-40).join("\n")}`,
    );
  master.kill("SIGHUP");
  while (started(since()).length === 0) {
    if (Date.now() - from > NEW_WORKERS_MS) throw fail("no new worker started");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!options.oldWorkersGone) return;
  let slow: string | undefined;
  while (left().length > 0) {
    const waited = Date.now() - from;
    if (slow === undefined && waited > 5000) slow = socketsOf(left());
    if (waited > OLD_WORKERS_MS) {
      throw fail(`old workers ${left().join(", ")} still running, holding:\n${socketsOf(left())}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (slow !== undefined) {
    console.log(
      `      nginx's old workers took ${Math.round((Date.now() - from) / 1000)} s to finish; ` +
        `at 5 s they held:\n${slow.replace(/^/gm, "        ")}`,
    );
  }
}
