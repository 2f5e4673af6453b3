/**
 * The HTTP side of `serve` (Deno's built-in server; host-side like the CLI):
 * routes, bearer-token auth, body limits, timeouts, the job queue in front
 * of the one warm {@link ImageEngine}, server-sent progress, and images kept
 * briefly for `response_format: "url"`.
 *
 *   POST /v1/images/generations   OpenAI-compatible (api.ts)
 *   POST /v1/ideogram4/generate   the `generate` options as JSON keys
 *   GET  /v1/models               the one model served
 *   GET  /v1/images/files/ID.png  images made with response_format "url" (no auth: the ID is
 *                                 128 random bits; kept an hour, the latest 256)
 *   GET  /healthz                 liveness, without auth
 *   GET  /metrics                 Prometheus text
 *
 * The key is compared in constant time and never logged; the log has one
 * line per request (method, path, status, milliseconds).
 */
import {
  type BodyContext,
  ClientGoneError,
  errorBody,
  HttpError,
  parseBody,
  type ParsedBody,
  parseNativeBody,
  parseOpenAiBody,
  RequestTimeoutError,
  statusOf,
} from "./api.ts";
import type { EngineEvent, EngineResult, ImageEngine } from "./engine.ts";
import { prometheusText } from "./metrics.ts";
import { JobQueue, QueueFullError } from "./queue.ts";

export interface ServeOptions {
  engine: ImageEngine;
  /** Whether the engine runs the embedded model (size and preset defaults). */
  embedded: boolean;
  /** The name `/v1/models` lists and `model` must match. Default "ideogram-4". */
  modelName?: string;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 8001; 0 picks a free port. */
  port?: number;
  /** Bearer token required on every route but /healthz and image files. */
  apiKey?: string;
  /** Requests that may wait while one runs (default 8). */
  queueSize?: number;
  /** Largest `n` (default 4). */
  maxImages?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Seconds a request may take from arrival, queue included (default 900). */
  timeoutS?: number;
  /** Seconds to receive a request body (default 30). */
  bodyTimeoutS?: number;
  /** One line per request and per event worth knowing. Default: none. */
  log?: (line: string) => void;
}

export interface ApiServer {
  /** `http://host:port` */
  url: string;
  queue: JobQueue;
  engine: ImageEngine;
  /** Responses so far by HTTP status. */
  responses: Map<number, number>;
  /** Stops listening, cancels queued and running requests, frees the model. */
  shutdown(): Promise<void>;
}

export const DEFAULT_PORT = 8001;
const IMAGE_TTL_MS = 3600_000;
const MAX_STORED_IMAGES = 256;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function errorResponse(e: unknown, headers: Record<string, string> = {}): Response {
  return json(statusOf(e), errorBody(e), {
    ...(e instanceof HttpError ? e.headers : {}),
    ...headers,
  });
}

