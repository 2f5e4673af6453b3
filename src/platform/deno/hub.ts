/**
 * Gets an Ideogram 4 checkpoint from the Hugging Face Hub into the standard
 * hub cache (shared with Python's `huggingface_hub`) and returns its local
 * snapshot folder, in the published layout the pipeline opens
 * (`tokenizer/ text_encoder/ transformer/ unconditional_transformer/ vae/`).
 *
 * - A cached snapshot that is complete for the revision is returned without a
 *   single network request; offline mode (`offline` / `HF_HUB_OFFLINE=1`)
 *   never asks the network and fails clearly when the cache lacks it.
 * - Otherwise one listing request (`/api/models/REPO/revision/REV?blobs=true`)
 *   pins the commit and lists sizes and hashes; each needed file is then
 *   fetched by commit, resumed where an earlier run stopped, checked, and
 *   linked into `snapshots/<commit>/`. The vision tower's shards are skipped.
 *
 * Deno-only (file system, symlinks, locks, `node:crypto`), so it lives in the
 * Deno host area (`src/platform/deno/`), which the portable library
 * (`src/lib.ts`, the browser bundle) never imports; `mod.ts` exports it.
 * `hub/select.ts`, `hub/settings.ts` and `hub/http.ts` use no Deno API
 * themselves but serve only this client.
 */
import { denoPlatform } from "../deno.ts";
import {
  diskFreeBytes,
  fileSize,
  isCommitSha,
  isDirectory,
  isFile,
  RepoCache,
  withFileLock,
} from "./hub/cache.ts";
import { downloadBlob, type RemoteFile } from "./hub/download.ts";
import {
  type HubClient,
  HubError,
  hubGet,
  HubNetworkError,
  listingUrl,
  withRetries,
} from "./hub/http.ts";
import {
  type IndexShards,
  indexShards,
  inPipelineFolder,
  isIndexFile,
  missingForPipeline,
  selectFiles,
} from "./hub/select.ts";
import {
  type EnvLookup,
  findToken,
  hubCacheDir,
  hubEndpoint,
  type NetworkPolicy,
  networkPolicy,
  offlineFromEnv,
} from "./hub/settings.ts";
import { checkCachedFile } from "./hub/cache_check.ts";
import { redactUrl } from "../../redact.ts";

export {
  DEFAULT_ENDPOINT,
  DEFAULT_NETWORK,
  type EnvLookup,
  type NetworkPolicy,
} from "./hub/settings.ts";
export { HubError, HubNetworkError } from "./hub/http.ts";
export { PIPELINE_FOLDERS } from "./hub/select.ts";
export { repoFolderName } from "./hub/cache.ts";

/** The published weights repository for each quantization. */
export const DEFAULT_REPOS = {
  nf4: "ideogram-ai/ideogram-4-nf4",
  fp8: "ideogram-ai/ideogram-4-fp8",
} as const;

/** Names of the published quantizations (`"nf4"`, `"fp8"`). */
export type Quantization = keyof typeof DEFAULT_REPOS;

/** Where a download stands; reported at each file's start and end and every MiB. */
export interface HubProgress {
  /** The repo id being downloaded. */
  repo: string;
  /** The commit being fetched. */
  commit: string;
  /** Repo path of the current file, e.g. `vae/diffusion_pytorch_model.safetensors`. */
  file: string;
  /** 0-based position of the file among `fileCount` needed files. */
  fileIndex: number;
  /** Number of files needed. */
  fileCount: number;
  /** Bytes of this file on disk (resumed bytes included) / its size. */
  fileBytes: number;
  /** Size of this file in bytes. */
  fileSize: number;
  /** Bytes of all needed files on disk / their total size. */
  bytes: number;
  /** Total size of all needed files in bytes. */
  total: number;
  /** True when the file was already in the cache (nothing downloaded). */
  cached: boolean;
}

/** Which model {@link resolveModel} fetches, from where, and how. */
export interface ResolveModelSpec {
  /** A repo id `org/name`, or a local checkpoint folder (returned as is). */
  model?: string;
  /** Picks the published repo when `model` is not given. Default `"nf4"`. */
  quantization?: Quantization;
  /** Branch, tag or commit sha. Default `"main"`. */
  revision?: string;
  /** Cache only, never the network. Default: `HF_HUB_OFFLINE`. */
  offline?: boolean;
  /** Hub base URL. Default: `HF_ENDPOINT`, else `https://huggingface.co`. */
  endpoint?: string;
  /** Access token; `false` sends none. Default: `HF_TOKEN`, else the saved token file. */
  token?: string | false;
  /** Hub cache root. Default: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Progress of the download (see {@link HubProgress}). */
  onProgress?: (p: HubProgress) => void;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Environment lookup. Default: Deno's (tests pass a made-up one). */
  env?: EnvLookup;
  /**
   * Only these component folders (default: all five), e.g. `["tokenizer"]`
   * to check a prompt's tokens before the weights download.
   */
  folders?: readonly string[];
  /** Free bytes on the disk holding a folder, undefined if unknown. Default: statfs. */
  diskFree?: (dir: string) => Promise<number | undefined>;
  /**
   * Timeouts and retries. Default: {@link DEFAULT_NETWORK}, timeouts from
   * `HF_HUB_ETAG_TIMEOUT` / `HF_HUB_DOWNLOAD_TIMEOUT` (seconds).
   */
  network?: Partial<NetworkPolicy>;
}

