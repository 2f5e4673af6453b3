/**
 * `deno task bench --serve`: images per hour on the embedded model, made by
 * one `generate` process per image (each pays start-up, weight loading and
 * shader compilation) versus one `serve` process answering one request per
 * image (pays them once). Both run as child processes of this one, one
 * image at a time, same size, steps and prompt; each image has its own seed.
 */
import { readMetric } from "../src/serve/metrics.ts";

export interface ServeBenchOptions {
  images: number;
  steps: number;
  json: boolean;
}

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const PROMPT = "a lighthouse on a cliff at dusk";

function deno(args: string[], stderr: "piped" | "null" = "null"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-no-legacy-abort", CLI, ...args],
    stdout: "null",
    stderr,
  }).spawn();
}

/** Seconds for `images` images, one `generate` process each. */
async function cliPerImage(o: ServeBenchOptions, dir: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < o.images; i++) {
    const child = deno([
      "generate",
      "--prompt",
      PROMPT,
      "--steps",
      String(o.steps),
      "--seed",
      String(i),
      "--output",
      `${dir}/cli-${i}.png`,
      "-q",
    ]);
    const status = await child.status;
    if (!status.success) throw new Error(`generate exited with ${status.code}`);
  }
  return (performance.now() - t0) / 1000;
}

/** Reads the child's stderr until `listening on URL`. */
async function listeningUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stderr) {
    text += decoder.decode(chunk, { stream: true });
    const m = /listening on (http:\/\/\S+)/.exec(text);
    if (m) return m[1];
  }
  throw new Error(`serve exited before listening:\n${text}`);
}

/** Seconds for `images` requests to one `serve` process: from its start, and the warm ones only. */
async function server(o: ServeBenchOptions): Promise<
  { total: number; warm: number; loadSeconds: number }
> {
  const t0 = performance.now();
  const child = deno(["serve", "--port", "0", "--quiet"], "piped");
  try {
    const url = await listeningUrl(child.stderr);
    let firstDone = 0;
    for (let i = 0; i < o.images; i++) {
      const res = await fetch(`${url}/v1/ideogram4/generate`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "image/png" },
        body: JSON.stringify({ prompt: PROMPT, steps: o.steps, seed: i }),
      });
      if (res.status !== 200) throw new Error(`serve answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
      if (i === 0) firstDone = performance.now();
    }
    const end = performance.now();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    return {
      total: (end - t0) / 1000,
      warm: (end - firstDone) / 1000,
      loadSeconds: readMetric(metrics, "ideogram4_load_seconds_total") ?? NaN,
    };
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

export async function runServeBench(o: ServeBenchOptions, adapter: string): Promise<number> {
  if (!Number.isInteger(o.images) || o.images < 2) {
    throw new Error("--images must be an integer ≥ 2 (the warm rate needs two)");
  }
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error("--steps must be an integer ≥ 1");
  const dir = await Deno.makeTempDir({ prefix: "ideogram4_bench_serve_" });
  try {
    const cli = await cliPerImage(o, dir);
    const srv = await server(o);
    const perHour = (images: number, s: number) => (3600 * images) / s;
    const rows = {
      cli_per_image: perHour(o.images, cli),
      serve_from_start: perHour(o.images, srv.total),
      serve_warm: perHour(o.images - 1, srv.warm),
    };
    const result = {
      adapter,
      model: "embedded",
      size: "256x256",
      steps: o.steps,
      images: o.images,
      seconds: { cli_per_image: cli, serve_from_start: srv.total, serve_warm: srv.warm },
      images_per_hour: rows,
      ratio_serve_warm_vs_cli: rows.serve_warm / rows.cli_per_image,
      ratio_serve_from_start_vs_cli: rows.serve_from_start / rows.cli_per_image,
      server_load_seconds: srv.loadSeconds,
    };
    if (o.json) {
      console.log(JSON.stringify(result, null, 2));
      return 0;
    }
    console.log(
      `adapter: ${adapter}\nembedded model, 256x256, ${o.steps} steps, ${o.images} images ` +
        "one at a time",
    );
    const line = (name: string, s: number, n: number) =>
      console.log(
        `${name.padEnd(30)} ${s.toFixed(1).padStart(8)} s  ${
          perHour(n, s).toFixed(0).padStart(7)
        } images/hour`,
      );
    line("generate, one process/image", cli, o.images);
    line("serve, from process start", srv.total, o.images);
    line("serve, warm (after the first)", srv.warm, o.images - 1);
    console.log(
      `serve ÷ generate: ${result.ratio_serve_warm_vs_cli.toFixed(2)}× warm, ` +
        `${result.ratio_serve_from_start_vs_cli.toFixed(2)}× from start`,
    );
    return 0;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
