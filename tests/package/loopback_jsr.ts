/**
 * The package as JSR receives it, without reaching JSR: the real
 * `deno publish` runs against a stand-in for the registry's API on
 * 127.0.0.1 (`JSR_URL`), which keeps the tarball the command uploads. Those
 * are the published files after publish-time rewriting (bare specifiers from
 * deno.json's `imports` become `npm:` specifiers), so serving them over HTTP
 * serves the package as a registry would, with no checkout behind it.
 *
 * Also: the Deno subprocess runner (bounded in time) and the static file
 * server the URL-import test uses.
 */

/** The repository root (where deno.json is). */
export const ROOT: URL = new URL("../../", import.meta.url);

export interface DenoRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno ARGS` (this Deno) in `cwd`, killed after `timeoutMs`. */
export async function runDeno(
  args: string[],
  opts: { cwd: string | URL; env?: Record<string, string>; timeoutMs: number },
): Promise<DenoRun> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: opts.cwd,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const dec = new TextDecoder();
  const run = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  if (signal.aborted) {
    throw new Error(`deno ${args.join(" ")}: killed after ${opts.timeoutMs} ms\n${run.stderr}`);
  }
  return run;
}

export interface Published {
  /** Path inside the package (no leading slash) → bytes, as uploaded. */
  files: Map<string, Uint8Array>;
  /** Size of the gzipped tarball `deno publish` uploaded. */
  tarballBytes: number;
  /** `deno publish`'s own output. */
  log: string;
}

/**
 * Runs `deno publish` on the repository against a loopback registry and
 * returns what it uploaded. Fails on any request a registry would not expect
 * and when the command fails.
 */
export async function publishToLoopback(): Promise<Published> {
  const { name, version } = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const [scope, pkg] = String(name).slice(1).split("/");
  const api = `/api/scopes/${scope}/packages/${pkg}`;
  let tarball: Uint8Array | undefined;
  const unexpected: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method === "GET" && path === `${api}/versions/${version}`) {
        // Not published yet.
        return Response.json({ code: "versionNotFound", message: "not found" }, { status: 404 });
      }
      if (req.method === "GET" && path === api) return Response.json({ scope, name: pkg });
      if (req.method === "POST" && path === `${api}/versions/${version}`) {
        tarball = new Uint8Array(await req.arrayBuffer());
        return Response.json({ id: "loopback", status: "success", error: null });
      }
      unexpected.push(`${req.method} ${path}`);
      return Response.json({ code: "notFound", message: path }, { status: 404 });
    },
  );
  try {
    const run = await runDeno([
      "publish",
      "--token",
      "loopback",
      "--allow-dirty",
      "--no-provenance",
    ], {
      cwd: ROOT,
      env: { JSR_URL: `http://127.0.0.1:${server.addr.port}/` },
      timeoutMs: 180_000,
    });
    const log = run.stdout + run.stderr;
    if (run.code !== 0) throw new Error(`deno publish failed (exit ${run.code}):\n${log}`);
    if (unexpected.length > 0) throw new Error(`unexpected registry requests: ${unexpected}`);
    if (!tarball) throw new Error(`deno publish uploaded nothing:\n${log}`);
    return { files: await untarGz(tarball), tarballBytes: tarball.length, log };
  } finally {
    await server.shutdown();
  }
}

/** The regular files of a gzipped ustar archive, by path. */
export async function untarGz(gz: Uint8Array): Promise<Map<string, Uint8Array>> {
  const stream = new Blob([gz as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  const tar = new Uint8Array(await new Response(stream).arrayBuffer());
  const files = new Map<string, Uint8Array>();
  const field = (at: number, len: number) =>
    new TextDecoder().decode(tar.subarray(at, at + len)).replace(/\0.*$/s, "");
  let longName: string | undefined;
  for (let at = 0; at + 512 <= tar.length;) {
    if (tar.subarray(at, at + 512).every((b) => b === 0)) break; // end of archive
    const size = parseInt(field(at + 124, 12).trim() || "0", 8);
    const type = field(at + 156, 1) || "0";
    const prefix = field(at + 345, 155);
    const name = longName ?? (prefix ? `${prefix}/` : "") + field(at, 100);
    longName = undefined;
    const data = tar.subarray(at + 512, at + 512 + size);
    if (data.length !== size) throw new Error(`tarball: ${name} truncated at byte ${at}`);
    if (type === "L") longName = new TextDecoder().decode(data).replace(/\0.*$/s, "");
    else if (type === "0") files.set(name.replace(/^\/+/, ""), data.slice());
    else if (type !== "5") throw new Error(`tarball: ${name}: entry type '${type}' unexpected`);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

const CONTENT_TYPES: Record<string, string> = {
  ts: "application/typescript",
  json: "application/json",
  wgsl: "text/plain",
  md: "text/markdown",
};

/** Runs `fn` with the base URL (ending in `/`) of a server for `files` on 127.0.0.1. */
export async function withStaticServer(
  files: Map<string, Uint8Array>,
  fn: (baseUrl: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname).slice(1);
      const body = files.get(path);
      if (req.method !== "GET" || !body) return new Response("not found", { status: 404 });
      const ext = path.slice(path.lastIndexOf(".") + 1);
      const type = CONTENT_TYPES[ext] ?? "application/octet-stream";
      return new Response(body as Uint8Array<ArrayBuffer>, { headers: { "content-type": type } });
    },
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/`);
  } finally {
    await server.shutdown();
  }
}
