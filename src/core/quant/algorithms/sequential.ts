/**
 * Sequential repair's order and its partly quantized model: layers are repaired in rounds, each round holding the
 * layers none of whose inputs depends on a layer still to be repaired (q, k and v of one attention block share a
 * round); before each round the inputs are gathered from the model whose planned weights are all quantized (the
 * ones already repaired with their chosen codes, the others by round to nearest).
 */
import { Graph } from '../../onnx/graph';
import { DataType, ModelProto, TensorProto } from '../../onnx/proto';
import { tensorToProto, toFloat32 } from '../../onnx/tensor-data';
import { fakeQuantize } from '../quantize';
import { planWeightParams, QuantPlan } from '../qdq-export';

/** The layers (node names) in rounds: a layer's round comes after that of every listed layer upstream of it. */
export function upstreamRounds(graph: Graph, names: readonly string[]): string[][] {
  const listed = new Set(names);
  // per node, the listed nodes whose outputs reach its inputs (nodes are in topological order)
  const above = new Map<string, Set<string>>();
  for (const n of graph.nodes) {
    const s = new Set<string>();
    for (const t of n.inputs) {
      const p = t ? graph.producer.get(t) : undefined;
      if (!p) continue;
      for (const a of above.get(p.name) ?? []) s.add(a);
      if (listed.has(p.name)) s.add(p.name);
    }
    above.set(n.name, s);
  }
  const rounds: string[][] = [];
  const pending = new Set(names);
  while (pending.size) {
    const round = [...pending].filter((n) => ![...(above.get(n) ?? [])].some((a) => pending.has(a)));
    if (!round.length) { rounds.push([...pending]); break; } // not reachable in a DAG; kept total
    for (const n of round) pending.delete(n);
    rounds.push(round);
  }
  return rounds;
}

/**
 * The model with every planned integer weight that is a float initializer replaced by its quantized (dequantized)
 * values. With `cache` (one plan, several rounds), a weight whose initializer object did not change since an earlier
 * call is not quantized again.
 */
export function quantizedWeightsModel(model: ModelProto, plan: QuantPlan, graph: Graph, cache?: WeakMap<TensorProto, TensorProto>): ModelProto {
  const replaced = new Map<string, TensorProto>();
  for (const p of plan) {
    const w = p.weight;
    const source = w ? graph.initializers.get(w.tensor) : undefined;
    if (!w || w.format.kind !== 'int' || replaced.has(w.tensor) || !source) continue;
    const cached = cache?.get(source);
    if (cached) { replaced.set(w.tensor, cached); continue; }
    const t = graph.constantValue(w.tensor);
    if (!t || t.type !== DataType.FLOAT) continue;
    const data = toFloat32(t);
    const { params, dims } = planWeightParams(w, data, t.dims.slice());
    const q = tensorToProto(w.tensor, { type: DataType.FLOAT, dims: t.dims.slice(), data: fakeQuantize(data, dims, params) });
    replaced.set(w.tensor, q);
    cache?.set(source, q);
  }
  const g = model.graph!;
  return { ...model, graph: { ...g, initializer: (g.initializer ?? []).map((t) => replaced.get(t.name ?? '') ?? t) } };
}
