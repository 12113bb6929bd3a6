/** View model of the model view's layer table: columns, formatted cells and the window of rows to render. Pure. */
import type { LayerRow } from '../src/shared/protocol';
import { formatCount, formatShape } from './format';
import { visibleWindow } from './virtual-rows';

/** Row height in pixels (CSS `.row` uses the same). */
export const MODEL_ROW_HEIGHT = 26;

/** Column headers and their CSS classes (widths live in media/webview.css). */
export const MODEL_COLUMNS: ReadonlyArray<{ label: string; cls: string }> = [
  { label: '#', cls: 'idx' }, { label: 'layer', cls: 'name' }, { label: 'op', cls: 'op' }, { label: 'kind', cls: 'kind' },
  { label: 'params', cls: 'params' }, { label: 'MACs', cls: 'macs' }, { label: 'weight', cls: 'shape' }, { label: 'channel spread', cls: 'spread' },
];

/** The text of each column for one layer (index `i` in graph order). */
export function modelLayerCells(l: LayerRow, i: number): string[] {
  return [String(i + 1), l.name, l.opType, l.kind, formatCount(l.params), formatCount(l.macs), formatShape(l.weightShape),
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
