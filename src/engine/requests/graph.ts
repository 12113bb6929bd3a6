/** `quant/graph`: the model's operators, graph inputs/outputs and the tensors between them, for the graph view. */
import type { Graph } from '../../core/onnx/graph';
import type { ModelGraph, ModelGraphEdge, ModelGraphNode, ModelParams } from '../../shared/protocol';
import type { Engine } from '../engine';
import type { Job } from '../jobs';

/**
 * The drawable graph of a model: one node per operator plus one per graph input and output; an edge per
 * (producer, consumer) tensor. Tensors that are constants (initializers) are not edges; operators computing only
 * from constants get role `constant`. Shapes come from ONNX Runtime's inference when it ran, else value_info.
 */
export function modelGraph(graph: Graph, file: string, shapes?: ReadonlyMap<string, number[]>, warnings: string[] = []): ModelGraph {
  const nodes: ModelGraphNode[] = [];
  const edges: ModelGraphEdge[] = [];
  const producerId = new Map<string, number>();
  for (const input of graph.inputs) {
    producerId.set(input.name, nodes.length);
    nodes.push({ name: input.name, opType: 'Input', index: -1, role: 'input' });
  }
  const firstOp = nodes.length;
  for (const n of graph.nodes) {
    const outs = n.outputs.filter(Boolean);
    const constant = outs.length > 0 && outs.every((o) => graph.isConstant(o));
    for (const o of outs) producerId.set(o, nodes.length);
    nodes.push({ name: n.name, opType: n.domain ? `${n.domain}.${n.opType}` : n.opType, index: n.index, role: constant ? 'constant' : 'op' });
  }
  const shapeOf = (t: string): (number | string)[] | undefined => shapes?.get(t) ?? graph.valueInfo.get(t)?.shape;
  const edge = (tensor: string, to: number) => {
    const from = producerId.get(tensor);
    if (from === undefined) return; // an initializer: a weight, not a data flow
    const shape = shapeOf(tensor);
    edges.push(shape ? { from, to, tensor, shape: shape.slice() } : { from, to, tensor });
  };
  graph.nodes.forEach((n, i) => {
    const seen = new Set<string>();
    for (const t of n.inputs) if (t && !seen.has(t)) { seen.add(t); edge(t, firstOp + i); }
  });
  for (const o of graph.outputs) {
    const id = nodes.length;
    nodes.push({ name: o.name, opType: 'Output', index: -1, role: 'output' });
    edge(o.name, id);
  }
  return { model: file, nodes, edges, warnings };
}

/** Loads (or reuses) the model and returns its graph. */
export async function graphOf(engine: Engine, job: Job, params: ModelParams): Promise<ModelGraph> {
  const m = await engine.modelForJob(job, params.model);
  job.enter('reading the graph', 90);
  const extras = engine.modelExtras(m.path);
  return modelGraph(m.graph, m.path, extras.shapes, extras.warnings.slice());
}
