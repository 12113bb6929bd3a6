/** The data `quantlens inspect` and the model view show about a model. */
import { ModelSummary, TensorSummary } from '../../shared/model-summary';
import { Graph, ValueInfo } from './graph';
import { QuantLayer } from './layer';
import { uniqueLayerParams } from './inventory';
import { ModelProto } from './proto';
import { dataTypeName, elementSize, sizeOf } from './tensor-data';
import { isFloatType } from './shapes';

/** Options of modelSummary. */
export interface SummaryOptions {
  file?: string;
  fileSize?: number;
  /** Inferred shapes (from inferShapes) for the concrete input/output shapes. */
  shapes?: Map<string, number[]>;
}

/** Summarises a model: I/O, opsets, IR, producer, sizes, parameters, MACs, op histogram and layers by kind. */
export function modelSummary(model: ModelProto, graph: Graph, layers: QuantLayer[], opts: SummaryOptions = {}): ModelSummary {
  const io = (v: ValueInfo): TensorSummary => {
    const s: TensorSummary = { name: v.name, type: dataTypeName(v.elemType), shape: v.shape };
    const inferred = opts.shapes?.get(v.name);
    if (inferred) s.inferredShape = inferred.slice();
    return s;
  };
  const hist = new Map<string, number>();
  for (const n of graph.nodes) {
    const op = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    hist.set(op, (hist.get(op) ?? 0) + 1);
  }
  let parameterCount = 0, constantBytes = 0;
  for (const t of [...graph.initializers.values(), ...graph.constantNodes.values()]) {
    const n = sizeOf((t.dims ?? []).map(Number));
    if (isFloatType(t.data_type ?? 0)) parameterCount += n;
    constantBytes += Math.ceil(n * elementSize(t.data_type ?? 0));
  }
  const layersByKind: Record<string, number> = {};
  const weightSources: Record<string, number> = {};
  let macs: number | undefined = 0;
  for (const l of layers) {
    layersByKind[l.kind] = (layersByKind[l.kind] ?? 0) + 1;
    if (l.weight) weightSources[l.weight.source] = (weightSources[l.weight.source] ?? 0) + 1;
    if (l.macs === undefined) macs = undefined;
    else if (macs !== undefined) macs += l.macs;
  }
  const layerParams = uniqueLayerParams(layers);
  return {
    file: opts.file,
    fileSize: opts.fileSize,
    irVersion: Number(model.ir_version ?? 0),
    opsets: (model.opset_import ?? []).map((o) => ({ domain: o.domain ?? '', version: Number(o.version) })),
    producer: model.producer_name ?? '',
    producerVersion: model.producer_version || undefined,
    inputs: graph.inputs.map(io),
    outputs: graph.outputs.map(io),
    nodeCount: graph.nodes.length,
    opHistogram: [...hist].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    layerParams,
    parameterCount,
    constantBytes,
    macs: layers.length ? macs : 0,
    layersByKind,
    layerCount: layers.length,
    weightSources,
  };
}
