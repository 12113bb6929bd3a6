/** The graph view: layered drawing of the model, scopes collapsed/expanded by click, metric colouring, search, zoom, keyboard. */
import type { ModelGraph } from '../src/shared/protocol';
import type { AnalysisReport, LayerReport } from '../src/shared/report';
import type { ToWebviewMessage, WebviewBoot } from '../src/shared/webview-messages';
import { button, h, onMessage, replace, s, send, vscode } from './dom';
import { formatDb, formatShape } from './format';
import { layerClass, legend, metricChoices, worstClass, type GraphMetric } from './graph-metrics';
import { initialExpansion, ScopeIndex, searchNodes, visibleGraph, type GraphItem } from './graph-model';
import { layoutGraph, type GraphLayout } from './graph-layout';

/** Most items drawn at once: beyond it a click asks to open a smaller scope (the layout would be slow and unreadable). */
const MAX_ITEMS = 400;

interface GraphUi { metric?: string; expanded?: string[]; selected?: string }

/** Mounts the graph view into `root`. */
export function mountGraph(root: HTMLElement, b: WebviewBoot): void {
  const saved = (vscode().getState()?.ui ?? b.ui ?? {}) as GraphUi;
  let graph: ModelGraph | undefined;
  let index: ScopeIndex | undefined;
  let report: AnalysisReport | undefined;
  let kept = new Set<string>();
  let expanded = new Set<string>(saved.expanded ?? []);
  let metric: GraphMetric = saved.metric ?? '';
  let selectedNode: number | undefined;
  let selectedName = saved.selected;
  let visible: ReturnType<typeof visibleGraph> | undefined;
  let layout: GraphLayout | undefined;
  let view = { x: 0, y: 0, k: 1 };
  let matches: number[] = [];
  let matchAt = -1;
  let message = '';

  const persist = () => vscode().setState({ kind: 'graph', model: b.model, ui: { metric, expanded: [...expanded], selected: selectedName } satisfies GraphUi });
  const layerByName = () => new Map((report?.layers ?? []).map((l) => [l.name, l]));

  const viewport = s('g', { class: 'viewport' });
  const svg = s('svg', { class: 'graph-svg', role: 'img', 'aria-label': `Graph of ${b.modelName}` },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }))),
    viewport) as SVGSVGElement;
  const canvas = h('div', { class: 'graph-canvas', tabindex: 0, role: 'application', 'aria-label': 'Model graph: arrows move between nodes, Enter opens a group or selects a layer, Backspace closes the scope, + and − zoom, F fits', 'aria-describedby': 'graph-status' }, svg);
  const status = h('p', { id: 'graph-status', class: 'graph-status', role: 'status', 'aria-live': 'polite' });
  const info = h('aside', { class: 'graph-info card', 'aria-label': 'Selected node' });
  const legendEl = h('div', { class: 'legend', 'aria-label': 'Colour legend' });
  const metricSel = h('select', { class: 'metric-select', 'aria-label': 'Colour nodes by', onchange: () => { metric = metricSel.value; persist(); paint(); renderLegend(); } }) as HTMLSelectElement;
  const search = h('vscode-textfield', { placeholder: 'Search nodes by name or op type (Enter: next match)', 'aria-label': 'Search nodes', class: 'graph-search' }) as HTMLElement & { value: string };
  const matchCount = h('span', { class: 'count', 'aria-live': 'polite' });
  search.addEventListener('input', () => { matches = index ? searchNodes(index, search.value) : []; matchAt = -1; matchCount.textContent = search.value.trim() ? `${matches.length} match${matches.length === 1 ? '' : 'es'}` : ''; });
  search.addEventListener('keydown', (e) => {
    if ((e as KeyboardEvent).key !== 'Enter' || !matches.length) return;
    e.preventDefault();
    matchAt = (matchAt + 1) % matches.length;
    matchCount.textContent = `${matchAt + 1} of ${matches.length}`;
    selectNode(matches[matchAt], true, true);
  });

  replace(root, h('p', { class: 'hint loading' }, h('span', { class: 'spinner', role: 'progressbar', 'aria-label': 'working' }), ` Reading the graph of ${b.modelName}…`));

  function mountUi(): void {
    replace(root,
      h('header', { class: 'toolbar' }, h('h1', {}, `Graph · ${b.modelName}`),
        h('div', { class: 'actions' },
          button('Fit', fit, { id: 'graph-fit', secondary: true, title: 'Fit the drawing to the window (F)' }),
          button('+', () => zoom(1.25), { id: 'graph-zoom-in', secondary: true, title: 'Zoom in (+)', ariaLabel: 'Zoom in' }),
          button('−', () => zoom(0.8), { id: 'graph-zoom-out', secondary: true, title: 'Zoom out (−)', ariaLabel: 'Zoom out' }),
          button('Collapse All', () => { expanded = initialExpansion(index!); persist(); relayout(); fit(); }, { id: 'graph-collapse', secondary: true }),
          button('Open Report', () => send({ type: 'openReport', layer: selectedName }), { id: 'graph-open-report', secondary: true }))),
      h('div', { class: 'table-tools graph-tools' }, search, matchCount, h('label', { class: 'meta' }, 'colour by ', metricSel), legendEl),
      status,
      h('div', { class: 'graph-split' }, canvas, info));
    canvas.addEventListener('keydown', onKey);
    installPanZoom();
  }

  function itemTexts(it: GraphItem): string[] {
    const g = graph!;
    if (it.kind === 'group') return [`▸ ${it.label}`, `${it.members.length} nodes`];
    const n = g.nodes[it.members[0]];
    return [it.label, n.index >= 0 ? `${n.opType} · #${n.index}` : n.opType];
  }

  function relayout(): void {
    if (!index) return;
    visible = visibleGraph(index, expanded);
    try {
      layout = layoutGraph(visible.items, visible.edges, itemTexts);
      message = '';
    } catch (e) {
      layout = undefined;
      message = `The layout failed (${e instanceof Error ? e.message : String(e)}): close some scopes.`;
    }
    draw();
  }

  function draw(): void {
    if (!layout || !visible) { replace(viewport); setStatus(); return; }
    const edgesG = s('g', { class: 'edges' });
    for (const e of layout.edges) {
      if (e.points.length < 2) continue;
      edgesG.append(s('path', { class: 'gedge', d: e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '), 'marker-end': 'url(#arrow)' }));
      if (e.label && e.lx !== undefined && e.ly !== undefined) edgesG.append(s('text', { class: 'edge-label', x: e.lx, y: e.ly + 4 }, e.label));
    }
    const nodesG = s('g', { class: 'nodes' });
    for (const it of visible.items) {
      const p = layout.items.get(it.id)!;
      const [t1, t2] = itemTexts(it);
      const x = p.x - p.w / 2, y = p.y - p.h / 2;
      const layerName = it.kind === 'node' ? graph!.nodes[it.members[0]].name : undefined;
      const node = s('g', {
        class: `gnode ${it.kind}`, 'data-id': it.id, 'data-name': layerName ?? it.scope, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
        onclick: () => onItemClick(it),
      },
      s('title', {}, it.kind === 'group' ? `${it.scope}: ${it.members.length} nodes — click to open` : `${layerName} (${t2})`),
      s('rect', { class: 'box', width: p.w, height: p.h, rx: 4 }),
      s('rect', { class: 'stripe', width: 6, height: p.h, rx: 2 }),
      s('text', { class: 'l1', x: 12, y: 15 }, t1.length > 34 ? `${t1.slice(0, 33)}…` : t1),
      s('text', { class: 'l2', x: 12, y: 30 }, t2));
      nodesG.append(node);
    }
    replace(viewport, edgesG, nodesG);
    paint();
    applyView();
    setStatus();
  }

  /** Colours every drawn item by the metric and marks the selection. */
  function paint(): void {
    if (!visible || !graph) return;
    const byName = layerByName();
    const remedies = new Map((report?.recommendation?.remedies ?? []).map((r) => [r.layer, r.remedy]));
    const cls = (i: number) => {
      const l = byName.get(graph!.nodes[i].name);
      if (!metric) return l ? 'layer' : 'none';
      return layerClass(metric, l, { kept, remedies });
    };
    const selItem = selectedNode !== undefined ? visible.itemOfNode.get(selectedNode) : undefined;
    for (const el of Array.from(viewport.querySelectorAll<SVGGElement>('g.gnode'))) {
      const it = visible.items.find((x) => x.id === el.dataset.id);
      if (!it) continue;
      const c = worstClass(it.members.map(cls));
      el.setAttribute('class', `gnode ${it.kind} m-${c}${it.id === selItem ? ' selected' : ''}${it.kind === 'node' && byName.has(graph.nodes[it.members[0]].name) ? ' is-layer' : ''}`);
    }
  }

  function renderLegend(): void {
    const choices = metricChoices(report);
    if (metric && !choices.some((c) => c.id === metric)) metric = '';
    if (!metric && choices.length) metric = choices[0].id;
    replace(metricSel, h('option', { value: '' }, report ? 'layer or not' : 'layer or not (analyze for metrics)'), ...choices.map((c) => h('option', { value: c.id }, c.label)));
    metricSel.value = metric;
    replace(legendEl, ...legend(metric, report).map((e) => h('span', { class: 'legend-item' }, h('span', { class: `swatch m-${e.cls}`, 'aria-hidden': 'true' }), e.text)));
  }

  function setStatus(): void {
    const n = visible?.items.length ?? 0;
    const sel = selectedNode !== undefined && graph ? graph.nodes[selectedNode] : undefined;
    status.textContent = message || `${graph?.nodes.length ?? 0} nodes, ${n} drawn (scopes closed: click a group to open it)${sel ? ` · selected ${sel.name} (${sel.opType}${sel.index >= 0 ? `, node #${sel.index}` : ''})` : ''}`;
    renderInfo();
  }

  function renderInfo(): void {
    if (!graph || selectedNode === undefined) { replace(info, h('p', { class: 'hint' }, 'Select a node to see its tensors and, for a layer, its sensitivity.')); return; }
    const n = graph.nodes[selectedNode];
    const l = layerByName().get(n.name);
    const ins = graph.edges.filter((e) => e.to === selectedNode);
    const outs = graph.edges.filter((e) => e.from === selectedNode);
    const scopes = index!.scopesOf(selectedNode);
    replace(info,
      h('h2', { class: 'detail-title' }, n.name),
      h('p', { class: 'meta' }, `${n.opType}${n.index >= 0 ? ` · node #${n.index}` : ''}${l ? ` · quantizable (${l.kind})` : ''}`),
      scopes.length ? h('p', { class: 'scopes' }, 'scope: ', ...scopes.flatMap((sc, i) => [i ? ' / ' : '', h('a', { href: '#', title: `Close ${sc}`, onclick: (e) => { e.preventDefault(); closeScope(sc); } }, sc.slice(sc.lastIndexOf('/') + 1))])) : null,
      ins.length ? h('p', {}, h('strong', {}, 'inputs: '), ins.map((e) => `${e.tensor} ${formatShape(e.shape)}`).join(', ')) : null,
      outs.length ? h('p', {}, h('strong', {}, 'outputs: '), [...new Map(outs.map((e) => [e.tensor, e])).values()].map((e) => `${e.tensor} ${formatShape(e.shape)}`).join(', ')) : null,
      l ? layerFacts(l) : null,
      l ? button('Show in Report', () => send({ type: 'openReport', layer: n.name }), { secondary: true }) : null);
  }

  function layerFacts(l: LayerReport): HTMLElement {
    const ids = report?.formats.map((f) => f.id) ?? Object.keys(l.formats);
    return h('table', { class: 'metrics' }, h('thead', {}, h('tr', {}, h('th', {}, 'format'), h('th', {}, 'isolated SQNR'))),
      h('tbody', {}, ...ids.map((id) => h('tr', {}, h('th', { scope: 'row' }, id), h('td', {}, formatDb(l.formats[id]?.isolated?.sqnrDb))))),
      h('caption', { class: 'meta' }, `rank ${l.rank > 0 ? `${l.rank} by ${report?.primaryFormat ?? 'the primary format'}` : '–'}${kept.has(l.name) ? ` · kept in ${report?.recommendation?.higher.id ?? 'higher precision'}` : ''}${remedyText(l.name)}`));
  }

  function remedyText(layer: string): string {
    const r = report?.recommendation?.remedies?.find((x) => x.layer === layer);
    if (!r) return '';
    return r.remedy === 'repair' ? ` · remedy: repaired with ${r.algorithm ?? 'an algorithm'}` : r.remedy === 'keep' ? ' · remedy: keep' : ' · remedy: none (base)';
  }

  function onItemClick(it: GraphItem): void {
    if (it.kind === 'group') { openScope(it.scope); return; }
    selectNode(it.members[0], true, false);
    canvas.focus();
  }

  function openScope(scope: string): void {
    const next = new Set(expanded).add(scope);
    if (index && visibleGraph(index, next).items.length > MAX_ITEMS) {
      message = `Opening ${scope} would draw more than ${MAX_ITEMS} items: search for a node inside it instead, or close other scopes.`;
      setStatus();
      return;
    }
    expanded = next;
    persist();
    relayout();
    const first = index!.visible.find((i) => index!.itemOf(i, expanded).startsWith('n:') && index!.scopesOf(i).includes(scope));
    if (first !== undefined) centreOn(visible!.itemOfNode.get(first)!);
  }

  function closeScope(scope: string): void {
    expanded = new Set([...expanded].filter((x) => x !== scope && !x.startsWith(`${scope}/`)));
    persist();
    relayout();
    const id = `g:${scope}`;
    if (layout?.items.has(id)) centreOn(id);
  }

  /** Selects a node: opens its scopes, centres it, and (for a layer, when `announce`) tells the other views. */
  function selectNode(node: number, announce: boolean, centre: boolean): void {
    if (!index || !graph) return;
    const needed = index.scopesOf(node).filter((sc) => !index!.isOpen(sc, expanded));
    if (needed.length) {
      const next = new Set([...expanded, ...needed]);
      if (visibleGraph(index, next).items.length > MAX_ITEMS) {
        // keep the drawing small: close everything else, open the path to the node
        expanded = new Set([...initialExpansion(index), ...index.scopesOf(node)]);
      } else expanded = next;
      relayout();
      centre = true;
    }
    selectedNode = node;
    selectedName = graph.nodes[node].name;
    persist();
    paint();
    setStatus();
    if (centre) centreOn(visible!.itemOfNode.get(node)!);
    if (announce && layerByName().has(selectedName)) send({ type: 'selectLayer', layer: selectedName });
  }

  function selectByName(name: string): void {
    if (!graph) { selectedName = name; return; }
    const i = graph.nodes.findIndex((n) => n.name === name);
    if (i >= 0) selectNode(i, false, true);
  }

  // ---- zoom and pan ---------------------------------------------------------------------
  function applyView(): void {
    viewport.setAttribute('transform', `translate(${view.x.toFixed(1)},${view.y.toFixed(1)}) scale(${view.k.toFixed(4)})`);
  }
  function size(): { w: number; h: number } { return { w: canvas.clientWidth || 800, h: canvas.clientHeight || 600 }; }
  function fit(): void {
    if (!layout) return;
    const { w, h: hh } = size();
    const k = Math.min(1.2, Math.max(0.05, Math.min(w / (layout.width || 1), hh / (layout.height || 1))));
    view = { k, x: (w - layout.width * k) / 2, y: Math.max(0, (hh - layout.height * k) / 2) };
    applyView();
  }
  function zoom(f: number, cx = size().w / 2, cy = size().h / 2): void {
    const k = Math.min(4, Math.max(0.03, view.k * f));
    view = { k, x: cx - ((cx - view.x) * k) / view.k, y: cy - ((cy - view.y) * k) / view.k };
    applyView();
  }
  function centreOn(id: string): void {
    const p = layout?.items.get(id);
    if (!p) return;
    const { w, h: hh } = size();
    if (view.k < 0.6) view.k = 1;
    view = { k: view.k, x: w / 2 - p.x * view.k, y: hh / 2 - p.y * view.k };
    applyView();
  }
  function installPanZoom(): void {
    let drag: { x: number; y: number; vx: number; vy: number } | undefined;
    canvas.addEventListener('wheel', (e) => { e.preventDefault(); const r = canvas.getBoundingClientRect(); zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top); }, { passive: false });
    canvas.addEventListener('pointerdown', (e) => { if ((e.target as Element).closest('g.gnode')) return; drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y }; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener('pointermove', (e) => { if (!drag) return; view = { ...view, x: drag.vx + e.clientX - drag.x, y: drag.vy + e.clientY - drag.y }; applyView(); });
    canvas.addEventListener('pointerup', () => { drag = undefined; });
  }

  // ---- keyboard ---------------------------------------------------------------------------
  function onKey(e: KeyboardEvent): void {
    if (!visible || !layout || !graph) return;
    const cur = selectedNode !== undefined ? visible.itemOfNode.get(selectedNode) : undefined;
    const move = (id: string | undefined) => {
      if (!id) return;
      const it = visible!.items.find((x) => x.id === id)!;
      selectNode(it.members[0], it.kind === 'node', true);
    };
    const pos = (id: string) => layout!.items.get(id)!;
    switch (e.key) {
      case 'ArrowDown': case 'ArrowUp': {
        e.preventDefault();
        if (!cur) { move(visible.items[0]?.id); return; }
        const next = visible.edges.filter((x) => (e.key === 'ArrowDown' ? x.from === cur : x.to === cur)).map((x) => (e.key === 'ArrowDown' ? x.to : x.from));
        next.sort((a, c) => pos(a).x - pos(c).x);
        move(next[0]);
        return;
      }
      case 'ArrowLeft': case 'ArrowRight': {
        e.preventDefault();
        if (!cur) { move(visible.items[0]?.id); return; }
        const me = pos(cur);
        const row = [...layout.items.values()].filter((p) => Math.abs(p.y - me.y) < 1).sort((a, c) => a.x - c.x);
        const i = row.findIndex((p) => p.id === cur);
        move(row[i + (e.key === 'ArrowRight' ? 1 : -1)]?.id);
        return;
      }
      case 'Enter': {
        e.preventDefault();
        const it = cur ? visible.items.find((x) => x.id === cur) : undefined;
        if (it?.kind === 'group') openScope(it.scope);
        else if (selectedName && layerByName().has(selectedName)) send({ type: 'selectLayer', layer: selectedName });
        return;
      }
      case 'Backspace': {
        e.preventDefault();
        if (selectedNode === undefined) return;
        const open = index!.scopesOf(selectedNode).filter((sc) => expanded.has(sc));
        if (open.length) closeScope(open[open.length - 1]);
        return;
      }
      case '+': case '=': e.preventDefault(); zoom(1.25); return;
      case '-': case '_': e.preventDefault(); zoom(0.8); return;
      case 'f': case 'F': e.preventDefault(); fit(); return;
      case '/': e.preventDefault(); search.focus(); return;
      default: return;
    }
  }

  onMessage((m: ToWebviewMessage) => {
    switch (m.type) {
      case 'graph':
        graph = m.graph;
        index = new ScopeIndex(graph);
        if (!saved.expanded) expanded = initialExpansion(index);
        mountUi();
        renderLegend();
        relayout();
        fit();
        if (selectedName) selectByName(selectedName);
        break;
      case 'modelError':
        replace(root, h('h1', {}, b.modelName), h('div', { class: 'error-box', role: 'alert' }, h('h2', {}, 'This model cannot be drawn'), h('p', { class: 'error-message' }, m.message), h('p', { class: 'meta' }, m.file)));
        break;
      case 'report':
        report = m.report;
        if (!kept.size) kept = new Set(report.recommendation?.keep ?? []);
        if (graph) { renderLegend(); paint(); renderInfo(); }
        break;
      case 'kept': kept = new Set(m.keep); paint(); renderInfo(); break;
      case 'revealLayer': selectByName(m.layer); break;
      default: break;
    }
  });
  send({ type: 'ready' });
}
