/**
 * Holds the registered {@link Platform}. Entry points register one
 * (`mod.ts` registers Deno's when running under Deno); the core only calls
 * {@link platform}.
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

/** The registered platform; throws when none is. */
export function platform(): Platform {
  if (!current) {
    throw new Error(
      "no platform registered: import mod.ts (Deno) or call setPlatform(browserPlatform()) first",
    );
  }
  return current;
}
