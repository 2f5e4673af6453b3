/**
 * Declared kernels (`src/gpu/declare_kernel.ts`): the packer writes each
 * field where WGSL's uniform layout puts it (checked by a shader that copies
 * its Params into a buffer), names are checked, and each variant compiles once.
 */
import { PARAMS_SLOT_BYTES } from "../../src/gpu/context.ts";
import { declareKernel, enumConstName, type ParamType } from "../../src/gpu/declare_kernel.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { rng, testGpu } from "../util.ts";

/** 21 fields cycling through the three types, so every offset class is covered. */
const TYPES: ParamType[] = ["u32", "i32", "f32"];
const FIELDS = Array.from({ length: 21 }, (_, i) => [`f${i}`, TYPES[i % 3]] as const);
const PARAMS = Object.fromEntries(FIELDS) as Record<string, ParamType>;
const N = FIELDS.length;

// Copies every Params field's bits into out[i], then the variant's constants.
const PROBE = declareKernel({
  name: "test_params_probe",
  source: `
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
  if (t == 0u) {
${
    FIELDS.map(([n, ty], i) =>
      `    out[${i}] = ${ty === "u32" ? `p.${n}` : `bitcast<u32>(p.${n})`};`
    ).join("\n")
  }
    out[${N}] = MARK;
    out[${N + 1}] = MODE;
    out[${N + 2}] = MODE_SECOND_ONE;
  }
}
@compute @workgroup_size(WG)
fn copy(@builtin(local_invocation_index) t: u32) {
  if (t == 0u) {
    copied[0] = src[1] + p.f0;
  }
}
`,
  params: PARAMS,
  enums: { MODE: { first: 3, secondOne: 9 } },
  entries: {
    main: { out: "read_write array<u32>" },
    // Slot 1 is another buffer in this entry, as in group_norm.wgsl.
    copy: { src: "read array<u32>", copied: "read_write array<u32>" },
  },
  workgroupSize: 64,
  variant: (v: { mark: number; mode: "first" | "secondOne" }) => ({
    consts: { MARK: v.mark },
    select: { MODE: v.mode },
  }),
});

/** Random values that fit each field's type, never zero. */
function randomValues(seed: number): Record<string, number> {
  const r = rng(seed);
  const out: Record<string, number> = {};
  for (const [n, ty] of FIELDS) {
    const u = r();
    out[n] = ty === "u32"
      ? 1 + Math.floor(u * (2 ** 32 - 2))
      : ty === "i32"
      ? -(2 ** 31) + 1 + Math.floor(u * (2 ** 32 - 2)) || 7
      : (u - 0.5) * 1e6 || 0.25;
  }
  return out;
}

