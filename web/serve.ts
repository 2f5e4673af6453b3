/**
 * The web page's development server (`deno task serve`): serves `web/` (the
 * page and `web/dist/`, the bundles `deno task build:web` writes) at `/` and
 * the repository's `models/` at `/models/`, on 127.0.0.1 only. The embedded
 * tiny model (built into the runtime's cache on first use, see
 * src/platform/deno/embedded_model.ts) is served at `/models/tiny/`.
 *
 * Every file answers HTTP Range requests with `206 Partial Content`, which is
 * how the browser platform reads checkpoints without downloading them whole,
 * and exposes `Content-Range` to other origins so a page elsewhere can read
 * the weights too.
 *
 * A Deno program like `cli.ts` (Deno's HTTP server and files, used directly);
 * nothing the page loads imports it.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env web/serve.ts [--port 8000]
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { parseRange } from "./http_range.ts";
import { ensureEmbeddedModel } from "../src/platform/deno/embedded_model.ts";

export interface WebServerOptions {
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (a page on localhost is a secure context: WebGPU works). */
  hostname?: string;
  /** Folder served at `/`. Default: this file's folder. */
  webRoot?: URL;
  /** Folder served at `/models/`. Default: the repository's `models/`. */
  modelsRoot?: URL;
  /** Folder served at `/models/tiny/` instead of `modelsRoot/tiny/` (the embedded model). */
  tinyModelRoot?: URL;
  /** Called once listening; default prints nothing. */
  onListen?: (addr: Deno.NetAddr) => void;
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  md: "text/markdown; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  jinja: "text/plain; charset=utf-8",
  map: "application/json",
  png: "image/png",
  svg: "image/svg+xml",
  ico: "image/x-icon",
};

/** Headers every answer carries: ranges, no stale bundles, readable cross-origin. */
const COMMON_HEADERS = {
  "Accept-Ranges": "bytes",
  "Cache-Control": "no-cache",
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges",
};

/** Bytes per chunk when streaming a file or a range of it. */
const CHUNK_BYTES = 1 << 20;

/** The request handler (exported for tests; {@link serveWeb} listens with it). */
export function webHandler(
  opts: Pick<WebServerOptions, "webRoot" | "modelsRoot" | "tinyModelRoot"> = {},
): (req: Request) => Promise<Response> {
  const webRoot = opts.webRoot ?? new URL("./", import.meta.url);
  const modelsRoot = opts.modelsRoot ?? new URL("../models/", import.meta.url);
  return async (req) => {
    if (req.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: {
          ...COMMON_HEADERS,
          "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
          "Access-Control-Allow-Headers": "Range",
        },
      });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(405, `${req.method} is not allowed`, { Allow: "GET, HEAD, OPTIONS" });
    }
    const segments = pathSegments(new URL(req.url).pathname);
    if (segments === undefined) return text(400, "bad path");
    const [root, rest] = segments[0] === "models"
      ? segments[1] === "tiny" && opts.tinyModelRoot
        ? [opts.tinyModelRoot, segments.slice(2)]
        : [modelsRoot, segments.slice(1)]
      : [webRoot, segments.length === 0 ? ["index.html"] : segments];
    if (rest.length === 0) return text(404, "not found");
    const file = new URL(rest.map(encodeURIComponent).join("/"), root);
    return await serveFile(req, file, rest.join("/"));
  };
}

/** Starts the server; `await server.shutdown()` stops it. */
export function serveWeb(opts: WebServerOptions = {}): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 8000,
    onListen: opts.onListen ?? (() => {}),
  }, webHandler(opts));
}

/** Decoded path segments, or undefined for `..`, NUL, backslashes or bad escapes. */
function pathSegments(pathname: string): string[] | undefined {
  const out: string[] = [];
  for (const raw of pathname.split("/")) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (seg === "" || seg === ".") continue;
    if (seg === ".." || seg.includes("/") || seg.includes("\\") || seg.includes("\0")) {
      return undefined;
    }
    out.push(seg);
  }
  return out;
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body + "\n", {
    status,
    headers: { ...COMMON_HEADERS, "Content-Type": "text/plain; charset=utf-8", ...headers },
  });
}

async function serveFile(req: Request, file: URL, shown: string): Promise<Response> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return text(404, `${shown}: not found`);
    throw e;
  }
  if (!info.isFile) return text(404, `${shown}: not a file`);
  const size = info.size;
  const ext = shown.slice(shown.lastIndexOf(".") + 1).toLowerCase();
  const headers: Record<string, string> = {
    ...COMMON_HEADERS,
    "Content-Type": CONTENT_TYPES[ext] ?? "application/octet-stream",
  };
  const range = parseRange(req.headers.get("Range"), size);
  if (range === "unsatisfiable") {
    return new Response(null, {
      status: 416,
      headers: { ...headers, "Content-Range": `bytes */${size}` },
    });
  }
  const start = range?.start ?? 0, end = range?.end ?? size - 1;
  const length = size === 0 ? 0 : end - start + 1;
  headers["Content-Length"] = String(length);
  if (range) headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
  const status = range ? 206 : 200;
  if (req.method === "HEAD" || length === 0) return new Response(null, { status, headers });
  return new Response(await fileStream(file, start, length), { status, headers });
}

/** `length` bytes from `start`, read a chunk at a time (a range can be a whole shard). */
async function fileStream(file: URL, start: number, length: number): Promise<ReadableStream> {
  const f = await Deno.open(file, { read: true });
  await f.seek(start, Deno.SeekMode.Start);
  let left = length;
  let open = true;
  const release = () => {
    if (open) f.close();
    open = false;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = new Uint8Array(Math.min(CHUNK_BYTES, left));
      const n = await f.read(buf);
      if (n === null) {
        release();
        controller.error(new Error(`${file.pathname}: ended ${left} bytes early`));
        return;
      }
      left -= n;
      controller.enqueue(buf.subarray(0, n));
      if (left === 0) {
        release();
        controller.close();
      }
    },
    // A client that hangs up mid-file; also after the last read, while chunks are queued.
    cancel: release,
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: "8000" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log("usage: deno task serve [--port N]   (serves web/ and models/ on 127.0.0.1)");
    Deno.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port ${values.port}: not a port number`);
    Deno.exit(2);
  }
  try {
    await Deno.stat(new URL("./dist/app.js", import.meta.url));
  } catch {
    console.error("web/dist/app.js is missing: run `deno task build:web` first");
    Deno.exit(1);
  }
  const tiny = await ensureEmbeddedModel();
  serveWeb({
    port,
    tinyModelRoot: pathToFileURL(`${tiny}/`),
    onListen: ({ hostname, port }) =>
      console.log(`ideogram4-webgpu page: http://${hostname}:${port}/  (models at /models/)`),
  });
}
