/** Folds BatchNormalization into the Conv, ConvTranspose or Gemm before it. */
import { Graph, GraphNode, attr, attrFloat, attrInt } from './graph';
import { DataType, GraphProto, ModelProto, NodeProto, TensorProto } from './proto';
import { Tensor, tensorToProto } from './tensor-data';
import { namesRead } from './names-read';

/** What foldBatchNormDetailed did. */
export interface BatchNormFoldResult {
  model: ModelProto;
  /** Names of the BatchNormalization nodes folded, with the layer each went into. */
  folded: { batchNorm: string; into: string }[];
}

/**
 * A new model where each Conv/ConvTranspose/Gemm followed by an inference-mode BatchNormalization with stored
 * constant float32 parameters (initializers or Constant nodes), whose output nothing else reads, is one layer
 * with folded weights and bias. Other BatchNormalizations stay. The input model is not modified.
 */
export function foldBatchNorm(model: ModelProto): ModelProto {
  return foldBatchNormDetailed(model).model;
}

/** foldBatchNorm, also listing what was folded. */
export function foldBatchNormDetailed(model: ModelProto, file?: string): BatchNormFoldResult {
  const graph = new Graph(model, file);
  const names = new Set<string>();
  for (const n of graph.nodes) for (const t of [...n.inputs, ...n.outputs]) names.add(t);
  for (const t of graph.initializers.keys()) names.add(t);
  const fresh = (hint: string) => { let s = hint, k = 0; while (names.has(s)) s = `${hint}_${++k}`; names.add(s); return s; };
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const replaced = new Map<GraphNode, NodeProto>();
  const removed = new Set<GraphNode>();
  const newInits: TensorProto[] = [];
  const released = new Set<string>();
  const folded: BatchNormFoldResult['folded'] = [];

  for (const bn of graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || bn.domain !== '') continue;
    if (attrInt(bn.proto, 'training_mode', 0) !== 0 || (attr(bn.proto, 'spatial') && attrInt(bn.proto, 'spatial', 1) === 0)) continue;
    if (bn.outputs.slice(1).some((o) => o && (graph.consumers.get(o)?.length || graphOutputs.has(o)))) continue;
    const x = bn.inputs[0];
    const layer = graph.producer.get(x);
    if (!layer || layer.domain !== '' || replaced.has(layer) || !['Conv', 'ConvTranspose', 'Gemm'].includes(layer.opType)) continue;
    if ((graph.consumers.get(x)?.length ?? 0) !== 1 || graphOutputs.has(x)) continue;
    const params = bn.inputs.slice(1, 5).map((t) => floatValue(graph, t));
    const w = floatValue(graph, layer.inputs[1]);
    const hasBias = !!layer.inputs[2];
    const b = hasBias ? floatValue(graph, layer.inputs[2]) : undefined;
    if (params.some((p) => !p) || !w || (hasBias && !b)) continue;
    const [gamma, beta, mean, variance] = params as Tensor[];
    const channels = gamma.data.length;
    if ([beta, mean, variance].some((p) => p.data.length !== channels)) continue;
    const eps = attrFloat(bn.proto, 'epsilon', 1e-5);
    const s = new Float64Array(channels);
    for (let c = 0; c < channels; c++) s[c] = (gamma.data[c] as number) / Math.sqrt((variance.data[c] as number) + eps);
    const fold = foldInto(layer, w, b, s, beta, mean, channels);
    if (!fold) continue;
    const wName = fresh(`${layer.inputs[1]}_bnfolded`);
    const bName = fresh(`${bn.name}_bias_folded`);
    newInits.push(tensorToProto(wName, fold.weight), tensorToProto(bName, fold.bias));
    const proto: NodeProto = { ...layer.proto, input: [layer.inputs[0], wName, bName], output: [bn.outputs[0], ...layer.outputs.slice(1)] };
    if (layer.opType === 'Gemm') proto.attribute = [...(layer.proto.attribute ?? []).filter((a) => a.name !== 'beta'), { name: 'beta', type: 1, f: 1 }];
    replaced.set(layer, proto);
    removed.add(bn);
    for (const t of [...layer.inputs.slice(1), ...bn.inputs.slice(1)]) if (t) released.add(t);
    folded.push({ batchNorm: bn.name, into: layer.name });
  }
  if (!folded.length) return { model, folded };

  const nodes: NodeProto[] = [];
  for (const n of graph.nodes) if (!removed.has(n)) nodes.push(replaced.get(n) ?? n.proto);
  const used = namesRead(nodes, graph.outputs.map((o) => o.name));
  const dead = (t: string) => released.has(t) && !used.has(t);
  const produced = new Set(nodes.flatMap((n) => n.output ?? []));
  const g = model.graph!;
  const newGraph: GraphProto = {
    ...g,
    node: nodes.filter((n) => !(n.op_type === 'Constant' && (n.domain ?? '') === '' && dead(n.output?.[0] ?? ''))),
    initializer: [...(g.initializer ?? []).filter((t) => !dead(t.name ?? '')), ...newInits],
    input: (g.input ?? []).filter((v) => !dead(v.name ?? '')),
    value_info: (g.value_info ?? []).filter((v) => used.has(v.name ?? '') || produced.has(v.name ?? '')),
  };
  return { model: { ...model, graph: newGraph }, folded };
}

