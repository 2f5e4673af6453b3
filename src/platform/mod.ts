/**
 * Holds the registered {@link Platform}. Entry points register one
 * (`mod.ts` registers Deno's when running under Deno); the core only calls
 * {@link platform}.
 */
import type { Platform } from "./types.ts";
export type { ByteSource, Platform } from "./types.ts";

let current: Platform | undefined;

export function setPlatform(p: Platform): void {
  current = p;
}

export function platform(): Platform {
  if (!current) {
    throw new Error(
      "no platform registered: import mod.ts (Deno) or call setPlatform(browserPlatform()) first",
    );
  }
  return current;
}
