/**
 * The tiny repository the Hub tests download from the fake Hub
 * (fake_hub_server.ts), and the temp cache + spec each test starts from.
 */
import type { ResolveModelSpec } from "../../src/platform/deno/hub.ts";
import { FakeHub, type FakeHubOptions } from "./fake_hub_server.ts";
import { randomBytes, rawSafetensors, withTempDir } from "./io_util.ts";

export const REPO = "ideogram-ai/tiny";
export const COMMIT = "0123456789abcdef0123456789abcdef01234567";
export const enc = (s: string) => new TextEncoder().encode(s);

export const TE_INDEX = {
  metadata: { total_size: 0 },
  weight_map: {
    "model.language_model.layers.0.mlp.weight": "model-00001-of-00002.safetensors",
    "lm_head.weight": "model-00001-of-00002.safetensors",
    "model.visual.blocks.0.attn.weight": "model-00002-of-00002.safetensors",
    "visual.merger.weight": "model-00002-of-00002.safetensors",
  },
};
export const VISION_SHARD = "text_encoder/model-00002-of-00002.safetensors";
export const TRANSFORMER = "transformer/diffusion_pytorch_model.safetensors";
export const VAE = "vae/diffusion_pytorch_model.safetensors";

/** A well-formed safetensors file: one U8 tensor of `n` seeded random bytes. */
export function safetensors(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = rawSafetensors({ w: { dtype: "U8", shape: [n], data_offsets: [0, n] } }, n);
  out.set(randomBytes(n, seed), out.length - n);
  return out;
}

/** A tiny repo in the published layout, plus files the pipeline does not need. */
export function tinyRepo(): FakeHubOptions["files"] {
  return [
    { path: "README.md", bytes: enc("# tiny\n") },
    { path: "model_index.json", bytes: enc("{}") },
    { path: "extra/unused.bin", bytes: randomBytes(5000, 1), lfs: true },
    { path: "tokenizer/tokenizer.json", bytes: enc('{"model":{}}') },
    { path: "tokenizer/tokenizer_config.json", bytes: enc('{"chat_template":"x"}') },
    { path: "text_encoder/config.json", bytes: enc('{"model_type":"qwen3_vl"}') },
    { path: "text_encoder/model.safetensors.index.json", bytes: enc(JSON.stringify(TE_INDEX)) },
    {
      path: "text_encoder/model-00001-of-00002.safetensors",
      bytes: safetensors(70_000, 2),
      lfs: true,
    },
    { path: VISION_SHARD, bytes: safetensors(90_000, 3), lfs: true },
    { path: "transformer/config.json", bytes: enc('{"a":1}') },
    { path: TRANSFORMER, bytes: safetensors(3_000_000, 4), lfs: true },
    { path: "unconditional_transformer/config.json", bytes: enc('{"a":2}') },
    {
      path: "unconditional_transformer/diffusion_pytorch_model.safetensors",
      bytes: safetensors(60_000, 5),
      lfs: true,
    },
    { path: "vae/config.json", bytes: enc('{"b":1}') },
    { path: VAE, bytes: safetensors(50_000, 6), lfs: true },
  ];
}

export const NEEDED = tinyRepo()
  .map((f) => f.path)
  .filter((p) => p.includes("/") && !p.startsWith("extra/") && p !== VISION_SHARD);

/** A fresh fake Hub, a temp cache, and the spec every test starts from. */
export async function withHub(
  opts: Partial<FakeHubOptions>,
  fn: (hub: FakeHub, spec: ResolveModelSpec, cacheDir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (cacheDir) => {
    const hub = FakeHub.start({ repo: REPO, commit: COMMIT, files: tinyRepo(), ...opts });
    try {
      await fn(hub, {
        model: REPO,
        endpoint: hub.url,
        cacheDir,
        token: false,
        env: () => undefined,
        network: FAST_NETWORK,
      }, cacheDir);
    } finally {
      await hub.close();
    }
  });
}

/** Short timeouts and quick retries: a stalled test server costs milliseconds. */
export const FAST_NETWORK = {
  connectTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  retries: 2,
  baseDelayMs: 5,
};

export const snapshotOf = (cacheDir: string) =>
  `${cacheDir}/models--ideogram-ai--tiny/snapshots/${COMMIT}`;
export const blobsOf = (cacheDir: string) => `${cacheDir}/models--ideogram-ai--tiny/blobs`;

/** A fetch that fails the test when called. */
export const noNetwork: typeof fetch = () => {
  throw new Error("test: no request may be made");
};
