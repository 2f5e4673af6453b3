/**
 * Hub download and cache against a local fake Hub (tests/io/fake_hub_server.ts)
 * in temp folders with a made-up environment: the real ~/.cache and the real
 * Hub are never touched.
 */
import { type HubProgress, resolveModel } from "../../src/platform/deno/hub.ts";
import { findToken, hubCacheDir } from "../../src/platform/deno/hub/settings.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { denoPlatform } from "../../src/platform/deno.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { gitBlobId, sha256Hex } from "./fake_hub_server.ts";
import {
  blobsOf,
  COMMIT,
  FAST_NETWORK,
  NEEDED,
  noNetwork,
  REPO,
  snapshotOf,
  tinyRepo,
  TRANSFORMER,
  VAE,
  VISION_SHARD,
  withHub,
} from "./hub_fixture.ts";
import { exists, withTempDir } from "./io_util.ts";

setPlatform(denoPlatform());

Deno.test("hub: full download lands in the HF cache layout with relative snapshot links", async () => {
  await withHub({}, async (hub, spec, cacheDir) => {
    const events: HubProgress[] = [];
    const dir = await resolveModel({ ...spec, onProgress: (p) => events.push(p) });
    assertEquals(dir, snapshotOf(cacheDir));
    const files = new Map(tinyRepo().map((f) => [f.path, f]));
    for (const path of NEEDED) {
      const f = files.get(path)!;
      const link = `${dir}/${path}`;
      assert((await Deno.lstat(link)).isSymlink, `${path} is a symlink`);
      const target = await Deno.readLink(link);
      const blob = f.lfs ? sha256Hex(f.bytes) : gitBlobId(f.bytes);
      assertEquals(target, `${"../".repeat(path.split("/").length + 1)}blobs/${blob}`, path);
      const got = await Deno.readFile(link);
      assert(
        got.length === f.bytes.length && got.every((v, i) => v === f.bytes[i]),
        `${path} content`,
      );
    }
    assertEquals(
      await Deno.readTextFile(`${cacheDir}/models--ideogram-ai--tiny/refs/main`),
      COMMIT,
      "refs/main",
    );
    // Not needed: top-level files, other folders, the vision-only shard.
    for (const skipped of ["README.md", "model_index.json", "extra/unused.bin", VISION_SHARD]) {
      assert(!await exists(`${dir}/${skipped}`), `${skipped} not in the snapshot`);
      assertEquals(hub.requestsFor(skipped).length, 0, `${skipped} never requested`);
    }
    const blobs = (await Array.fromAsync(Deno.readDir(blobsOf(cacheDir)))).map((e) => e.name);
    assertEquals(blobs.length, NEEDED.length, "one blob per needed file, no .incomplete left");
    assert(!blobs.includes(sha256Hex(files.get(VISION_SHARD)!.bytes)), "vision shard blob absent");
    // One listing request, one resolve per needed file, plus one CDN hop per LFS file.
    const listing = hub.requests.filter((r) => r.url.includes("/api/models/"));
    assertEquals(listing.map((r) => r.url), [`/api/models/${REPO}/revision/main?blobs=true`]);
    assertEquals(hub.requests.filter((r) => r.url.includes("/resolve/")).length, NEEDED.length);
    assert(
      hub.requests.every((r) =>
        r.headers["accept-encoding"] === "identity" || r.url.includes("/api/")
      ),
    );
    // Progress: monotonic overall bytes ending at the total of the needed files, per file up to its size.
    const total = NEEDED.reduce((s, p) => s + files.get(p)!.bytes.length, 0);
    assert(events.length >= NEEDED.length, "at least one event per file");
    assert(
      events.every((e, i) => e.total === total && (i === 0 || e.bytes >= events[i - 1].bytes)),
    );
    assertEquals(events.at(-1)!.bytes, total, "overall progress ends at the total");
    const big = events.filter((e) => e.file === TRANSFORMER);
    assert(big.length >= 3, `several events inside the 3 MB file, got ${big.length}`);
    assertEquals(big.at(-1)!.fileBytes, files.get(TRANSFORMER)!.bytes.length);
  });
});

