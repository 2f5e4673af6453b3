/// <reference lib="dom" />
/**
 * The page's picture: the generated RGB pixels on one canvas and the
 * caption's element boxes drawn on a transparent canvas laid over it.
 */
import type { PreviewBox } from "./caption_preview.ts";

/** Caption bbox coordinates run 0…1000 over the image. */
const BBOX_SCALE = 1000;

/** Paints `rgb` (`width * height * 3` bytes, row-major) opaque onto `canvas`, resized to fit. */
export function drawRgb(canvas: HTMLCanvasElement, rgb: Uint8Array, width: number, height: number) {
  if (rgb.length !== width * height * 3) {
    throw new Error(`drawRgb: ${rgb.length} bytes for a ${width}x${height} RGB image`);
  }
  canvas.width = width;
  canvas.height = height;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  canvas.getContext("2d")!.putImageData(new ImageData(rgba, width, height), 0, 0);
}

/** An empty checkerboard of the chosen size, until there is an image. */
export function drawPlaceholder(canvas: HTMLCanvasElement, width: number, height: number) {
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext("2d")!;
  const cell = 32;
  for (let y = 0; y < height; y += cell) {
    for (let x = 0; x < width; x += cell) {
      g.fillStyle = ((x + y) / cell) % 2 === 0 ? "#2a2d34" : "#23262c";
      g.fillRect(x, y, cell, cell);
    }
  }
}

/** Outlines and labels the boxes over an image of `width × height` pixels. */
export function drawBoxes(
  overlay: HTMLCanvasElement,
  boxes: readonly PreviewBox[],
  width: number,
  height: number,
) {
  overlay.width = width;
  overlay.height = height;
  const g = overlay.getContext("2d")!;
  g.clearRect(0, 0, width, height);
  const line = Math.max(2, Math.round(Math.min(width, height) / 256));
  g.lineWidth = line;
  g.font = `${Math.max(11, Math.round(Math.min(width, height) / 40))}px system-ui, sans-serif`;
  g.textBaseline = "top";
  for (const b of boxes) {
    const x = (b.xMin / BBOX_SCALE) * width, y = (b.yMin / BBOX_SCALE) * height;
    const w = ((b.xMax - b.xMin) / BBOX_SCALE) * width;
    const h = ((b.yMax - b.yMin) / BBOX_SCALE) * height;
    const colour = b.colour ?? "#FFD166";
    g.strokeStyle = "rgba(0,0,0,0.6)";
    g.strokeRect(x, y, w, h);
    g.setLineDash([line * 3, line * 2]);
    g.strokeStyle = colour;
    g.strokeRect(x, y, w, h);
    g.setLineDash([]);
    const pad = line + 2;
    const tw = g.measureText(b.label).width + 2 * pad;
    const th = parseInt(g.font, 10) + 2 * pad;
    g.fillStyle = "rgba(0,0,0,0.65)";
    g.fillRect(x, y, tw, th);
    g.fillStyle = "#fff";
    g.fillText(b.label, x + pad, y + pad);
  }
}
