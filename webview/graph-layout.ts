/** Layered layout of the drawn items with dagre (@dagrejs/dagre, synchronous, no worker: fits the webview CSP). Pure. */
import dagre from '@dagrejs/dagre';
import { edgeLabel, type GraphItem, type ItemEdge } from './graph-model';

/** A placed item (centre x/y, size). */
export interface PlacedItem { id: string; x: number; y: number; w: number; h: number }
/** A routed edge: its polyline and label position. */
export interface PlacedEdge { from: string; to: string; points: { x: number; y: number }[]; label: string; lx?: number; ly?: number }
/** The whole drawing. */
export interface GraphLayout { items: Map<string, PlacedItem>; edges: PlacedEdge[]; width: number; height: number }

/** Node box height and the width per label character (CSS font of `.gnode text` is ~12px). */
export const ITEM_HEIGHT = 38;
const CHAR_W = 7;

/** Box width for an item's texts. */
export function itemWidth(texts: readonly string[]): number {
  const chars = Math.max(...texts.map((t) => t.length), 6);
  return Math.min(260, Math.max(96, chars * CHAR_W + 22));
}

/** Lays out items top to bottom; `texts` gives each item's two lines (for its width). */
export function layoutGraph(items: readonly GraphItem[], edges: readonly ItemEdge[], texts: (item: GraphItem) => string[]): GraphLayout {
  const g = new dagre.graphlib.Graph({ multigraph: false, compound: false });
  g.setGraph({ rankdir: 'TB', nodesep: 18, ranksep: 34, edgesep: 8, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const it of items) g.setNode(it.id, { width: itemWidth(texts(it)), height: ITEM_HEIGHT });
  for (const e of edges) {
    const label = edgeLabel(e);
    g.setEdge(e.from, e.to, label ? { label, width: label.length * 6 + 4, height: 12, labelpos: 'c' } : {});
  }
  dagre.layout(g);
  const placed = new Map<string, PlacedItem>();
  for (const it of items) {
    const n = g.node(it.id) as { x: number; y: number; width: number; height: number };
    placed.set(it.id, { id: it.id, x: n.x, y: n.y, w: n.width, h: n.height });
  }
  const out: PlacedEdge[] = edges.map((e) => {
    const d = g.edge(e.from, e.to) as { points?: { x: number; y: number }[]; x?: number; y?: number; label?: string };
    return { from: e.from, to: e.to, points: d.points ?? [], label: d.label ?? '', lx: d.x, ly: d.y };
  });
  const gl = g.graph() as { width?: number; height?: number };
  return { items: placed, edges: out, width: gl.width ?? 0, height: gl.height ?? 0 };
}
