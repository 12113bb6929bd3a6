/** Shapes of every tensor of a model, found by running it once in ONNX Runtime with every intermediate's Shape as an output. */
import { createModelSession } from '../runtime/fed-weights';
import { InferenceBackend } from '../runtime/backend';
import { QuantLensError } from '../errors';
import { Graph, GraphNode, attrInt } from './graph';
import { DataType, ModelProto } from './proto';
import { readersInRunOrder } from './probe-order';
import { Tensor, sizeOf } from './tensor-data';
import { uniqueNamer } from './unique-names';

/** How symbolic input dimensions are filled when QuantLens makes up an input. */
export interface FeedOptions {
  /** Values for named symbolic dims (dim_param), e.g. `{ 'p2o.DynamicDimension.1': 48 }`. */
  dims?: Record<string, number>;
  /** Batch size for a symbolic first dim. Default 1. */
  batch?: number;
  /** Size of symbolic spatial dims of 4-D/5-D float inputs (axes 2+). Default 64 (a multiple of 32, as strided CNNs need). */
  spatial?: number;
  /** Size of other symbolic dims (sequence lengths...). Default 16. */
  other?: number;
  /** Seed of the pseudo-random float values. Default 1. */
  seed?: number;
}

/** Default sizes of symbolic dims (documented in FeedOptions). */
export const DEFAULT_FEED = { batch: 1, spatial: 64, other: 16, seed: 1 } as const;

/** Options of inferShapes. */
export interface ShapeOptions extends FeedOptions {
  /** Intra-op threads of the shape session. Default 1. */
  threads?: number;
  /** The model's file, for error messages. */
  file?: string;
}

/** The concrete shape of each graph input when QuantLens makes up a feed. */
export function feedShapes(graph: Graph, opts: FeedOptions = {}): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const inp of graph.inputs) {
    const shape = inp.shape ?? [];
    const rank = shape.length;
    const isImage = (rank === 4 || rank === 5) && isFloatType(inp.elemType);
    out.set(inp.name, shape.map((d, axis) => {
      if (typeof d === 'number' && d > 0) return d;
      if (typeof d === 'string' && opts.dims?.[d] !== undefined) return opts.dims[d];
      if (axis === 0) return opts.batch ?? DEFAULT_FEED.batch;
      if (isImage && axis >= 2) return opts.spatial ?? DEFAULT_FEED.spatial;
      return opts.other ?? DEFAULT_FEED.other;
    }));
  }
  return out;
}

/** A made-up feed for every graph input: uniform [0,1) floats (seeded), zeros for integers, false for bools. */
export function synthesizeFeeds(graph: Graph, opts: FeedOptions = {}): Record<string, Tensor> {
  const shapes = feedShapes(graph, opts);
  let seed = (opts.seed ?? DEFAULT_FEED.seed) >>> 0 || 1;
  const rand = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; };
  const feeds: Record<string, Tensor> = {};
  for (const inp of graph.inputs) {
    const dims = shapes.get(inp.name)!;
    const n = sizeOf(dims);
    switch (inp.elemType) {
      case DataType.FLOAT: { const d = new Float32Array(n); for (let i = 0; i < n; i++) d[i] = rand(); feeds[inp.name] = { type: inp.elemType, dims, data: d }; break; }
      case DataType.DOUBLE: { const d = new Float64Array(n); for (let i = 0; i < n; i++) d[i] = rand(); feeds[inp.name] = { type: inp.elemType, dims, data: d }; break; }
      case DataType.INT64: feeds[inp.name] = { type: inp.elemType, dims, data: new BigInt64Array(n) }; break;
      case DataType.INT32: feeds[inp.name] = { type: inp.elemType, dims, data: new Int32Array(n) }; break;
      case DataType.UINT8: case DataType.BOOL: feeds[inp.name] = { type: inp.elemType, dims, data: new Uint8Array(n) }; break;
      case DataType.INT8: feeds[inp.name] = { type: inp.elemType, dims, data: new Int8Array(n) }; break;
      case DataType.FLOAT16: feeds[inp.name] = { type: inp.elemType, dims, data: new Uint16Array(n).fill(0x3800) }; break;
      default:
        throw new QuantLensError('feed-type', `cannot make up a value for input '${inp.name}' of type ${DataType[inp.elemType] ?? inp.elemType}: give a feed`, graph.file);
    }
  }
  return feeds;
}

/** True for float element types. */
export function isFloatType(t: DataType): boolean {
  return t === DataType.FLOAT || t === DataType.FLOAT16 || t === DataType.BFLOAT16 || t === DataType.DOUBLE;
}

