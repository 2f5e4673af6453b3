/**
 * Kernels declared once for both languages. A kernel family (one file in
 * `shaders/`) is declared here in TypeScript, and everything both sides must
 * agree on is generated from that one declaration: the WGSL header (the
 * `Params` struct, the uniform and storage `var`s, named enum constants, the
 * variant's type aliases and constants), the byte packer for `Params`, and
 * the pipeline key. The `.wgsl` file keeps only the computation. The idea is
 * that of huggingface/ratchet's `WgslMetadata` and cryscan/web-rwkv's
 * `PipelineKey`: a kernel is compiled once per (kernel, entry point,
 * variant), looked up by a short string key, never by hashing its text.
 *
 * ## How to add a kernel
 *
 * 1. Write `shaders/NAME.wgsl` with the computation only. Refer to the
 *    uniform fields as `p.FIELD`, to the storage buffers by their names, to
 *    the workgroup size as `WG` (`@compute @workgroup_size(WG)`), and to
 *    enum values by their generated names (`case OP_ADD:`). Start the file
 *    with a comment naming the TypeScript module that declares it.
 * 2. Declare it next to the op that dispatches it, marking the call with a
 *    `@__PURE__` annotation comment (`const SCALE = ⟨annotation⟩ declareKernel(…)`,
 *    as every op does) so that a bundle that never dispatches the kernel (the
 *    web page's script) drops it and its WGSL. For the same reason the
 *    declaration holds only literals, constants and functions (no arithmetic
 *    on other modules' values), and no top-level code reads its properties:
 *
 *    ```ts
 *    import scaleWgsl from "../../shaders/scale.wgsl" with { type: "text" };
 *    const SCALE = declareKernel({
 *      name: "scale",                                  // unique, part of the pipeline key
 *      source: scaleWgsl,
 *      params: { count: "u32", factor: "f32" },        // struct order; u32 | i32 | f32
 *      enums: { MODE: { plain: 0, squared: 1 } },      // const MODE_PLAIN = 0u; …
 *      entries: {                                      // entry point → bindings 1..n
 *        main: { x: "read array<act_t>", out: "read_write array<act_t>" },
 *      },
 *      workgroupSize: 256,                             // const WG = 256u;
 *      variant: (v: { act_t: ActDType; mode: "plain" | "squared" }) => ({
 *        aliases: { act_t: v.act_t },                  // an f16 alias adds `enable f16;`
 *        select: { MODE: v.mode },                     // const MODE = MODE_SQUARED;
 *      }),
 *    });
 *    ```
 * 3. Dispatch it with typed parameters and named bindings:
 *
 *    ```ts
 *    SCALE.dispatch(ctx, {
 *      variant: { act_t: x.dtype, mode: "plain" },
 *      params: { count: x.numel, factor: 2 },          // a wrong or missing name: type error
 *      bindings: { x: x.binding, out: out.binding },
 *      workgroups: SCALE.grid(ctx, x.numel),           // one invocation per element
 *    });
 *    ```
 *
 * 4. Test it against a CPU reference (`src/ops/NAME_ref.ts`) on random
 *    inputs in `tests/ops/NAME_test.ts`; the test context poisons outputs.
 *
 * Details:
 * - Several entry points (e.g. `group_norm.wgsl`): each lists its own
 *   bindings and a dispatch names its `entry`. Two entries may use one slot
 *   for different buffers (each entry only sees its own); a buffer named in
 *   several entries must have the same slot and type in each.
 * - `consts` in the declaration are constants every variant has (e.g. a
 *   layout size written once in TypeScript). `workgroupSize: "variant"`
 *   leaves `WG` to each variant's `consts`, for kernels whose workgroup
 *   follows their tile.
 * - The variant's values (strings, numbers, booleans) make the key,
 *   `NAME/ENTRY/a=1,b=f16`, and each distinct variant's WGSL is composed
 *   once and cached in the declaration.
 * - `Params` fields are 4-byte scalars, so field `i` sits at byte `4·i` of
 *   the uniform (WGSL's layout for such a struct); the struct must fit in
 *   {@link PARAMS_SLOT_BYTES}, which is checked when the kernel is declared.
 *   The packer refuses a missing or unknown field and a u32 / i32 value that
 *   is not an integer in range.
 */
import type { BufferBinding, GpuContext } from "./context.ts";
import { grid, type KernelSpec, PARAMS_SLOT_BYTES, type StorageAccess } from "./kernel.ts";
import { wgslHeader } from "./wgsl.ts";

/** Types a `Params` field may have: 4-byte scalars, written little-endian. */
export type ParamType = "u32" | "i32" | "f32";

/** One storage binding: its access and WGSL type, e.g. `"read array<vec4<act_t>>"`. */
export type BindingDecl = `read ${string}` | `read_write ${string}`;

