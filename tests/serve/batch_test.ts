/**
 * `batch` on the embedded model: a batch killed mid-way resumes and skips
 * the lines it finished, `--shard i/n` splits a file into disjoint parts
 * that cover it, and a bad line stops everything before the model loads,
 * naming the file, line and JSON path.
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { parseBatchFile, runBatch } from "../../src/cli/batch_command.ts";
import type { GenerateIo } from "../../src/cli/generate_command.ts";
import { readPngText } from "../../src/image/png.ts";
import { waitFor } from "./serve_util.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const CACHE_VARS = ["IDEOGRAM4_CACHE", "XDG_CACHE_HOME", "HOME"];

async function batch(args: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const io: GenerateIo = {
    readStdin: () => Promise.resolve(""),
    readFile: (p) => Deno.readTextFile(p),
    stdout: (t) => err.push(t),
    stderr: (t) => err.push(t),
    env: (name) => (CACHE_VARS.includes(name) ? Deno.env.get(name) : undefined),
  };
  return { code: await runBatch(args, io), err };
}

async function pngs(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".png")) names.push(e.name);
  return names.sort();
}

function jsonl(lines: unknown[]): string {
  return lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
}

Deno.test("batch: killed mid-way, a rerun skips the finished lines and does the rest", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/prompts.jsonl`, out = `${dir}/out`;
    // The second line is long, so the kill lands while it samples.
    await Deno.writeTextFile(
      file,
      "# three images\n" + jsonl([
        { prompt: "a red kite", steps: 1, seed: 1, output: "kite.png" },
        { prompt: "a slow one", steps: 40 },
        { caption: { high_level_description: "x" }, steps: 1, "warn-on-caption-issues": true },
      ]),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "batch", file, "--out", out, "-q"],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await waitFor("the first image", async () => {
      try {
        return (await pngs(out)).length > 0;
      } catch {
        return false;
      }
    });
    child.kill("SIGKILL");
    await child.status;
    await child.stderr.cancel();
    assertEquals(await pngs(out), ["kite.png"]);
    const first = await Deno.stat(`${out}/kite.png`);

    const run = await batch([file, "--out", out, "-q"]);
    assertEquals(run.code, 0, run.err.join("\n"));
    assert(
      run.err.some((l) => l.includes("3 line(s); 1 already done, 2 to generate")),
      run.err.join("\n"),
    );
    assert(
      run.err.some((l) => /^batch: 2 written, 1 skipped \(already there\), 0 failed/.test(l)),
      run.err.join("\n"),
    );
    assertEquals(await pngs(out), ["kite.png", "line-00003.png", "line-00004.png"]);
    assertEquals((await Deno.stat(`${out}/kite.png`)).mtime, first.mtime, "not rewritten");
    const text = readPngText(await Deno.readFile(`${out}/line-00003.png`));
    assertEquals([text.Caption, text.Steps, text.Seed], ["a slow one", "40", "0"]);
    assertEquals(
      readPngText(await Deno.readFile(`${out}/line-00004.png`)).Caption,
      '{"high_level_description":"x"}',
    );
    // Nothing partial was left behind by the kill.
    const all: string[] = [];
    for await (const e of Deno.readDir(out)) all.push(e.name);
    assertEquals(all.sort(), await pngs(out));
  });
});

Deno.test("batch: --shard i/n splits the lines into disjoint parts that cover the file", async () => {
  // Pure partition over many lines: every line in exactly one shard.
  const text = jsonl(Array.from({ length: 10 }, (_, i) => ({ prompt: `p${i}` })));
  const lines = parseBatchFile(text, "f.jsonl", true);
  const n = 3;
  const seen = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    for (const l of lines.filter((l) => l.index % n === i)) {
      seen.set(l.lineNo, (seen.get(l.lineNo) ?? 0) + 1);
    }
  }
  assertEquals([...seen.keys()].sort((a, b) => a - b), lines.map((l) => l.lineNo));
  assert([...seen.values()].every((c) => c === 1));

  await withTempDir(async (dir) => {
    const file = `${dir}/p.jsonl`, out = `${dir}/out`;
    await Deno.writeTextFile(
      file,
      jsonl([
        { prompt: "one", steps: 1, output: "a.png" },
        { prompt: "two", steps: 1, output: "b.png" },
        { prompt: "three", steps: 1, output: "c.png" },
      ]),
    );
    const s0 = await batch([file, "--out", out, "--shard", "0/2", "-q"]);
    assertEquals(s0.code, 0, s0.err.join("\n"));
    assertEquals(await pngs(out), ["a.png", "c.png"]);
    const s1 = await batch([file, "--out", out, "--shard", "1/2", "-q"]);
    assertEquals(s1.code, 0, s1.err.join("\n"));
    assert(
      s1.err.some((l) => l.includes("1 line(s) in shard 1/2; 0 already done")),
      s1.err.join("\n"),
    );
    assertEquals(await pngs(out), ["a.png", "b.png", "c.png"]);
    for (const bad of ["2/2", "1", "a/b", "0/0"]) {
      const r = await batch([file, "--out", out, "--shard", bad]);
      assertEquals(r.code, 2, bad);
      assert(r.err.join("\n").includes(`--shard ${bad}`), r.err.join("\n"));
    }
  });
});

Deno.test("batch: bad lines are all listed with file, line and JSON path; nothing is generated", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/bad.jsonl`, out = `${dir}/out`;
    await Deno.writeTextFile(
      file,
      [
        '{"prompt": "fine", "output": "x.png"}',
        '{"prompt": "x", "steps": "many"}',
        "{not json",
        '{"prompt": "x", "size": "250x256"}',
        '{"prompt": "y", "output": "x.png"}',
        '{"prompt": "z", "output": "../up.png"}',
        '{"caption": {}, "prompt": "both"}',
        '{"prompt": "z", "colour": "red"}',
      ].join("\n"),
    );
    const r = await batch([file, "--out", out]);
    assertEquals(r.code, 2);
    const msg = r.err.join("\n");
    for (
      const want of [
        "7 bad line(s)",
        `${file}:2: $.steps many: not an integer`,
        `${file}:3: not JSON`,
        `${file}:4: width 250 is not a multiple of 16`,
        `${file}:5: $.output x.png: line 1 writes it too`,
        `${file}:6: $.output ../up.png`,
        `${file}:7: give exactly one of $.prompt and $.caption`,
        `${file}:8: $.colour: unknown option`,
      ]
    ) assert(msg.includes(want), `missing '${want}' in:\n${msg}`);
    let made = true;
    try {
      await Deno.stat(out);
    } catch {
      made = false;
    }
    assertEquals(made, false, "the output folder is not even created");
  });
});

Deno.test("batch: a failing line is listed and the batch goes on; --fail-fast stops at it", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/p.jsonl`;
    // Line 1's caption breaks the schema: refused by the prompt step, as generate refuses it.
    await Deno.writeTextFile(
      file,
      jsonl([
        { caption: { high_level_description: 5 }, output: "bad.png" },
        { prompt: "fine", steps: 1, output: "good.png" },
      ]),
    );
    const all = await batch([file, "--out", `${dir}/a`, "-q"]);
    assertEquals(all.code, 2, all.err.join("\n"));
    assertEquals(await pngs(`${dir}/a`), ["good.png"]);
    const msg = all.err.join("\n");
    assert(/batch: 1 written, 0 skipped \(already there\), 1 failed/.test(msg), msg);
    assert(msg.includes("  line 1 (bad.png): the prompt is not a valid Ideogram 4 caption"), msg);

    const fast = await batch([file, "--out", `${dir}/b`, "-q", "--fail-fast"]);
    assertEquals(fast.code, 2, fast.err.join("\n"));
    assertEquals(await pngs(`${dir}/b`), []);
    assert(fast.err.join("\n").includes("stopped (--fail-fast); 1 line(s) not run"));
  });
});