/** The 32-bit pattern WGSL should see for a value of a type. */
function bits(v: number, ty: ParamType): number {
  if (ty === "u32") return v;
  if (ty === "i32") return v >>> 0;
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

Deno.test("the packer writes u32, i32 and f32 fields where WGSL's uniform layout reads them", async () => {
  const ctx = await testGpu();
  for (const seed of [1, 2]) {
    const values = randomValues(seed);
    const packed = PROBE.pack(values);
    assertEquals(packed.byteLength, 4 * N);
    const out = Tensor.empty(ctx, [N + 3], "u32", "probe out"); // poisoned by the test context
    PROBE.dispatch(ctx, {
      entry: "main",
      variant: { mark: 1234, mode: "secondOne" },
      params: values,
      bindings: { out: out.binding },
      workgroups: [1],
    });
    const got = Array.from(new Uint32Array((await out.read()).buffer));
    const want = FIELDS.map(([n, ty]) => bits(values[n], ty));
    assertEquals(got.slice(0, N), want, "each field as the shader reads it");
    assertEquals(Array.from(new Uint32Array(packed.buffer)), want, "the packed bytes");
    assertEquals(got.slice(N), [1234, 9, 9], "variant constant, selected enum, enum constant");
    out.release();
  }
});

Deno.test("an entry that reuses a binding slot for another buffer runs on its own bindings", async () => {
  const ctx = await testGpu();
  const src = Tensor.upload(ctx, new Uint32Array([5, 40]), [2], "u32", "probe src");
  const copied = Tensor.empty(ctx, [1], "u32", "probe copied");
  PROBE.dispatch(ctx, {
    entry: "copy",
    variant: { mark: 1, mode: "first" },
    params: { ...randomValues(3), f0: 2 },
    bindings: { src: src.binding, copied: copied.binding },
    workgroups: [1],
  });
  assertEquals(Array.from(new Uint32Array((await copied.read()).buffer)), [42]);
  src.release();
  copied.release();
});

/** Declared with literal field names, so the packer's argument is type-checked. */
const TYPED = declareKernel({
  name: "test_typed_params",
  source: "@compute @workgroup_size(WG) fn main() {}",
  params: { count: "u32", offset: "i32", scale: "f32" },
  entries: { main: {} },
  workgroupSize: 1,
});

Deno.test("wrong, missing and out-of-range Params fields are type errors and runtime errors", () => {
  const ok = { count: 3, offset: -2, scale: 0.5 };
  assertEquals(Array.from(TYPED.pack(ok)), [3, 0, 0, 0, 254, 255, 255, 255, 0, 0, 0, 63]);
  assertThrows(
    // @ts-expect-error: `nope` is not a field of the Params.
    () => TYPED.pack({ ...ok, nope: 1 }),
    "test_typed_params",
    "no field nope",
  );
  // @ts-expect-error: `scale` is missing.
  assertThrows(() => TYPED.pack({ count: 1, offset: 0 }), "Params.scale is missing");
  for (const bad of [-1, 1.5, 2 ** 32]) {
    assertThrows(() => TYPED.pack({ ...ok, count: bad }), `Params.count = ${bad} is not a u32`);
  }
  assertThrows(() => TYPED.pack({ ...ok, offset: 2 ** 31 }), "is not a i32");
  // f32 fields take any number; the shader sees it rounded to f32.
  TYPED.pack({ ...ok, scale: 1 / 3 });
});

Deno.test("pipelines compile once per (entry, variant) and are keyed by a short name", async () => {
  const ctx = await testGpu();
  const out = Tensor.empty(ctx, [N + 3], "u32", "probe out");
  const run = (mark: number) =>
    PROBE.dispatch(ctx, {
      entry: "main",
      variant: { mode: "first", mark },
      params: randomValues(5),
      bindings: { out: out.binding },
      workgroups: [1],
    });
  const before = ctx.pipelines.compiles;
  run(77);
  run(77);
  assertEquals(ctx.pipelines.compiles - before, 1, "one variant, one compile");
  run(78);
  run(77);
  run(78);
  assertEquals(ctx.pipelines.compiles - before, 2, "two variants, two compiles");
  const got = new Uint32Array((await out.read()).buffer);
  assertEquals(got[N], 78, "the last dispatch ran the second variant");
  out.release();

  const spec = PROBE.spec("main", { mark: 77, mode: "first" });
  assertEquals(spec.key, "test_params_probe/main/mark=77,mode=first");
  assert(spec === PROBE.spec("main", { mode: "first", mark: 77 }), "key order does not matter");
  assert(spec.code === PROBE.wgsl({ mark: 77, mode: "first" }), "one text per variant");
  assert(spec.code.includes(`struct Params {\n  f0: u32,\n  f1: i32,\n  f2: f32,\n`));
  assert(spec.code.includes("const MODE = MODE_FIRST;\n"));
  assert(spec.code.includes("const MODE_SECOND_ONE = 9u;\n"));
  assert(spec.code.includes("@group(0) @binding(1) var<storage, read> src: array<u32>;"));
  assertEquals(enumConstName("EPILOGUE", "gatedResidual"), "EPILOGUE_GATED_RESIDUAL");
});

Deno.test("bad declarations are refused when declared", () => {
  const base = {
    source: "",
    params: { a: "u32" },
    entries: { main: { x: "read array<f32>" } },
    workgroupSize: 64,
  } as const;
  assertThrows(() => declareKernel({ ...base, name: "test_params_probe" }), "declared twice");
  const tooMany = Object.fromEntries(
    Array.from({ length: PARAMS_SLOT_BYTES / 4 + 1 }, (_, i) => [`f${i}`, "u32" as const]),
  );
  assertThrows(
    () => declareKernel({ ...base, name: "test_too_big", params: tooMany }),
    `Params is ${PARAMS_SLOT_BYTES + 4} bytes`,
  );
  assertThrows(
    () =>
      declareKernel({
        ...base,
        name: "test_clash",
        entries: {
          one: { x: "read array<f32>", y: "read_write array<f32>" },
          two: { y: "read_write array<f32>" },
        },
      }),
    "binding 'y' unlike another entry",
  );
  assertThrows(() => declareKernel({ ...base, name: "Bad-Name" }), "lower snake case");
  const k = declareKernel({ ...base, name: "test_no_variant" });
  assertThrows(
    () => k.spec("main", { x: 1 } as unknown as Record<string, never>),
    "has no variants",
  );
});

// Each variant sets its own workgroup size, as a tiled kernel whose size follows its tile does.
const PER_VARIANT = declareKernel({
  name: "test_variant_workgroup",
  source: `
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
  out[t] = WG + p.base;
}
`,
  params: { base: "u32" },
  entries: { main: { out: "read_write array<u32>" } },
  workgroupSize: "variant",
  variant: (v: { threads: number }) => ({ consts: { WG: v.threads } }),
});

Deno.test("a workgroup size set per variant runs that many invocations", async () => {
  const ctx = await testGpu();
  for (const threads of [32, 64]) {
    const out = Tensor.empty(ctx, [64], "u32", "per-variant out"); // poisoned
    PER_VARIANT.dispatch(ctx, {
      variant: { threads },
      params: { base: 1000 },
      bindings: { out: out.binding },
      workgroups: [1],
    });
    const got = Array.from(new Uint32Array((await out.read()).buffer));
    assertEquals(got.filter((v) => v === 1000 + threads).length, threads, `${threads} threads`);
    out.release();
  }
  assertThrows(() => PER_VARIANT.grid(ctx, 100), "the workgroup size is per variant");
  const fixed = declareKernel({
    name: "test_fixed_workgroup",
    source: "",
    params: {},
    entries: { main: {} },
    workgroupSize: 64,
    variant: (v: { wg: number }) => ({ consts: { WG: v.wg } }),
  });
  assertThrows(() => fixed.wgsl({ wg: 32 }), "WG is the declared workgroup size");
});
