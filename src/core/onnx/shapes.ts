/** Shapes of every tensor of a model, found by running it once in ONNX Runtime with all intermediates as outputs. */
import { InferenceBackend } from '../runtime/backend';
import { QuantLensError } from '../errors';
import { Graph, attrInt } from './graph';
import { DataType, encodeModelProto, ModelProto } from './proto';
import { Tensor, sizeOf } from './tensor-data';

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
const TYPE_PRESERVING = new Set(['Identity', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'Slice', 'Gather',
  'GatherElements', 'GatherND', 'Concat', 'Split', 'Expand', 'Tile', 'Pad', 'Max', 'Min', 'Neg', 'Abs', 'DepthToSpace',
  'SpaceToDepth', 'Resize', 'MaxPool', 'Where', 'Compress', 'ScatterND', 'ScatterElements', 'ReverseSequence', 'Dropout']);

/**
 * Tensors whose element type JavaScript cannot receive from ONNX Runtime (int4/uint4 kill the process, float8
 * throws, bfloat16/string/complex have no JS type): known from declared types, QuantizeLinear zero points or
 * output_dtype, Cast targets, constants, and propagated through type-preserving ops.
 */
export function unfetchableTensors(graph: Graph): Set<string> {
  const bad = new Set<string>();
  const typeOf = (t: string): number | undefined => {
    const vi = graph.valueInfo.get(t);
    if (vi && vi.elemType) return vi.elemType;
    const c = graph.initializers.get(t) ?? graph.constantNodes.get(t);
    return c?.data_type;
  };
  for (const [name, vi] of graph.valueInfo) if (UNFETCHABLE.has(vi.elemType)) bad.add(name);
  for (const [name, c] of graph.constantNodes) if (UNFETCHABLE.has(c.data_type ?? 0)) bad.add(name);
  for (const n of graph.nodes) {
    let outType: number | undefined;
    if (n.opType === 'Cast') outType = attrInt(n.proto, 'to', 0);
    else if (n.opType === 'QuantizeLinear') {
      const dt = attrInt(n.proto, 'output_dtype', 0);
      outType = dt || (n.inputs[2] ? typeOf(n.inputs[2]) : undefined);
    } else if (TYPE_PRESERVING.has(n.opType)) {
      const src = n.opType === 'Where' ? n.inputs[1] : n.inputs[0];
      if (src && bad.has(src)) { for (const o of n.outputs) if (o) bad.add(o); continue; }
    }
    if (outType !== undefined && UNFETCHABLE.has(outType)) for (const o of n.outputs) if (o) bad.add(o);
  }
  return bad;
}

/**
 * Shapes of every tensor of the main graph: constants from their stored dims, the rest by running the model
 * once (ORT infers them) on `feeds`, or on a made-up feed (see FeedOptions) when none is given.
 * Tensors whose type JS cannot receive (int4, float8...) are not fetched and have no entry.
 */
export async function inferShapes(model: ModelProto, backend: InferenceBackend, feeds?: Record<string, Tensor>, opts: ShapeOptions = {}): Promise<Map<string, number[]>> {
  const graph = new Graph(model);
  const shapes = new Map<string, number[]>();
  for (const [name, t] of graph.initializers) shapes.set(name, (t.dims ?? []).map(Number));
  for (const [name, t] of graph.constantNodes) shapes.set(name, (t.dims ?? []).map(Number));
  const feed = feeds ?? synthesizeFeeds(graph, opts);
  for (const [name, t] of Object.entries(feed)) shapes.set(name, t.dims.slice());
  const bad = unfetchableTensors(graph);
  const declared = new Set(graph.outputs.map((o) => o.name));
  const fetch: string[] = [];
  for (const n of graph.nodes) {
    if (n.opType === 'Constant' && n.domain === '') continue;
    for (const o of n.outputs) if (o && !bad.has(o) && !shapes.has(o)) fetch.push(o);
  }
  const probe: ModelProto = {
    ...model,
    graph: { ...model.graph, output: [...(model.graph!.output ?? []), ...fetch.filter((f) => !declared.has(f)).map((name) => ({ name }))] },
  };
  const session = await backend.createSession(encodeModelProto(probe), { optimization: 'disabled', threads: opts.threads ?? 1 });
  try {
    const available = new Set(session.outputNames);
    const names = fetch.filter((f) => available.has(f));
    // Fetch in chunks so that the copies of a big model's activations are not all alive at once.
    const chunk = 200;
    for (let i = 0; i < names.length; i += chunk) {
      const result = await session.run(feed, names.slice(i, i + chunk));
      for (const [k, v] of Object.entries(result)) shapes.set(k, v.dims.slice());
    }
  } finally {
    await session.release();
  }
  return shapes;
}
