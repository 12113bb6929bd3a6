/**
 * Tied weights in an exported QDQ model: when one float tensor feeds two layers (a GPT head sharing the token
 * embedding: Gather on the table, MatMul on its Transpose), the export first quantizes each use. Where the two
 * quantized copies are the same numbers (one the transpose of the other, with the same scales and zero points, as
 * per-row int8 of the table and per-column int8 of its transpose are), the second is replaced by a Transpose of the
 * first's DequantizeLinear: one quantized tensor, two uses. Where the uses were given different formats, both copies
 * stay (each layer gets the format its recipe asks for) and the result says so.
 */
import { Graph } from '../onnx/graph';
import { ModelProto, NodeProto, TensorProto } from '../onnx/proto';
import { tensorProtoData } from '../onnx/tensor-data';

/** What shareTiedWeights did. */
export interface TiedWeightsResult {
  model: ModelProto;
  /** Quantized tensors now shared by two uses: [kept, removed]. */
  shared: [string, string][];
}

interface Dq { node: NodeProto; q: TensorProto; scale: TensorProto; zero?: TensorProto; axis: number; dims: number[] }

/** Replaces transposed duplicates of quantized 2-D weights with a Transpose of the first copy (see the file comment). */
export function shareTiedWeights(model: ModelProto): TiedWeightsResult {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const uses = new Map<string, number>();
  for (const n of g.node ?? []) for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  const dqs: Dq[] = [];
  for (const node of g.node ?? []) {
    if (node.op_type !== 'DequantizeLinear' || (node.domain ?? '') !== '') continue;
    const [qn, sn, zn] = node.input ?? [];
    const q = inits.get(qn), scale = inits.get(sn), zero = zn ? inits.get(zn) : undefined;
    const dims = (q?.dims ?? []).map(Number);
    if (!q || !scale || dims.length !== 2 || uses.get(qn) !== 1) continue;
    if (node.attribute?.some((a) => a.name === 'block_size' && Number(a.i) > 0)) continue;
    const axis = Number(node.attribute?.find((a) => a.name === 'axis')?.i ?? 1);
    dqs.push({ node, q, scale, zero, axis: (axis + 2) % 2, dims });
  }
  const shared: [string, string][] = [];
  const removed = new Set<NodeProto>();
  for (let i = 0; i < dqs.length; i++) {
    for (let j = i + 1; j < dqs.length; j++) {
      const a = dqs[i], b = dqs[j];
      if (removed.has(a.node) || removed.has(b.node) || !isTransposedCopy(a, b)) continue;
      // b's output becomes Transpose(a's output); b's quantized tensors are dropped
      const out = b.node.output![0];
      Object.assign(b.node, { op_type: 'Transpose', input: [a.node.output![0]], output: [out], attribute: [{ name: 'perm', type: 7, ints: [1, 0] }], domain: '' });
      removed.add(b.node);
      shared.push([a.q.name ?? '', b.q.name ?? '']);
    }
  }
  if (!shared.length) return { model, shared };
  // the Transpose reads a's output, which may come later in node order: put each moved node after its input's producer
  const graph = { ...g, node: orderAfterInputs(g.node ?? []) };
  const stillUsed = new Set(graph.node.flatMap((n) => n.input ?? []));
  graph.initializer = (g.initializer ?? []).filter((t) => stillUsed.has(t.name ?? '') || (g.output ?? []).some((o) => o.name === t.name));
  const result = { ...model, graph };
  new Graph(result); // checks that the graph is still acyclic and complete
  return { model: result, shared };
}

function isTransposedCopy(a: Dq, b: Dq): boolean {
  if (a.q.data_type !== b.q.data_type || a.dims[0] !== b.dims[1] || a.dims[1] !== b.dims[0]) return false;
  const perTensor = (d: Dq) => (d.scale.dims ?? []).map(Number).reduce((x, y) => x * y, 1) === 1;
  if (perTensor(a) !== perTensor(b) || (!perTensor(a) && a.axis !== 1 - b.axis)) return false;
  if (!sameValues(a.scale, b.scale) || !(a.zero && b.zero ? sameValues(a.zero, b.zero) : !a.zero && !b.zero)) return false;
  const qa = tensorProtoData(a.q), qb = tensorProtoData(b.q);
  const [r, c] = a.dims;
  for (let i = 0; i < r; i++) for (let k = 0; k < c; k++) if (qa[i * c + k] !== qb[k * r + i]) return false;
  return true;
}

function sameValues(x: TensorProto, y: TensorProto): boolean {
  const a = tensorProtoData(x), b = tensorProtoData(y);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Nodes reordered so that each comes after the producers of its inputs (stable otherwise). */
function orderAfterInputs(nodes: NodeProto[]): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const done = new Set<NodeProto>();
  const out: NodeProto[] = [];
  const visit = (n: NodeProto, depth: number) => {
    if (done.has(n) || depth > nodes.length) return;
    done.add(n);
    for (const i of n.input ?? []) { const p = producer.get(i); if (p && !done.has(p)) visit(p, depth + 1); }
    out.push(n);
  };
  for (const n of nodes) visit(n, 0);
  return out;
}
