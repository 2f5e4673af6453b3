/**
 * The browser build of ideogram4-webgpu: everything `mod.ts` exports, minus
 * the Deno platform. `deno task build:web` bundles this file (with its npm
 * dependencies) into one ES module, `web/dist/ideogram4.js`.
 *
 * `mod.ts` registers the Deno platform when it runs under Deno, through a
 * dynamic import a bundler would follow (and with it FFI, `node:path` and
 * `Deno.*`); this entry never names it. A page registers its own platform
 * first: `setPlatform(browserPlatform({ files, baseUrl }))`.
 *
 * Both entries export `src/lib.ts`; `tests/web/build_test.ts` checks that
 * they differ only by the Deno-only names.
 */

export * from "../src/lib.ts";
