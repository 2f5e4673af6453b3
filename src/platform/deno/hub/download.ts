/**
 * Downloads one file of a repository into its cache blob: streamed to
 * `blobs/<name>.incomplete`, resumed with an HTTP Range request where an
 * earlier run stopped, hashed while streaming and checked before it is
 * renamed into place (sha256 for LFS files, the git blob id otherwise), so a
 * blob in the cache is always whole and correct. Deno-only.
 */
import { createHash, type Hash } from "node:crypto";
import { fileSize, type RepoCache } from "./cache.ts";
import { type HubClient, HubError, hubGet, HubNetworkError, resolveUrl } from "./http.ts";

/** One file to fetch, as the repository listing describes it. */
export interface RemoteFile {
  /** Repo path, e.g. `vae/diffusion_pytorch_model.safetensors`. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Blob name in the cache: the sha256 for LFS files, else the git blob id. */
  blobName: string;
  /** Content sha256 (LFS files). */
  sha256?: string;
  /** Git blob id, sha1 of `blob <size>\0<content>` (other files). */
  gitBlobId?: string;
}

/** Smallest step between two progress reports inside one file. */
const PROGRESS_STEP = 1 << 20;

/** A hash of the file's content in whichever form the listing can check. */
function contentHasher(
  file: RemoteFile,
): { hash: Hash; expected: string; kind: string } | undefined {
  if (file.sha256) return { hash: createHash("sha256"), expected: file.sha256, kind: "sha256" };
  if (file.gitBlobId && /^[0-9a-f]{40}$/.test(file.gitBlobId)) {
    const hash = createHash("sha1");
    hash.update(`blob ${file.size}\0`);
    return { hash, expected: file.gitBlobId, kind: "git blob id" };
  }
  return undefined;
}

/** `"W/\"abc\""` → `abc`. */
function bareEtag(v: string | null): string | undefined {
  return v ? v.replace(/^W\//, "").replace(/^"|"$/g, "") : undefined;
}

/**
 * Fetches `file` (of commit `commit`) into `cache`'s blob store. `onBytes`
 * gets the bytes of this file on disk so far (resumed bytes included).
 */
export async function downloadBlob(
  c: HubClient,
  cache: RepoCache,
  commit: string,
  file: RemoteFile,
  onBytes: (have: number) => void,
): Promise<void> {
  const blob = cache.blobPath(file.blobName);
  const partial = `${blob}.incomplete`;
  let have = await fileSize(partial);
  if (have > file.size) {
    await Deno.remove(partial); // not a prefix of this file
    have = 0;
  }
  const checker = contentHasher(file);
  if (have === file.size && have > 0) {
    // Whole already (a run stopped between the last byte and the rename).
    await hashFile(partial, checker?.hash);
    return await finish(partial, blob, file, checker, have);
  }

  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (have > 0) headers.range = `bytes=${have}-`;
  const { response, hubHeaders } = await hubGet(c, resolveUrl(c, commit, file.path), headers, {
    kind: "file",
    path: file.path,
    commit,
  });
  const linked = bareEtag(hubHeaders.get("x-linked-etag"));
  if (file.sha256 && linked && /^[0-9a-f]{64}$/.test(linked) && linked !== file.sha256) {
    await response.body?.cancel();
    throw new Error(
      `${c.repo}: ${file.path}: the Hub's ETag ${linked} differs from the listing's sha256 ` +
        `${file.sha256}; the repository changed during the download — re-run`,
    );
  }
  const resumed = have > 0 && response.status === 206 && rangeStart(response) === have;
  if (response.status === 206 && !resumed) {
    await response.body?.cancel();
    await Deno.remove(partial).catch(() => {});
    throw new Error(
      `${c.repo}: ${file.path}: the server sent bytes from ${rangeStart(response)} when asked ` +
        `for ${have}; the partial file was removed — re-run to download it again`,
    );
  }
  if (!resumed) have = 0; // a 200 (no Range support) restarts from byte 0
  if (resumed) await hashFile(partial, checker?.hash);

  const out = await Deno.open(partial, {
    create: true,
    write: true,
    append: resumed,
    truncate: !resumed,
  });
  let reported = have;
  onBytes(have);
  try {
    if (!response.body) throw new Error("empty response body");
    for await (const chunk of response.body) {
      await writeAll(out, chunk);
      checker?.hash.update(chunk);
      have += chunk.length;
      if (have - reported >= PROGRESS_STEP) {
        reported = have;
        onBytes(have);
      }
    }
  } catch (e) {
    const stopped = `${c.repo}: download of ${file.path} stopped after ${have} of ${file.size} ` +
      `bytes (${(e as Error).message}); the partial file is kept — re-run to resume`;
    // A broken or stalled connection is retried (and resumes); a disk error is not.
    throw e instanceof HubNetworkError
      ? new HubNetworkError(stopped, { cause: e })
      : new HubError(stopped);
  } finally {
    out.close();
  }
  if (have !== file.size) {
    if (have < file.size) {
      throw new HubNetworkError(
        `${c.repo}: download of ${file.path} stopped after ${have} of ${file.size} bytes ` +
          `(connection closed early); the partial file is kept — re-run to resume`,
      );
    }
    await Deno.remove(partial);
    throw new Error(
      `${c.repo}: ${file.path}: received ${have} bytes, the listing says ${file.size}; ` +
        `the partial file was removed — re-run to download it again`,
    );
  }
  await finish(partial, blob, file, checker, have);
  onBytes(have);
}

/** Checks the hash and renames the partial file into the blob; a mismatch removes it. */
async function finish(
  partial: string,
  blob: string,
  file: RemoteFile,
  checker: ReturnType<typeof contentHasher>,
  have: number,
): Promise<void> {
  if (checker) {
    const got = checker.hash.digest("hex");
    if (got !== checker.expected) {
      await Deno.remove(partial);
      throw new Error(
        `${file.path}: checksum mismatch (${checker.kind} expected ${checker.expected}, got ${got}); ` +
          `the corrupt blob was removed — re-run to download it again`,
      );
    }
  }
  if (have !== file.size) {
    throw new Error(`${file.path}: ${have} bytes on disk, expected ${file.size}`);
  }
  await Deno.rename(partial, blob);
}

/** First byte of a 206 response (`Content-Range: bytes START-END/TOTAL`). */
function rangeStart(res: Response): number | undefined {
  const m = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Feeds the bytes already in `path` to `hash` (resuming must hash the whole file). */
async function hashFile(path: string, hash: Hash | undefined): Promise<void> {
  if (!hash) return;
  const f = await Deno.open(path, { read: true });
  for await (const chunk of f.readable) hash.update(chunk); // the stream closes the file
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
}
