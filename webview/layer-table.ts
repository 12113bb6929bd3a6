/** The report's layer table: per-format dB bars, sortable headers, filter, keyboard navigation; only visible rows are in the DOM. */
import type { FormatCandidate, LayerReport } from '../src/shared/report';
import { h, replace } from './dom';
import { formatCount } from './format';
import { barFraction, dbText, layerDb, sensitivity, type SortKey, type TableQuery } from './report-model';
import { navigate, scrollToRow, visibleWindow } from './virtual-rows';

/** Row height in pixels (CSS `.row` uses the same). */
export const ROW_HEIGHT = 26;

/** Width of one format's bar column and of the other columns together (CSS uses the same numbers). */
const BAR_COLUMN_WIDTH = 140;
const FIXED_COLUMNS_WIDTH = 50 + 64 + 220 + 84 + 76 + 112;

/** Callbacks of the table. */
export interface LayerTableEvents {
  onSelect(name: string): void;
  onToggleKeep(name: string): void;
  onSort(key: SortKey): void;
}

/** The virtualised layer table. */
export class LayerTable {
  readonly el: HTMLElement;
  private readonly header: HTMLElement;
  private readonly headerWrap: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private rows: LayerReport[] = [];
  private formats: FormatCandidate[] = [];
  private scale = 40;
  private kept: ReadonlySet<string> = new Set();
  private recommended: ReadonlySet<string> = new Set();
  private query: TableQuery = { sort: 'graph', descending: false, filter: '' };
  private selected: string | undefined;
  private frame = 0;
  /** The format the rank column ranks by (named in its header). */
  primaryFormat = '';

