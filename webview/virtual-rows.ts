/** Geometry of a virtualised list (only visible rows are in the DOM) and keyboard navigation. Pure. */

/** The slice of rows to render and the spacer heights around it. */
export interface RowWindow { start: number; end: number; top: number; bottom: number }

/** Rows [start, end) visible at `scrollTop` in a viewport of `height`, plus `overscan` rows each side. */
export function visibleWindow(scrollTop: number, height: number, rowHeight: number, count: number, overscan = 8): RowWindow {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, top: 0, bottom: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const visible = Math.ceil(Math.max(height, rowHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(count - 1, first - overscan));
  const end = Math.min(count, first + visible + overscan);
  return { start, end, top: start * rowHeight, bottom: (count - end) * rowHeight };
}

/** The row index after a navigation key (ArrowUp/Down, PageUp/Down, Home, End), or undefined for other keys. */
export function navigate(current: number, key: string, count: number, pageRows: number): number | undefined {
  if (count <= 0) return undefined;
  const cur = current < 0 ? -1 : current;
  let next: number;
  switch (key) {
    case 'ArrowDown': next = cur + 1; break;
    case 'ArrowUp': next = cur < 0 ? 0 : cur - 1; break;
    case 'PageDown': next = cur + Math.max(1, pageRows); break;
    case 'PageUp': next = cur - Math.max(1, pageRows); break;
    case 'Home': next = 0; break;
    case 'End': next = count - 1; break;
    default: return undefined;
  }
  return Math.max(0, Math.min(count - 1, next));
}

/** The scrollTop that brings row `index` into view (unchanged when it already is). */
export function scrollToRow(index: number, scrollTop: number, height: number, rowHeight: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + height) return top + rowHeight - height;
  return scrollTop;
}
