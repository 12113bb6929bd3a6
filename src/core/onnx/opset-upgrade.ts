/** Upgrades a model's default-domain opset, rewriting every op whose signature or semantics changed. */
import { QuantLensError } from '../errors';
import { irVersionForOpset, makeAttribute, AttrValue } from './builder';
import { Graph, attr, attrFloat, attrInt, attrInts, attrString, constantNodeTensor } from './graph';
import { staticRanks } from './shapes';
import { AttributeProto, DataType, GraphProto, ModelProto, NodeProto, TensorProto } from './proto';
import { floatToHalf, tensorFromProto, toFloat64 } from './tensor-data';

/** Options of upgradeOpset. */
export interface UpgradeOptions {
  /**
   * Known tensor shapes (from inferShapes): lets Softmax-family rewrites stay a single node when the axis is the
   * last. Without them, ranks are derived statically (staticRanks) where the graph allows.
   */
  shapes?: Map<string, number[]>;
  /** File name for error messages. */
  file?: string;
}

/** Highest default-domain opset QuantLens upgrades to (what onnxruntime-node 1.30 runs). */
export const MAX_TARGET_OPSET = 23;

/**
 * Ops whose meaning is unchanged from the given opset up to MAX_TARGET_OPSET (only new types or new attributes
 * whose defaults keep the old behaviour). An upgrade that crosses that opset from below, and every op neither
 * listed here nor handled by a rewrite rule, makes upgradeOpset throw rather than risk a silently different model.
 */
const COMPATIBLE_SINCE: Record<string, number> = {
  Abs: 1, Acos: 7, Acosh: 9, Add: 1, And: 1, ArgMax: 1, ArgMin: 1, Asin: 7, Asinh: 9, Atan: 7, Atanh: 9, Attention: 23,
  AffineGrid: 20, AveragePool: 1, Bernoulli: 15, BitShift: 11, BitwiseAnd: 18, BitwiseNot: 18, BitwiseOr: 18, BitwiseXor: 18,
  BlackmanWindow: 17, CastLike: 15, Ceil: 1, Celu: 12, CenterCropPad: 18, Col2Im: 18, Compress: 9, Concat: 4,
  ConcatFromSequence: 11, Constant: 1, ConstantOfShape: 9, Conv: 1, ConvInteger: 10, ConvTranspose: 1, Cos: 7, Cosh: 9,
  CumSum: 11, DeformConv: 19, DepthToSpace: 1, DequantizeLinear: 10, Det: 11, DFT: 20, Div: 1, DynamicQuantizeLinear: 11,
  Einsum: 12, Elu: 1, Equal: 1, Erf: 9, Exp: 1, Expand: 8, EyeLike: 9, Flatten: 1, Floor: 1, Gather: 1,
  GatherElements: 11, GatherND: 11, Gelu: 20, GlobalAveragePool: 1, GlobalLpPool: 2, GlobalMaxPool: 1, Greater: 1,
  GreaterOrEqual: 12, GroupNormalization: 21, GRU: 7, HammingWindow: 17, HannWindow: 17, HardSigmoid: 1, HardSwish: 14,
  Identity: 1, If: 1, ImageDecoder: 20, InstanceNormalization: 1, IsInf: 10, IsNaN: 9, LayerNormalization: 17,
  LeakyRelu: 1, Less: 1, LessOrEqual: 12, Log: 1, Loop: 1, LpNormalization: 1, LpPool: 2, LRN: 1, LSTM: 7, MatMul: 1,
  MatMulInteger: 10, Max: 1, MaxPool: 1, MaxRoiPool: 1, MaxUnpool: 9, Mean: 1, MeanVarianceNormalization: 9,
  MelWeightMatrix: 17, Min: 1, Mish: 18, Mod: 10, Mul: 1, Multinomial: 7, Neg: 1, NegativeLogLikelihoodLoss: 12,
  NonMaxSuppression: 10, NonZero: 9, Not: 1, OneHot: 9, Optional: 15, OptionalGetElement: 15, OptionalHasElement: 15,
  Or: 1, PRelu: 7, Pow: 1, QLinearConv: 10, QLinearMatMul: 10, QuantizeLinear: 10, RandomNormal: 1,
  RandomNormalLike: 1, RandomUniform: 1, RandomUniformLike: 1, Range: 11, Reciprocal: 1, RegexFullMatch: 20, Relu: 1,
  ReverseSequence: 10, RMSNormalization: 23, RNN: 7, RotaryEmbedding: 23, Round: 11, Scan: 9, ScatterElements: 11,
  ScatterND: 11, Selu: 1, SequenceAt: 11, SequenceConstruct: 11, SequenceEmpty: 11, SequenceErase: 11,
  SequenceInsert: 11, SequenceLength: 11, SequenceMap: 17, Shape: 1, Shrink: 9, Sigmoid: 1, Sign: 9, Sin: 7, Sinh: 9,
  Size: 1, SoftmaxCrossEntropyLoss: 12, Softplus: 1, Softsign: 1, SpaceToDepth: 1, SplitToSequence: 11, Sqrt: 1,
  STFT: 17, StringConcat: 20, StringNormalizer: 10, StringSplit: 20, Sub: 1, Sum: 1, Tan: 7, Tanh: 1,
  TfIdfVectorizer: 9, ThresholdedRelu: 10, Tile: 6, Transpose: 1, Trilu: 14, Unique: 11, Where: 9, Xor: 1,
};

