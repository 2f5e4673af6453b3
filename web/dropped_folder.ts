/// <reference lib="dom" />
/**
 * A checkpoint folder dropped on the page: the drop's directory entries
 * walked into files by relative path (the same map `filesByRelativePath`
 * gives for a picked folder, top folder stripped). Nothing is read: `File`s
 * are handles, sliced later by the worker.
 */

/** Files under the dropped folder(s), by path inside the (single) dropped folder. */
export async function droppedFiles(items: DataTransferItemList): Promise<Map<string, File>> {
  const entries = Array.from(items)
    .map((i) => i.webkitGetAsEntry())
    .filter((e): e is FileSystemEntry => e !== null);
  const out = new Map<string, File>();
  for (const e of entries) await walk(e, e.isDirectory ? "" : e.name, out);
  return out;
}

async function walk(entry: FileSystemEntry, path: string, out: Map<string, File>): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((ok, fail) =>
      (entry as FileSystemFileEntry).file(ok, fail)
    );
    out.set(path, file);
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries answers in batches until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) break;
    for (const child of batch) {
      await walk(child, path === "" ? child.name : `${path}/${child.name}`, out);
    }
  }
}
