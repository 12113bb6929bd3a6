/** Splitting a run's fetches into several runs of the same feeds, so that ONNX Runtime's outputs and their JavaScript copies stay within a size. */

/**
 * `names` in consecutive groups of at most `maxBytes` each (`bytesOf` a tensor's size, unknown counted as 0), after
 * `head` (kept whole at the start of the first group); a tensor larger than `maxBytes` is a group of its own.
 */
export function groupBySize(names: readonly string[], bytesOf: (t: string) => number, maxBytes: number, head: readonly string[] = []): string[][] {
  const groups: string[][] = [[...head]];
  let bytes = head.reduce((s, t) => s + bytesOf(t), 0);
  for (const t of names) {
    const n = bytesOf(t);
    if (bytes + n > maxBytes && groups[groups.length - 1].length) { groups.push([]); bytes = 0; }
    groups[groups.length - 1].push(t);
    bytes += n;
  }
  return groups.filter((g) => g.length);
}
