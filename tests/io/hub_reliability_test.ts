/**
 * The Hub client when things go wrong: a server that never answers or stalls
 * mid-file (timeouts, retries, resume), one that echoes the token back
 * (redaction), two downloads of one repo at once, a damaged cached blob, and
 * names the user typed wrong (exit code 2). Loopback fake Hub, temp folders,
 * short timeouts.
 */
import { HubError, resolveModel } from "../../src/platform/deno/hub.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { denoPlatform } from "../../src/platform/deno.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { sha256Hex } from "./fake_hub_server.ts";
import {
  blobsOf,
  FAST_NETWORK,
  NEEDED,
  noNetwork,
  snapshotOf,
  tinyRepo,
  TRANSFORMER,
  VAE,
  withHub,
} from "./hub_fixture.ts";
import { withTempDir } from "./io_util.ts";

setPlatform(denoPlatform());

/** Timeouts short enough that a stalled fake server costs a fraction of a second. */
const SHORT = { ...FAST_NETWORK, connectTimeoutMs: 300, idleTimeoutMs: 300 };

async function assertWhole(dir: string): Promise<void> {
  const files = new Map(tinyRepo().map((f) => [f.path, f.bytes]));
  for (const path of NEEDED) {
    assertEquals(
      sha256Hex(await Deno.readFile(`${dir}/${path}`)),
      sha256Hex(files.get(path)!),
      path,
    );
  }
}

Deno.test("hub: a Hub that never answers times out, is retried, and the error names the host", async () => {
  await withHub({}, async (hub, spec) => {
    hub.hangListing = 99;
    const e = await assertRejects(
      () => resolveModel({ ...spec, network: SHORT }),
      "no response from 127.0.0.1",
      "within 0.3 s",
      "HF_HUB_ETAG_TIMEOUT",
      "(3 attempts)",
      "HF_ENDPOINT",
      "--offline",
    );
    assert(e instanceof HubError && e.exitCode === 1, "a network fault exits 1");
    assertEquals(hub.requests.length, 3, "first try and two retries");
  });
});

Deno.test("hub: a listing that hangs once, or answers 503, succeeds on a retry", async () => {
  await withHub({}, async (hub, spec) => {
    hub.hangListing = 1;
    hub.failListing = 1;
    const dir = await resolveModel({ ...spec, network: SHORT });
    await assertWhole(dir);
    assertEquals(hub.requests.filter((r) => r.url.startsWith("/api/")).length, 3);
  });
});

Deno.test("hub: a download that stalls mid-file hits the idle timeout and resumes on the retry", async () => {
  await withHub({}, async (hub, spec) => {
    hub.stallOnce.add(TRANSFORMER);
    const retries: string[] = [];
    const dir = await resolveModel({
      ...spec,
      network: { ...SHORT, onRetry: (m) => retries.push(m) },
    });
    await assertWhole(dir);
    assertEquals(retries.length, 1, retries.join("\n"));
    assert(retries[0].includes("sent no bytes for 0.3 s"), retries[0]);
    const cdn = hub.requestsFor(TRANSFORMER).filter((r) => r.server === "cdn");
    assertEquals(cdn.length, 2);
    const size = tinyRepo().find((f) => f.path === TRANSFORMER)!.bytes.length;
    assertEquals(cdn[1].headers["range"], `bytes=${size >> 1}-`, "the retry resumes");
  });
});

Deno.test("hub: timeouts come from HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT", async () => {
  await withHub({}, async (hub, spec) => {
    hub.hangListing = 99;
    const env = (n: string) => ({ HF_HUB_ETAG_TIMEOUT: "0.2", HF_HUB_DOWNLOAD_TIMEOUT: "0.2" })[n];
    await assertRejects(
      () => resolveModel({ ...spec, env, network: { retries: 0 } }),
      "within 0.2 s",
    );
    const bad = await assertRejects(
      () => resolveModel({ ...spec, env: (n) => n === "HF_HUB_ETAG_TIMEOUT" ? "soon" : undefined }),
      "HF_HUB_ETAG_TIMEOUT=soon",
      "seconds",
    );
    assert(bad instanceof HubError && bad.exitCode === 2);
  });
});

Deno.test("hub: an error body that echoes the token, and a password in HF_ENDPOINT, are never printed", async () => {
  await withHub({}, async (hub, spec) => {
    hub.echoHeaders = true;
    const token = "hf_SeCrEtToKeN0123456789abcdefghij";
    const endpoint = hub.url.replace("http://", "http://mirror-user:pa55word-xyz@");
    const e = await assertRejects(
      () => resolveModel({ ...spec, token, endpoint }),
      "HTTP 400",
      "bad request",
      "Bearer ***",
    );
    const auth = hub.requests[0].headers["authorization"];
    assert(auth?.includes(token) || auth?.startsWith("Basic"), "the server did see a credential");
    for (const secret of [token, "pa55word-xyz", "SeCrEt"]) {
      assert(!e.message.includes(secret), `${secret} leaked: ${e.message}`);
    }
  });
});

