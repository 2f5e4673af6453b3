import { denoPlatform, NO_MMAP_ENV, partialName } from "../../src/platform/deno.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { rng } from "../util.ts";
import { mmapPlatform, randomBytes, readPlatform, withTempDir } from "./io_util.ts";

const SIZE = 1 << 20;

Deno.test("deno platform: mmap and plain reads give identical bytes at random ranges", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/data.bin`;
    const data = randomBytes(SIZE, 42);
    await Deno.writeFile(path, data);
    const mapped = await mmapPlatform.open(path);
    const plain = await readPlatform.open(path);
    assertEquals([mapped.kind, plain.kind], ["mmap", "read"]);
    assertEquals([mapped.size, plain.size, mapped.name], [SIZE, SIZE, path]);
    const r = rng(9);
    const ranges = Array.from({ length: 40 }, () => {
      const offset = Math.floor(r() * SIZE);
      return [offset, Math.floor(r() * (SIZE - offset))];
    });
    ranges.push([0, SIZE], [SIZE, 0], [SIZE - 1, 1]);
    // Issued all at once: the plain-read source must serialise its seek + read pairs.
    const [a, b] = await Promise.all([
      Promise.all(ranges.map(([o, n]) => mapped.read(o, n))),
      Promise.all(ranges.map(([o, n]) => plain.read(o, n))),
    ]);
    for (let i = 0; i < ranges.length; i++) {
      const [o, n] = ranges[i];
      const want = data.subarray(o, o + n);
      assert(a[i].length === n && a[i].every((v, j) => v === want[j]), `mmap range ${o}+${n}`);
      assert(b[i].length === n && b[i].every((v, j) => v === want[j]), `read range ${o}+${n}`);
    }
    mapped.close();
    plain.close();
  });
});

Deno.test("deno platform: mmap reads are views over one mapping, plain reads are fresh buffers", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/data.bin`;
    await Deno.writeFile(path, randomBytes(SIZE, 1));
    const mapped = await mmapPlatform.open(path);
    const v1 = await mapped.read(100, 50), v2 = await mapped.read(5000, 8);
    assertEquals([v1.buffer.byteLength, v1.byteOffset, v1.length], [SIZE, 100, 50]);
    assert(v1.buffer === v2.buffer, "every read views the same mapping");
    const plain = await readPlatform.open(path);
    const c = await plain.read(100, 50);
    assertEquals([c.buffer.byteLength, c.byteOffset], [50, 0]);
    // Closing detaches the mapping: old views read as empty instead of crashing.
    mapped.close();
    assertEquals([v1.byteLength, v2.byteLength], [0, 0]);
    await assertRejects(() => mapped.read(0, 1), path, "after close");
    mapped.close(); // idempotent
    plain.close();
    await assertRejects(() => plain.read(0, 1), path, "after close");
  });
});

Deno.test("deno platform: empty, missing and folder paths, reads past the end", async () => {
  await withTempDir(async (dir) => {
    const empty = `${dir}/empty.safetensors`;
    await Deno.writeFile(empty, new Uint8Array(0));
    await Deno.writeFile(`${dir}/small.bin`, new Uint8Array(10));
    for (const p of [mmapPlatform, readPlatform]) {
      await assertRejects(() => p.open(empty), empty, "empty");
      await assertRejects(() => p.open(`${dir}/nope.bin`), "nope.bin", "no such file");
      await assertRejects(() => p.open(dir), dir, "folder");
      const src = await p.open(`${dir}/small.bin`);
      await assertRejects(() => src.read(8, 3), "small.bin", "past the end", "10 bytes");
      await assertRejects(() => src.read(-1, 1), "small.bin", "invalid read");
      src.close();
    }
  });
});

