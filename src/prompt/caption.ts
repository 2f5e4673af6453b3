/**
 * The Ideogram 4 JSON caption: TypeScript types for every field and the schema
 * constants (known keys, canonical key order, limits) that the verifier, the
 * canonical serialiser and the builder share.
 *
 * The model was trained only on captions of this shape, given to it as a
 * minified JSON string with non-ASCII characters written literally. Plain text
 * still works; a caption that follows the schema just stays inside the
 * training distribution.
 */

/** `#RRGGBB` with upper-case hex digits, e.g. `#F5C542`. */
export type HexColour = string;

/**
 * A box on the 0…1000 grid of the image, origin top-left:
 * `[y_min, x_min, y_max, x_max]` — rows first, as the model was trained.
 */
export type BBox = [yMin: number, xMin: number, yMax: number, xMax: number];

/** Style of a photograph: `photo` holds the camera and lens details. */
export interface PhotoStyle {
  /** Mood and visual qualities. */
  aesthetics: string;
  /** Light sources, direction and quality. */
  lighting: string;
  /** Camera, lens and exposure details. */
  photo: string;
  /** Usually `"photograph"`. */
  medium: string;
  /** Up to {@link STYLE_PALETTE_MAX} colours steering the dominant colours. */
  color_palette?: HexColour[];
}

/** Style of everything else (illustration, painting, 3D render, design…). */
export interface ArtStyle {
  /** Mood and visual qualities. */
  aesthetics: string;
  /** Light sources, direction and quality. */
  lighting: string;
  /** e.g. `"illustration"`, `"3d_render"`, `"painting"`, `"graphic_design"`. */
  medium: string;
  /** Technique and look. */
  art_style: string;
  /** Dominant colours, `#RRGGBB`. */
  color_palette?: HexColour[];
}

/** The caption's style: a photograph or anything else. */
export type StyleDescription = PhotoStyle | ArtStyle;

/** A subject or thing in the picture. */
export interface ObjElement {
  /** Discriminant. */
  type: "obj";
  /** Where it is: `[ymin, xmin, ymax, xmax]` on a 0…1000 grid. */
  bbox?: BBox;
  /** What it looks like. */
  desc: string;
  /** Up to {@link ELEMENT_PALETTE_MAX} colours. */
  color_palette?: HexColour[];
}

/** Lettering in the picture: `text` is rendered verbatim (`\n` breaks lines). */
export interface TextElement {
  /** Discriminant. */
  type: "text";
  /** Where it is: `[ymin, xmin, ymax, xmax]` on a 0…1000 grid. */
  bbox?: BBox;
  /** The exact text to render. */
  text: string;
  /** How the lettering looks. */
  desc: string;
  /** Colours of the lettering, `#RRGGBB`. */
  color_palette?: HexColour[];
}

/** One element of the scene. */
export type CaptionElement = ObjElement | TextElement;
/** `"obj"` or `"text"`. */
export type ElementType = CaptionElement["type"];

/** The scene: background, then elements back to front. */
export interface CompositionalDeconstruction {
  /** The scene shell: setting, ground, sky, walls, ambient light. */
  background: string;
  /** Painter's order: earlier elements lie behind later ones. */
  elements: CaptionElement[];
}

/** An Ideogram 4 JSON caption (spec §7). */
export interface Caption {
  /** One or two sentences about the whole image (optional, recommended). */
  high_level_description?: string;
  /** How the image looks. */
  style_description?: StyleDescription;
  /** What is in the image. */
  compositional_deconstruction: CompositionalDeconstruction;
}

// ---- schema constants -------------------------------------------------------

/** Canonical order of the top-level keys. */
export const TOP_LEVEL_KEYS = [
  "high_level_description",
  "style_description",
  "compositional_deconstruction",
] as const;

/**
 * Canonical order of `style_description` keys. One list serves both variants:
 * photo captions read `aesthetics, lighting, photo, medium, color_palette`,
 * the others `aesthetics, lighting, medium, art_style, color_palette`, and both
 * are this list with the key they lack left out.
 */
export const STYLE_KEYS = [
  "aesthetics",
  "lighting",
  "photo",
  "medium",
  "art_style",
  "color_palette",
] as const;

export const COMPOSITION_KEYS = ["background", "elements"] as const;

/**
 * Canonical order of element keys. `obj` elements use `type, bbox, desc,
 * color_palette`; `text` elements add `text` before `desc`.
 */
export const ELEMENT_KEYS = ["type", "bbox", "text", "desc", "color_palette"] as const;

export const ELEMENT_TYPES: readonly ElementType[] = ["obj", "text"];

export const BBOX_MIN = 0;
export const BBOX_MAX = 1000;
/** Names of the four bbox numbers, in order. */
export const BBOX_FIELDS = ["y_min", "x_min", "y_max", "x_max"] as const;

/** Most colours in `style_description.color_palette`. */
export const STYLE_PALETTE_MAX = 16;
/** Most colours in an element's `color_palette`. */
export const ELEMENT_PALETTE_MAX = 5;

/** A palette colour: `#` and six upper-case hex digits. */
export const HEX_COLOUR = /^#[0-9A-F]{6}$/;