/** Reduce ops whose `axes` attribute became an input at opset 18 (ReduceSum did at 13). */
const REDUCE_18 = new Set(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);
/** Binary ops that had legacy `broadcast`/`axis` attributes before opset 7. */
const LEGACY_BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less', 'Gemm']);
const CAST_NAMES: Record<string, DataType> = {
  FLOAT: DataType.FLOAT, FLOAT16: DataType.FLOAT16, DOUBLE: DataType.DOUBLE, INT8: DataType.INT8, INT16: DataType.INT16,
  INT32: DataType.INT32, INT64: DataType.INT64, UINT8: DataType.UINT8, UINT16: DataType.UINT16, UINT32: DataType.UINT32,
  UINT64: DataType.UINT64, BOOL: DataType.BOOL, STRING: DataType.STRING,
};

interface Ctx {
  from: number;
  to: number;
  file?: string;
  names: Set<string>;
  shapes?: Map<string, number[]>;
  /** Ranks of main-graph tensors derived without running the model. */
  ranks?: Map<string, number>;
  types: Map<string, number>;
}

/**
 * A new model whose default-domain opset is `target` (13 or 21 are what the QDQ exporter needs), with every op
 * whose signature changed between the model's opset and `target` rewritten (Clip, Softmax/LogSoftmax/Hardmax,
 * Slice, Squeeze/Unsqueeze, Reduce*, Split, Pad, Upsample→Resize, Resize-10, BatchNormalization, Dropout, TopK,
 * Cast, Gemm, Concat, Reshape, Scatter, RoiAlign, GridSample, legacy broadcast attributes), subgraphs included.
 * The IR version is raised to what `target` needs. Throws QuantLensError for a downgrade and for ops whose change
 * it does not know how to rewrite. The input model is not modified; tensors are shared, not copied.
 */
export function upgradeOpset(model: ModelProto, target: number, opts: UpgradeOptions = {}): ModelProto {
  const imports = model.opset_import ?? [];
  const dflt = imports.find((o) => !o.domain || o.domain === 'ai.onnx');
  const from = Number(dflt?.version ?? 1);
  if (!Number.isInteger(target) || target < 1 || target > MAX_TARGET_OPSET) {
    throw new QuantLensError('opset-target', `cannot upgrade to opset ${target}: QuantLens supports targets up to ${MAX_TARGET_OPSET}`, opts.file);
  }
  if (target < from) throw new QuantLensError('opset-downgrade', `the model uses opset ${from}; it cannot be downgraded to ${target}`, opts.file);
  const functions = (model.functions ?? []) as { name?: string; opset_import?: { domain?: string; version?: number }[] }[];
  const fnUsingDefault = functions.find((f) => (f.opset_import ?? []).some((o) => !o.domain || o.domain === 'ai.onnx'));
  if (fnUsingDefault && target !== from) {
    throw new QuantLensError('opset-upgrade', `the model-local function '${fnUsingDefault.name}' uses ONNX operators; QuantLens cannot upgrade functions yet`, opts.file);
  }
  const ctx: Ctx = { from, to: target, file: opts.file, names: new Set(), shapes: opts.shapes, types: new Map() };
  collectNames(model.graph!, ctx);
  if (!opts.shapes) {
    try { ctx.ranks = staticRanks(new Graph(model, opts.file)); } catch { /* ranks stay unknown: Softmax rewrites keep the general form */ }
  }
  const graph = from === target ? model.graph! : upgradeGraph(model.graph!, ctx);
  return {
    ...model,
    ir_version: Math.max(Number(model.ir_version ?? 0), irVersionForOpset(target)),
    opset_import: [{ domain: '', version: target }, ...imports.filter((o) => o !== dflt)],
    graph,
  };
}