/**
 * Files and the environment as the Deno platform reads them (its messages
 * name the file). This module is Deno-only, so it uses that platform
 * directly rather than the registered one.
 */
const host = denoPlatform();

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/**
 * The local folder of the checkpoint `spec` names, downloading what the
 * cache lacks. See the module comment for the rules.
 *
 * @example Download the nf4 release (gated: accept its licence, set `HF_TOKEN`)
 * ```ts
 * import { resolveModel } from "@ideogram4/webgpu";
 *
 * const dir = await resolveModel({
 *   quantization: "nf4",
 *   onProgress: (p) => console.log(`${p.file} ${p.bytes}/${p.total}`),
 * });
 * ```
 */
export async function resolveModel(spec: ResolveModelSpec = {}): Promise<string> {
  const env: EnvLookup = spec.env ?? ((name) => host.env(name));
  if (spec.model !== undefined && await isDirectory(spec.model)) return spec.model;
  const quant = spec.quantization ?? "nf4";
  if (!(quant in DEFAULT_REPOS)) {
    throw new HubError(
      `quantization "${quant}" is not one of ${Object.keys(DEFAULT_REPOS).join(", ")}`,
      2,
    );
  }
  const repo = spec.model ?? DEFAULT_REPOS[quant];
  if (spec.model !== undefined) await checkModelName(spec.model);
  const revision = spec.revision ?? "main";
  if (
    revision === "" || /[\s\\:?*~^[\]]|\p{Cc}/u.test(revision) ||
    revision.split("/").some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new HubError(`--revision "${revision}" is not a branch, tag or commit name`, 2);
  }
  const cache = new RepoCache(hubCacheDir(spec.cacheDir, env, host), repo, host);

  const cachedSha = isCommitSha(revision) ? revision : await cache.readRef(revision);
  const inScope = (path: string) => !spec.folders || spec.folders.includes(path.split("/")[0]);
  const cachedMissing = cachedSha ? (await cache.missing(cachedSha))?.filter(inScope) : undefined;
  if (cachedSha && cachedMissing?.length === 0) {
    await checkSnapshot(cache, cachedSha);
    return cache.snapshotDir(cachedSha);
  }
  const noFolder = spec.model === undefined ? "" : ` (there is no local folder ${spec.model})`;

  if (spec.offline ?? offlineFromEnv(env)) {
    const state = cachedMissing
      ? `its snapshot ${cachedSha} is incomplete (missing ${listSome(cachedMissing)})`
      : "it is not in the cache";
    throw new Error(
      `${repo}@${revision}${noFolder}: offline mode (--offline / HF_HUB_OFFLINE=1) and ${state} at ` +
        `${cache.root}; run once online to download it, or pass a local checkpoint folder as the model`,
    );
  }

  const client: HubClient = {
    endpoint: hubEndpoint(spec.endpoint, env),
    repo,
    token: await findToken(spec.token, env, host),
    fetch: spec.fetch ?? fetch,
    network: networkPolicy(spec.network, env),
  };
  try {
    return await downloadSnapshot(client, cache, revision, spec);
  } catch (e) {
    if (e instanceof HubNetworkError) {
      throw await networkError(e, client, cache, `${revision}${noFolder}`);
    }
    if (e instanceof HubError && e.exitCode === 2 && noFolder) {
      throw new HubError(`${e.message}${noFolder}`, 2, e.status);
    }
    throw e;
  }
}

/**
 * Refuses a `--model` that is neither an existing folder nor could be a Hub
 * repo id, and one that looks like a path (its first part is a local folder:
 * `models/name` next to a `models/` folder) — such a name is a missing
 * folder, not a download.
 */