/** The stored float32 value of a constant tensor, or undefined. */
function floatValue(graph: Graph, t: string | undefined): Tensor | undefined {
  if (!t) return undefined;
  const v = graph.constantValue(t);
  return v && v.type === DataType.FLOAT ? v : undefined;
}

function foldInto(layer: GraphNode, w: Tensor, b: Tensor | undefined, s: Float64Array, beta: Tensor, mean: Tensor, channels: number): { weight: Tensor; bias: Tensor } | undefined {
  const wd = w.data as Float32Array;
  const out = new Float32Array(wd.length);
  const bias = new Float32Array(channels);
  let biasIn: (c: number) => number = () => 0;
  if (layer.opType === 'Gemm') {
    if (w.dims.length !== 2) return undefined;
    const transB = attrInt(layer.proto, 'transB', 0);
    const [r, c] = w.dims;
    const n = transB ? r : c;
    if (n !== channels) return undefined;
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i * c + j] = wd[i * c + j] * s[transB ? i : j];
    const betaAttr = attrFloat(layer.proto, 'beta', 1);
    if (b) {
      if (b.data.length === 1) biasIn = () => betaAttr * (b.data[0] as number);
      else if (b.data.length === channels && (b.dims.length === 1 || (b.dims.length === 2 && b.dims[0] === 1))) biasIn = (k) => betaAttr * (b.data[k] as number);
      else return undefined;
    }
  } else {
    if (w.dims.length < 3) return undefined;
    const group = attrInt(layer.proto, 'group', 1);
    const inner = w.dims.slice(2).reduce((a, d) => a * d, 1);
    if (layer.opType === 'Conv') {
      if (w.dims[0] !== channels) return undefined;
      const per = wd.length / channels;
      for (let i = 0; i < wd.length; i++) out[i] = wd[i] * s[Math.floor(i / per)];
    } else {
      const [cin, coutPerGroup] = w.dims;
      if (coutPerGroup * group !== channels || cin % group) return undefined;
      const cinPerGroup = cin / group;
      for (let ci = 0; ci < cin; ci++) {
        const gi = Math.floor(ci / cinPerGroup);
        for (let j = 0; j < coutPerGroup; j++) {
          const sc = s[gi * coutPerGroup + j];
          const off = (ci * coutPerGroup + j) * inner;
          for (let k = 0; k < inner; k++) out[off + k] = wd[off + k] * sc;
        }
      }
    }
    if (b) {
      if (b.data.length !== channels) return undefined;
      biasIn = (k) => b.data[k] as number;
    }
  }
  for (let c = 0; c < channels; c++) bias[c] = (biasIn(c) - (mean.data[c] as number)) * s[c] + (beta.data[c] as number);
  return { weight: { type: DataType.FLOAT, dims: w.dims.slice(), data: out }, bias: { type: DataType.FLOAT, dims: [channels], data: bias } };
}