Deno.test("hub: two first downloads of one repo into one cache at once both succeed", async () => {
  for (let round = 0; round < 4; round++) {
    await withHub({}, async (hub, spec, cacheDir) => {
      hub.listingBarrier = 2;
      const [a, b] = await Promise.all([resolveModel(spec), resolveModel(spec)]);
      assertEquals(a, snapshotOf(cacheDir));
      assertEquals(b, a);
      await assertWhole(a);
      const names: string[] = [];
      const walk = async (d: string) => {
        for await (const e of Deno.readDir(d)) {
          if (e.isDirectory) await walk(`${d}/${e.name}`);
          else names.push(e.name);
        }
      };
      await walk(`${cacheDir}/models--ideogram-ai--tiny`);
      const leftovers = names.filter((n) => n.endsWith(".incomplete") || n.endsWith(".linking"));
      assertEquals(leftovers, [], "no partial files or temporary links left");
    });
  }
});

Deno.test("hub: two processes downloading one repo into one cache both succeed", async () => {
  await withHub({}, async (hub, _spec, cacheDir) => {
    hub.listingBarrier = 2; // both processes have the listing before either downloads
    const script = new URL("./hub_download_child.ts", import.meta.url).pathname;
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", script, hub.url, cacheDir],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const [a, b] = await Promise.all([run(), run()]);
    const dec = (x: Uint8Array) => new TextDecoder().decode(x);
    assertEquals([a.code, b.code], [0, 0], dec(a.stderr) + dec(b.stderr));
    assertEquals(dec(a.stdout).trim(), snapshotOf(cacheDir));
    assertEquals(dec(b.stdout).trim(), snapshotOf(cacheDir));
    await assertWhole(snapshotOf(cacheDir));
  });
});

Deno.test("hub: a damaged cached blob is named, with how to fix it", async () => {
  await withHub({}, async (_hub, spec, cacheDir) => {
    const dir = await resolveModel(spec);
    const vae = tinyRepo().find((f) => f.path === VAE)!.bytes;
    const blob = `${blobsOf(cacheDir)}/${sha256Hex(vae)}`;
    await Deno.truncate(blob, vae.length - 100);
    const e = await assertRejects(
      () => resolveModel({ ...spec, fetch: noNetwork }),
      VAE,
      "damaged",
      "the file has",
      blob,
      `rm '${blob}'`,
      "run again online",
    );
    assert(e instanceof HubError && e.exitCode === 1);
    // The advice works: remove the blob, run again, and the file is fetched and whole.
    await Deno.remove(blob);
    assertEquals(await resolveModel(spec), dir);
    await assertWhole(dir);

    const config = `${dir}/vae/config.json`;
    const configBlob = await Deno.realPath(config);
    await Deno.writeTextFile(configBlob, "");
    await assertRejects(() => resolveModel({ ...spec, fetch: noNetwork }), "is empty", configBlob);
  });
});

Deno.test("hub: a revision the Hub does not know, or cannot be one, exits 2", async () => {
  await withHub({}, async (_hub, spec) => {
    for (const revision of ["no-such-branch", "a b", "x:y", "../x"]) {
      const e = await assertRejects(() => resolveModel({ ...spec, revision }), revision);
      assert(e instanceof HubError && e.exitCode === 2, `${revision}: ${e.message}`);
    }
  });
});

Deno.test("hub: a missing model folder is not taken for a repo id", async () => {
  await withTempDir(async (dir) => {
    const abs = await assertRejects(
      () => resolveModel({ model: `${dir}/models/nonexistent`, fetch: noNetwork }),
      `model folder ${dir}/models/nonexistent does not exist`,
      "not a Hugging Face repo id",
    );
    assert(abs instanceof HubError && abs.exitCode === 2);
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      await Deno.mkdir("models");
      const rel = await assertRejects(
        () => resolveModel({ model: "models/nonexistent", cacheDir: dir, fetch: noNetwork }),
        "model folder models/nonexistent does not exist",
        "models/ is a local folder",
      );
      assert(rel instanceof HubError && rel.exitCode === 2);
      assert(!rel.message.includes("network"), rel.message);
    } finally {
      Deno.chdir(cwd);
    }
  });
  // No such local folder: the name goes to the Hub, and the answer says both.
  await withHub({}, async (_hub, spec) => {
    const e = await assertRejects(
      () => resolveModel({ ...spec, model: "nobody/nothing" }),
      "repository not found",
      "there is no local folder nobody/nothing",
    );
    assert(e instanceof HubError && e.exitCode === 2);
  });
});
