/** Values of tensors computable from constants alone, computed by running the constant subgraph once in ONNX Runtime. */
import { InferenceBackend } from '../runtime/backend';
import { Graph } from './graph';
import { ModelProto, TensorProto } from './proto';
import { Tensor } from './tensor-data';
import { unfetchableTensors } from './shapes';
import { createProtoSession } from '../runtime/proto-session';

/**
 * Values of the constant tensors `tensors` (default: every derived constant the graph has, i.e. outputs of
 * nodes other than Constant whose inputs are all constants). Stored values (initializers, Constant nodes)
 * are returned without running anything; the rest come from one ORT run of the constant subgraph.
 * Tensors that are not constant, and derived constants whose type JS cannot receive (int4, float8: see
 * unfetchableTensors), are skipped.
 */
export async function foldConstants(graph: Graph, backend: InferenceBackend, tensors?: Iterable<string>): Promise<Map<string, Tensor>> {
  const wanted = tensors ? [...new Set(tensors)] : derivedConstants(graph);
  const out = new Map<string, Tensor>();
  const toCompute: string[] = [];
  const bad = unfetchableTensors(graph);
  for (const t of wanted) {
    if (!t || !graph.isConstant(t)) continue;
    const stored = graph.constantValue(t);
    if (stored) out.set(t, stored);
    else if (!bad.has(t)) toCompute.push(t);
  }
  if (!toCompute.length) return out;
  const nodes = graph.upstreamNodes(toCompute);
  const inits = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) if (i && graph.initializers.has(i)) inits.add(i);
  const src = graph.model;
  const model: ModelProto = {
    ir_version: src.ir_version,
    opset_import: src.opset_import,
    functions: src.functions,
    graph: {
      name: 'constant_subgraph',
      node: nodes.map((n) => n.proto),
      initializer: [...inits].map((i) => graph.initializers.get(i) as TensorProto),
      input: [],
      output: toCompute.map((name) => ({ name })),
    },
  };
  const session = await createProtoSession(backend, model, { optimization: 'disabled', threads: 1 });
  try {
    const result = await session.run({}, toCompute);
    for (const t of toCompute) if (result[t]) out.set(t, result[t]);
  } finally {
    await session.release();
  }
  return out;
}

/** Tensors the graph computes from constants by ops other than Constant (weights reached through Transpose, Cast, ...). */
export function derivedConstants(graph: Graph): string[] {
  const out: string[] = [];
  const bad = unfetchableTensors(graph);
  for (const n of graph.nodes) {
    if (n.opType === 'Constant' && n.domain === '') continue;
    for (const o of n.outputs) if (o && graph.isConstant(o) && !bad.has(o)) out.push(o);
  }
  return out;
}