/** Values of variant inputs (they make the pipeline key). */
export type VariantValue = string | number | boolean;

/** What a variant adds to the generated header. */
export interface VariantHeader<En> {
  /** `alias NAME = TYPE;` lines; an alias to an f16 type adds `enable f16;`. */
  aliases?: Record<string, string>;
  /** `const NAME = VALUE;` lines; non-negative integers become `u32`. */
  consts?: Record<string, number | boolean>;
  /** `const ENUM = ENUM_MEMBER;`: selects one member of a declared enum as a constant. */
  select?: { [K in keyof En]?: keyof En[K] & string };
  /** Force `enable f16;` (it is automatic for f16 aliases). */
  f16?: boolean;
  /** Emit `enable subgroups;` (needs the device's `subgroups`). */
  subgroups?: boolean;
}

/** The declaration {@link declareKernel} takes. */
export interface KernelDecl<
  P extends Record<string, ParamType>,
  En extends Record<string, Record<string, number>>,
  Es extends Record<string, Record<string, BindingDecl>>,
  V extends Record<keyof V, VariantValue>,
  W extends number | "variant" = number,
> {
  /** Unique kernel name: the first part of the pipeline key and of labels. */
  name: string;
  /** The WGSL source, without the declared header (imported from `shaders/`). */
  source: string;
  /** `Params` fields in struct order. */
  params: P;
  /** Named integer constants: `{ OP: { siluGate: 3 } }` → `const OP_SILU_GATE = 3u;`. */
  enums?: En;
  /** Entry points, each with its storage bindings in slot order (slot 1 first). */
  entries: Es;
  /**
   * Invocations per workgroup, `const WG` in WGSL; `"variant"` when it depends
   * on the variant, whose `consts` must then set `WG` (e.g. from its tile sizes).
   */
  workgroupSize: W;
  /** `const NAME = VALUE;` lines every variant has (non-negative integers become `u32`). */
  consts?: Record<string, number | boolean>;
  /** The header a variant adds; absent for kernels without variants. */
  variant?: (v: V) => VariantHeader<En>;
}

/** `Params` values by field name, each a number. */
export type ParamValues<P> = { readonly [K in keyof P]: number };

/** The buffers of one entry point's bindings, by name. */
export type EntryBindings<B> = { readonly [K in keyof B]: BufferBinding };

/** Whether a union of names has exactly one member. */
type IsSingle<K> = [K] extends [UnionToIntersection<K>] ? true : false;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends
  (x: infer I) => void ? I : never;

/** Arguments of {@link DeclaredKernel.dispatch}; `entry` is required iff the kernel has several. */
export type DeclaredDispatch<P, B, E, V, Single = true> =
  & {
    /** `Params` values. */
    params: ParamValues<P>;
    /** The storage buffers, by binding name. */
    bindings: EntryBindings<B>;
    /** Workgroup counts (see {@link DeclaredKernel.grid}). */
    workgroups: [number, number?, number?];
  }
  & (Record<string, never> extends V ? { variant?: V } : { variant: V })
  & (Single extends true ? { entry?: E } : { entry: E });

interface Field {
  name: string;
  type: ParamType;
  offset: number;
}

/** WGSL name of an enum member: `OP` + `siluGate` → `OP_SILU_GATE`. */
export function enumConstName(enumName: string, member: string): string {
  return `${enumName}_${member.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`;
}

const declaredNames = new Set<string>();

/**
 * A declared kernel: packs its `Params`, composes each variant's WGSL once
 * and dispatches by name. Made by {@link declareKernel}.
 */
export class DeclaredKernel<
  P extends Record<string, ParamType>,
  En extends Record<string, Record<string, number>>,
  Es extends Record<string, Record<string, BindingDecl>>,
  V extends Record<keyof V, VariantValue>,
  W extends number | "variant" = number,
