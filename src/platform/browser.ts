/**
 * The {@link Platform} for browsers. Files come from two places:
 *
 * - `File`/`Blob`s the page registered by relative path (what a directory
 *   picker gives; see {@link filesByRelativePath}), read with `blob.slice()`;
 * - a base URL, read with HTTP Range requests (the server must answer
 *   `206 Partial Content`; cross-origin it must also expose `Content-Range`).
 *
 * Registered files win over the URL. Only web APIs here: this file runs in pages.
 */
import { checkReadRange, rejectEmpty } from "../io/byte_source.ts";
import type { ByteSource, Platform } from "./types.ts";

/** Where {@link browserPlatform} reads files from. */
export interface BrowserPlatformOptions {
  /** Files by relative path, e.g. `"transformer/diffusion_pytorch_model.safetensors"`. */
  files?: Map<string, Blob> | Record<string, Blob>;
  /** Where paths not among `files` are fetched from (a folder URL, e.g. `"https://host/model/"`). */
  baseUrl?: string;
  /** Values `env()` answers; a page has no process environment. */
  env?: Record<string, string>;
  /** The fetch to use (auth headers, tests). Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * The {@link Platform} for a web page: files from picked `File`s or a base URL
 * (HTTP Range requests). Register it with {@link setPlatform} before anything
 * reads a checkpoint.
 *
 * @example Read a checkpoint served over HTTP
 * ```ts
 * import { browserPlatform, setPlatform } from "@ideogram4/webgpu";
 *
 * setPlatform(browserPlatform({ baseUrl: "https://example.com/models/ideogram-4-nf4/" }));
 * ```
 */
export function browserPlatform(options: BrowserPlatformOptions = {}): Platform {
  const files = new Map<string, Blob>();
  const given = options.files instanceof Map ? options.files : Object.entries(options.files ?? {});
  for (const [path, blob] of given) files.set(normalizePath(path), blob);
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = options.baseUrl === undefined
    ? undefined
    : options.baseUrl.endsWith("/")
    ? options.baseUrl
    : options.baseUrl + "/";

  /** The URL for `path`, or undefined when it can only be a registered file. */
  const urlOf = (path: string): string | undefined => {
    if (isUrl(path)) return path;
    return base === undefined ? undefined : new URL(normalizePath(path), base).href;
  };
  const notFound = (path: string) =>
    new Error(
      `${path}: not among the ${files.size} registered files and no base URL is set ` +
        `(pick the model's top folder, or pass baseUrl)`,
    );

  return {
    name: "browser",
    async open(path: string): Promise<ByteSource> {
      const blob = files.get(normalizePath(path));
      if (blob) return blobSource(path, blob);
      const url = urlOf(path);
      if (url === undefined) throw notFound(path);
      return await httpSource(url, doFetch);
    },
    async readText(path: string): Promise<string> {
      const blob = files.get(normalizePath(path));
      if (blob) return await blob.text();
      const url = urlOf(path);
      if (url === undefined) throw notFound(path);
      const res = await request(doFetch, url, {});
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
      }
      return await res.text();
    },
    async exists(path: string): Promise<boolean> {
      if (files.has(normalizePath(path))) return true;
      const url = urlOf(path);
      if (url === undefined) return false;
      const res = await request(doFetch, url, { method: "HEAD" });
      await res.body?.cancel();
      if (res.ok) return true;
      if (res.status === 404 || res.status === 410) return false;
      throw new Error(`${url}: HTTP ${res.status} ${res.statusText} while checking it exists`);
    },
    // A rejected promise, never a synchronous throw, for a folder that is not there.
    list: (dir: string) => Promise.resolve().then(() => listRegistered(files, dir)),
    join,
    env: (name: string) => options.env?.[name],
    writeFileAtomic(path: string): Promise<void> {
      return Promise.reject(
        new Error(
          `${path}: a web page cannot write files; use the returned bytes (e.g. a Blob URL)`,
        ),
      );
    },
  };
}

/**
 * Files from `<input type="file" webkitdirectory>` keyed by their path inside
 * the picked folder (`"model/vae/x.safetensors"` → `"vae/x.safetensors"` with
 * `stripTopFolder`, the default).
 */
export function filesByRelativePath(
  list: Iterable<File>,
  stripTopFolder = true,
): Map<string, File> {
  const out = new Map<string, File>();
  for (const file of list) {
    const rel = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
    const path = normalizePath(rel);
    out.set(stripTopFolder && path.includes("/") ? path.slice(path.indexOf("/") + 1) : path, file);
  }
  return out;
}

/** Names of the registered files directly inside folder `dir`, sorted. */
function listRegistered(files: Map<string, Blob>, dir: string): string[] {
  const prefix = normalizePath(dir);
  const names: string[] = [];
  let folderSeen = false;
  for (const path of files.keys()) {
    const rest = prefix === ""
      ? path
      : path.startsWith(prefix + "/")
      ? path.slice(prefix.length + 1)
      : undefined;
    if (rest === undefined) continue;
    folderSeen = true;
    if (!rest.includes("/")) names.push(rest);
  }
  if (!folderSeen) {
    throw new Error(
      files.size > 0
        ? `${dir}: no such folder among the ${files.size} registered files`
        : `${dir}: cannot list a folder over HTTP; name the weights file or its index`,
    );
  }
  return names.sort();
}