/** Constant-time comparison of two strings' UTF-8 bytes. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** The body as text, refused past `max` bytes (413) or `timeoutS` seconds (408). */
async function readBody(req: Request, max: number, timeoutS: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) {
    throw new HttpError(413, `the request body is ${declared} bytes; at most ${max} are accepted`);
  }
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(() => reader.cancel().catch(() => {}), timeoutS * 1000);
  let timedOut = true;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) {
        timedOut = false;
        break;
      }
      size += value.length;
      if (size > max) {
        timedOut = false;
        throw new HttpError(413, `the request body is over ${max} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  if (timedOut) throw new HttpError(408, `the request body took longer than ${timeoutS} s`);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) bytes.set(c, (at += c.length) - c.length);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "the request body is not UTF-8 text");
  }
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Starts listening; resolves once the port is bound. */
export function startApiServer(opts: ServeOptions): Promise<ApiServer> {
  const engine = opts.engine;
  const log = opts.log ?? (() => {});
  const queue = new JobQueue(opts.queueSize ?? 8);
  const timeoutS = opts.timeoutS ?? 900;
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const bodyTimeoutS = opts.bodyTimeoutS ?? 30;
  const modelName = opts.modelName ?? "ideogram-4";
  const ctx: BodyContext = { embedded: opts.embedded, modelName, maxImages: opts.maxImages ?? 4 };
  const responses = new Map<number, number>();
  const images = new Map<string, { png: Uint8Array; expires: number }>();
  /** Aborts every request still in flight at shutdown. */
  const stopping = new AbortController();
  const created = Math.floor(Date.now() / 1000);

  function storeImage(png: Uint8Array): string {
    const now = Date.now();
    for (const [id, img] of images) if (img.expires < now) images.delete(id);
    while (images.size >= MAX_STORED_IMAGES) images.delete(images.keys().next().value!);
    const id = crypto.randomUUID().replaceAll("-", "");
    images.set(id, { png, expires: now + IMAGE_TTL_MS });
    return id;
  }

  /** The JSON reply of a finished request, in the endpoint's shape. */
  function resultBody(
    kind: "openai" | "native",
    parsed: ParsedBody,
    result: EngineResult,
    origin: string,
    position: number,
  ): unknown {
    const r = parsed.engine.request;
    const details = {
      caption: result.caption,
      magic_prompt: result.magicPrompt ?? null,
      size: `${r.width}x${r.height}`,
      preset: r.planName,
      steps: r.plan.steps,
      seeds: result.images.map((i) => i.seed),
      queue_position: position,
      timings: result.timings,
      warnings: result.warnings,
    };
    if (kind === "native") {
      return {
        ...details,
        images: result.images.map((i) => ({ seed: i.seed, png_base64: base64(i.png) })),
      };
    }
    return {
      created: Math.floor(Date.now() / 1000),
      data: result.images.map((i) => ({
        ...(parsed.responseFormat === "url"
          ? { url: `${origin}/v1/images/files/${storeImage(i.png)}.png` }
          : { b64_json: base64(i.png) }),
        revised_prompt: result.caption,
        seed: i.seed,
      })),
      ideogram4: details,
    };
  }

  async function generateRoute(
    req: Request,
    kind: "openai" | "native",
  ): Promise<Response> {
    const text = await readBody(req, maxBody, bodyTimeoutS);
    const body = parseBody(text);
    const parsed = kind === "openai" ? parseOpenAiBody(body, ctx) : parseNativeBody(body, ctx);
    const accept = req.headers.get("accept") ?? "";
    const stream = parsed.stream || accept.includes("text/event-stream");
    const rawPng = kind === "native" && !stream && accept.includes("image/png");
    if (rawPng && parsed.engine.seeds.length !== 1) {
      throw new HttpError(
        400,
        "$.n: Accept: image/png returns one image; ask for n = 1",
        {},
        "$.n",
      );
    }

    // Cancelled when the client goes, the timeout passes, or the server stops.
    const cancel = new AbortController();
    const onGone = () => cancel.abort(new ClientGoneError());
    req.signal.addEventListener("abort", onGone, { once: true });
    stopping.signal.addEventListener("abort", onGone, { once: true });
    const timer = setTimeout(
      () => cancel.abort(new RequestTimeoutError(timeoutS)),
      timeoutS * 1000,
    );
    const cleanup = () => {
      clearTimeout(timer);
      req.signal.removeEventListener("abort", onGone);
      stopping.signal.removeEventListener("abort", onGone);
    };
    // Set below when the client asked for progress events.
    const listener: { events?: (e: EngineEvent | { type: "started" }) => void } = {};
    let submitted, started = false;
    try {
      submitted = queue.submit(
        (signal) => engine.run(parsed.engine, signal, (e) => listener.events?.(e)),
        cancel.signal,
        () => {
          started = true;
          listener.events?.({ type: "started" });
        },
      );
    } catch (e) {
      cleanup();
      if (e instanceof QueueFullError) {
        throw new HttpError(429, e.message, {
          "retry-after": String(e.retryAfterS),
          "x-queue-length": String(queue.length),
        });
      }
      throw e;
    }
    const position = submitted.position;
    const queueHeaders = {
      "x-queue-position": String(position),
      "x-queue-length": String(queue.length),
    };
    const origin = new URL(req.url).origin;
    if (!stream) {
      try {
        const result = await submitted.done;
        if (rawPng) {
          return new Response(result.images[0].png as Uint8Array<ArrayBuffer>, {
            headers: {
              "content-type": "image/png",
              "x-seed": String(result.images[0].seed),
              ...queueHeaders,
            },
          });
        }
        return json(200, resultBody(kind, parsed, result, origin, position), queueHeaders);
      } catch (e) {
        if (statusOf(e) === 500) log(`error: ${e instanceof Error ? e.stack : e}`);
        return errorResponse(e, queueHeaders);
      } finally {
        cleanup();
      }
    }

    // Server-sent events: queued, started, status, progress, warning, then done or error.
    const enc = new TextEncoder();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let open = true;
    const send = (event: string, data: unknown) => {
      if (!open) return;
      try {
        controller.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
      } catch {
        open = false;
      }
    };
    const sse = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        send("queued", { position, queue_length: queue.length });
        // A job that found the GPU free started inside submit(), before this stream existed.
        if (started) send("started", {});
      },
      cancel() {
        open = false;
        onGone();
      },
    });
    listener.events = (e) => {
      if (e.type === "started") send("started", {});
      else if (e.type === "progress") {
        send("progress", { ...e, ms: Math.round(e.ms * 10) / 10 });
      } else send(e.type, { line: e.line });
    };
    submitted.done.then(
      (result) => send("done", resultBody(kind, parsed, result, origin, position)),
      (e) => {
        if (statusOf(e) === 500) log(`error: ${e instanceof Error ? e.stack : e}`);
        send("error", { status: statusOf(e), ...errorBody(e) });
      },
    ).finally(() => {
      cleanup();
      if (open) {
        open = false;
        controller.close();
      }
    });
    return new Response(sse, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        ...queueHeaders,
      },
    });
  }

  async function route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const method = req.method;
    const only = (m: string) => {
      if (method !== m) throw new HttpError(405, `${path} takes ${m}`, { allow: m });
    };
    if (path === "/healthz") {
      only("GET");
      return json(200, {
        status: "ok",
        model: modelName,
        loaded: Object.keys(engine.stats.loads).length > 0,
        busy: queue.busy,
        queue_length: queue.length,
      });
    }
    const file = /^\/v1\/images\/files\/([0-9a-f]{32})\.png$/.exec(path);
    if (file) {
      only("GET");
      const img = images.get(file[1]);
      if (!img || img.expires < Date.now()) {
        throw new HttpError(404, "no such image (images are kept for an hour)");
      }
      return new Response(img.png as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "image/png" },
      });
    }
    if (opts.apiKey !== undefined) {
      const auth = req.headers.get("authorization") ?? "";
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      if (!m || !sameSecret(m[1], opts.apiKey)) {
        throw new HttpError(
          401,
          m
            ? "the API key is not valid"
            : "this server needs an API key: Authorization: Bearer KEY",
          { "www-authenticate": "Bearer" },
        );
      }
    }
    switch (path) {
      case "/v1/models":
        only("GET");
        return json(200, {
          object: "list",
          data: [{ id: modelName, object: "model", created, owned_by: "ideogram4-webgpu" }],
        });
      case "/metrics":
        only("GET");
        return new Response(
          prometheusText({
            queueLength: queue.length,
            queueCapacity: queue.capacity,
            running: queue.busy ? 1 : 0,
            cancelled: queue.cancelled,
            engine: engine.stats,
            memory: engine.ctx.pool.stats,
            responses,
          }),
          { headers: { "content-type": "text/plain; version=0.0.4" } },
        );
      case "/v1/images/generations":
        only("POST");
        return await generateRoute(req, "openai");
      case "/v1/ideogram4/generate":
        only("POST");
        return await generateRoute(req, "native");
    }
    throw new HttpError(404, `no route ${method} ${path}`);
  }

  return new Promise((resolve, reject) => {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: opts.hostname ?? "127.0.0.1",
        port: opts.port ?? DEFAULT_PORT,
        onListen: (addr) => {
          const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
          resolve({
            url: `http://${host}:${addr.port}`,
            queue,
            engine,
            responses,
            shutdown: async () => {
              // Cancel everything, wait for the running job to stop at its next step, then
              // stop listening and free the model.
              stopping.abort();
              await queue.drained();
              await server.shutdown();
              engine.close();
            },
          });
        },
        onError: (e) => errorResponse(e),
      }, async (req) => {
        const t0 = performance.now();
        let res: Response;
        try {
          res = await route(req);
        } catch (e) {
          if (statusOf(e) === 500) log(`error: ${e instanceof Error ? e.stack : e}`);
          res = errorResponse(e);
        }
        responses.set(res.status, (responses.get(res.status) ?? 0) + 1);
        log(
          `${req.method} ${new URL(req.url).pathname} ${res.status} ` +
            `${Math.round(performance.now() - t0)} ms`,
        );
        return res;
      });
    } catch (e) {
      reject(e);
    }
  });
}
