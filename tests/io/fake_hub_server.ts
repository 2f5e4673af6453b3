/**
 * A local stand-in for the Hugging Face Hub serving one tiny repository on
 * 127.0.0.1, shaped like the real one:
 *
 * - `GET /api/models/ORG/NAME/revision/REV[?blobs=true]` → `{id, sha, siblings}`;
 *   with `blobs=true` siblings carry `blobId`, `size` and, for LFS files,
 *   `lfs: {sha256, size, pointerSize}`;
 * - `GET /ORG/NAME/resolve/REV/PATH` → regular files: 200 with `ETag: "<git
 *   blob id>"`; LFS files: 302 to `/cdn/<sha256>` (on a second server when
 *   `cdn: "other"`) with `X-Linked-Etag: "<sha256>"`, `X-Linked-Size`,
 *   `X-Repo-Commit`;
 * - file bodies honour `Range: bytes=N-` with 206 + `Content-Range`;
 * - errors carry `X-Error-Code` (`RepositoryNotFound`, `RevisionNotFound`,
 *   `EntryNotFound`, `GatedRepo`) as the Hub sends them.
 *
 * Faults for tests: `cutOnce` (first body of a file stops halfway, the
 * connection closes short of its Content-Length), `corrupt` (one byte
 * flipped), `missing` (listed but 404 on resolve), `gatedToken` (resolve
 * needs `Authorization: Bearer <it>`: none → 401, another → 403),
 * `stallOnce` (first body of a file sends half, then nothing until the
 * server closes), `hangListing` / `failListing` (that many listing requests
 * get no response at all / HTTP 503), `echoHeaders` (the listing fails with
 * HTTP 400 and a body that quotes the request's headers, as a careless proxy
 * does), `listingBarrier` (listing replies wait until that many listing
 * requests have arrived: concurrent clients start downloading together).
 * Every request is recorded with its headers.
 */
import { createHash } from "node:crypto";

export interface FakeFile {
  path: string;
  bytes: Uint8Array<ArrayBuffer>;
  /** Stored with Git LFS (served through the CDN redirect). */
  lfs?: boolean;
}

export interface FakeHubOptions {
  repo: string;
  /** 40 hex digits. */
  commit: string;
  files: FakeFile[];
  /** Branch/tag → commit. Default `{ main: commit }`. */
  refs?: Record<string, string>;
  /** Where LFS redirects go: this server (`"same"`) or a second one (`"other"`, default). */
  cdn?: "same" | "other";
  gatedToken?: string;
}