async function checkModelName(model: string): Promise<void> {
  const repoShaped = REPO_ID.test(model) && !model.includes("..");
  if (!repoShaped) {
    const exists = await isFile(model) ? "is a file, not a folder" : "does not exist";
    throw new HubError(
      `model folder ${model} ${exists}, and "${model}" is not a Hugging Face repo id ` +
        `(org/name) either; pass a checkpoint folder or a repo id`,
      2,
    );
  }
  const first = model.split("/")[0];
  if (await isDirectory(first)) {
    throw new HubError(
      `model folder ${model} does not exist (${first}/ is a local folder, so this is taken ` +
        `as a path, not as the Hugging Face repo id "${model}"); check the path`,
      2,
    );
  }
}

/**
 * A cheap look at a cached snapshot before it is used (sizes and headers, no
 * hashing): a damaged blob is named, with the command that fixes it.
 */
async function checkSnapshot(cache: RepoCache, sha: string): Promise<void> {
  for (const path of await cache.snapshotFiles(sha)) {
    const file = `${cache.snapshotDir(sha)}/${path}`;
    const problem = await checkCachedFile(file);
    if (problem === undefined) continue;
    const blob = await Deno.realPath(file);
    throw new HubError(
      `the cached file ${path} of ${cache.repo}@${sha.slice(0, 12)} is damaged (${problem}); ` +
        `it is the blob ${blob}: delete it (rm '${blob}') and run again online to download it ` +
        `again (each download is checked against its sha256)`,
    );
  }
}

/** The listing of one commit: its sha and every file with size and blob name. */
interface Listing {
  sha: string;
  files: Map<string, RemoteFile | undefined>;
}

async function fetchListing(c: HubClient, revision: string): Promise<Listing> {
  const what = `${c.repo}@${revision}: repository listing`;
  const body = await withRetries(c, async () => {
    const { response } = await hubGet(c, listingUrl(c, revision), {
      accept: "application/json",
    }, { kind: "listing", revision });
    const text = await response.text(); // a stalled body is a HubNetworkError: retried
    try {
      return JSON.parse(text) as { sha?: unknown; siblings?: unknown };
    } catch (e) {
      throw new HubError(`${what} is not JSON (${(e as Error).message})`);
    }
  });
  if (typeof body.sha !== "string" || !isCommitSha(body.sha) || !Array.isArray(body.siblings)) {
    throw new HubError(`${what} lacks a commit "sha" or "siblings"`);
  }
  const files = new Map<string, RemoteFile | undefined>();
  for (const s of body.siblings as Record<string, unknown>[]) {
    const path = s?.rfilename;
    if (typeof path !== "string" || path.startsWith("/") || path.split("/").includes("..")) {
      continue;
    }
    const lfs = s.lfs as { sha256?: unknown; size?: unknown } | undefined;
    const sha256 = typeof lfs?.sha256 === "string" ? lfs.sha256 : undefined;
    const blobId = typeof s.blobId === "string" ? s.blobId : undefined;
    const size = typeof lfs?.size === "number" ? lfs.size : s.size;
    const blobName = sha256 ?? blobId;
    // Files without sizes and ids stay listed (for selection) but cannot be fetched.
    files.set(
      path,
      blobName && typeof size === "number" && /^[0-9a-f]+$/.test(blobName)
        ? { path, size, blobName, sha256, gitBlobId: sha256 ? undefined : blobId }
        : undefined,
    );
  }
  return { sha: body.sha, files };
}

async function downloadSnapshot(
  c: HubClient,
  cache: RepoCache,
  revision: string,
  spec: ResolveModelSpec,
): Promise<string> {
  const listing = await fetchListing(c, revision);
  const commit = listing.sha;
  const remote = (path: string): RemoteFile => {
    const f = listing.files.get(path);
    if (!f) {
      throw new Error(
        `${c.repo}@${revision}: the listing gives no size/blob id for ${path} ` +
          `(the server ignored ?blobs=true); cannot download it safely`,
      );
    }
    return f;
  };
  const inScope = (path: string) => !spec.folders || spec.folders.includes(path.split("/")[0]);
  const candidates = [...listing.files.keys()].filter((f) => inPipelineFolder(f) && inScope(f));
  await Deno.mkdir(cache.blobsDir, { recursive: true });
  const diskFree = spec.diskFree ?? diskFreeBytes;
  const noProgress = () => {};

  // The indexes decide which shards are needed, so they come first.
  const indexes = new Map<string, IndexShards>();
  for (const path of candidates.filter(isIndexFile)) {
    await ensureFile(c, cache, commit, remote(path), diskFree, noProgress);
    indexes.set(
      path,
      indexShards(path, await host.readText(`${cache.snapshotDir(commit)}/${path}`)),
    );
  }
  const paths = selectFiles(candidates, indexes);
  const lacking = missingForPipeline(new Set(paths), indexes).filter(inScope);
  if (lacking.length > 0) {
    throw new Error(
      `${c.repo}@${revision} (commit ${commit}) is not an Ideogram 4 checkpoint: it lacks ${
        listSome(lacking)
      }`,
    );
  }
  const files = paths.map(remote);

  // Fail before the first byte when the whole download cannot fit.
  const onDisk = await Promise.all(files.map((f) => bytesOnDisk(cache, commit, f)));
  const total = files.reduce((s, f) => s + f.size, 0);
  await checkDiskSpace(diskFree, cache, total - onDisk.reduce((s, n) => s + n, 0), "the download");

  let finished = 0;
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    const report = (fileBytes: number, cached: boolean) =>
      spec.onProgress?.({
        repo: c.repo,
        commit,
        file: f.path,
        fileIndex: i,
        fileCount: files.length,
        fileBytes,
        fileSize: f.size,
        bytes: finished + fileBytes,
        total,
        cached,
      });
    const fetched = await ensureFile(c, cache, commit, f, diskFree, (have) => report(have, false));
    if (!fetched) report(f.size, true);
    finished += f.size;
  }
  if (revision !== commit) await cache.writeRef(revision, commit);
  return cache.snapshotDir(commit);
}

