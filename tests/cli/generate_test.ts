/**
 * `generate` end to end on the embedded tiny model: a valid PNG
 * with its text chunks, the same bytes for the same seed, and every refusal
 * (bad size, flags, model, weights, moderation) as a clear message, the right
 * exit code and no output file.
 */
import { assert, assertEquals } from "../assert.ts";
import { exists, listDir, withTempDir } from "../io/io_util.ts";
import { withServer } from "../prompt/local_server.ts";
import { PLAIN_TEXT_WARNING } from "../../src/prompt/check.ts";
import { DEFAULT_SYSTEM_PROMPT } from "../../src/prompt/system_prompt.ts";
import { FakeHub } from "../io/fake_hub_server.ts";
import { decodePngRgb, readPngText } from "../../src/image/png.ts";
import { writeNpy } from "../../src/pipeline/npy.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { gen, hubFiles } from "./cli_util.ts";

const TINY = await ensureEmbeddedModel();

Deno.test("generate: the embedded model writes a PNG with its text chunks; same seed, same bytes", async () => {
  await withTempDir(async (dir) => {
    const a = `${dir}/a.png`, b = `${dir}/b.png`, c = `${dir}/c.png`;
    const first = await gen(["--prompt", "a red fox in the snow", "--output", a]);
    assertEquals(first.code, 0, first.err.join("\n"));
    // Defaults for the embedded model: 256x256, V4_TURBO_12, seed 0; progress on stderr.
    const steps = first.err.filter((l) => /^step \d+\/12 /.test(l));
    assertEquals(steps.length, 12, first.err.join("\n"));
    assert(/s\/step {2}ETA /.test(steps[0]), steps[0]);
    const png = await Deno.readFile(a);
    const img = decodePngRgb(png);
    assertEquals([img.width, img.height], [256, 256]);
    const text = readPngText(png);
    assertEquals(text.Caption, "a red fox in the snow");
    assertEquals([text.Seed, text.Size, text.Preset, text.Steps], [
      "0",
      "256x256",
      "V4_TURBO_12",
      "12",
    ]);
    // Not a flat image: random weights still give structure.
    const distinct = new Set(img.rgb).size;
    assert(distinct > 16, `only ${distinct} distinct byte values`);

    const again = await gen(["--prompt", "a red fox in the snow", "--output", b, "-q"]);
    assertEquals(again.code, 0, again.err.join("\n"));
    // Quiet: no progress, only the warnings that screening is off and that plain text is not
    // what the model was trained on (once).
    assertEquals(again.err.filter((l) => !l.startsWith("warning: no Hive")), [
      `warning: ${PLAIN_TEXT_WARNING}`,
    ], "quiet run");
    assertEquals(await Deno.readFile(b), png, "same seed → same bytes");

    const other = await gen([
      "--prompt",
      "a red fox in the snow",
      "--output",
      c,
      "--seed",
      "7",
      "-q",
    ]);
    assertEquals(other.code, 0, other.err.join("\n"));
    const otherImg = decodePngRgb(await Deno.readFile(c));
    let diff = 0;
    for (let i = 0; i < img.rgb.length; i++) diff += img.rgb[i] !== otherImg.rgb[i] ? 1 : 0;
    assert(diff > img.rgb.length / 10, `seed 7 changed only ${diff} bytes`);
    assertEquals(readPngText(await Deno.readFile(c)).Seed, "7");
  });
});

Deno.test("generate: custom steps and initial noise from .npy reproduce the seeded run", async () => {
  await withTempDir(async (dir) => {
    // Noise for 256x256: [256, 128]. A run from noise equals itself and differs from seed 0.
    const noise = new Float32Array(256 * 128).map((_, i) => Math.sin(i * 12.9898) * 1.3);
    await Deno.writeFile(`${dir}/noise.npy`, writeNpy(noise, [1, 256, 128]));
    const args = ["--prompt", "x", "--steps", "2", "--guidance", "4", "-q"];
    const r1 = await gen([...args, "--init-noise", `${dir}/noise.npy`, "--output", `${dir}/1.png`]);
    assertEquals(r1.code, 0, r1.err.join("\n"));
    const r2 = await gen([...args, "--init-noise", `${dir}/noise.npy`, "--output", `${dir}/2.png`]);
    assertEquals(r2.code, 0, r2.err.join("\n"));
    const png1 = await Deno.readFile(`${dir}/1.png`);
    assertEquals(await Deno.readFile(`${dir}/2.png`), png1);
    const text = readPngText(png1);
    assertEquals([text.Steps, text.Seed], ["2", `init-noise ${dir}/noise.npy`]);
    assert(text.Preset.startsWith("custom"), text.Preset);

    // Wrong shape for the size: rejected (exit 2) with the expected shape in the message.
    await Deno.writeFile(`${dir}/bad.npy`, writeNpy(noise.subarray(0, 100 * 128), [100, 128]));
    const bad = await gen([...args, "--init-noise", `${dir}/bad.npy`, "--output", `${dir}/3.png`]);
    assertEquals(bad.code, 2);
    assert(bad.err.join("\n").includes("256"), bad.err.join("\n"));
    assert(!await exists(`${dir}/3.png`));
  });
});

