/** The tensor names a graph reads: its nodes' inputs (subgraphs' nodes included) and its outputs. */
import { GraphProto, NodeProto } from './proto';

/** Every name read by `nodes` (and the nodes of their subgraph attributes) or listed in `outputs`. */
export function namesRead(nodes: readonly NodeProto[], outputs: readonly string[] = []): Set<string> {
  const used = new Set<string>(outputs);
  const collect = (list: readonly NodeProto[]) => {
    for (const n of list) {
      for (const i of n.input ?? []) used.add(i);
      for (const a of n.attribute ?? []) { if (a.g) collectGraph(a.g); for (const g of a.graphs ?? []) collectGraph(g); }
    }
  };
  const collectGraph = (g: GraphProto) => collect(g.node ?? []);
  collect(nodes);
  return used;
}