const UNFETCHABLE = new Set<number>([
  DataType.INT4, DataType.UINT4, DataType.FLOAT4E2M1, DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ,
  DataType.FLOAT8E5M2, DataType.FLOAT8E5M2FNUZ, DataType.FLOAT8E8M0, DataType.STRING, DataType.BFLOAT16,
  DataType.COMPLEX64, DataType.COMPLEX128,
]);
const TO_BOOL = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const TO_INT64 = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);

/** Element types of the main graph's tensors: declared, stored, or propagated by per-op rules (undefined when unknown). */
export function elementTypes(graph: Graph): Map<string, number> {
  const types = new Map<string, number>();
  for (const [name, vi] of graph.valueInfo) if (vi.elemType) types.set(name, vi.elemType);
  for (const [name, c] of graph.constantNodes) types.set(name, c.data_type ?? 0);
  const typeOf = (t: string | undefined) => (t ? types.get(t) : undefined);
  for (const n of graph.nodes) {
    const p = n.proto;
    let first: number | undefined;
    let rest: number | undefined;
    switch (n.opType) {
      case 'Cast': first = attrInt(p, 'to', 0) || undefined; break;
      case 'CastLike': first = typeOf(n.inputs[1]); break;
      case 'QuantizeLinear': first = attrInt(p, 'output_dtype', 0) || (n.inputs[2] ? typeOf(n.inputs[2]) : DataType.UINT8); break;
      case 'DequantizeLinear': first = attrInt(p, 'output_dtype', 0) || typeOf(n.inputs[1]); break;
      case 'DynamicQuantizeLinear': first = DataType.UINT8; rest = DataType.FLOAT; break;
      case 'ConvInteger': case 'MatMulInteger': first = DataType.INT32; break;
      case 'QLinearConv': case 'QLinearMatMul': first = typeOf(n.inputs[7]); break;
      case 'Where': first = typeOf(n.inputs[1]); break;
      case 'OneHot': first = typeOf(n.inputs[2]); break;
      case 'TopK': case 'MaxPool': first = typeOf(n.inputs[0]); rest = DataType.INT64; break;
      case 'Constant': case 'ConstantOfShape': case 'EyeLike': case 'RandomNormal': case 'RandomUniform': case 'RandomNormalLike':
      case 'RandomUniformLike': case 'Multinomial': case 'Bernoulli': case 'Unique': case 'If': case 'Loop': case 'Scan':
        continue; // declared or stored types only
      default:
        if (n.domain !== '') continue;
        if (TO_BOOL.has(n.opType)) first = DataType.BOOL;
        else if (TO_INT64.has(n.opType)) first = DataType.INT64;
        else first = typeOf(n.inputs[0]);
        rest = first;
    }
    n.outputs.forEach((o, k) => {
      const t = k === 0 ? first : rest;
      if (o && t !== undefined && !types.has(o)) types.set(o, t);
    });
  }
  return types;
}

/**
 * Tensors whose element type JavaScript cannot receive from ONNX Runtime (int4/uint4 kill the process, float8
 * throws, bfloat16/string/complex have no JS type), from elementTypes.
 */
export function unfetchableTensors(graph: Graph): Set<string> {
  const bad = new Set<string>();
  for (const [name, t] of elementTypes(graph)) if (UNFETCHABLE.has(t)) bad.add(name);
  return bad;
}

/**
 * Shapes of every tensor of the main graph: constants from their stored dims, the rest by running the model
 * once (ORT infers them) on `feeds`, or on a made-up feed (see FeedOptions) when none is given; when the model
 * rejects the default image size (e.g. a Flatten+Gemm head fixed to 224x224), other SPATIAL_CANDIDATES are tried.
 * The run returns each tensor's `Shape`, not its values (a few bytes each; ViT-B/16: one run, 1.35 s in all, instead
 * of three runs copying 560 MB of activations, 3.4 s). Sequences and optionals have no entry; a model that cannot take
 * the Shape nodes otherwise falls back to fetching the tensors themselves. Tensors whose type JS cannot receive (int4,
 * float8...) have no entry.
 */