function collectNames(g: GraphProto, ctx: Ctx): void {
  for (const t of g.initializer ?? []) { ctx.names.add(t.name ?? ''); ctx.types.set(t.name ?? '', t.data_type ?? 0); }
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) {
    ctx.names.add(v.name ?? '');
    const et = v.type?.tensor_type?.elem_type;
    if (et) ctx.types.set(v.name ?? '', et);
  }
  for (const n of g.node ?? []) {
    for (const o of [...(n.input ?? []), ...(n.output ?? [])]) ctx.names.add(o);
    if (n.name) ctx.names.add(n.name);
    if (n.op_type === 'Constant') { const t = constantNodeTensor(n); if (t) ctx.types.set(n.output?.[0] ?? '', t.data_type ?? 0); }
    for (const a of n.attribute ?? []) { if (a.g) collectNames(a.g, ctx); for (const s of a.graphs ?? []) collectNames(s, ctx); }
  }
}

function fresh(ctx: Ctx, hint: string): string {
  let name = hint, k = 0;
  while (ctx.names.has(name)) name = `${hint}_${++k}`;
  ctx.names.add(name);
  return name;
}

/** Per-graph helpers handed to rewrite rules. */
class Emitter {
  readonly inits: TensorProto[] = [];
  private readonly producers = new Map<string, NodeProto>();
  constructor(readonly ctx: Ctx, graph: GraphProto) {
    for (const n of graph.node ?? []) for (const o of n.output ?? []) this.producers.set(o, n);
  }
  /** An int64 initializer. */
  ints(hint: string, values: number[], dims: number[] = [values.length]): string {
    const name = fresh(this.ctx, hint);
    this.inits.push({ name, dims, data_type: DataType.INT64, int64_data: values });
    return name;
  }
  /** A scalar (or 1-D when dims given) of the element type of `like`, for float-valued attributes turned into inputs. */
  floats(hint: string, values: number[], like: string, dims: number[] = []): string {
    const name = fresh(this.ctx, hint);
    const type = this.typeOf(like);
    if (type === DataType.DOUBLE) this.inits.push({ name, dims, data_type: type, double_data: values });
    else if (type === DataType.FLOAT16) this.inits.push({ name, dims, data_type: type, int32_data: values.map(floatToHalf) });
    else if (type === DataType.FLOAT) this.inits.push({ name, dims, data_type: type, float_data: values });
    else if (type === DataType.INT64 || type === DataType.UINT64) this.inits.push({ name, dims, data_type: type, int64_data: values.map(Math.trunc) });
    else if (type === DataType.INT32 || type === DataType.INT8 || type === DataType.UINT8 || type === DataType.INT16 || type === DataType.UINT16) this.inits.push({ name, dims, data_type: type, int32_data: values.map(Math.trunc) });
    else throw new QuantLensError('opset-upgrade', `cannot make a ${DataType[type] ?? type} constant for '${like}'`, this.ctx.file);
    return name;
  }
  /** An empty float tensor (the `roi` input Resize-11/12 requires). */
  emptyFloat(hint: string): string {
    const name = fresh(this.ctx, hint);
    this.inits.push({ name, dims: [0], data_type: DataType.FLOAT });
    return name;
  }
  /** Element type of a tensor: declared, stored, or followed back through its producer (float when unknown). */
  typeOf(t: string, depth = 0): number {
    const known = this.ctx.types.get(t);
    if (known) return known;
    const p = this.producers.get(t);
    if (!p || depth > 200) return DataType.FLOAT;
    const op = p.op_type ?? '';
    if (op === 'Cast') return attrInt(p, 'to', DataType.FLOAT);
    if (['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf',
      'QuantizeLinear', 'DequantizeLinear', 'ConstantOfShape', 'Range', 'RandomNormal', 'RandomUniform', 'Constant'].includes(op)) return DataType.FLOAT;
    const src = op === 'Where' ? p.input?.[1] : p.input?.[0];
    const type = src ? this.typeOf(src, depth + 1) : DataType.FLOAT;
    this.ctx.types.set(t, type);
    return type;
  }
  /** The stored value of a constant input (initializer of this graph or Constant node), as numbers. */
  constantNumbers(t: string, graph: GraphProto): number[] | undefined {
    const init = graph.initializer?.find((i) => i.name === t);
    const p = this.producers.get(t);
    const proto = init ?? (p?.op_type === 'Constant' ? constantNodeTensor(p) : undefined);
    return proto ? Array.from(toFloat64(tensorFromProto(proto))) : undefined;
  }
  /** Rank of a tensor when known from shapes or the graph's value info. */
  rankOf(t: string, graph: GraphProto): number | undefined {
    const s = this.ctx.shapes?.get(t);
    if (s) return s.length;
    const r = this.ctx.ranks?.get(t);
    if (r !== undefined) return r;
    const v = [...(graph.value_info ?? []), ...(graph.input ?? []), ...(graph.output ?? [])].find((x) => x.name === t);
    return v?.type?.tensor_type?.shape?.dim?.length;
  }
}

