/**
 * Holds the registered {@link Platform}: the host's files and environment.
 *
 * **One rule for reaching the platform: it is a parameter.** Code below the
 * public entry points receives the platform explicitly (`p: Platform`, or
 * the `platform` field of its options, always filled in) and never reads the
 * registry. The registry is only the *default* of the public entry points,
 * the functions `mod.ts` exports that read files (`Ideogram4Pipeline.open`,
 * `PromptEncoder.load`, `DiT.load`, `Qwen3TextEncoder.load`,
 * `loadVaeDecoder`, `Checkpoint.open`, `checkCheckpoint`, `planMemory`, `loadTokenizer`):
 * each takes an optional platform and falls back to {@link platform} once,
 * then passes its platform down. The CLI resolves it once per command. So a
 * library user either registers a platform ({@link setPlatform}; `mod.ts`
 * registers Deno's under Deno) or passes one to an entry point, and two
 * platforms (a test's, a browser's) can be used side by side.
 * `tests/boundaries_test.ts` lists the files allowed to read the registry.
 *
 * Where the host's code lives: the portable implementations and the
 * interface here (`types.ts`, `browser.ts`); Deno's in `deno.ts`, and the
 * Deno-only services built on it (the Hugging Face Hub client, the embedded
 * model's cache) in `deno/`, which the portable library (`src/lib.ts`, the
 * browser bundle) never imports.
 */
import type { Platform } from "./types.ts";
export type { ByteSource, Platform } from "./types.ts";

let current: Platform | undefined;

/**
 * Registers the platform the library reads files and the environment through.
 * `mod.ts` registers Deno's on import; a page registers {@link browserPlatform}.
 *
 * @example
 * ```ts
 * import { browserPlatform, setPlatform } from "@ideogram4/webgpu";
 *
 * setPlatform(browserPlatform({ baseUrl: "/models/tiny/" }));
 * ```
 */
export function setPlatform(p: Platform): void {
  current = p;
}

/**
 * The registered platform; throws when none is. Only public entry points
 * read it, as the default of their `platform` option (see the module
 * comment).
 */
export function platform(): Platform {
  if (!current) {
    throw new Error(
      "no platform registered: import mod.ts (Deno) or call setPlatform(browserPlatform()) first",
    );
  }
  return current;
}