Deno.test("generate: rejected requests exit 2 with a message and write nothing", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out.png`;
    const cases: [string[], string][] = [
      [["--prompt", "x", "--width", "250"], "250"],
      [["--prompt", "x", "--width", "0"], "width 0 is not a positive number"],
      [["--prompt", "x", "--height", "1000"], "height 1000 is not a multiple of 16"],
      [["--prompt", "x", "--sampler-preset", "FAST"], "V4_QUALITY_48"],
      [["--prompt", "x", "--steps", "two"], "--steps"],
      [["--prompt", "x", "--guidance", "7,3"], "guidance"],
      [["--prompt", "x", "--quantization", "int8"], "nf4"],
      [["--prompt", "   "], "empty"],
      [[], "--prompt"],
      [["--prompt", "x", "--magic-prompt"], "IDEOGRAM_API_KEY"],
      [["--prompt", '{"high_level_description": 3}'], "high_level_description"],
      [["--prompt", "x", "--unknown-flag"], "unknown-flag"],
    ];
    for (const [args, mention] of cases) {
      const r = await gen([...args, "--output", out, "-q"]);
      const msg = r.err.join("\n");
      assertEquals(r.code, 2, `${args.join(" ")}: ${msg}`);
      assert(msg.includes(mention), `${args.join(" ")}: "${msg}" should mention ${mention}`);
    }
    const jpg = await gen(["--prompt", "x", "--output", `${dir}/out.jpg`, "-q"]);
    assertEquals(jpg.code, 2);
    assert(jpg.err.join("\n").includes(".png"), jpg.err.join("\n"));
    assertEquals(await listDir(dir), []);
  });
});

Deno.test("generate: a missing model folder exits 2, corrupt weights 1, naming the file", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out.png`;
    const missing = await gen(["--prompt", "x", "--model", `${dir}/nowhere`, "--output", out]);
    assertEquals(missing.code, 2, "a folder the user typed that is not there");
    assert(missing.err.join("\n").includes(`${dir}/nowhere`), missing.err.join("\n"));

    // A copy of the tiny model with a truncated transformer file.
    const model = `${dir}/model`;
    for (
      const sub of ["tokenizer", "text_encoder", "transformer", "unconditional_transformer", "vae"]
    ) {
      await Deno.mkdir(`${model}/${sub}`, { recursive: true });
      for await (const e of Deno.readDir(`${TINY}/${sub}`)) {
        await Deno.copyFile(`${TINY}/${sub}/${e.name}`, `${model}/${sub}/${e.name}`);
      }
    }
    const weights = `${model}/transformer/diffusion_pytorch_model.safetensors`;
    const bytes = await Deno.readFile(weights);
    await Deno.writeFile(weights, bytes.subarray(0, bytes.length - 1000));
    const corrupt = await gen([
      "--prompt",
      "x",
      "--model",
      model,
      "--width",
      "256",
      "--height",
      "256",
      "--steps",
      "1",
      "--output",
      out,
      "-q",
    ]);
    assertEquals(corrupt.code, 1);
    const msg = corrupt.err.join("\n");
    assert(msg.includes("diffusion_pytorch_model.safetensors"), msg);
    assertEquals(await listDir(dir), ["model"], "no output, no temp file");
  });
});