function upgradeGraph(g: GraphProto, ctx: Ctx): GraphProto {
  const em = new Emitter(ctx, g);
  const out: NodeProto[] = [];
  for (const node of g.node ?? []) {
    const n: NodeProto = {
      ...node,
      input: (node.input ?? []).slice(),
      output: (node.output ?? []).slice(),
      attribute: (node.attribute ?? []).map((a) => (a.g || a.graphs?.length ? { ...a, g: a.g ? upgradeGraph(a.g, ctx) : a.g, graphs: a.graphs?.map((s) => upgradeGraph(s, ctx)) } : a)),
    };
    if (n.domain && n.domain !== 'ai.onnx') { out.push(n); continue; }
    out.push(...rewrite(n, em, g));
  }
  return { ...g, node: out, initializer: [...(g.initializer ?? []), ...em.inits] };
}

const crosses = (ctx: Ctx, version: number) => ctx.from < version && ctx.to >= version;

function drop(n: NodeProto, ...names: string[]): void {
  n.attribute = (n.attribute ?? []).filter((a) => !names.includes(a.name ?? ''));
}

function setAttr(n: NodeProto, name: string, value: AttrValue): void {
  drop(n, name);
  n.attribute!.push(makeAttribute(name, value));
}

function fail(n: NodeProto, em: Emitter, why: string): never {
  throw new QuantLensError('opset-upgrade', `cannot upgrade node '${n.name || n.output?.[0]}' (${n.op_type}) from opset ${em.ctx.from} to ${em.ctx.to}: ${why}`, em.ctx.file);
}

/** Turns an int-list attribute into an int64 input at position `index` (padding skipped optional inputs with ''). */
function attrToInput(n: NodeProto, em: Emitter, name: string, index: number): boolean {
  const a = attr(n, name);
  if (!a) return false;
  const values = (a.ints ?? []).map(Number);
  drop(n, name);
  while (n.input!.length < index) n.input!.push('');
  n.input![index] = em.ints(`${n.name || n.output?.[0]}_${name}`, values);
  return true;
}