Deno.test("hub: a download cut mid-file resumes with a Range request on the next run", async () => {
  await withHub({}, async (hub, spec, cacheDir) => {
    hub.cutOnce.add(TRANSFORMER);
    const size = tinyRepo().find((f) => f.path === TRANSFORMER)!.bytes.length;
    const once = { ...spec, network: { ...FAST_NETWORK, retries: 0 } };
    await assertRejects(() => resolveModel(once), TRANSFORMER, "stopped after", "re-run to resume");
    const sum = sha256Hex(tinyRepo().find((f) => f.path === TRANSFORMER)!.bytes);
    const partial = `${blobsOf(cacheDir)}/${sum}.incomplete`;
    const kept = (await Deno.stat(partial)).size;
    assertEquals(kept, size >> 1, "the half that arrived is kept");
    assert(!await exists(`${snapshotOf(cacheDir)}/${TRANSFORMER}`), "no link to a partial file");
    // Nothing written for the cut file's revision: the next run must ask the Hub again.
    assert(!await exists(`${cacheDir}/models--ideogram-ai--tiny/refs/main`), "no ref yet");

    const before = hub.requests.length;
    const dir = await resolveModel(spec);
    const again = hub.requests.slice(before);
    const cdn = again.filter((r) => r.server === "cdn" && r.url.startsWith(`/cdn/${sum}`));
    assertEquals(cdn.length, 1, "one CDN request for the resumed file");
    assertEquals(cdn[0].headers["range"], `bytes=${kept}-`, "resumes where it stopped");
    const resolveReq = again.find((r) => r.url.endsWith(`/resolve/${COMMIT}/${TRANSFORMER}`))!;
    assertEquals(resolveReq.headers["range"], `bytes=${kept}-`, "Range sent to the Hub too");
    // Files finished in the first run are not fetched again.
    assertEquals(
      again.filter((r) => r.url.includes("/resolve/") && r.url.includes("config.json")).length,
      0,
    );
    const got = await Deno.readFile(`${dir}/${TRANSFORMER}`);
    assertEquals(sha256Hex(got), sum, "resumed file is whole and correct");
    assert(!await exists(partial), "partial renamed into the blob");
  });
});

Deno.test("hub: a complete cached snapshot is returned with zero requests", async () => {
  await withHub({}, async (hub, spec) => {
    const dir = await resolveModel(spec);
    const before = hub.requests.length;
    assertEquals(await resolveModel({ ...spec, fetch: noNetwork }), dir);
    assertEquals(
      await resolveModel({ ...spec, revision: COMMIT, fetch: noNetwork }),
      dir,
      "by commit sha",
    );
    assertEquals(hub.requests.length, before, "no request reached the server");
  });
});

Deno.test("hub: offline mode uses the cache and fails clearly without it", async () => {
  await withHub({}, async (hub, spec) => {
    await assertRejects(
      () => resolveModel({ ...spec, offline: true, fetch: noNetwork }),
      REPO,
      "offline mode",
      "HF_HUB_OFFLINE",
      "not in the cache",
      "run once online",
    );
    const envOffline = { ...spec, env: (n: string) => (n === "HF_HUB_OFFLINE" ? "1" : undefined) };
    await assertRejects(() => resolveModel({ ...envOffline, fetch: noNetwork }), "offline mode");
    assertEquals(hub.requests.length, 0, "offline never asks the network");

    const dir = await resolveModel(spec);
    const before = hub.requests.length;
    assertEquals(await resolveModel({ ...spec, offline: true, fetch: noNetwork }), dir);
    assertEquals(await resolveModel({ ...envOffline, fetch: noNetwork }), dir);
    assertEquals(hub.requests.length, before);

    // A snapshot that lost a weight is not complete: offline says what is missing.
    await Deno.remove(`${dir}/${VAE}`);
    await assertRejects(
      () => resolveModel({ ...spec, offline: true, fetch: noNetwork }),
      "incomplete",
      "vae/*.safetensors",
    );
  });
});

