/** The model view's layer table: only visible rows are in the DOM (virtual-rows), arrows/Page/Home/End move, Enter opens the report. */
import type { LayerRow } from '../src/shared/protocol';
import { h, replace } from './dom';
import { MODEL_COLUMNS, MODEL_ROW_HEIGHT, modelTableView, queryModelLayers, type ModelQuery } from './model-layer-rows';
import { navigate, scrollToRow } from './virtual-rows';

/** The columns' widths together (node 64, layer ≥ 220, op 84, kind 120, params 76, MACs 76, weight 120, spread 140; CSS uses the same). */
const MODEL_TABLE_WIDTH = 64 + 220 + 84 + 120 + 76 + 76 + 120 + 140;

/** The virtualised layer table of the model view. */
export class ModelLayerTable {
  readonly el: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private selected: string | undefined;
  private frame = 0;
  private layers: LayerRow[];
  private query: ModelQuery = { column: 0, descending: false, filter: '' };
  private readonly header: HTMLElement;
  /** The filter box (placed by the view above the table). */
  readonly filterEl: HTMLInputElement;

  constructor(private readonly all: readonly LayerRow[], private readonly onOpen: (name: string) => void) {
    this.layers = all.slice();
    this.header = h('div', { class: 'row header', role: 'row' });
    this.renderHeader();
    const header = this.header;
    this.filterEl = h('input', { type: 'search', class: 'target-value model-filter', placeholder: 'Filter layers: name, op, kind', 'aria-label': 'Filter layers', oninput: () => { this.query = { ...this.query, filter: this.filterEl.value }; this.requery(); } }) as HTMLInputElement;
    this.rowsEl = h('div', { class: 'rows' });
    this.spacer = h('div', { class: 'spacer' }, this.rowsEl);
    this.spacer.style.height = `${all.length * MODEL_ROW_HEIGHT}px`;
    // The body scrolls both ways (node and name columns stay: sticky); the header follows its horizontal scroll.
    const headerWrap = h('div', { class: 'header-wrap' }, header);
    this.viewport = h('div', { class: 'table-viewport', tabindex: 0, role: 'grid', 'aria-label': 'Quantizable layers', 'aria-rowcount': all.length, onscroll: () => { headerWrap.scrollLeft = this.viewport.scrollLeft; this.schedule(); }, onkeydown: (e) => this.onKey(e as KeyboardEvent) }, this.spacer);
    header.style.minWidth = this.spacer.style.minWidth = `${MODEL_TABLE_WIDTH}px`;
    this.el = h('div', { class: 'layer-table model-layers' }, headerWrap, this.viewport);
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
    this.render();
  }

  private renderHeader(): void {
    replace(this.header, ...MODEL_COLUMNS.map((c, i) => {
      const active = this.query.column === i;
      return h('div', { class: `cell ${c.cls} sortable${active ? ' active' : ''}`, role: 'columnheader', title: `${c.label}: click to sort`, 'aria-sort': active ? (this.query.descending ? 'descending' : 'ascending') : 'none',
        onclick: () => { this.query = { ...this.query, column: i, descending: active ? !this.query.descending : false }; this.requery(); } }, `${c.label}${active ? (this.query.descending ? ' ▼' : ' ▲') : ''}`);
    }));
  }

  private requery(): void {
    this.layers = queryModelLayers(this.all, this.query);
    this.spacer.style.height = `${this.layers.length * MODEL_ROW_HEIGHT}px`;
    this.viewport.setAttribute('aria-rowcount', String(this.layers.length));
    this.renderHeader();
    this.render();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  private render(): void {
    const view = modelTableView(this.layers, this.viewport.scrollTop, this.viewport.clientHeight || 400, this.selected);
    this.rowsEl.style.transform = `translateY(${view.top}px)`;
    replace(this.rowsEl, ...view.rows.map((r) => h('div', {
      class: `row${r.selected ? ' selected' : ''}`, role: 'row', 'aria-rowindex': r.index + 1, 'aria-selected': r.selected ? 'true' : 'false', 'data-layer': r.name,
      onclick: () => { this.select(r.name); this.onOpen(r.name); },
    }, ...r.cells.map((c, j) => h('div', { class: `cell ${MODEL_COLUMNS[j].cls}`, role: 'gridcell', title: j === 1 ? c : undefined }, c)))));
  }

  private select(name: string): void {
    this.selected = name;
    const i = this.layers.findIndex((l) => l.name === name);
    if (i >= 0) this.viewport.scrollTop = scrollToRow(i, this.viewport.scrollTop, this.viewport.clientHeight || 400, MODEL_ROW_HEIGHT);
    this.render();
  }

  private onKey(e: KeyboardEvent): void {
    const cur = this.layers.findIndex((l) => l.name === this.selected);
    if (e.key === 'Enter' && cur >= 0) { e.preventDefault(); this.onOpen(this.layers[cur].name); return; }
    const next = navigate(cur, e.key, this.layers.length, Math.floor((this.viewport.clientHeight || 400) / MODEL_ROW_HEIGHT) - 1);
    if (next === undefined) return;
    e.preventDefault();
    this.select(this.layers[next].name);
  }
}
