/** The model view's layer table: only visible rows are in the DOM (virtual-rows), arrows/Page/Home/End move, Enter opens the report. */
import type { LayerRow } from '../src/shared/protocol';
import { h, replace } from './dom';
import { MODEL_COLUMNS, MODEL_ROW_HEIGHT, modelTableView } from './model-layer-rows';
import { navigate, scrollToRow } from './virtual-rows';

/** The virtualised layer table of the model view. */
export class ModelLayerTable {
  readonly el: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private selected: string | undefined;
  private frame = 0;

  constructor(private readonly layers: readonly LayerRow[], private readonly onOpen: (name: string) => void) {
    const header = h('div', { class: 'row header', role: 'row' }, ...MODEL_COLUMNS.map((c) => h('div', { class: `cell ${c.cls}`, role: 'columnheader' }, c.label)));
    this.rowsEl = h('div', { class: 'rows' });
    this.spacer = h('div', { class: 'spacer' }, this.rowsEl);
    this.spacer.style.height = `${layers.length * MODEL_ROW_HEIGHT}px`;
    this.viewport = h('div', { class: 'table-viewport', tabindex: 0, role: 'grid', 'aria-label': 'Quantizable layers', 'aria-rowcount': layers.length, onscroll: () => this.schedule(), onkeydown: (e) => this.onKey(e as KeyboardEvent) }, this.spacer);
    this.el = h('div', { class: 'layer-table model-layers' }, h('div', { class: 'table-inner' }, header, this.viewport));
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
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