Deno.test("deno platform: IDEOGRAM4_NO_MMAP=1 forces plain reads", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/x.bin`;
    await Deno.writeFile(path, randomBytes(64, 3));
    const before = Deno.env.get(NO_MMAP_ENV);
    try {
      Deno.env.set(NO_MMAP_ENV, "1");
      const forced = await denoPlatform().open(path);
      assertEquals(forced.kind, "read");
      forced.close();
      Deno.env.set(NO_MMAP_ENV, "0");
      const mapped = await denoPlatform().open(path);
      assertEquals(mapped.kind, "mmap");
      mapped.close();
    } finally {
      if (before === undefined) Deno.env.delete(NO_MMAP_ENV);
      else Deno.env.set(NO_MMAP_ENV, before);
    }
  });
});

Deno.test("deno platform: readText, exists, list, join, env", async () => {
  await withTempDir(async (dir) => {
    const p = denoPlatform();
    await Deno.writeTextFile(p.join(dir, "config.json"), '{"a": 1}');
    await Deno.writeFile(p.join(dir, "b.safetensors"), new Uint8Array(1));
    await Deno.mkdir(p.join(dir, "sub"));
    await Deno.writeFile(p.join(dir, "sub", "inner.bin"), new Uint8Array(1));
    assertEquals(await p.readText(`${dir}/config.json`), '{"a": 1}');
    await assertRejects(() => p.readText(`${dir}/missing.json`), "missing.json", "no such file");
    assertEquals(
      [
        await p.exists(`${dir}/config.json`),
        await p.exists(`${dir}/sub`),
        await p.exists(`${dir}/x`),
      ],
      [true, false, false],
    );
    assertEquals(await p.list(dir), ["b.safetensors", "config.json"]);
    await assertRejects(() => p.list(`${dir}/nodir`), "nodir", "no such file");
    assertEquals(p.join("a", "b/", "c.json"), "a/b/c.json");
    Deno.env.set("IDEOGRAM4_TEST_VAR", "yes");
    assertEquals([p.env("IDEOGRAM4_TEST_VAR"), p.env("IDEOGRAM4_UNSET_VAR_XYZ")], [
      "yes",
      undefined,
    ]);
    Deno.env.delete("IDEOGRAM4_TEST_VAR");
  });
});

Deno.test("deno platform: without --allow-ffi it falls back to plain reads (no prompt)", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/x.bin`;
    await Deno.writeFile(path, randomBytes(64, 5));
    const module = new URL("../../src/platform/deno.ts", import.meta.url).href;
    const script = `import { denoPlatform } from "${module}";
      const src = await denoPlatform().open(${JSON.stringify(path)});
      const b = await src.read(3, 4);
      console.log(src.kind, b.buffer.byteLength, b.join(","));`;
    await Deno.writeTextFile(`${dir}/probe.ts`, script);
    // `deno run` (unlike `deno eval`) grants only what it is given: read, no FFI.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", "--allow-read", `${dir}/probe.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(text, `read 4 ${Array.from(randomBytes(64, 5).subarray(3, 7)).join(",")}`);
  });
});

Deno.test("deno platform: writeFileAtomic writes whole files and leaves nothing on failure", async () => {
  await withTempDir(async (dir) => {
    const p = denoPlatform();
    const path = `${dir}/out.bin`;
    await p.writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    await p.writeFileAtomic(path, new Uint8Array([4, 5]));
    assertEquals([...await Deno.readFile(path)], [4, 5]);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["out.bin"], "no temporary file left");
    let msg = "";
    try {
      await p.writeFileAtomic(`${dir}/missing/out.bin`, new Uint8Array([1]));
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(msg.includes(`${dir}/missing/out.bin`), `error names the path: "${msg}"`);
  });
});

Deno.test("deno platform: writeFileAtomic takes names up to 255 bytes (temp name shortened)", async () => {
  await withTempDir(async (dir) => {
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    const base = (path: string) => path.slice(path.lastIndexOf("/") + 1);
    // 255 bytes of ASCII, and of 3-byte characters (cut on a character boundary).
    for (const name of [`${"a".repeat(251)}.png`, `${"灯".repeat(83)}.png`]) {
      assert(bytes(name) <= 255, name);
      const tmp = base(partialName(`${dir}/${name}`));
      assert(bytes(tmp) <= 255 && !tmp.includes("\uFFFD"), `${bytes(tmp)} bytes: ${tmp}`);
      assert(tmp.startsWith(name.slice(0, 20)) && tmp.includes(".partial-"), tmp);
      await denoPlatform().writeFileAtomic(`${dir}/${name}`, new Uint8Array([7]));
      assertEquals([...await Deno.readFile(`${dir}/${name}`)], [7]);
    }
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names.length, 2, names.join(", "));
    // Short names keep their whole name in the temp name.
    assert(base(partialName(`${dir}/out.png`)).startsWith("out.png.partial-"));
  });
});
