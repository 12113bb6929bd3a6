/**
 * What an integer model input means, read from how the graph uses it: token ids (the indices of a Gather on a
 * constant table: valid values are the table's rows) or an attention mask (named like *mask*, or turned into an
 * additive mask by Cast then Sub/Mul). Synthetic data uses it to draw values the model can take.
 */
import type { Graph, GraphNode, ValueInfo } from './graph';
import { DataType } from './proto';

/** The role of an integer or bool graph input. */
export type InputRole =
  | { kind: 'token-ids'; /** Rows of the embedding table the ids index. */ vocab: number; /** The table's tensor name. */ table: string }
  | { kind: 'mask' };

/** Ops an index or mask passes through unchanged in value (only reshaped or retyped). */
const PASS_THROUGH = new Set(['Cast', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Expand', 'Identity', 'Transpose']);
const INTEGER_TYPES = new Set([DataType.INT64, DataType.INT32, DataType.INT16, DataType.INT8, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64, DataType.BOOL]);

/** The role of graph input `input`, or undefined (float inputs, or an integer input used otherwise). */
export function inputRole(graph: Graph, input: ValueInfo): InputRole | undefined {
  if (!INTEGER_TYPES.has(input.elemType)) return undefined;
  const reached = reach(graph, input.name);
  for (const { node, tensor } of reached) {
    if (node.opType !== 'Gather' || node.inputs[1] !== tensor || !graph.isConstant(node.inputs[0])) continue;
    const table = graph.initializers.get(node.inputs[0]) ?? graph.constantNodes.get(node.inputs[0]);
    const dims = table?.dims?.map(Number);
    if (!dims?.length) continue;
    const r = dims.length;
    const axis = (((node.proto.attribute?.find((a) => a.name === 'axis')?.i ?? 0) % r) + r) % r;
    return { kind: 'token-ids', vocab: dims[axis], table: node.inputs[0] };
  }
  if (/mask/i.test(input.name)) return { kind: 'mask' };
  for (const { node } of reached) {
    if (node.opType !== 'Cast') continue;
    if ((graph.consumers.get(node.outputs[0]) ?? []).some((c) => c.opType === 'Sub' || c.opType === 'Where' || c.opType === 'Not')) return { kind: 'mask' };
  }
  return undefined;
}

/** The nodes consuming `start` or a tensor derived from it through pass-through ops, with the tensor they read. */
function reach(graph: Graph, start: string): { node: GraphNode; tensor: string }[] {
  const out: { node: GraphNode; tensor: string }[] = [];
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length && out.length < 64) {
    const t = queue.shift()!;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const node of graph.consumers.get(t) ?? []) {
      out.push({ node, tensor: t });
      if (PASS_THROUGH.has(node.opType) && node.inputs[0] === t) queue.push(node.outputs[0]);
    }
  }
  return out;
}