Deno.test("generate: Hive screens the prompt before loading and the image before writing", async () => {
  const hive = (scores: [string, number][]) => ({
    json: {
      status: { code: "0", message: "SUCCESS" },
      output: [{ time: 0, classes: scores.map(([c, value]) => ({ class: c, value })) }],
    },
  });
  await withTempDir(async (dir) => {
    const out = `${dir}/out.png`;
    // Text flagged: exit 2 before any weight is read (a model folder with only its
    // tokenizer, which the token count reads first: loading weights would be exit 1).
    await Deno.mkdir(`${dir}/tok-only`);
    await Deno.symlink(`${TINY}/tokenizer`, `${dir}/tok-only/tokenizer`);
    await withServer([hive([["violence", 3]])], async (url, requests) => {
      const r = await gen([
        "--prompt",
        "x",
        "--model",
        `${dir}/tok-only`,
        "--hive-base-url",
        url,
        "--output",
        out,
        "-q",
      ], { HIVE_TEXT_MODERATION_KEY: "text-key" });
      assertEquals(r.code, 2, r.err.join("\n"));
      assert(r.err.join("\n").includes("violence"), r.err.join("\n"));
      assertEquals(requests.length, 1);
      assertEquals(requests[0].path, "/api/v3/hive/text-moderation");
    });
    await Deno.remove(`${dir}/tok-only`, { recursive: true });
    // Image flagged: the PNG was made and sent, and nothing is written.
    await withServer([hive([["general_nsfw", 0.97]])], async (url, requests) => {
      const r = await gen([
        "--prompt",
        "x",
        "--steps",
        "1",
        "--hive-visual-key",
        "visual-key",
        "--hive-base-url",
        url,
        "--output",
        out,
        "-q",
      ]);
      assertEquals(r.code, 2, r.err.join("\n"));
      assert(r.err.join("\n").includes("general_nsfw"), r.err.join("\n"));
      assertEquals(requests.length, 1);
      assertEquals(requests[0].path, "/api/v3/hive/visual-moderation");
      const media = requests[0].form!.get("media") as File;
      const sent = decodePngRgb(new Uint8Array(await media.arrayBuffer()));
      assertEquals([sent.width, sent.height], [256, 256]);
    });
    assertEquals(await listDir(dir), []);
  });
});

/** A caption as a service may answer: keys shuffled, aspect_ratio in, bboxes (one a float). */
const SERVICE_ANSWER = '{"aspect_ratio":"16:9","compositional_deconstruction":{"elements":[' +
  '{"desc":"A terracotta window box.","bbox":[520,80,900,920.0],"type":"obj"},' +
  '{"type":"text","text":"CAFÉ","desc":"Painted letters.","bbox":[10,10,100,500]}],' +
  '"background":"A whitewashed wall."},"high_level_description":"A cat in a window box."}';
/** The caption the model gets from it: aspect_ratio and bboxes dropped, canonical order. */
const SERVICE_FINAL = '{"high_level_description":"A cat in a window box.",' +
  '"compositional_deconstruction":{"background":"A whitewashed wall.","elements":[' +
  '{"type":"obj","desc":"A terracotta window box."},' +
  '{"type":"text","text":"CAFÉ","desc":"Painted letters."}]}}';

Deno.test("generate: the hosted magic prompt (ideogram-4-v1) with MAGIC_PROMPT_API_KEY; its final caption is what the model gets", async () => {
  await withTempDir(async (dir) => {
    await withServer(
      [{ text: `{"aspect_ratio":"16x9","json_prompt":${SERVICE_ANSWER}}` }],
      async (url, requests) => {
        const r = await gen([
          "--prompt",
          "a cat in a window box",
          "--width",
          "512",
          "--height",
          "288",
          "--steps",
          "1",
          "--ideogram-base-url",
          url,
          "--output",
          `${dir}/out.png`,
          "-q",
        ], { MAGIC_PROMPT_API_KEY: "magic-key", IDEOGRAM_API_KEY: "ideo-key" });
        assertEquals(r.code, 0, r.err.join("\n"));
        assertEquals(requests.length, 1);
        assertEquals(requests[0].path, "/v1/ideogram-v4/magic-prompt");
        // Upstream's order of key variables: MAGIC_PROMPT_API_KEY first.
        assertEquals(requests[0].headers.get("api-key"), "magic-key");
        assertEquals(JSON.parse(requests[0].body), {
          text_prompt: "a cat in a window box",
          aspect_ratio: "16x9",
        });
        const png = await Deno.readFile(`${dir}/out.png`);
        assertEquals(readPngText(png).Caption, SERVICE_FINAL);
        assert(!r.err.some((l) => l.includes(PLAIN_TEXT_WARNING)), "no plain-text warning");
      },
    );
  });
});