  constructor(private readonly events: LayerTableEvents) {
    this.header = h('div', { class: 'row header', role: 'row' });
    this.rowsEl = h('div', { class: 'rows' });
    this.spacer = h('div', { class: 'spacer' }, this.rowsEl);
    this.viewport = h('div', { class: 'table-viewport', tabindex: 0, role: 'grid', 'aria-label': 'Layers', 'aria-rowcount': 0, onscroll: () => { this.headerWrap.scrollLeft = this.viewport.scrollLeft; this.schedule(); }, onkeydown: (e) => this.onKey(e as KeyboardEvent) }, this.spacer);
    // The body scrolls both ways (the name column stays: sticky); the header follows its horizontal scroll.
    this.headerWrap = h('div', { class: 'header-wrap' }, this.header);
    this.el = h('div', { class: 'layer-table' }, this.headerWrap, this.viewport);
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  /** Sets everything the table shows and re-renders. */
  update(rows: LayerReport[], formats: FormatCandidate[], scale: number, kept: ReadonlySet<string>, recommended: ReadonlySet<string>, query: TableQuery, selected: string | undefined): void {
    this.rows = rows;
    this.formats = formats;
    this.scale = scale;
    this.kept = kept;
    this.recommended = recommended;
    this.query = query;
    this.selected = selected;
    this.viewport.setAttribute('aria-rowcount', String(rows.length));
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    const width = `${FIXED_COLUMNS_WIDTH + formats.length * BAR_COLUMN_WIDTH}px`;
    this.header.style.minWidth = width;
    this.spacer.style.minWidth = width;
    this.renderHeader();
    this.render();
  }

  /** Scrolls a layer into view (and focuses the table when asked). */
  reveal(name: string, focus = false): void {
    const i = this.rows.findIndex((r) => r.name === name);
    if (i < 0) return;
    this.viewport.scrollTop = scrollToRow(i, this.viewport.scrollTop, this.viewport.clientHeight || 400, ROW_HEIGHT);
    this.render();
    if (focus) this.viewport.focus();
  }

  /** Focuses the table for keyboard use. */
  focus(): void { this.viewport.focus(); }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  private renderHeader(): void {
    const col = (key: SortKey, label: string, cls: string) => {
      const active = this.query.sort === key;
      const arrow = active ? (this.query.descending ? ' ▼' : ' ▲') : '';
      return h('div', { class: `cell ${cls} sortable${active ? ' active' : ''}`, title: `${label}: click to sort`, role: 'columnheader', 'aria-sort': active ? (this.query.descending ? 'descending' : 'ascending') : 'none', tabindex: -1, onclick: () => this.events.onSort(key) }, label + arrow);
    };
    replace(this.header,
      h('div', { class: 'cell keep', role: 'columnheader', title: 'Keep this layer in higher precision' }, 'keep'),
      col('graph', 'node', 'idx'),
      col('name', 'layer', 'name'),
      col('op', 'op', 'op'),
      col('params', 'params', 'params'),
      ...this.formats.map((f) => col(`db:${f.id}`, `${f.id} (dB)`, 'bars')),
      col('rank', this.primaryFormat ? `rank (${this.primaryFormat})` : 'rank', 'rank'),
    );
  }

  private render(): void {
    const height = this.viewport.clientHeight || 400;
    const win = visibleWindow(this.viewport.scrollTop, height, ROW_HEIGHT, this.rows.length);
    const nodes: HTMLElement[] = [];
    for (let i = win.start; i < win.end; i++) nodes.push(this.renderRow(this.rows[i], i));
    this.rowsEl.style.transform = `translateY(${win.top}px)`;
    replace(this.rowsEl, ...nodes);
  }

  private renderRow(l: LayerReport, i: number): HTMLElement {
    const selected = l.name === this.selected;
    const kept = this.kept.has(l.name);
    const rec = this.recommended.has(l.name);
    const keep = h('input', { type: 'checkbox', class: 'keep-toggle', 'aria-label': `Keep ${l.name} in higher precision`, tabindex: -1, onclick: (e) => { e.stopPropagation(); this.events.onToggleKeep(l.name); } });
    (keep as HTMLInputElement).checked = kept;
    return h('div', {
      class: `row${selected ? ' selected' : ''}${kept ? ' kept' : ''}`, role: 'row', 'aria-rowindex': i + 1, 'aria-selected': selected ? 'true' : 'false', 'data-layer': l.name,
      onclick: () => { this.events.onSelect(l.name); this.viewport.focus(); },
    },
      h('div', { class: 'cell keep', role: 'gridcell', title: rec ? 'recommended to keep in higher precision' : '' }, keep, rec ? h('span', { class: 'rec-mark', 'aria-label': 'recommended' }, '★') : null),
      h('div', { class: 'cell idx', role: 'gridcell' }, l.nodeIndex),
      h('div', { class: 'cell name', role: 'gridcell', title: l.name }, l.name),
      h('div', { class: 'cell op', role: 'gridcell', title: l.kind }, l.opType),
      h('div', { class: 'cell params', role: 'gridcell' }, formatCount(l.params)),
      ...this.formats.map((f) => {
        const v = layerDb(l.formats[f.id]);
        const db = v?.db;
        const bar = h('div', { class: `bar sens-${sensitivity(db)}` });
        bar.style.width = `${(barFraction(db, this.scale) * 100).toFixed(1)}%`;
        const label = h('span', { class: v?.source === 'estimate' ? 'bar-label estimated' : 'bar-label' }, dbText(v));
        if (v?.source === 'estimate') { label.style.fontStyle = 'italic'; bar.style.opacity = '0.6'; }
        return h('div', { class: 'cell bars', role: 'gridcell', title: `${f.id}: ${dbText(v)}${v?.source === 'estimate' ? ' — first-order estimate, not measured' : ''}` }, h('div', { class: 'bar-track' }, bar), label);
      }),
      h('div', { class: 'cell rank', role: 'gridcell' }, l.rank > 0 ? l.rank : '–'),
    );
  }

  private onKey(e: KeyboardEvent): void {
    const cur = this.rows.findIndex((r) => r.name === this.selected);
    if ((e.key === ' ' || e.key === 'Enter') && cur >= 0) {
      e.preventDefault();
      if (e.key === ' ') this.events.onToggleKeep(this.rows[cur].name);
      else this.events.onSelect(this.rows[cur].name);
      return;
    }
    const next = navigate(cur, e.key, this.rows.length, Math.floor((this.viewport.clientHeight || 400) / ROW_HEIGHT) - 1);
    if (next === undefined) return;
    e.preventDefault();
    this.events.onSelect(this.rows[next].name);
    this.reveal(this.rows[next].name);
  }
}