export async function inferShapes(model: ModelProto, backend: InferenceBackend, feeds?: Record<string, Tensor>, opts: ShapeOptions = {}): Promise<Map<string, number[]>> {
  const graph = new Graph(model, opts.file);
  const shapes = new Map<string, number[]>();
  for (const [name, t] of graph.initializers) shapes.set(name, (t.dims ?? []).map(Number));
  for (const [name, t] of graph.constantNodes) shapes.set(name, (t.dims ?? []).map(Number));
  const bad = unfetchableTensors(graph);
  const declared = new Set(graph.outputs.map((o) => o.name));
  const fetch: string[] = [];
  for (const n of graph.nodes) {
    if (n.opType === 'Constant' && n.domain === '') continue;
    for (const o of n.outputs) if (o && !bad.has(o) && !shapes.has(o)) fetch.push(o);
  }
  const candidates = feeds ? [feeds] : candidateFeeds(graph, opts);
  const fromShapes = await shapesByShapeNodes(model, graph, fetch, backend, candidates, opts.threads);
  const found = fromShapes ?? await shapesByValues(model, fetch, declared, backend, candidates, opts.threads);
  for (const [k, v] of found) shapes.set(k, v);
  return shapes;
}

/** Ops whose outputs are sequences or optionals, which have no Shape (shared with the QAT shape probe). */
export const NON_TENSOR_OUTPUT_OPS = new Set(['SplitToSequence', 'SequenceConstruct', 'SequenceEmpty', 'SequenceInsert', 'SequenceErase', 'SequenceMap', 'Optional']);

/** Runs the model with a `Shape` node on every fetched tensor as the outputs; undefined when the model does not load so. */
async function shapesByShapeNodes(model: ModelProto, graph: Graph, fetch: readonly string[], backend: InferenceBackend, candidates: readonly Record<string, Tensor>[], threads?: number): Promise<Map<string, number[]> | undefined> {
  const unique = uniqueNamer(graph.model);
  const shapeOf = new Map<string, string>();
  const notTensors = new Set(graph.nodes.filter((n) => NON_TENSOR_OUTPUT_OPS.has(n.opType)).flatMap((n) => n.outputs));
  const nodes = fetch.filter((t) => !notTensors.has(t)).map((t) => {
    const out = unique(`${t}__ql_shape`);
    shapeOf.set(out, t);
    return { op_type: 'Shape', input: [t], output: [out], name: unique(`${t}__ql_shape_node`) };
  });
  const probe: ModelProto = {
    ...model,
    graph: { ...model.graph, node: [...(model.graph!.node ?? []), ...readersInRunOrder(nodes.map((n) => [n]))], output: [...(model.graph!.output ?? []), ...[...shapeOf.keys()].map((name) => ({ name }))] },
  };
  let session;
  try {
    session = await createModelSession(backend, probe, { optimization: 'disabled', threads: threads ?? 1 });
  } catch {
    return undefined;
  }
  try {
    const names = [...shapeOf.keys()];
    let firstError: unknown;
    for (const f of candidates) {
      let result: Record<string, Tensor>;
      try {
        result = await session.run(f, names);
      } catch (e) {
        firstError ??= e;
        continue;
      }
      const shapes = new Map<string, number[]>();
      for (const [k, v] of Object.entries(result)) shapes.set(shapeOf.get(k)!, Array.from(v.data as ArrayLike<number | bigint>, Number));
      for (const [name, t] of Object.entries(f)) shapes.set(name, t.dims.slice());
      return shapes;
    }
    throw firstError;
  } finally {
    await session.release();
  }
}

/** Runs the model with every fetched tensor as an output, in chunks of about FETCH_BUDGET_BYTES. */
async function shapesByValues(model: ModelProto, fetch: readonly string[], declared: ReadonlySet<string>, backend: InferenceBackend, candidates: readonly Record<string, Tensor>[], threads?: number): Promise<Map<string, number[]>> {
  const shapes = new Map<string, number[]>();
  const probe: ModelProto = {
    ...model,
    graph: { ...model.graph, output: [...(model.graph!.output ?? []), ...fetch.filter((f) => !declared.has(f)).map((name) => ({ name }))] },
  };
  const session = await createModelSession(backend, probe, { optimization: 'disabled', threads: threads ?? 1 });
  try {
    const available = new Set(session.outputNames);
    const names = fetch.filter((f) => available.has(f));
    // Fetch in chunks so that the copies of a big model's activations are not all alive at once: the first chunk
    // is small, later ones are sized from the bytes it took (about FETCH_BUDGET_BYTES per run).
    let chunk = 64;
    let feed: Record<string, Tensor> | undefined;
    let firstError: unknown;
    for (const f of candidates) {
      try {
        const result = await session.run(f, names.slice(0, chunk));
        let bytes = 0;
        for (const [k, v] of Object.entries(result)) { shapes.set(k, v.dims.slice()); bytes += v.data.byteLength; }
        const perTensor = Math.max(1, bytes / Math.max(1, Object.keys(result).length));
        chunk = Math.max(16, Math.min(1000, Math.floor(FETCH_BUDGET_BYTES / perTensor)));
        feed = f;
        break;
      } catch (e) {
        firstError ??= e;
      }
    }
    if (!feed) throw firstError;
    for (const [name, t] of Object.entries(feed)) shapes.set(name, t.dims.slice());
    for (let i = 64; i < names.length; i += chunk) {
      const result = await session.run(feed, names.slice(i, i + chunk));
      for (const [k, v] of Object.entries(result)) shapes.set(k, v.dims.slice());
    }
  } finally {
    await session.release();
  }
  return shapes;
}

