/**
 * Canonical caption text: the exact string form the model was trained on —
 * minified (`,` and `:` with no spaces), non-ASCII written literally, and the
 * keys of each schema object in the canonical order. Keys the schema does not
 * know are kept, after the known ones, in their original order. Values are
 * never changed.
 */
import { COMPOSITION_KEYS, ELEMENT_KEYS, STYLE_KEYS, TOP_LEVEL_KEYS } from "./caption.ts";
import { fromPlain, isObject, type JsonObject, type JsonValue, parseJson } from "./json.ts";

/** How a caption is written out. */
export interface SerializeOptions {
  /**
   * Spaces per level for a human-readable form (lists of plain values stay on
   * one line); 0 or absent = minified, what the model gets.
   */
  indent?: number;
}

/**
 * Canonical text of a caption given as a typed object, plain data or parsed
 * {@link JsonValue}.
 */
export function serializeCaption(caption: unknown, opts: SerializeOptions = {}): string {
  return write(reorderCaption(fromPlain(caption)), opts.indent ?? 0, "");
}

/** Parses caption text and writes it back canonically. Throws `JsonSyntaxError`. */
export function canonicalizeCaption(text: string, opts: SerializeOptions = {}): string {
  return serializeCaption(parseJson(text).value, opts);
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
 * backslashes and control characters and leaves other non-ASCII literal.
 */
function write(value: JsonValue, indent: number, pad: string): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    if (indent === 0) return `[${value.map((v) => write(v, 0, "")).join(",")}]`;
    // Lists of plain values (bboxes, palettes) stay on one line when pretty-printed.
    if (value.every((v) => !Array.isArray(v) && !isObject(v))) {
      return `[${value.map((v) => write(v, 0, "")).join(", ")}]`;
    }
    const inner = pad + " ".repeat(indent);
    return `[\n${value.map((v) => inner + write(v, indent, inner)).join(",\n")}\n${pad}]`;
  }
  if (isObject(value)) {
    if (value.size === 0) return "{}";
    const entries = [...value];
    if (indent === 0) {
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v, 0, "")}`).join(",")}}`;
    }
    const inner = pad + " ".repeat(indent);
    const lines = entries.map(([k, v]) =>
      `${inner}${JSON.stringify(k)}: ${write(v, indent, inner)}`
    );
    return `{\n${lines.join(",\n")}\n${pad}}`;
  }
  return JSON.stringify(value);
}