Deno.test("hub: a gated repo without a token says to accept the licence and set HF_TOKEN", async () => {
  await withHub({ gatedToken: "hf_secret_1234" }, async (hub, spec, cacheDir) => {
    await assertRejects(
      () => resolveModel(spec),
      "HTTP 401",
      `gated repo: accept the licence at ${hub.url}/${REPO} and set HF_TOKEN`,
    );
    const err = await assertRejects(
      () =>
        resolveModel({
          ...spec,
          token: undefined,
          env: (n) => (n === "HF_TOKEN" ? "hf_wrong_999" : undefined),
        }),
      "HTTP 403",
      "gated repo",
      "the token from HF_TOKEN was refused",
    );
    assert(!err.message.includes("hf_wrong_999"), "the token is never printed");
    // The saved token file is found through HF_TOKEN_PATH.
    const tokenFile = `${cacheDir}/token`;
    await Deno.writeTextFile(tokenFile, "hf_secret_1234\n");
    const dir = await resolveModel({
      ...spec,
      token: undefined,
      env: (n) => (n === "HF_TOKEN_PATH" ? tokenFile : undefined),
    });
    assert(await exists(`${dir}/${VAE}`), "downloads with the saved token");
  });
});

Deno.test("hub: unknown revision and missing file give 404 messages", async () => {
  await withHub({}, async (hub, spec) => {
    await assertRejects(
      () => resolveModel({ ...spec, revision: "no-such-branch" }),
      'revision "no-such-branch" not found',
      "HTTP 404",
      "--revision",
    );
    hub.missing.add(VAE);
    await assertRejects(() => resolveModel(spec), VAE, "file not found", "HTTP 404");
    await assertRejects(
      () => resolveModel({ ...spec, model: "ideogram-ai/other" }),
      "repository not found",
      "HF_TOKEN",
    );
  });
});

Deno.test("hub: a checksum mismatch removes the blob and says to re-run", async () => {
  await withHub({}, async (hub, spec, cacheDir) => {
    // A regular (non-LFS) file is checked by its git blob id.
    const config = tinyRepo().find((f) => f.path === "vae/config.json")!;
    hub.corrupt.add(config.path);
    await assertRejects(
      () => resolveModel(spec),
      config.path,
      "checksum mismatch",
      "git blob id",
      "re-run",
    );
    assert(!await exists(`${blobsOf(cacheDir)}/${gitBlobId(config.bytes)}`), "no config blob");
    assert(
      !await exists(`${blobsOf(cacheDir)}/${gitBlobId(config.bytes)}.incomplete`),
      "no partial",
    );
    // An LFS file is checked by its sha256.
    hub.corrupt.clear();
    const vae = tinyRepo().find((f) => f.path === VAE)!;
    hub.corrupt.add(VAE);
    await assertRejects(
      () => resolveModel(spec),
      VAE,
      "checksum mismatch",
      "sha256",
      "re-run to download it again",
    );
    const sum = sha256Hex(vae.bytes);
    assert(!await exists(`${blobsOf(cacheDir)}/${sum}`), "no blob");
    assert(!await exists(`${blobsOf(cacheDir)}/${sum}.incomplete`), "no partial");
    assert(!await exists(`${snapshotOf(cacheDir)}/${VAE}`), "no link");
    hub.corrupt.clear();
    const dir = await resolveModel(spec);
    assertEquals(
      sha256Hex(await Deno.readFile(`${dir}/${VAE}`)),
      sum,
      "re-run gets the right bytes",
    );
  });
});

Deno.test("hub: the vision-only text-encoder shard is never downloaded", async () => {
  await withHub({}, async (hub, spec) => {
    const dir = await resolveModel(spec);
    assertEquals(hub.requestsFor(VISION_SHARD).length, 0);
    assert(
      await exists(`${dir}/text_encoder/model-00001-of-00002.safetensors`),
      "language shard present",
    );
    assert(!await exists(`${dir}/${VISION_SHARD}`), "vision shard absent");
  });
});

Deno.test("hub: Authorization goes to the Hub only, never to the CDN host it redirects to", async () => {
  await withHub({ cdn: "other" }, async (hub, spec) => {
    await resolveModel({ ...spec, token: "hf_tok_abc" });
    const hubReqs = hub.requests.filter((r) => r.server === "hub");
    const cdnReqs = hub.requests.filter((r) => r.server === "cdn");
    assert(cdnReqs.length >= 4, `LFS files went through the CDN host (${cdnReqs.length} requests)`);
    assert(
      hubReqs.every((r) => r.headers["authorization"] === "Bearer hf_tok_abc"),
      "Hub gets the token",
    );
    assert(cdnReqs.every((r) => !("authorization" in r.headers)), "CDN never gets it");
  });
  // Same host: a redirect within the Hub's origin keeps it.
  await withHub({ cdn: "same" }, async (hub, spec) => {
    await resolveModel({ ...spec, token: "hf_tok_abc" });
    const cdnPaths = hub.requests.filter((r) => r.url.startsWith("/cdn/"));
    assert(
      cdnPaths.length >= 4 &&
        cdnPaths.every((r) => r.headers["authorization"] === "Bearer hf_tok_abc"),
      "same-origin CDN path keeps the token",
    );
  });
});