function rewrite(n: NodeProto, em: Emitter, g: GraphProto): NodeProto[] {
  const ctx = em.ctx;
  const op = n.op_type ?? '';
  const base = n.name || n.output?.[0] || op;
  if (ctx.from < 7) {
    drop(n, 'consumed_inputs');
    if (LEGACY_BROADCAST.has(op)) {
      if (attr(n, 'axis') && attrInt(n, 'broadcast', 0) === 1) fail(n, em, 'legacy broadcasting with an explicit axis');
      drop(n, 'broadcast', 'axis');
    }
  }
  switch (op) {
    case 'Clip':
      if (crosses(ctx, 11)) {
        const min = attr(n, 'min'), max = attr(n, 'max');
        drop(n, 'min', 'max');
        n.input = [n.input![0],
          min ? em.floats(`${base}_min`, [Number(min.f ?? 0)], n.input![0]) : '',
          max ? em.floats(`${base}_max`, [Number(max.f ?? 0)], n.input![0]) : ''];
        while (n.input.length > 1 && n.input[n.input.length - 1] === '') n.input.pop();
      }
      return [n];
    case 'Softmax': case 'LogSoftmax': case 'Hardmax': {
      if (!crosses(ctx, 13)) return [n];
      const axis = attrInt(n, 'axis', 1);
      const x = n.input![0];
      const rank = em.rankOf(x, g);
      if (rank !== undefined && (axis === rank - 1 || axis === -1)) { setAttr(n, 'axis', -1); return [n]; }
      // Old semantics: coerce to 2-D at `axis`, normalise over the flattened trailing part, restore the shape.
      const flat = fresh(ctx, `${base}_flat`), shape = fresh(ctx, `${base}_shape`), y = fresh(ctx, `${base}_2d`);
      const out = n.output![0];
      return [
        { name: fresh(ctx, `${base}/Flatten`), op_type: 'Flatten', domain: '', input: [x], output: [flat], attribute: [makeAttribute('axis', axis)] },
        { ...n, input: [flat], output: [y], attribute: [makeAttribute('axis', -1)] },
        { name: fresh(ctx, `${base}/Shape`), op_type: 'Shape', domain: '', input: [x], output: [shape], attribute: [] },
        { name: fresh(ctx, `${base}/Reshape`), op_type: 'Reshape', domain: '', input: [y, shape], output: [out], attribute: [] },
      ];
    }
    case 'Slice':
      if (crosses(ctx, 10)) {
        const starts = attrInts(n, 'starts', []), ends = attrInts(n, 'ends', []), axes = attr(n, 'axes');
        const axesValues = axes ? attrInts(n, 'axes', []) : undefined;
        drop(n, 'starts', 'ends', 'axes');
        n.input = [n.input![0], em.ints(`${base}_starts`, starts), em.ints(`${base}_ends`, ends)];
        if (axesValues) n.input.push(em.ints(`${base}_axes`, axesValues));
      }
      return [n];
    case 'Squeeze': case 'Unsqueeze':
      if (crosses(ctx, 13)) attrToInput(n, em, 'axes', 1);
      return [n];
    case 'ReduceSum':
      if (crosses(ctx, 13)) attrToInput(n, em, 'axes', 1);
      return [n];
    case 'Split':
      if (crosses(ctx, 13)) attrToInput(n, em, 'split', 1);
      if (crosses(ctx, 18) && !n.input![1]) { n.input = [n.input![0]]; setAttr(n, 'num_outputs', n.output!.length); }
      return [n];
    case 'Pad':
      if (crosses(ctx, 11)) {
        const pads = attrInts(n, 'pads', attrInts(n, 'paddings', []));
        const value = attrFloat(n, 'value', 0);
        const mode = attrString(n, 'mode', 'constant');
        drop(n, 'pads', 'paddings', 'value');
        n.input = [n.input![0], em.ints(`${base}_pads`, pads)];
        if (mode === 'constant' && value !== 0) n.input.push(em.floats(`${base}_value`, [value], n.input[0]));
      }
      return [n];
    case 'Upsample': return [upsampleToResize(n, em, g, base)];
    case 'Resize':
      if (crosses(ctx, 11)) return [resize10(n, em, g, base)];
      if (crosses(ctx, 13) && attrString(n, 'coordinate_transformation_mode', '') === 'tf_half_pixel_for_nn') fail(n, em, "coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed in opset 13");
      return [n];
    case 'BatchNormalization':
      if (ctx.from < 9 && ctx.to >= 9) {
        if (attr(n, 'spatial') && attrInt(n, 'spatial', 1) === 0) fail(n, em, 'spatial=0 (per-activation statistics) has no equivalent after opset 9');
        drop(n, 'spatial', 'is_test', 'consumed_inputs');
      }
      if (crosses(ctx, 14) && n.output!.slice(1).some((o) => o)) {
        if (n.output!.slice(1).some((o) => o && ctx.names.has(o) && isUsed(g, o))) fail(n, em, 'training-mode outputs (running mean/variance) are used');
        n.output = n.output!.slice(0, 1);
      }
      return [n];
    case 'Dropout':
      if (crosses(ctx, 12) || ctx.from < 7) drop(n, 'ratio', 'is_test');
      return [n];
    case 'TopK':
      if (crosses(ctx, 10)) { const k = attrInt(n, 'k', 1); drop(n, 'k'); n.input = [n.input![0], em.ints(`${base}_k`, [k])]; }
      return [n];
    case 'Cast': {
      const to = attr(n, 'to');
      if (to?.s && to.s.length) {
        const name = Buffer.from(to.s).toString('utf8').toUpperCase();
        if (CAST_NAMES[name] === undefined) fail(n, em, `unknown Cast target '${name}'`);
        setAttr(n, 'to', CAST_NAMES[name]);
      }
      return [n];
    }
    case 'Gemm': return [n];
    case 'Concat':
      if (ctx.from < 4 && !attr(n, 'axis')) setAttr(n, 'axis', 1);
      return [n];
    case 'Reshape':
      if (crosses(ctx, 5) && attr(n, 'shape')) { const s = attrInts(n, 'shape', []); drop(n, 'shape'); n.input = [n.input![0], em.ints(`${base}_shape`, s)]; }
      return [n];
    case 'Scatter':
      if (ctx.to >= 11) n.op_type = 'ScatterElements';
      return [n];
    case 'RoiAlign':
      if (crosses(ctx, 16) && !attr(n, 'coordinate_transformation_mode')) setAttr(n, 'coordinate_transformation_mode', 'output_half_pixel');
      return [n];
    case 'GridSample':
      if (crosses(ctx, 20)) {
        const mode = attrString(n, 'mode', 'bilinear');
        setAttr(n, 'mode', mode === 'bilinear' ? 'linear' : mode === 'bicubic' ? 'cubic' : mode);
      }
      return [n];
    case 'ReduceMean': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd': case 'ReduceL1': case 'ReduceL2':
    case 'ReduceLogSum': case 'ReduceLogSumExp': case 'ReduceSumSquare':
      if (crosses(ctx, 18)) attrToInput(n, em, 'axes', 1);
      return [n];
  }
  const since = COMPATIBLE_SINCE[op];
  if (since === undefined) fail(n, em, 'QuantLens does not know how this operator changed between these opsets');
  if (crosses(ctx, since)) fail(n, em, `its signature changed at opset ${since} and QuantLens has no rewrite for it`);
  return [n];
}