/** Bytes of `f` already cached: the whole file when its blob exists, else its partial download. */
async function bytesOnDisk(cache: RepoCache, commit: string, f: RemoteFile): Promise<number> {
  if (await isFile(`${cache.snapshotDir(commit)}/${f.path}`)) return f.size;
  const blob = await fileSize(cache.blobPath(f.blobName));
  return blob === f.size ? blob : await fileSize(`${cache.blobPath(f.blobName)}.incomplete`);
}

/**
 * Makes `snapshots/<commit>/<path>` hold `f`: links an existing blob, or
 * downloads it under the blob's lock. Returns whether bytes were downloaded.
 */
async function ensureFile(
  c: HubClient,
  cache: RepoCache,
  commit: string,
  f: RemoteFile,
  diskFree: (dir: string) => Promise<number | undefined>,
  onBytes: (have: number) => void,
): Promise<boolean> {
  if (await isFile(`${cache.snapshotDir(commit)}/${f.path}`)) return false;
  const blob = cache.blobPath(f.blobName);
  const fetched = await withFileLock(cache.lockPath(f.blobName), async () => {
    if (await isFile(blob)) {
      if (await fileSize(blob) === f.size) return false; // another snapshot or process has it
      await Deno.remove(blob); // wrong size: not this content
    }
    const partial = await fileSize(`${blob}.incomplete`);
    await checkDiskSpace(diskFree, cache, f.size - Math.min(partial, f.size), f.path);
    // A broken or stalled connection is retried; each retry resumes the partial file.
    await withRetries(c, () => downloadBlob(c, cache, commit, f, onBytes));
    return true;
  });
  await cache.link(commit, f.path, f.blobName);
  return fetched;
}

async function checkDiskSpace(
  diskFree: (dir: string) => Promise<number | undefined>,
  cache: RepoCache,
  need: number,
  what: string,
): Promise<void> {
  if (need <= 0) return;
  const free = await diskFree(cache.blobsDir);
  if (free !== undefined && free < need) {
    throw new Error(
      `not enough disk space for ${what}: it needs ${gb(need)}, ${gb(free)} are free in ` +
        `${cache.cacheDir}; free some space or point HF_HUB_CACHE at a bigger disk`,
    );
  }
}

/** A network failure (after its retries), with what the cache still allows. */
async function networkError(
  e: HubNetworkError,
  c: HubClient,
  cache: RepoCache,
  revision: string,
): Promise<Error> {
  const shas = await cache.snapshotShas();
  const complete: string[] = [];
  for (const sha of shas) if ((await cache.missing(sha))?.length === 0) complete.push(sha);
  const advice = complete.length > 0
    ? `A complete copy is cached (commit ${
      complete[0]
    }): use it with --offline (or HF_HUB_OFFLINE=1) ` +
      `and --revision ${complete[0]}.`
    : shas.length > 0
    ? `A partial download is cached in ${cache.root}; re-run when the network is back and it resumes.`
    : `Nothing of ${cache.repo} is cached yet, so --offline cannot help: connect to the ` +
      `network, set HF_ENDPOINT to a reachable mirror, or pass a local checkpoint folder.`;
  const tries = c.network.retries > 0 ? ` (${c.network.retries + 1} attempts)` : "";
  return new HubError(
    `${cache.repo}@${revision}: the Hub at ${
      redactUrl(c.endpoint)
    } failed${tries}: ${e.message}. ` +
      `${advice} On a slow link raise HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT (seconds).`,
  );
}

function listSome(items: string[]): string {
  return items.length <= 6
    ? items.join(", ")
    : `${items.slice(0, 6).join(", ")} and ${items.length - 6} more`;
}

function gb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}