> {
  /** The kernel's name. */
  readonly name: string;
  /** Invocations per workgroup, or `"variant"` when each variant sets its own. */
  readonly workgroupSize: W;
  /** Bytes of the packed `Params` struct. */
  readonly paramsBytes: number;
  /** The declared enums, for the TypeScript side (`K.enums.OP.add`). */
  readonly enums: En;
  private readonly fields: Field[];
  private readonly codes = new Map<string, string>();
  private readonly specs = new Map<string, KernelSpec>();
  /** Binding names per entry point, in slot order. */
  private readonly bindingNames = new Map<string, string[]>();
  private readonly bindingLines: string;

  /** Checks the declaration; prefer {@link declareKernel}. */
  constructor(private readonly decl: KernelDecl<P, En, Es, V, W>) {
    const { name } = decl;
    if (!/^[a-z][a-z0-9_]*$/.test(name)) {
      throw new Error(`kernel name '${name}' must be lower snake case`);
    }
    if (declaredNames.has(name)) throw new Error(`kernel '${name}' is declared twice`);
    this.name = name;
    this.workgroupSize = decl.workgroupSize;
    const wg: number | "variant" = decl.workgroupSize;
    if (wg !== "variant" && !(Number.isInteger(wg) && wg >= 1)) {
      throw new Error(`kernel '${name}': workgroup size ${wg}`);
    }
    this.enums = decl.enums ?? ({} as En);
    this.fields = Object.entries(decl.params).map(([field, type], i) => {
      if (type !== "u32" && type !== "i32" && type !== "f32") {
        throw new Error(`kernel '${name}': Params.${field} has type ${type}; use u32, i32 or f32`);
      }
      return { name: field, type, offset: 4 * i };
    });
    this.paramsBytes = 4 * this.fields.length;
    if (this.paramsBytes > PARAMS_SLOT_BYTES) {
      throw new Error(
        `kernel '${name}': Params is ${this.paramsBytes} bytes, more than the ` +
          `${PARAMS_SLOT_BYTES}-byte uniform slot`,
      );
    }
    if (Object.keys(decl.entries).length === 0) throw new Error(`kernel '${name}': no entries`);
    for (const [e, members] of Object.entries(this.enums)) {
      for (const [member, value] of Object.entries(members)) {
        if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32) {
          throw new Error(`kernel '${name}': ${enumConstName(e, member)} = ${value} is not a u32`);
        }
      }
    }
    this.bindingLines = this.storageVars();
    declaredNames.add(name);
  }

  /** `Params` as the bytes of the WGSL uniform struct; names and ranges checked. */
  pack(values: ParamValues<P>): Uint8Array {
    const bytes = new Uint8Array(this.paramsBytes);
    const view = new DataView(bytes.buffer);
    const given = values as Record<string, number>;
    for (const f of this.fields) {
      const v = given[f.name];
      if (typeof v !== "number") {
        throw new Error(`${this.name}: Params.${f.name} is ${v === undefined ? "missing" : v}`);
      }
      if (f.type === "f32") {
        view.setFloat32(f.offset, v, true);
        continue;
      }
      const [lo, hi] = f.type === "u32" ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
      if (!Number.isInteger(v) || v < lo || v > hi) {
        throw new Error(`${this.name}: Params.${f.name} = ${v} is not a ${f.type}`);
      }
      if (f.type === "u32") view.setUint32(f.offset, v, true);
      else view.setInt32(f.offset, v, true);
    }
    const count = Object.keys(given).length;
    if (count !== this.fields.length) {
      const extra = Object.keys(given).filter((k) => !this.fields.some((f) => f.name === k));
      throw new Error(`${this.name}: Params has no field ${extra.join(", ")}`);
    }
    return bytes;
  }

  /** The complete WGSL of a variant (header + source), composed once per variant. */
  wgsl(variant?: V): string {
    const key = variantKey(variant);
    let code = this.codes.get(key);
    if (code === undefined) this.codes.set(key, code = this.compose(variant));
    return code;
  }

  /** The pipeline spec of one entry point and variant; `spec.key` is `NAME/ENTRY/VARIANT`. */
  spec(entry: keyof Es & string, variant?: V): KernelSpec {
    const key = `${this.name}/${entry}/${variantKey(variant)}`;
    let spec = this.specs.get(key);
    if (spec === undefined) {
      const bindings = this.decl.entries[entry];
      if (!bindings) throw new Error(`kernel '${this.name}' has no entry point '${entry}'`);
      spec = {
        name: key,
        key,
        code: this.wgsl(variant),
        entryPoint: entry,
        params: this.fields.length > 0,
        storage: Object.values(bindings).map(accessOf),
      };
      this.specs.set(key, spec);
    }
    return spec;
  }

  /** Records one dispatch of an entry point (the only one when `entry` is left out). */
  dispatch<E extends keyof Es & string = keyof Es & string>(
    ctx: GpuContext,
    args: DeclaredDispatch<P, Es[E], E, V, IsSingle<keyof Es>>,
  ): void {
    const entry = args.entry ?? this.onlyEntry();
    const spec = this.spec(entry, args.variant);
    const given = args.bindings as Record<string, BufferBinding>;
    const names = this.bindingNames.get(entry)!;
    const bindings = names.map((n) => {
      const b = given[n];
      if (!b) throw new Error(`${spec.name}: binding '${n}' is missing`);
      return b;
    });
    if (Object.keys(given).length !== names.length) {
      const extra = Object.keys(given).filter((k) => !names.includes(k));
      throw new Error(`${spec.name}: no binding named ${extra.join(", ")}`);
    }
    ctx.dispatch(spec, {
      params: spec.params ? this.pack(args.params) : undefined,
      bindings,
      workgroups: args.workgroups,
    });
  }

  /** Workgroups for `invocations` along one axis (folded into x·y past the limit). */
  grid(ctx: GpuContext, invocations: number): [number, number] {
    const wg: number | "variant" = this.workgroupSize;
    if (wg === "variant") {
      throw new Error(`kernel '${this.name}': the workgroup size is per variant`);
    }
    return grid(ctx, Math.ceil(invocations / wg));
  }

  private onlyEntry(): keyof Es & string {
    const names = Object.keys(this.decl.entries);
    if (names.length !== 1) {
      throw new Error(`kernel '${this.name}' has entries ${names.join(", ")}: name one`);
    }
    return names[0];
  }

  private compose(variant: V | undefined): string {
    const decl = this.decl;
    if (variant && !decl.variant) throw new Error(`kernel '${this.name}' has no variants`);
    const h: VariantHeader<En> = variant && decl.variant ? decl.variant(variant) : {};
    const aliases = h.aliases ?? {};
    const lines = [
      `// ---- generated from the declaration of kernel '${this.name}' ----`,
      wgslHeader({
        f16: h.f16 || Object.values(aliases).some((t) => /\bf16\b/.test(t)),
        subgroups: h.subgroups,
        aliases,
      }),
    ];
    for (const [e, member] of Object.entries(h.select ?? {}) as [string, string][]) {
      const members = this.enums[e];
      if (!members || !(member in members)) {
        throw new Error(`kernel '${this.name}': ${e} has no member '${member}'`);
      }
      lines.push(`const ${e} = ${enumConstName(e, member)};`);
    }
    const consts = { ...decl.consts, ...h.consts };
    if (this.workgroupSize === "variant") {
      if (!("WG" in consts)) throw new Error(`kernel '${this.name}': the variant sets no WG`);
    } else {
      if ("WG" in consts) {
        throw new Error(`kernel '${this.name}': WG is the declared workgroup size`);
      }
      lines.push(`const WG = ${this.workgroupSize}u;`);
    }
    const constLines = wgslHeader({ consts });
    if (constLines) lines.push(constLines);
    for (const [e, members] of Object.entries(this.enums)) {
      for (const [member, value] of Object.entries(members)) {
        lines.push(`const ${enumConstName(e, member)} = ${value}u;`);
      }
    }
    if (this.fields.length > 0) {
      lines.push(
        "struct Params {",
        ...this.fields.map((f) => `  ${f.name}: ${f.type},`),
        "}",
        "@group(0) @binding(0) var<uniform> p: Params;",
      );
    }
    lines.push(this.bindingLines, `// ---- ${this.name}.wgsl ----`, decl.source);
    return lines.filter((l) => l !== "").join("\n");
  }

  /** One `var<storage>` per binding name; names shared by entries must agree. */
  private storageVars(): string {
    const seen = new Map<string, string>();
    for (const [entry, bindings] of Object.entries(this.decl.entries)) {
      this.bindingNames.set(entry, Object.keys(bindings));
      Object.entries(bindings).forEach(([name, b], i) => {
        const [access, ...type] = b.split(" ");
        if (access !== "read" && access !== "read_write") {
          throw new Error(`kernel '${this.name}': binding '${name}' has access ${access}`);
        }
        const line = `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: ${
          type.join(" ")
        };`;
        const prev = seen.get(name);
        if (prev !== undefined && prev !== line) {
          throw new Error(
            `kernel '${this.name}': entry '${entry}' declares binding '${name}' unlike another ` +
              `entry (${prev} vs ${line})`,
          );
        }
        seen.set(name, line);
      });
    }
    return [...seen.values()].join("\n");
  }
}

function accessOf(b: BindingDecl): StorageAccess {
  return b.startsWith("read_write ") ? "read_write" : "read";
}

/** The variant part of a pipeline key: `a=1,b=f16`, names sorted. */
function variantKey(v: object | undefined): string {
  if (!v) return "";
  const r = v as Record<string, VariantValue>;
  return Object.keys(r).sort().map((k) => `${k}=${r[k]}`).join(",");
}

/** Declares a kernel family (see the module header for how). */
export function declareKernel<
  const P extends Record<string, ParamType>,
  const En extends Record<string, Record<string, number>>,
  const Es extends Record<string, Record<string, BindingDecl>>,
  V extends Record<keyof V, VariantValue> = Record<string, never>,
  W extends number | "variant" = number,
>(decl: KernelDecl<P, En, Es, V, W>): DeclaredKernel<P, En, Es, V, W> {
  return new DeclaredKernel(decl);
}