const isUrl = (path: string) => /^[a-z][a-z0-9+.-]*:/i.test(path);

/** Joins relative paths (normalised), or resolves them against a URL given first. */
function join(...parts: string[]): string {
  const [first, ...rest] = parts.filter((p) => p !== "");
  if (first !== undefined && isUrl(first)) {
    return new URL(normalizePath(rest.join("/")), first.endsWith("/") ? first : first + "/").href;
  }
  return normalizePath(parts.join("/"));
}

/** `a//b/./c/../d` → `a/b/d`; no leading `./` or `/`, so keys compare equal. */
function normalizePath(path: string): string {
  const out: string[] = [];
  for (const seg of path.replaceAll("\\", "/").split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return out.join("/");
}

function blobSource(name: string, blob: Blob): ByteSource {
  rejectEmpty(name, blob.size);
  let open = true;
  return {
    name,
    size: blob.size,
    kind: "blob",
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!open) throw new Error(`${name}: read after close`);
      checkReadRange(name, blob.size, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
    close() {
      open = false;
    },
  };
}

/** fetch with the URL in any network error. */
async function request(doFetch: typeof fetch, url: string, init: RequestInit): Promise<Response> {
  try {
    return await doFetch(url, init);
  } catch (e) {
    throw new Error(`${url}: request failed (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
    });
  }
}

/** `bytes a-b/total` → numbers; total undefined for `*`; undefined when absent or malformed. */
function parseContentRange(
  header: string | null,
): { start?: number; end?: number; total?: number } | undefined {
  const m = header?.match(/^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i);
  if (!m) return undefined;
  return {
    start: m[1] === undefined ? undefined : Number(m[1]),
    end: m[2] === undefined ? undefined : Number(m[2]),
    total: m[3] === "*" ? undefined : Number(m[3]),
  };
}

function rangesIgnored(url: string, status: number): Error {
  return new Error(
    `${url}: the server ignored the HTTP Range header (status ${status}, expected ` +
      `206 Partial Content); serve the weights from a server that supports byte ranges`,
  );
}

/** Probes range support and the size with a one-byte request, then reads by ranges. */
async function httpSource(url: string, doFetch: typeof fetch): Promise<ByteSource> {
  const probe = await request(doFetch, url, { headers: { Range: "bytes=0-0" } });
  await probe.body?.cancel(); // a server that ignores ranges would send the whole file
  let size: number | undefined;
  if (probe.status === 416) {
    size = parseContentRange(probe.headers.get("Content-Range"))?.total;
    if (size === 0) rejectEmpty(url, 0);
    throw new Error(`${url}: the server refused the range bytes=0-0 (HTTP 416)`);
  }
  if (probe.status === 404) throw new Error(`${url}: no such file (HTTP 404)`);
  if (probe.status === 200) throw rangesIgnored(url, 200);
  if (probe.status !== 206) {
    throw new Error(`${url}: HTTP ${probe.status} ${probe.statusText}`.trimEnd());
  }
  size = parseContentRange(probe.headers.get("Content-Range"))?.total;
  if (size === undefined) {
    // Cross-origin without Access-Control-Expose-Headers hides Content-Range; HEAD may still say.
    const head = await request(doFetch, url, { method: "HEAD" });
    await head.body?.cancel();
    const len = head.headers.get("Content-Length");
    if (head.ok && len !== null && /^\d+$/.test(len)) size = Number(len);
  }
  if (size === undefined) {
    throw new Error(
      `${url}: cannot tell the file's size: the server sent neither a readable Content-Range ` +
        `nor a Content-Length (cross-origin, expose them with Access-Control-Expose-Headers)`,
    );
  }
  rejectEmpty(url, size);
  const total = size;
  let open = true;

  return {
    name: url,
    size: total,
    kind: "http",
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!open) throw new Error(`${url}: read after close`);
      checkReadRange(url, total, offset, length);
      if (length === 0) return new Uint8Array(0);
      const last = offset + length - 1;
      const res = await request(doFetch, url, { headers: { Range: `bytes=${offset}-${last}` } });
      if (res.status !== 206) {
        await res.body?.cancel();
        if (res.status === 200) throw rangesIgnored(url, 200);
        throw new Error(
          `${url}: HTTP ${res.status} ${res.statusText} reading bytes ${offset}-${last}`,
        );
      }
      const range = parseContentRange(res.headers.get("Content-Range"));
      if (range && (range.start !== offset || range.end !== last)) {
        await res.body?.cancel();
        throw new Error(
          `${url}: asked for bytes ${offset}-${last}, the server sent ` +
            `${res.headers.get("Content-Range")}`,
        );
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.byteLength !== length) {
        throw new Error(
          `${url}: asked for ${length} bytes at offset ${offset}, received ${bytes.byteLength}`,
        );
      }
      return bytes;
    },
    close() {
      open = false;
    },
  };
}
