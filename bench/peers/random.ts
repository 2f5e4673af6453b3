/** Deterministic filler data for the peer benchmark (contents do not affect speed). */
export function filler(n: number, scale = 1): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = ((s >>> 8) / 0x1000000 - 0.5) * scale;
  }
  return a;
}

export function fillerBytes(n: number): Uint8Array<ArrayBuffer> {
  const a = new Uint8Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s >>> 24;
  }
  return a;
}
