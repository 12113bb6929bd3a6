/** View model of the model view's layer table: columns, formatted cells and the window of rows to render. Pure. */
import type { LayerRow } from '../src/shared/protocol';
import { formatCount, formatShape } from './format';
import { visibleWindow } from './virtual-rows';

/** Row height in pixels (CSS `.row` uses the same). */
export const MODEL_ROW_HEIGHT = 26;

/** Column headers and their CSS classes (widths live in media/webview.css). */
export const MODEL_COLUMNS: ReadonlyArray<{ label: string; cls: string }> = [
  { label: 'node', cls: 'idx' }, { label: 'layer', cls: 'name' }, { label: 'op', cls: 'op' }, { label: 'kind', cls: 'kind' },
  { label: 'params', cls: 'params' }, { label: 'MACs', cls: 'macs' }, { label: 'weight', cls: 'shape' }, { label: 'channel spread', cls: 'spread' },
];

/** The text of each column for one layer (the first is its graph node index, as in the report and the graph). */
export function modelLayerCells(l: LayerRow, _i: number): string[] {
  return [String(l.nodeIndex), l.name, l.opType, l.kind, formatCount(l.params), formatCount(l.macs), formatShape(l.weightShape),
    l.channelRangeSpread !== undefined ? `${l.channelRangeSpread.toFixed(1)}×` : '–'];
}

/** One rendered row. */
export interface ModelRowView { index: number; name: string; cells: string[]; selected: boolean }

/** The rows to put in the DOM at `scrollTop` in a viewport of `height`, and the spacer heights around them. */
export interface ModelTableView { total: number; top: number; bottom: number; rows: ModelRowView[] }

/** Only the visible window of `layers` (plus overscan) is formatted and rendered. */
export function modelTableView(layers: readonly LayerRow[], scrollTop: number, height: number, selected?: string): ModelTableView {
  const win = visibleWindow(scrollTop, height, MODEL_ROW_HEIGHT, layers.length);
  const rows: ModelRowView[] = [];
  for (let i = win.start; i < win.end; i++) rows.push({ index: i, name: layers[i].name, cells: modelLayerCells(layers[i], i), selected: layers[i].name === selected });
  return { total: layers.length, top: win.top, bottom: win.bottom, rows };
}

/** Sort and filter of the model view's table: a column index (MODEL_COLUMNS), direction and a text filter. */
export interface ModelQuery { column: number; descending: boolean; filter: string }

/** The layers the model view shows: filtered on name, op and kind (words AND together), sorted by a column. */
export function queryModelLayers(layers: readonly LayerRow[], q: ModelQuery): LayerRow[] {
  const words = q.filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const rows = words.length ? layers.filter((l) => words.every((w) => `${l.name} ${l.opType} ${l.kind}`.toLowerCase().includes(w))) : layers.slice();
  const key = (l: LayerRow): number | string | undefined => [l.nodeIndex, l.name.toLowerCase(), l.opType, l.kind, l.params, l.macs, l.weightShape ? l.weightShape.reduce((a, b) => a * b, 1) : undefined, l.channelRangeSpread][q.column];
  const dir = q.descending ? -1 : 1;
  return rows.map((l) => ({ l, k: key(l) })).sort((a, b) => {
    if (a.k === undefined || b.k === undefined) return a.k === b.k ? a.l.nodeIndex - b.l.nodeIndex : a.k === undefined ? 1 : -1;
    return a.k === b.k ? a.l.nodeIndex - b.l.nodeIndex : (a.k < b.k ? -1 : 1) * dir;
  }).map((x) => x.l);
}