Deno.test("generate: --magic-prompt-model claude-opus-v1 asks OpenRouter as upstream does", async () => {
  await withTempDir(async (dir) => {
    const reply = { choices: [{ message: { content: SERVICE_ANSWER }, finish_reason: "stop" }] };
    await withServer([{ json: reply }], async (url, requests) => {
      const r = await gen([
        "--prompt",
        "a cat in a window box",
        "--magic-prompt-model",
        "claude-opus-v1",
        "--openrouter-base-url",
        `${url}/api/v1`,
        "--steps",
        "1",
        "--output",
        `${dir}/out.png`,
        "-q",
      ], { MAGIC_PROMPT_API_KEY: "or-key", IDEOGRAM_API_KEY: "ideo-key" });
      assertEquals(r.code, 0, r.err.join("\n"));
      assertEquals(requests.length, 1);
      assertEquals(requests[0].path, "/api/v1/chat/completions");
      assertEquals(requests[0].headers.get("authorization"), "Bearer or-key");
      const body = JSON.parse(requests[0].body);
      assertEquals(
        [body.model, body.temperature, body.max_tokens, body.reasoning],
        ["anthropic/claude-opus-4.8", 1, 16384, { enabled: false }],
      );
      assertEquals(body.messages, [
        { role: "system", content: DEFAULT_SYSTEM_PROMPT },
        {
          role: "user",
          content: "Aspect ratio of the image (width:height): 1:1\n\nIdea:\na cat in a window box",
        },
      ]);
      assertEquals(readPngText(await Deno.readFile(`${dir}/out.png`)).Caption, SERVICE_FINAL);
    });
  });
});

Deno.test("generate: a pretty-printed caption reaches the model as written; plain text warns once", async () => {
  await withTempDir(async (dir) => {
    const file = new URL("../prompt/unicode_caption_pretty.json", import.meta.url);
    const pretty = await Deno.readTextFile(file);
    const r = await gen([
      "--prompt-file",
      file.pathname,
      "--steps",
      "1",
      "--output",
      `${dir}/out.png`,
    ]);
    assertEquals(r.code, 0, r.err.join("\n"));
    assertEquals(readPngText(await Deno.readFile(`${dir}/out.png`)).Caption, pretty);
    assertEquals(r.err.filter((l) => l.startsWith("warning: the prompt")), []);
    // Plain text: one warning, saying why and how to get a caption.
    const plain = await gen(["--prompt", "a fox", "--steps", "1", "--output", `${dir}/p.png`]);
    assertEquals(plain.code, 0, plain.err.join("\n"));
    const warned = plain.err.filter((l) => l.includes("plain text"));
    assertEquals(warned, [`warning: ${PLAIN_TEXT_WARNING}`]);
    for (const part of ["JSON captions", "--magic-prompt", "`caption` command", "README"]) {
      assert(warned[0].includes(part), part);
    }
  });
});

Deno.test("generate: --model ORG/NAME downloads into the HF cache, then runs offline", async () => {
  // The embedded model served by a local Hub (weights as LFS files behind a CDN redirect).
  const files = await hubFiles(TINY);
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const hub = FakeHub.start({ repo: "test-org/tiny", commit, files });
  try {
    await withTempDir(async (dir) => {
      const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: `${dir}/hf`, HF_TOKEN: "hf_test" };
      const args = [
        "--prompt",
        "x",
        "--model",
        "test-org/tiny",
        "--width",
        "256",
        "--height",
        "256",
      ];
      const r = await gen([...args, "--steps", "1", "--output", `${dir}/a.png`], env);
      assertEquals(r.code, 0, r.err.join("\n"));
      assert(r.err.some((l) => l.startsWith("download ")), r.err.join("\n"));
      const snapshot = `${dir}/hf/models--test-org--tiny/snapshots/${commit}`;
      assert(await exists(`${snapshot}/transformer/config.json`));
      // Same image as the embedded model's copy with the same flags.
      const local = await gen([
        "--prompt",
        "x",
        "--model",
        TINY,
        "--steps",
        "1",
        "--width",
        "256",
        "--height",
        "256",
        "--output",
        `${dir}/b.png`,
        "-q",
      ]);
      assertEquals(local.code, 0, local.err.join("\n"));
      assertEquals(
        decodePngRgb(await Deno.readFile(`${dir}/a.png`)).rgb,
        decodePngRgb(await Deno.readFile(`${dir}/b.png`)).rgb,
      );
      // Offline: the cache alone is enough; no request reaches the Hub.
      const before = hub.requests.length;
      const off = await gen([
        ...args,
        "--steps",
        "1",
        "--offline",
        "--output",
        `${dir}/c.png`,
        "-q",
      ], {
        ...env,
        HF_ENDPOINT: "http://127.0.0.1:9",
      });
      assertEquals(off.code, 0, off.err.join("\n"));
      assertEquals(hub.requests.length, before);
      // Offline with an empty cache: a clear error, exit 1, nothing written.
      const miss = await gen([...args, "--offline", "--output", `${dir}/d.png`, "-q"], {
        ...env,
        HF_HUB_CACHE: `${dir}/empty`,
      });
      assertEquals(miss.code, 1);
      assert(miss.err.join("\n").includes("offline"), miss.err.join("\n"));
      assert(!await exists(`${dir}/d.png`));
    });
  } finally {
    await hub.close();
  }
});
