/**
 * The one boundary between the portable core and the host it runs on.
 *
 * The core (gpu, ops, io, models, pipeline, text, prompt) never touches
 * `Deno.*`, `node:` modules, the file system or the process: it asks the
 * {@link Platform} its entry point was given (see `mod.ts` here for the
 * rule). Deno's is `src/platform/deno.ts` (FFI mmap, files, env); a
 * browser's is `src/platform/browser.ts` (`File`/`Blob` slices, `fetch`
 * ranges).
 *
 * Deno APIs appear only in the Deno areas: `src/platform/deno.ts` and
 * `src/platform/deno/` (the host: the platform, the Hub client, the embedded
 * model's cache) and the Deno application: `src/cli/` and the listener of
 * `serve` (`src/serve/server.ts`).
 * `tests/boundaries_test.ts` checks it, and the layer order of imports.
 */

/** Random-access bytes of one file, however the host provides them. */
export interface ByteSource {
  /** File path or URL, used in error messages. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Bytes `[offset, offset + length)`. A memory-mapped source returns a view
   * over the mapping (no copy) — read-only memory: never write into it; others
   * return a fresh buffer. Reading past the end is an error that names the file.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** How the bytes are reached, for logs and benchmarks. */
  readonly kind: "mmap" | "read" | "blob" | "http" | "memory";
  /**
   * Releases the mapping / handle. Views returned by `read` die with it (a
   * mapped source detaches them: they read as empty instead of crashing).
   */
  close(): void;
}

/** What the library needs from its host: files (random access and text), the environment and paths. */
export interface Platform {
  /** Name for messages, e.g. `"deno"`. */
  readonly name: string;
  /**
   * Opens a file (path, or URL in a browser) for random access. An empty file
   * is an error: nothing this runtime opens this way can be empty.
   */
  open(path: string): Promise<ByteSource>;
  /** Whole small file as text (configs, tokenizer JSON). */
  readText(path: string): Promise<string>;
  /** Whether a file exists (false for a folder). */
  exists(path: string): Promise<boolean>;
  /**
   * Names (not paths) of the files directly inside folder `dir`, sorted; an
   * error where the folder does not exist or the host cannot list it (HTTP).
   */
  list(dir: string): Promise<string[]>;
  /** Joins path segments with the host's separator rules. */
  join(...parts: string[]): string;
  /** An environment variable, or undefined where the host has none. */
  env(name: string): string | undefined;
  /**
   * Writes a whole file atomically: to a temporary file beside it, then a
   * rename, so a reader (or a crash) never sees a partial file. Hosts
   * without a writable file system throw.
   */
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void>;
}
