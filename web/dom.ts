/**
 * The one DOM helper the pages share (index.html's app.ts, bench.html's
 * bench.ts): an element by id, typed, or an error naming the missing id.
 */
export const el = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
};
