/**
 * Where the page reads a checkpoint from, as a browser {@link Platform} plus
 * the folder to open on it: the embedded tiny model the server publishes, a
 * folder the user picked (read lazily, by `Blob` slices), or a URL served
 * with HTTP Range requests.
 */
import { browserPlatform, filesByRelativePath, type Platform } from "./ideogram4.ts";

export type ModelSource =
  | { kind: "embedded" }
  /**
   * Picked files, or (what the page posts to its worker, since a cloned
   * `File` loses its `webkitRelativePath`) the same files by relative path
   * as {@link filesByRelativePath} gives them.
   */
  | { kind: "folder"; files: Iterable<File> | Map<string, Blob> }
  | { kind: "url"; url: string };

export interface OpenedSource {
  platform: Platform;
  /** Folder to pass to `Ideogram4Pipeline.open` on that platform. */
  dir: string;
  /** For status lines. */
  label: string;
  /** The checkpoint's folder URL, for URL sources (what the OPFS cache keys on). */
  baseUrl?: string;
}

/** Where `deno task serve` publishes `models/tiny/`, relative to the page. */
export const EMBEDDED_MODEL_PATH = "models/tiny/";

/** The file that marks a checkpoint's top folder. */
const MARKER = "tokenizer/tokenizer.json";

/**
 * The platform and folder for `source`. `pageUrl` resolves the embedded
 * model's and relative URLs. A picked folder may be the checkpoint itself or
 * a folder holding exactly one checkpoint (e.g. `models/` around `tiny/`).
 */
export function openSource(
  source: ModelSource,
  pageUrl: string,
  /** The fetch for URL sources (default: the global one). */
  fetch?: typeof globalThis.fetch,
): OpenedSource {
  switch (source.kind) {
    case "embedded": {
      const baseUrl = new URL(EMBEDDED_MODEL_PATH, pageUrl).href;
      return {
        platform: browserPlatform({ baseUrl, fetch }),
        dir: "",
        label: "the embedded tiny model",
      };
    }
    case "url": {
      const url = source.url.trim();
      if (url === "") throw new Error("give the checkpoint's URL (its top folder)");
      let baseUrl: string;
      try {
        baseUrl = new URL(url.endsWith("/") ? url : url + "/", pageUrl).href;
      } catch {
        throw new Error(`${url}: not a URL`);
      }
      return { platform: browserPlatform({ baseUrl, fetch }), dir: "", label: baseUrl, baseUrl };
    }
    case "folder": {
      const files = source.files instanceof Map ? source.files : filesByRelativePath(source.files);
      if (files.size === 0) throw new Error("the picked folder is empty");
      return {
        platform: browserPlatform({ files }),
        dir: checkpointDir(files.keys()),
        label: "the picked folder",
      };
    }
  }
}

/** `""` when the marker is at the top, else the one subfolder that has it. */
function checkpointDir(paths: Iterable<string>): string {
  const found: string[] = [];
  for (const p of paths) {
    if (p === MARKER) return "";
    if (p.endsWith("/" + MARKER)) found.push(p.slice(0, -MARKER.length - 1));
  }
  if (found.length === 1) return found[0];
  if (found.length > 1) {
    throw new Error(
      `the picked folder holds ${found.length} checkpoints (${found.sort().join(", ")}); ` +
        "pick one of them",
    );
  }
  // Let the pipeline name what is missing.
  return "";
}
