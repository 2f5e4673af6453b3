/**
 * Canonical caption text: the exact string form the model was trained on —
 * minified (`,` and `:` with no spaces), non-ASCII written literally, and the
 * keys of each schema object in the canonical order. Keys the schema does not
 * know are kept, after the known ones, in their original order. Values are
 * never changed.
 */
import { COMPOSITION_KEYS, ELEMENT_KEYS, STYLE_KEYS, TOP_LEVEL_KEYS } from "./caption.ts";
import {
  fromPlain,
  isObject,
  joinPath,
  type JsonObject,
  type JsonValue,
  parseJson,
} from "./json.ts";

/** How a caption is written out. */
export interface SerializeOptions {
  /**
   * Spaces per level for a human-readable form (lists of plain values stay on
   * one line); 0 or absent = minified, what the model gets.
   */
  indent?: number;
  /**
   * Paths of numbers that were written as floats (`parseJson`'s
   * `floatNumbers`): they are written back as Python writes a float (`1.0`),
   * so the verifier still sees a float where the source had one.
   */
  floatNumbers?: ReadonlySet<string>;
}

/**
 * Canonical text of a caption given as a typed object, plain data or parsed
 * {@link JsonValue}.
 */
export function serializeCaption(caption: unknown, opts: SerializeOptions = {}): string {
  const w = new Writer(opts.indent ?? 0, opts.floatNumbers ?? new Set());
  // A parsed caption (a Map) is taken as it is: it may hold NaN or Infinity, read as Python does.
  const value = caption instanceof Map ? caption as JsonValue : fromPlain(caption);
  return w.write(reorderCaption(value), "", "");
}

/** Parses caption text and writes it back canonically. Throws `JsonSyntaxError`. */
export function canonicalizeCaption(text: string, opts: SerializeOptions = {}): string {
  const parsed = parseJson(text);
  return serializeCaption(parsed.value, { floatNumbers: parsed.floatNumbers, ...opts });
}

/**
 * A copy of `caption` with the keys of the top level, `style_description`,
 * `compositional_deconstruction` and each element in canonical order. Parts
 * of the wrong type are copied unchanged (the verifier reports them).
 */
export function reorderCaption(caption: JsonValue): JsonValue {
  if (!isObject(caption)) return caption;
  const top = ordered(caption, TOP_LEVEL_KEYS);
  const style = top.get("style_description");
  if (isObject(style)) top.set("style_description", ordered(style, STYLE_KEYS));
  const comp = top.get("compositional_deconstruction");
  if (isObject(comp)) {
    const c = ordered(comp, COMPOSITION_KEYS);
    const elements = c.get("elements");
    if (Array.isArray(elements)) {
      c.set("elements", elements.map((el) => isObject(el) ? ordered(el, ELEMENT_KEYS) : el));
    }
    top.set("compositional_deconstruction", c);
  }
  return top;
}

/** Known keys in `order`, then the others as they came. */
function ordered(obj: JsonObject, order: readonly string[]): JsonObject {
  const out: JsonObject = new Map();
  for (const key of order) if (obj.has(key)) out.set(key, obj.get(key)!);
  for (const [key, value] of obj) if (!out.has(key)) out.set(key, value);
  return out;
}

/**
 * JSON text. Strings go through `JSON.stringify`, which escapes only quotes,
 * backslashes and control characters and leaves other non-ASCII literal, as
 * Python's `json.dumps(..., ensure_ascii=False)` does; numbers are written as
 * Python writes them (`NaN`, `Infinity`, floats with a `.0`).
 */
class Writer {
  constructor(readonly indent: number, readonly floats: ReadonlySet<string>) {}

  write(value: JsonValue, pad: string, path: string): string {
    const indent = this.indent;
    if (Array.isArray(value)) {
      if (value.length === 0) return "[]";
      const items = value.map((v, i) => [v, `${path}[${i}]`] as const);
      // Lists of plain values (bboxes, palettes) stay on one line when pretty-printed.
      if (indent === 0 || value.every((v) => !Array.isArray(v) && !isObject(v))) {
        const sep = indent === 0 ? "," : ", ";
        return `[${items.map(([v, p]) => this.write(v, "", p)).join(sep)}]`;
      }
      const inner = pad + " ".repeat(indent);
      return `[\n${items.map(([v, p]) => inner + this.write(v, inner, p)).join(",\n")}\n${pad}]`;
    }
    if (isObject(value)) {
      if (value.size === 0) return "{}";
      const entries = [...value];
      if (indent === 0) {
        return `{${
          entries.map(([k, v]) => `${JSON.stringify(k)}:${this.write(v, "", joinPath(path, k))}`)
            .join(",")
        }}`;
      }
      const inner = pad + " ".repeat(indent);
      const lines = entries.map(([k, v]) =>
        `${inner}${JSON.stringify(k)}: ${this.write(v, inner, joinPath(path, k))}`
      );
      return `{\n${lines.join(",\n")}\n${pad}}`;
    }
    if (typeof value === "number") {
      return this.floats.has(path) || !Number.isFinite(value)
        ? pythonFloat(value)
        : JSON.stringify(value);
    }
    return JSON.stringify(value);
  }
}

/**
 * A float as Python's `repr` writes it: the shortest digits that read back
 * the same, fixed-point from 1e-4 up to 1e16 (always with a fraction: `100.0`),
 * scientific outside (`1e+16`, `1.5e-05`).
 */
export function pythonFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const [mantissa, exp] = v.toExponential().split("e");
  const e = Number(exp);
  if (e >= -4 && e < 16) {
    const fixed = String(v);
    return fixed.includes(".") ? fixed : `${fixed}.0`;
  }
  const sign = e < 0 ? "-" : "+";
  return `${mantissa}e${sign}${String(Math.abs(e)).padStart(2, "0")}`;
}
