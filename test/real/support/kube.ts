// A small client for the bench's kube-apiserver: discovery, server-side apply, create and get,
// over node:https with the run's admin certificate. Warnings come back with every answer (the
// `Warning` headers: PodSecurity and deprecations speak through them), so tests can demand none.
import { request } from "node:https";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Credentials {
  readonly url: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface KubeAnswer<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
  readonly warnings: readonly string[];
}

/** An answer other than 2xx; `status` and the server's `Status` message are kept. */
export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly warnings: readonly string[],
    /** The server's `Retry-After`, in seconds, when it sent one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Answers that say "not now" rather than "no": throttled, or the server (or etcd) overloaded. */
const TRANSIENT = new Set([429, 500, 503, 504]);
/** Tries of a read before its transient answer is the test's failure. */
const READ_TRIES = 3;
/** Health endpoints: their non-2xx is the answer itself, and their callers poll them anyway. */
const HEALTH = /^\/(readyz|livez|healthz)(\/|\?|$)/;

interface Resource {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** `299 - "message"` → `message` (RFC 7234 warn-text, as kube-apiserver writes it). */
function warningText(header: string): string {
  const match = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return match === null ? header : match[1].replace(/\\(.)/g, "$1");
}

/** A `Retry-After` of whole seconds; an HTTP date or nothing gives undefined. */
function retryAfter(header: string | undefined): number | undefined {
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
}

export class KubeClient {
  private readonly resources = new Map<string, Resource>();

  constructor(readonly credentials: Credentials) {}

  /**
   * One request; rejects with a KubeError for any status outside 2xx. A read (GET, but not of a
   * health endpoint) answered 429, 500, 503 or 504 is asked again after the server's Retry-After (1 s without one, at most
   * 5), up to READ_TRIES times in all, as client-go does; each retry is printed, never silent.
   */
  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<KubeAnswer<T>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.exchange<T>(method, path, body, contentType);
      } catch (e) {
        if (
          !(e instanceof KubeError) ||
          method !== "GET" ||
          HEALTH.test(path) ||
          !TRANSIENT.has(e.status) ||
          attempt >= READ_TRIES
        ) {
          throw e;
        }
        const seconds = Math.min(e.retryAfterSeconds ?? 1, 5);
        console.log(`      kube-apiserver: ${e.message}; asking again in ${seconds} s`);
        await new Promise((r) => setTimeout(r, seconds * 1000));
      }
    }
  }

  /** One HTTP exchange; rejects with a KubeError for any status outside 2xx. */
  private exchange<T>(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
  ): Promise<KubeAnswer<T>> {
    const { url, ca, cert, key } = this.credentials;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, url),
        {
          method,
          ca,
          cert,
          key,
          servername: "localhost",
          headers: {
            accept: "application/json",
            ...(payload !== undefined
              ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) }
              : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const warnings: string[] = [];
            for (let i = 0; i < res.rawHeaders.length; i += 2) {
              if (res.rawHeaders[i].toLowerCase() === "warning") {
                warnings.push(warningText(res.rawHeaders[i + 1]));
              }
            }
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON (e.g. /readyz): keep the text
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve({ status, body: parsed as T, warnings });
            } else {
              const s = parsed as { message?: string; reason?: string };
              reject(
                new KubeError(
                  status,
                  s.reason ?? "",
                  `${method} ${path}: ${status} ${s.message ?? text}`,
                  warnings,
                  retryAfter(res.headers["retry-after"]),
                ),
              );
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Finds the REST resource of a kind through discovery (asked again after CRDs arrive). */
  async resource(apiVersion: string, kind: string): Promise<Resource> {
    const id = `${apiVersion}/${kind}`;
    let found = this.resources.get(id);
    if (found !== undefined) return found;
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = await this.call<{
      resources: { name: string; kind: string; namespaced: boolean }[];
    }>("GET", base);
    for (const r of list.body.resources) {
      if (!r.name.includes("/")) {
        this.resources.set(`${apiVersion}/${r.kind}`, {
          plural: r.name,
          namespaced: r.namespaced,
        });
      }
    }
    found = this.resources.get(id);
    if (found === undefined) throw new Error(`the API server serves no ${kind} in ${apiVersion}`);
    return found;
  }

  /** The URL path of an object, or of its collection when `name` is omitted. */
  async path(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name?: string,
  ): Promise<string> {
    const r = await this.resource(apiVersion, kind);
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    if (r.namespaced && namespace === undefined) {
      throw new Error(`${kind} ${name ?? ""} is namespaced but has no namespace`);
    }
    const ns = r.namespaced ? `/namespaces/${encodeURIComponent(namespace as string)}` : "";
    return `${base}${ns}/${r.plural}${name !== undefined ? `/${encodeURIComponent(name)}` : ""}`;
  }

  /**
   * Server-side apply under strict field validation (an unknown or duplicate field is an error,
   * not a warning). `dryRun` runs admission and validation without persisting anything.
   */
  async apply(
    obj: KubeObject,
    options: {
      dryRun?: boolean;
      fieldManager?: string;
      force?: boolean;
      /** Strict unless told otherwise (the deliberate breaks compare with Ignore). */
      fieldValidation?: "Strict" | "Warn" | "Ignore";
    } = {},
  ): Promise<KubeAnswer<KubeObject>> {
    const query = new URLSearchParams({
      fieldManager: options.fieldManager ?? "thanos-bridge-bench",
      fieldValidation: options.fieldValidation ?? "Strict",
    });
    if (options.force === true) query.set("force", "true");
    if (options.dryRun === true) query.set("dryRun", "All");
    const path = await this.path(
      obj.apiVersion,
      obj.kind,
      obj.metadata.namespace,
      obj.metadata.name,
    );
    return this.call<KubeObject>(
      "PATCH",
      `${path}?${query.toString()}`,
      obj,
      "application/apply-patch+yaml",
    );
  }

  /** POST: creates the object, under strict field validation unless told otherwise. */
  async create(
    obj: KubeObject,
    options: { dryRun?: boolean; fieldValidation?: "Strict" | "Warn" | "Ignore" } = {},
  ): Promise<KubeAnswer<KubeObject>> {
    const query = new URLSearchParams({ fieldValidation: options.fieldValidation ?? "Strict" });
    if (options.dryRun === true) query.set("dryRun", "All");
    const path = await this.path(obj.apiVersion, obj.kind, obj.metadata.namespace);
    return this.call<KubeObject>("POST", `${path}?${query.toString()}`, obj);
  }

  async get(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Promise<KubeObject> {
    return (await this.call<KubeObject>("GET", await this.path(apiVersion, kind, namespace, name)))
      .body;
  }

  async delete(apiVersion: string, kind: string, namespace: string | undefined, name: string) {
    return this.call("DELETE", await this.path(apiVersion, kind, namespace, name));
  }

  /** Forgets discovery, so that kinds served by CRDs installed since are found. */
  forgetDiscovery(): void {
    this.resources.clear();
  }
}