Deno.test("hub: network down says so, and points at --offline when a copy is cached", async () => {
  await withHub({}, async (hub, spec) => {
    const down: typeof fetch = () =>
      Promise.reject(new TypeError("error sending request: connection refused"));
    await assertRejects(
      () => resolveModel({ ...spec, fetch: down }),
      `the Hub at ${hub.url} failed (3 attempts)`,
      "cannot reach 127.0.0.1",
      "connection refused",
      "HF_ENDPOINT",
      "Nothing of ideogram-ai/tiny is cached yet",
    );
    await resolveModel(spec);
    await assertRejects(
      () => resolveModel({ ...spec, revision: "v2", fetch: down }),
      "failed",
      "--offline",
      "HF_HUB_OFFLINE=1",
      `--revision ${COMMIT}`,
    );
    assertEquals(hub.requests.filter((r) => r.url.includes("v2")).length, 0);
  });
});

Deno.test("hub: too little disk space fails before the weights are fetched", async () => {
  await withHub({}, async (hub, spec) => {
    await assertRejects(
      () => resolveModel({ ...spec, diskFree: () => Promise.resolve(100_000) }),
      "not enough disk space",
      "HF_HUB_CACHE",
    );
    assertEquals(
      hub.requests.filter((r) => r.url.endsWith(".safetensors") || r.server === "cdn").length,
      0,
      "no weight requested",
    );
  });
});

Deno.test("hub: a local folder is returned as is; bad names are errors", async () => {
  await withTempDir(async (dir) => {
    assertEquals(await resolveModel({ model: dir, fetch: noNetwork }), dir);
    await assertRejects(
      () => resolveModel({ model: `${dir}/nope`, fetch: noNetwork }),
      "does not exist",
      "repo id",
    );
    await assertRejects(
      () => resolveModel({ model: REPO, revision: "../x", cacheDir: dir, fetch: noNetwork }),
      "not a branch",
    );
    await assertRejects(
      // deno-lint-ignore no-explicit-any
      () => resolveModel({ quantization: "int3" as any, cacheDir: dir, fetch: noNetwork }),
      "quantization",
    );
  });
});

Deno.test("hub: cache folder and token follow huggingface_hub's precedence", async () => {
  const p = denoPlatform();
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assertEquals(hubCacheDir("/x", env({ HF_HUB_CACHE: "/c" }), p), "/x");
  assertEquals(hubCacheDir(undefined, env({ HF_HUB_CACHE: "/c", HF_HOME: "/h" }), p), "/c");
  assertEquals(hubCacheDir(undefined, env({ HF_HOME: "/h", XDG_CACHE_HOME: "/g" }), p), "/h/hub");
  assertEquals(
    hubCacheDir(undefined, env({ XDG_CACHE_HOME: "/g", HOME: "/u" }), p),
    "/g/huggingface/hub",
  );
  assertEquals(hubCacheDir(undefined, env({ HOME: "/u" }), p), "/u/.cache/huggingface/hub");
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/token`, " hf_file \n");
    assertEquals(await findToken("hf_x", env({ HF_TOKEN: "hf_env" }), p), {
      token: "hf_x",
      source: "the token option",
    });
    assertEquals(await findToken(false, env({ HF_TOKEN: "hf_env" }), p), {});
    assertEquals(
      (await findToken(undefined, env({ HF_TOKEN: "hf_env", HF_HOME: dir }), p)).token,
      "hf_env",
    );
    assertEquals((await findToken(undefined, env({ HF_HOME: dir }), p)).token, "hf_file");
    assertEquals((await findToken(undefined, env({ HF_HOME: `${dir}/none` }), p)).token, undefined);
  });
});
