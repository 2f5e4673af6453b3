/**
 * The lines of a generated WGSL header: `enable` directives, type aliases and
 * constants. `declareKernel` (`declare_kernel.ts`) builds each declared
 * kernel's header with them.
 *
 * Kernel variants that differ by a type or a constant are one shader file:
 * the header declares `enable f16;`, type aliases (e.g. `alias act_t = f16;`)
 * and `const` values (tile sizes), and the shader uses those names. WGSL
 * `override` constants would do for plain numbers, but not for workgroup
 * array sizes on every implementation, so constants are textual here.
 */

export interface WgslHeader {
  /** Emit `enable f16;` (needs the device's `shader-f16`). */
  f16?: boolean;
  /** Emit `enable subgroups;` (needs the device's `subgroups`). */
  subgroups?: boolean;
  /** `alias NAME = TYPE;` lines. */
  aliases?: Record<string, string>;
  /** `const NAME = VALUE;` lines; integers become `u32` unless given as strings. */
  consts?: Record<string, number | boolean | string>;
}

export function wgslHeader(h: WgslHeader): string {
  const lines: string[] = [];
  if (h.f16) lines.push("enable f16;");
  if (h.subgroups) lines.push("enable subgroups;");
  for (const [name, type] of Object.entries(h.aliases ?? {})) {
    lines.push(`alias ${name} = ${type};`);
  }
  for (const [name, v] of Object.entries(h.consts ?? {})) {
    let expr: string;
    if (typeof v === "boolean") expr = String(v);
    else if (typeof v === "string") expr = v;
    else if (Number.isInteger(v) && v >= 0) expr = `${v}u`;
    else if (Number.isInteger(v)) expr = `${v}i`;
    else expr = `${v}f`;
    lines.push(`const ${name} = ${expr};`);
  }
  return lines.join("\n");
}