function isUsed(g: GraphProto, t: string): boolean {
  return (g.node ?? []).some((n) => n.input?.includes(t)) || (g.output ?? []).some((o) => o.name === t);
}

/** The nearest mode that reproduces the pre-opset-11 behaviour (truncate when upsampling, ceil when downsampling). */
function legacyNearestMode(n: NodeProto, em: Emitter, scales: number[] | undefined): string {
  // Unknown scales: assume upsampling, the only use Upsample allows.
  if (!scales || scales.every((s) => s >= 1)) return 'floor';
  if (scales.every((s) => s <= 1)) return 'ceil';
  return fail(n, em, 'nearest resize that upsamples some axes and downsamples others has no opset-11 equivalent');
}

function resizeNode(n: NodeProto, em: Emitter, base: string, scales: string, mode: string, scaleValues: number[] | undefined): NodeProto {
  const linear = mode === 'linear' || mode === 'bilinear';
  const attrs: AttributeProto[] = [makeAttribute('mode', linear ? 'linear' : 'nearest'), makeAttribute('coordinate_transformation_mode', 'asymmetric')];
  if (!linear) attrs.push(makeAttribute('nearest_mode', legacyNearestMode(n, em, scaleValues)));
  const roi = em.ctx.to >= 13 ? '' : em.emptyFloat(`${base}_roi`);
  return { name: n.name, op_type: 'Resize', domain: '', input: [n.input![0], roi, scales], output: n.output, attribute: attrs };
}

function upsampleToResize(n: NodeProto, em: Emitter, g: GraphProto, base: string): NodeProto {
  if (em.ctx.to < 10) return n;
  const mode = attrString(n, 'mode', 'nearest');
  let scales: string, values: number[] | undefined;
  if (n.input!.length > 1 && n.input![1]) {
    scales = n.input![1];
    values = em.constantNumbers(scales, g);
  } else if (attr(n, 'scales')) {
    values = (attr(n, 'scales')!.floats ?? []).map(Number);
    scales = em.floats(`${base}_scales`, values, '', [values.length]);
  } else {
    values = [1, 1, attrFloat(n, 'height_scale', 1), attrFloat(n, 'width_scale', 1)];
    scales = em.floats(`${base}_scales`, values, '', [4]);
  }
  return resizeNode(n, em, base, scales, mode, values);
}

function resize10(n: NodeProto, em: Emitter, g: GraphProto, base: string): NodeProto {
  const scales = n.input![1];
  return resizeNode(n, em, base, scales, attrString(n, 'mode', 'nearest'), em.constantNumbers(scales, g));
}
