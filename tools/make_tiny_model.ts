/**
 * Writes the embedded tiny model (src/tiny/model.ts) into a folder, e.g. to
 * serve it to the web page or to inspect it:
 *
 *   deno run -A tools/make_tiny_model.ts DIR
 *
 * The CLI does not need this: it builds the model in its cache on first use.
 */
import { writeEmbeddedModel } from "../src/platform/deno/embedded_model.ts";

if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir) {
    console.error("usage: deno run -A tools/make_tiny_model.ts DIR");
    Deno.exit(2);
  }
  await writeEmbeddedModel(dir);
  console.log(`wrote ${dir}`);
}
