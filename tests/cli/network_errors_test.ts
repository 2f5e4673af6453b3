/**
 * `generate` against a fake Hub on 127.0.0.1, failing before any GPU work:
 * a server that echoes the token and a password in HF_ENDPOINT never reach
 * the terminal (--verbose included); what the user typed wrong exits 2.
 */
import { assert, assertEquals } from "../assert.ts";
import { FakeHub } from "../io/fake_hub_server.ts";
import { COMMIT, REPO, tinyRepo } from "../io/hub_fixture.ts";
import { withTempDir } from "../io/io_util.ts";
import { gen } from "./cli_util.ts";

Deno.test("generate: a Hub error that echoes the token prints no secret", async () => {
  await withTempDir(async (dir) => {
    const hub = FakeHub.start({ repo: REPO, commit: COMMIT, files: tinyRepo() });
    hub.echoHeaders = true;
    const token = "hf_CliSecretToken0123456789abcdefgh";
    try {
      const r = await gen(
        ["--prompt", "x", "--model", REPO, "--output", `${dir}/o.png`, "--verbose"],
        {
          HF_TOKEN: token,
          HF_ENDPOINT: hub.url.replace("http://", "http://proxyuser:Pr0xyPa55@"),
          HF_HUB_CACHE: `${dir}/hub`,
        },
      );
      const err = r.err.join("\n");
      assertEquals(r.code, 1, err);
      assert(err.includes("HTTP 400"), err);
      assert(hub.requests.length > 0, "the request reached the server");
      for (const s of [token, "Pr0xyPa55", "CliSecret"]) assert(!err.includes(s), `${s}: ${err}`);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("generate: a bad --revision or a missing model folder exits 2", async () => {
  await withTempDir(async (dir) => {
    const rev = await gen(
      ["--prompt", "x", "--model", REPO, "--revision", "no such", "--output", `${dir}/o.png`],
      { HF_HUB_CACHE: `${dir}/hub`, HF_HUB_OFFLINE: "1" },
    );
    assertEquals(rev.code, 2, rev.err.join("\n"));
    assert(rev.err.join("\n").includes('--revision "no such"'), rev.err.join("\n"));
    const missing = await gen(
      ["--prompt", "x", "--model", `${dir}/models/nonexistent`, "--output", `${dir}/o.png`],
      { HF_HUB_CACHE: `${dir}/hub` },
    );
    assertEquals(missing.code, 2, missing.err.join("\n"));
    const err = missing.err.join("\n");
    assert(err.includes("does not exist") && !err.includes("network"), err);
  });
});