/** About how many bytes of activations one shape-inference run copies out (the fetch list is chunked to it). */
export const FETCH_BUDGET_BYTES = 256 * 1024 * 1024;

/** Spatial sizes tried, in order, when a made-up image feed is rejected (a classifier head may fix the size). */
export const SPATIAL_CANDIDATES = [64, 224, 32, 28, 96, 128, 256, 299, 320, 512, 640] as const;

/** Made-up feeds to try: the documented default first, then other spatial sizes when the inputs have symbolic spatial dims. */
function candidateFeeds(graph: Graph, opts: FeedOptions): Record<string, Tensor>[] {
  const sizes = opts.spatial !== undefined ? [opts.spatial] : SPATIAL_CANDIDATES;
  const seen = new Set<string>();
  const out: Record<string, Tensor>[] = [];
  for (const spatial of sizes) {
    const key = JSON.stringify([...feedShapes(graph, { ...opts, spatial })]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(synthesizeFeeds(graph, { ...opts, spatial }));
    if (out.length >= 6) break;
  }
  return out;
}

const SAME_RANK = new Set(['Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Sqrt', 'Neg', 'Abs', 'Clip', 'HardSigmoid', 'HardSwish', 'LeakyRelu',
  'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'Erf', 'Cast', 'CastLike', 'Identity', 'Dropout', 'Softmax', 'LogSoftmax', 'Hardmax',
  'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'LRN', 'Conv', 'ConvTranspose', 'MaxPool',
  'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'Resize', 'Upsample', 'Pad', 'Slice', 'Transpose', 'Concat', 'Split', 'Tile',
  'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Not', 'DepthToSpace', 'SpaceToDepth', 'CumSum', 'Trilu', 'Mish', 'Gelu', 'TopK',
  'QuantizeLinear', 'DequantizeLinear', 'LpNormalization', 'MeanVarianceNormalization', 'Sin', 'Cos', 'IsNaN', 'IsInf', 'Shrink',
  'ThresholdedRelu', 'ReverseSequence', 'ScatterElements', 'ScatterND', 'GatherElements', 'Swish']);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less',
  'GreaterOrEqual', 'LessOrEqual', 'Mod', 'PRelu', 'Where', 'BitShift']);

/**
 * Ranks of the main graph's tensors found without running anything (declared shapes, constants, and per-op
 * rules for the common ops); tensors whose rank cannot be derived have no entry.
 */