export interface RecordedRequest {
  server: "hub" | "cdn";
  method: string;
  /** Path and query. */
  url: string;
  headers: Record<string, string>;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Git's blob id: sha1 of `blob <size>\0<content>`. */
export function gitBlobId(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** Faults, editable between runs. */
  readonly cutOnce = new Set<string>();
  readonly corrupt = new Set<string>();
  readonly missing = new Set<string>();
  readonly stallOnce = new Set<string>();
  hangListing = 0;
  failListing = 0;
  echoHeaders = false;
  listingBarrier = 0;
  private listingsSeen = 0;
  private readonly barrierWaiters: (() => void)[] = [];
  private readonly cutDone = new Set<string>();
  private readonly stallDone = new Set<string>();
  /** Releases every stalled response (the server cannot shut down while one is open). */
  private readonly release: (() => void)[] = [];
  private readonly released = new Promise<void>((r) => this.release.push(r));
  private readonly bySha = new Map<string, FakeFile>();
  private hub!: Deno.HttpServer<Deno.NetAddr>;
  private cdn?: Deno.HttpServer<Deno.NetAddr>;

  private constructor(readonly opts: FakeHubOptions) {
    for (const f of opts.files) if (f.lfs) this.bySha.set(sha256Hex(f.bytes), f);
  }

  static start(opts: FakeHubOptions): FakeHub {
    const h = new FakeHub(opts);
    const serve = (server: "hub" | "cdn") =>
      Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
        const u = new URL(req.url);
        h.requests.push({
          server,
          method: req.method,
          url: u.pathname + u.search,
          headers: Object.fromEntries(req.headers),
        });
        return server === "hub" ? h.handleHub(req, u) : h.handleCdn(req, u);
      });
    h.hub = serve("hub");
    if ((opts.cdn ?? "other") === "other") h.cdn = serve("cdn");
    return h;
  }

  get url(): string {
    return `http://127.0.0.1:${this.hub.addr.port}`;
  }

  get cdnUrl(): string {
    return this.cdn ? `http://127.0.0.1:${this.cdn.addr.port}` : this.url;
  }

  async close(): Promise<void> {
    for (const r of this.release) r();
    await Promise.all([this.hub.shutdown(), this.cdn?.shutdown()]);
  }

  /** Requests for one repo path on either server (resolve, or its CDN redirect target). */
  requestsFor(path: string): RecordedRequest[] {
    const f = this.opts.files.find((x) => x.path === path);
    const cdnPath = f?.lfs ? `/cdn/${sha256Hex(f.bytes)}` : undefined;
    return this.requests.filter((r) =>
      r.url.endsWith(`/resolve/${this.opts.commit}/${path}`) ||
      (cdnPath && r.url.startsWith(cdnPath))
    );
  }

  private commitOf(rev: string): string | undefined {
    const refs = this.opts.refs ?? { main: this.opts.commit };
    return rev === this.opts.commit ? rev : refs[rev];
  }

  private async handleHub(req: Request, u: URL): Promise<Response> {
    const repo = this.opts.repo;
    const api = `/api/models/${repo}/revision/`;
    const resolve = `/${repo}/resolve/`;
    if (u.pathname.startsWith(api)) {
      if (this.hangListing > 0) {
        this.hangListing--;
        await this.released;
        return new Response("too late", { status: 504 });
      }
      if (this.failListing > 0) {
        this.failListing--;
        return new Response("upstream busy", { status: 503 });
      }
      if (this.listingBarrier > 0) {
        this.listingsSeen++;
        if (this.listingsSeen < this.listingBarrier) {
          await Promise.race([
            new Promise<void>((r) => this.barrierWaiters.push(r)),
            this.released,
          ]);
        } else {
          for (const r of this.barrierWaiters.splice(0)) r();
        }
      }
      if (this.echoHeaders) {
        const lines = [...req.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
        return new Response(`bad request; we got:\n${lines}`, { status: 400 });
      }
      const rev = decodeURIComponent(u.pathname.slice(api.length));
      const sha = this.commitOf(rev);
      if (!sha) return hubError(404, "RevisionNotFound", `Invalid rev id: ${rev}`);
      const blobs = u.searchParams.get("blobs") === "true";
      return Response.json({
        _id: "fake",
        id: repo,
        sha,
        siblings: this.opts.files.map((f) => this.sibling(f, blobs)),
      });
    }
    if (u.pathname.startsWith(resolve)) {
      const [rev, ...rest] = u.pathname.slice(resolve.length).split("/");
      const path = rest.map(decodeURIComponent).join("/");
      if (this.opts.gatedToken !== undefined) {
        const auth = req.headers.get("authorization");
        if (!auth) return hubError(401, "GatedRepo", "Access to model is restricted");
        if (auth !== `Bearer ${this.opts.gatedToken}`) {
          return hubError(403, "GatedRepo", "Access to model is restricted");
        }
      }
      const sha = this.commitOf(rev);
      if (!sha) return hubError(404, "RevisionNotFound", `Invalid rev id: ${rev}`);
      const f = this.opts.files.find((x) => x.path === path);
      if (!f || this.missing.has(path)) return hubError(404, "EntryNotFound", `${path} not found`);
      const common = { "x-repo-commit": sha };
      if (f.lfs) {
        const sum = sha256Hex(f.bytes);
        return new Response(null, {
          status: 302,
          headers: {
            ...common,
            location: `${this.cdnUrl}/cdn/${sum}?signature=fake`,
            etag: `"${gitBlobId(pointer(f))}"`,
            "x-linked-etag": `"${sum}"`,
            "x-linked-size": String(f.bytes.length),
          },
        });
      }
      return this.serveBytes(req, f, { ...common, etag: `"${gitBlobId(f.bytes)}"` });
    }
    if (u.pathname.startsWith("/cdn/") && !this.cdn) return this.handleCdn(req, u);
    return hubError(401, "RepositoryNotFound", "Repository not found");
  }

  private handleCdn(req: Request, u: URL): Response {
    const f = u.pathname.startsWith("/cdn/") ? this.bySha.get(u.pathname.slice(5)) : undefined;
    if (!f) return new Response("NoSuchKey", { status: 404 });
    return this.serveBytes(req, f, { etag: `"s3-${sha256Hex(f.bytes).slice(0, 32)}"` });
  }

  private sibling(f: FakeFile, blobs: boolean): Record<string, unknown> {
    if (!blobs) return { rfilename: f.path };
    if (!f.lfs) return { rfilename: f.path, blobId: gitBlobId(f.bytes), size: f.bytes.length };
    const ptr = pointer(f);
    return {
      rfilename: f.path,
      blobId: gitBlobId(ptr),
      size: f.bytes.length,
      lfs: { sha256: sha256Hex(f.bytes), size: f.bytes.length, pointerSize: ptr.length },
    };
  }

  /** The file's bytes from the requested offset; faults applied. */
  private serveBytes(req: Request, f: FakeFile, headers: Record<string, string>): Response {
    let bytes = f.bytes;
    if (this.corrupt.has(f.path)) {
      bytes = bytes.slice();
      bytes[bytes.length >> 1] ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    const start = range ? Number(range[1]) : 0;
    if (start > 0 && start >= bytes.length) {
      return new Response(null, {
        status: 416,
        headers: { "content-range": `bytes */${bytes.length}` },
      });
    }
    const body = bytes.subarray(start);
    const out: Record<string, string> = {
      ...headers,
      "content-length": String(body.length),
      "accept-ranges": "bytes",
    };
    if (range) out["content-range"] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    const status = range ? 206 : 200;
    if (this.stallOnce.has(f.path) && !this.stallDone.has(f.path)) {
      this.stallDone.add(f.path);
      const half = body.subarray(0, body.length >> 1);
      const released = this.released;
      const stream = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(half);
          await released;
          c.close();
        },
      });
      return new Response(stream, { status, headers: out });
    }
    if (this.cutOnce.has(f.path) && !this.cutDone.has(f.path)) {
      this.cutDone.add(f.path);
      // Half the body, then the stream ends short of Content-Length: the client sees a dropped connection.
      const half = body.subarray(0, body.length >> 1);
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(half);
          c.close();
        },
      });
      return new Response(stream, { status, headers: out });
    }
    return new Response(body, { status, headers: out });
  }
}

/** The Git LFS pointer file that stands for an LFS file in git. */
function pointer(f: FakeFile): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(
    `version https://git-lfs.github.com/spec/v1\noid sha256:${
      sha256Hex(f.bytes)
    }\nsize ${f.bytes.length}\n`,
  );
}

function hubError(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: {
      "x-error-code": code,
      "x-error-message": message,
      "content-type": "application/json",
    },
  });
}
