/**
 * A second process for hub_reliability_test.ts: downloads the fake Hub's tiny
 * repo (`deno run -A hub_download_child.ts HUB_URL CACHE_DIR`) and prints the
 * snapshot folder; exit 1 with the message on failure.
 */
import { resolveModel } from "../../src/platform/deno/hub.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { denoPlatform } from "../../src/platform/deno.ts";
import { FAST_NETWORK, REPO } from "./hub_fixture.ts";

setPlatform(denoPlatform());
const [endpoint, cacheDir] = Deno.args;
try {
  const dir = await resolveModel({
    model: REPO,
    endpoint,
    cacheDir,
    token: false,
    env: () => undefined,
    network: FAST_NETWORK,
  });
  console.log(dir);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  Deno.exit(1);
}
