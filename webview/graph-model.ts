/** The graph view's model: name scopes, which scopes are collapsed, the items and edges to draw, search. Pure. */
import type { ModelGraph, ModelGraphNode } from '../src/shared/protocol';

/** A drawable item: one node, or a collapsed name scope standing for all the nodes under it. */
export interface GraphItem {
  /** `n:<node id>` or `g:<scope>`. */
  id: string;
  kind: 'node' | 'group';
  /** Node ids (indices into ModelGraph.nodes) this item stands for. */
  members: number[];
  /** Scope path (`/features/features.7`) of a group; the enclosing scope of a node. */
  scope: string;
  label: string;
}

/** An edge between two drawn items, with the first tensor's name and shape and how many tensors it bundles. */
export interface ItemEdge { from: string; to: string; tensor: string; shape?: (number | string)[]; count: number }

/** The scope segments of a node name: `/features/features.7/conv/Conv` -> ['features', 'features.7', 'conv']. */
export function scopeSegments(name: string): string[] {
  if (!name.includes('/')) return [];
  const parts = name.split('/').filter(Boolean);
  return parts.slice(0, -1);
}

/** The scope path of the first `k` segments (`/a/b`). */
function scopeKey(segs: readonly string[], k: number): string {
  return `/${segs.slice(0, k).join('/')}`;
}

/** The scope tree of a graph with counts, used to decide what is drawn. */
export class ScopeIndex {
  /** Nodes drawn at all (constants hidden). */
  readonly visible: number[];
  /** Scope -> number of visible nodes under it. */
  readonly count = new Map<string, number>();
  /** Scope -> its direct children (sub-scopes and `n:<id>` node ids). */
  readonly children = new Map<string, Set<string>>();
  private readonly segs: string[][];

  constructor(readonly graph: ModelGraph, showConstants = false) {
    this.visible = [];
    this.segs = graph.nodes.map((n) => scopeSegments(n.name));
    graph.nodes.forEach((n, i) => {
      if (n.role === 'constant' && !showConstants) return;
      this.visible.push(i);
      const s = this.segs[i];
      for (let k = 1; k <= s.length; k++) {
        const key = scopeKey(s, k);
        this.count.set(key, (this.count.get(key) ?? 0) + 1);
        const parent = k === 1 ? '/' : scopeKey(s, k - 1);
        let set = this.children.get(parent);
        if (!set) this.children.set(parent, (set = new Set()));
        set.add(key);
      }
      const own = s.length ? scopeKey(s, s.length) : '/';
      let set = this.children.get(own);
      if (!set) this.children.set(own, (set = new Set()));
      set.add(`n:${i}`);
    });
  }

  /** The scope segments of a node. */
  segments(node: number): string[] { return this.segs[node]; }

  /** True when a scope is drawn open: asked for, or holding one node or a single child (nothing to hide). */
  isOpen(scope: string, expanded: ReadonlySet<string>): boolean {
    return expanded.has(scope) || (this.count.get(scope) ?? 0) <= 1 || (this.children.get(scope)?.size ?? 0) <= 1;
  }

  /** The item a node is drawn in: its first closed enclosing scope, or itself. */
  itemOf(node: number, expanded: ReadonlySet<string>): string {
    const s = this.segs[node];
    for (let k = 1; k <= s.length; k++) {
      const key = scopeKey(s, k);
      if (!this.isOpen(key, expanded)) return `g:${key}`;
    }
    return `n:${node}`;
  }

  /** Every scope enclosing a node (outermost first): expanding them shows the node itself. */
  scopesOf(node: number): string[] {
    const s = this.segs[node];
    return s.map((_, k) => scopeKey(s, k + 1));
  }
}

/** The items and edges to draw for a set of expanded scopes. */
export function visibleGraph(index: ScopeIndex, expanded: ReadonlySet<string>): { items: GraphItem[]; edges: ItemEdge[]; itemOfNode: Map<number, string> } {
  const g = index.graph;
  const items = new Map<string, GraphItem>();
  const itemOfNode = new Map<number, string>();
  for (const i of index.visible) {
    const id = index.itemOf(i, expanded);
    itemOfNode.set(i, id);
    let item = items.get(id);
    if (!item) {
      const n = g.nodes[i];
      if (id.startsWith('g:')) {
        const scope = id.slice(2);
        item = { id, kind: 'group', members: [], scope, label: scope.slice(scope.lastIndexOf('/') + 1) };
      } else {
        const segs = index.segments(i);
        item = { id, kind: 'node', members: [], scope: segs.length ? `/${segs.join('/')}` : '/', label: nodeLabel(n) };
      }
      items.set(id, item);
    }
    item.members.push(i);
  }
  const edges = new Map<string, ItemEdge>();
  for (const e of g.edges) {
    const a = itemOfNode.get(e.from);
    const b = itemOfNode.get(e.to);
    if (!a || !b || a === b) continue;
    const key = `${a}\n${b}`;
    const hit = edges.get(key);
    if (hit) hit.count++;
    else edges.set(key, { from: a, to: b, tensor: e.tensor, shape: e.shape, count: 1 });
  }
  return { items: [...items.values()], edges: [...edges.values()], itemOfNode };
}

/** A node's short label: the last part of its name (the op type when the name is generated). */
export function nodeLabel(n: ModelGraphNode): string {
  const last = n.name.slice(n.name.lastIndexOf('/') + 1);
  return last || n.opType;
}

/**
 * The scopes to open first so the drawing stays readable: the largest closed group is opened while the item
 * count stays within `limit` (about a screen's worth).
 */
export function initialExpansion(index: ScopeIndex, limit = 60): Set<string> {
  const expanded = new Set<string>();
  for (let guard = 0; guard < 500; guard++) {
    const { items } = visibleGraph(index, expanded);
    const groups = items.filter((i) => i.kind === 'group').sort((a, b) => b.members.length - a.members.length);
    let opened = false;
    for (const grp of groups) {
      const next = new Set(expanded).add(grp.scope);
      const n = visibleGraph(index, next).items.length;
      if (n <= limit) { expanded.add(grp.scope); opened = true; break; }
    }
    if (!opened) break;
  }
  return expanded;
}

/** Node ids whose name or op type contains the query (case-insensitive), in graph order; constants excluded. */
export function searchNodes(index: ScopeIndex, query: string): number[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return index.visible.filter((i) => {
    const n = index.graph.nodes[i];
    return n.name.toLowerCase().includes(q) || n.opType.toLowerCase() === q;
  });
}

/** An edge label: the tensor's shape (`1×197×768`), with `+n` when the edge bundles more tensors. */
export function edgeLabel(e: ItemEdge): string {
  const shape = e.shape ? e.shape.join('×') : '';
  return `${shape}${e.count > 1 ? `${shape ? ' ' : ''}+${e.count - 1}` : ''}`;
}
