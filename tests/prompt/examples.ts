/**
 * Example captions for the tests, written for this project in the shapes the
 * spec and the reference prompting guide show: a photograph with palette and
 * boxes, a graphic design with text elements and no boxes, a caption without
 * style, and one with non-ASCII lettering and line breaks.
 */

/** Photograph: photo style with a palette, obj elements with bboxes. */
export const PHOTO_CAPTION = {
  high_level_description: "A tabby cat asleep in a sunlit window box full of red geraniums.",
  style_description: {
    aesthetics: "calm, homely, warm",
    lighting: "late-morning sun from the left, soft shadows",
    photo: "50mm lens, f/2.8, eye level, shallow depth of field",
    medium: "photograph",
    color_palette: ["#C8553D", "#F2D0A4", "#588B8B", "#FFFFFF", "#2B2D42"],
  },
  compositional_deconstruction: {
    background:
      "A whitewashed stone wall around a wooden window frame painted teal, blurred street below.",
    elements: [
      {
        type: "obj",
        bbox: [520, 80, 900, 920],
        desc: "A terracotta window box overflowing with red geraniums and green leaves.",
      },
      {
        type: "obj",
        bbox: [300, 250, 640, 760],
        desc: "A tabby cat curled up asleep on the geraniums, striped orange and brown fur.",
        color_palette: ["#D98E4A", "#6B4226"],
      },
    ],
  },
};

/** Graphic design: art style, text elements without bboxes. */
export const DESIGN_CAPTION = {
  high_level_description: "A minimalist concert poster for a jazz night.",
  style_description: {
    aesthetics: "bold, minimal, retro",
    lighting: "flat, even",
    medium: "graphic_design",
    art_style: "flat vector shapes, Swiss poster layout, large sans-serif type",
    color_palette: ["#1D3557", "#F1FAEE", "#E63946"],
  },
  compositional_deconstruction: {
    background: "A deep navy sheet with a faint paper grain.",
    elements: [
      {
        type: "obj",
        desc: "A stylised red saxophone drawn in one thick curved line across the middle.",
      },
      {
        type: "text",
        text: "JAZZ NIGHT",
        desc: "Huge off-white condensed sans-serif letters across the top.",
      },
      {
        type: "text",
        text: "Friday 21:00",
        desc: "Small red sans-serif text at the bottom right.",
      },
    ],
  },
};

/** Only the required part. */
export const MINIMAL_CAPTION = {
  compositional_deconstruction: {
    background: "An empty beach at dawn.",
    elements: [],
  },
};

/** Non-ASCII lettering and a line break, with boxes on text elements. */
export const UNICODE_CAPTION = {
  high_level_description: "A café chalkboard menu written in French and Japanese.",
  style_description: {
    aesthetics: "cosy, handmade",
    lighting: "warm indoor light",
    medium: "illustration",
    art_style: "chalk drawing with loose strokes",
  },
  compositional_deconstruction: {
    background: "A black chalkboard in a wooden frame hanging on a brick wall.",
    elements: [
      {
        type: "text",
        bbox: [80, 150, 260, 850],
        text: "Café du Matin\n朝のカフェ",
        desc: "White chalk lettering, two lines, centred at the top.",
      },
      {
        type: "text",
        bbox: [400, 200, 480, 800],
        text: "Crème brûlée — 5 €",
        desc: "Yellow chalk handwriting in the middle.",
      },
    ],
  },
};

export const EXAMPLES = { PHOTO_CAPTION, DESIGN_CAPTION, MINIMAL_CAPTION, UNICODE_CAPTION };

/** Minified JSON text of a plain object (JSON.stringify keeps non-ASCII literal). */
export const text = (o: unknown): string => JSON.stringify(o);

/** A deep copy to mutate. */
export const copy = <T>(o: T): T => structuredClone(o);