export function staticRanks(graph: Graph): Map<string, number> {
  const ranks = new Map<string, number>();
  /** Lengths of 1-D integer tensors (shape vectors), so that Reshape/Expand by a computed shape gets a rank. */
  const lengths = new Map<string, number>();
  for (const [name, v] of graph.valueInfo) if (v.shape) ranks.set(name, v.shape.length);
  for (const [name, v] of graph.valueInfo) if (v.shape?.length === 1 && typeof v.shape[0] === 'number') lengths.set(name, v.shape[0]);
  for (const [name, t] of graph.constantNodes) {
    ranks.set(name, (t.dims ?? []).length);
    if ((t.dims ?? []).length === 1) lengths.set(name, Number(t.dims![0]));
  }
  const ints = (t: string | undefined): number[] | undefined => {
    const v = t ? graph.constantValue(t) : undefined;
    return v ? Array.from(v.data as ArrayLike<number | bigint>, Number) : undefined;
  };
  const axesOf = (n: GraphNode): number[] | undefined => {
    const a = n.proto.attribute?.find((x) => x.name === 'axes');
    if (a) return (a.ints ?? []).map(Number);
    return n.inputs[1] ? ints(n.inputs[1]) : undefined;
  };
  for (const n of graph.nodes) {
    if (n.domain !== '') continue;
    const r = n.inputs.map((i) => (i ? ranks.get(i) : undefined));
    const r0 = r[0];
    let out: number | undefined;
    const op = n.opType;
    if (SAME_RANK.has(op)) out = r0;
    else if (BROADCAST.has(op)) out = r.every((x, k) => x !== undefined || !n.inputs[k]) ? Math.max(...r.filter((x): x is number => x !== undefined)) : undefined;
    else if (op === 'MatMul' && r0 !== undefined && r[1] !== undefined) out = r0 === 1 ? r[1] - 1 : r[1] === 1 ? r0 - 1 : Math.max(r0, r[1]);
    else if (op === 'Gemm' || op === 'Flatten') out = 2;
    else if (op === 'Shape') out = 1;
    else if (op === 'Size') out = 0;
    else if (op === 'Reshape' || op === 'ConstantOfShape') out = lengths.get(n.inputs[op === 'Reshape' ? 1 : 0]);
    else if (op === 'Expand') { const l = lengths.get(n.inputs[1]); out = l !== undefined && r0 !== undefined ? Math.max(r0, l) : undefined; }
    else if (op === 'Squeeze' && r0 !== undefined) { const a = axesOf(n); out = a ? r0 - a.length : undefined; }
    else if (op === 'Unsqueeze' && r0 !== undefined) { const a = axesOf(n); out = a ? r0 + a.length : undefined; }
    else if (op === 'Gather' && r0 !== undefined && r[1] !== undefined) out = r0 - 1 + r[1];
    else if (/^Reduce/.test(op) && r0 !== undefined) {
      const keep = attrInt(n.proto, 'keepdims', 1);
      const a = axesOf(n);
      const dynamicAxes = !a && !!n.inputs[1];
      out = keep ? r0 : dynamicAxes ? undefined : a && a.length ? r0 - new Set(a.map((x) => (x < 0 ? x + r0 : x))).size : attrInt(n.proto, 'noop_with_empty_axes', 0) ? r0 : 0;
    } else if ((op === 'ArgMax' || op === 'ArgMin') && r0 !== undefined) out = attrInt(n.proto, 'keepdims', 1) ? r0 : r0 - 1;
    if (out === undefined) continue;
    const outs = op === 'Split' || op === 'TopK' ? n.outputs : n.outputs.slice(0, 1);
    for (const o of outs) if (o && !ranks.has(o)) ranks.set(o, out);
    if (out === 1 && n.outputs[0] && !lengths.has(n.outputs[0])) {
      const len = vectorLength(graph, n, lengths, ranks, ints);
      if (len !== undefined) lengths.set(n.outputs[0], len);
    }
  }
  return ranks;
}

/** Length of the 1-D output of a node that computes a shape vector (Shape, Slice, Concat, Unsqueeze, Cast, ...). */
function vectorLength(graph: Graph, n: GraphNode, lengths: Map<string, number>, ranks: Map<string, number>, ints: (t: string | undefined) => number[] | undefined): number | undefined {
  const len = (t: string | undefined) => (t ? lengths.get(t) ?? (ranks.get(t) === 0 ? 1 : undefined) : undefined);
  switch (n.opType) {
    case 'Shape': {
      const r = ranks.get(n.inputs[0]);
      if (r === undefined) return undefined;
      const clamp = (v: number) => Math.min(r, Math.max(0, v < 0 ? v + r : v));
      return Math.max(0, clamp(attrInt(n.proto, 'end', r)) - clamp(attrInt(n.proto, 'start', 0)));
    }
    case 'Cast': case 'Identity': case 'Neg': case 'Abs': case 'Relu': return len(n.inputs[0]);
    case 'Concat': {
      let total = 0;
      for (const i of n.inputs) { const l = len(i); if (l === undefined) return undefined; total += l; }
      return total;
    }
    case 'Unsqueeze': return ranks.get(n.inputs[0]) === 0 ? 1 : undefined;
    case 'Gather': return ranks.get(n.inputs[1]) === 0 ? undefined : len(n.inputs[1]);
    case 'Slice': {
      const L = len(n.inputs[0]);
      const attrList = (k: string) => { const a = n.proto.attribute?.find((x) => x.name === k); return a ? (a.ints ?? []).map(Number) : undefined; };
      const starts = attrList('starts') ?? ints(n.inputs[1]), ends = attrList('ends') ?? ints(n.inputs[2]);
      const steps = n.inputs[4] ? ints(n.inputs[4]) : [1];
      if (L === undefined || !starts || !ends || !steps || starts.length !== 1 || steps[0] !== 1) return undefined;
      const c = (v: number) => Math.min(L, Math.max(0, v < 0 ? v + L : v));
      return Math.max(0, c(ends[0]) - c(starts[0]));
    }
    default:
      if (BROADCAST.has(n.opType)) {
        const ls = n.inputs.filter(Boolean).map(len);
        if (ls.some((l) => l === undefined)) return undefined;
        return Math.max(...(ls as number[]));
      }
      return undefined;
  }
}
