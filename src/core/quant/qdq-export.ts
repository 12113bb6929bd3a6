/** Export of a quantization plan as a QDQ ONNX model (QuantizeLinear/DequantizeLinear) that ONNX Runtime runs as is. */
import { formatToString, NumberFormat } from '../../shared/formats';
import { CalibrationSpec } from '../../shared/recipe';
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { shareTiedWeights } from './tied-weights';
import { upgradeOpset } from '../onnx/opset-upgrade';
import { DataType, ModelProto, TensorProto } from '../onnx/proto';
import { floatToBfloat16, floatToHalf, packInt4, Tensor } from '../onnx/tensor-data';
import { ModelEditor } from './graph-edit';
import { activationParams, QuantParams, scaleDims, weightLayout, weightParams } from './qparams';
import { floatToFloat8, quantize } from './quantize';
import { applyMatMulNBits, matMulNBitsBlocker } from './matmul-nbits';

/** What to do with one layer: its weight's format (and fixed parameters) and its activation inputs' formats. */
export interface QuantPlanLayer {
  /** The node name (unique, as the Graph names it). */
  node: string;
  weight?: {
    tensor: string;
    format: NumberFormat;
    channelAxis: number;
    reductionAxis: number;
    /** Fixed parameters (e.g. learned by QAT); computed from the weight's values when absent. */
    params?: QuantParams;
  };
  /** Activation inputs of the node to quantize; `params` fixes the quantizer, else it comes from the range. */
  activations: { tensor: string; format: NumberFormat; params?: QuantParams; calibration?: CalibrationSpec }[];
}

/** A quantization plan: one entry per layer to quantize. */
export type QuantPlan = QuantPlanLayer[];

/** Calibrated activation ranges by tensor name. */
export type RangeMap = Map<string, { min: number; max: number }>;

/** Options of exportQdq / buildFakeQuantModel. */
export interface ExportOptions {
  /** Values of weights that are derived from constants by other nodes (see onnx/constant-fold.ts). */
  weightValues?: Map<string, Tensor>;
  /** File name for error messages. */
  file?: string;
  /**
   * exportQdq only: weight-only blocked MatMul/Gemm layers (int2..int8 blocks of a power of two >= 16, float
   * activations) become `com.microsoft` MatMulNBits (see matmul-nbits.ts) instead of DequantizeLinear + MatMul.
   */
  matMulNBits?: boolean;
  /** MatMulNBits' accuracy_level (default 0: ONNX Runtime's default kernel). */
  accuracyLevel?: number;
}

/** The storage type of an integer format: int4/uint4 up to 4 bits, int8/uint8 up to 8, int16/uint16 above. */
export function containerType(format: NumberFormat): DataType {
  if (format.kind !== 'int') throw new Error(`not an integer format: ${formatToString(format)}`);
  if (format.bits <= 4) return format.signed ? DataType.INT4 : DataType.UINT4;
  if (format.bits <= 8) return format.signed ? DataType.INT8 : DataType.UINT8;
  return format.signed ? DataType.INT16 : DataType.UINT16;
}

/** True when the format's bit width is narrower than its storage type (a Clip after DequantizeLinear keeps activations in range). */
export function needsClip(format: NumberFormat): boolean {
  return format.kind === 'int' && format.bits !== 4 && format.bits !== 8 && format.bits !== 16;
}

/**
 * The lowest default-domain opset ONNX Runtime needs for a format: per-axis int8 Q/DQ 13, int16/uint16,
 * int4/uint4 and blocked 21 (ONNX Runtime runs int16 at 21, not 19), bfloat16 Cast 13, float8 19.
 */
export function opsetFor(format: NumberFormat): number {
  switch (format.kind) {
    case 'float': return 1;
    case 'float16': return 6;
    case 'bfloat16': return 13;
    case 'float8': return 19;
    case 'int': {
      if (format.granularity.kind === 'block' || format.bits <= 4 || format.bits > 8) return 21;
      return 13;
    }
  }
}

/** Plan node names → their first output in `graph` (to find them again after an opset upgrade). */
export function aliasesOf(graph: Graph, plan: QuantPlan): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of plan) {
    const n = graph.byName.get(l.node);
    if (!n) throw new QuantLensError('plan-unknown-node', `the model has no node named '${l.node}'`, graph.file);
    if (n.outputs[0]) m.set(l.node, n.outputs[0]);
  }
  return m;
}

/** The opset a plan needs (the max over its formats, at least the model's own). */
export function planOpset(model: ModelProto | Graph, plan: QuantPlan): number {
  let need = (model instanceof Graph ? model : new Graph(model)).opset;
  for (const l of plan) {
    if (l.weight) need = Math.max(need, opsetFor(l.weight.format));
    for (const a of l.activations) {
      need = Math.max(need, opsetFor(a.format));
      if (needsClip(a.format)) need = Math.max(need, 13);
    }
  }
  return need;
}

/** Integer values as a TensorProto of the format's storage type (4-bit values packed two per byte). */
export function integerTensor(name: string, values: Int32Array, dims: number[], type: DataType): TensorProto {
  let bytes: Uint8Array;
  switch (type) {
    case DataType.INT4: case DataType.UINT4: bytes = packInt4(values); break;
    case DataType.INT8: bytes = new Uint8Array(Int8Array.from(values).buffer); break;
    case DataType.UINT8: bytes = Uint8Array.from(values); break;
    case DataType.INT16: bytes = new Uint8Array(Int16Array.from(values).buffer); break;
    case DataType.UINT16: bytes = new Uint8Array(Uint16Array.from(values).buffer); break;
    default: throw new Error(`not an integer storage type: ${DataType[type]}`);
  }
  return { name, dims, data_type: type, raw_data: bytes };
}

/** Checks an activation format (per-tensor only) and returns its parameters. */
export function activationQuantParams(tensor: string, format: NumberFormat, ranges: RangeMap, fixed: QuantParams | undefined, file?: string): QuantParams {
  if (format.kind !== 'int') throw new Error('activationQuantParams: integer formats only');
  if (format.granularity.kind !== 'tensor') {
    throw new QuantLensError('plan-activation-granularity', `activation '${tensor}': activations are quantized per tensor, got '${formatToString(format)}'`, file);
  }
  if (fixed) return fixed;
  const r = ranges.get(tensor);
  if (!r) throw new QuantLensError('plan-missing-range', `no calibrated range for activation '${tensor}'`, file);
  return activationParams(r.min, r.max, format);
}

/**
 * The parameters of a plan's weight and the shape they apply to (see weightLayout: blocked convolution
 * weights use the [O, I * prod(k)] view): fixed ones from the plan, or computed from the values.
 */
export function planWeightParams(w: NonNullable<QuantPlanLayer['weight']>, data: Float32Array, dims: number[]): { params: QuantParams; dims: number[]; reshaped: boolean } {
  const layout = weightLayout(dims, w.format, w.channelAxis, w.reductionAxis);
  const params = w.params ?? weightParams(data, layout.dims, w.format, layout.channelAxis, layout.reductionAxis);
  return { params, dims: layout.dims, reshaped: layout.reshaped };
}

/** Float values encoded in a narrow float type as raw bytes (float16, bfloat16 or float8). */
export function narrowFloatTensor(name: string, data: Float32Array, dims: number[], format: NumberFormat): TensorProto {
  if (format.kind === 'float16' || format.kind === 'bfloat16') {
    const bits = new Uint16Array(data.length);
    const enc = format.kind === 'float16' ? floatToHalf : floatToBfloat16;
    for (let i = 0; i < data.length; i++) bits[i] = enc(data[i]);
    return { name, dims, data_type: format.kind === 'float16' ? DataType.FLOAT16 : DataType.BFLOAT16, raw_data: new Uint8Array(bits.buffer) };
  }
  if (format.kind === 'float8') {
    const v = format.variant === 'e4m3fn' ? 'float8e4m3fn' : 'float8e5m2';
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) bytes[i] = floatToFloat8(data[i], v);
    return { name, dims, data_type: format.variant === 'e4m3fn' ? DataType.FLOAT8E4M3FN : DataType.FLOAT8E5M2, raw_data: bytes };
  }
  throw new Error(`not a narrow float format: ${formatToString(format)}`);
}

/** The ONNX element type of a narrow float format. */
export function floatFormatType(format: NumberFormat): DataType {
  switch (format.kind) {
    case 'float16': return DataType.FLOAT16;
    case 'bfloat16': return DataType.BFLOAT16;
    case 'float8': return format.variant === 'e4m3fn' ? DataType.FLOAT8E4M3FN : DataType.FLOAT8E5M2;
    default: throw new Error(`not a narrow float format: ${formatToString(format)}`);
  }
}

function scaleTensor(params: QuantParams, dims: number[]): Tensor {
  return { type: DataType.FLOAT, dims: scaleDims(dims, params), data: Float32Array.from(params.scale) };
}

/**
 * A new model with the plan applied as QDQ: integer weights become quantized initializers followed by
 * DequantizeLinear (per-tensor / per-axis `axis` / blocked `axis` + `block_size`); float16/bfloat16/float8
 * weights are stored narrow and Cast back to float; each activation gets one QuantizeLinear →
 * DequantizeLinear pair per (tensor, format), feeding only the plan's layers. Widths below the storage
 * type (e.g. int6 in int8) get a Clip after DequantizeLinear so saturation matches the format. The opset
 * is raised (upgradeOpset) when a format needs it. The input model is not modified; unchanged tensors
 * share its bytes. Biases stay float.
 */
export function exportQdq(model: ModelProto, plan: QuantPlan, ranges: RangeMap, options: ExportOptions = {}): ModelProto {
  const file = options.file;
  const original = new Graph(model, file);
  if (options.matMulNBits) {
    const nbits = plan.filter((l) => !matMulNBitsBlocker(original, l));
    if (nbits.length) {
      const rest = plan.map((l) => (nbits.includes(l) ? { ...l, weight: undefined } : l));
      return applyMatMulNBits(exportQdq(model, rest, ranges, { ...options, matMulNBits: false }), original, nbits, options.weightValues, options.accuracyLevel ?? 0);
    }
  }
  const opset = planOpset(original, plan);
  const base = opset > original.opset ? upgradeOpset(model, opset) : model;
  const ed = new ModelEditor(base, file, base === model ? original : undefined);
  if (base !== model) ed.aliases = aliasesOf(original, plan);
  rewritePlan(ed, plan, options.weightValues, {
    weight: (w, data, dims, at) => {
      if (w.format.kind === 'int') {
        const { params, dims: qdims, reshaped } = planWeightParams(w, data, dims);
        const type = containerType(w.format);
        const q = quantize(data, qdims, params);
        const qName = ed.addInitializer(`${w.tensor}_quantized`, integerTensor('', q, qdims, type));
        const sName = ed.addInitializer(`${w.tensor}_scale`, scaleTensor(params, qdims));
        const zName = ed.addInitializer(`${w.tensor}_zero_point`, integerTensor('', params.zeroPoint, scaleDims(qdims, params), type));
        let out = ed.addNode(at, 'DequantizeLinear', [qName, sName, zName], `${w.tensor}_DequantizeLinear_Output`, {
          axis: params.axis, block_size: params.blockSize,
        });
        if (reshaped) {
          const shape = ed.addInitializer(`${w.tensor}_shape`, { type: DataType.INT64, dims: [dims.length], data: BigInt64Array.from(dims.map(BigInt)) });
          out = ed.addNode(at, 'Reshape', [out, shape], `${w.tensor}_Reshape_Output`);
        }
        return out;
      }
      const stored = ed.addInitializer(`${w.tensor}_${formatToString(w.format)}`, narrowFloatTensor('', data, dims, w.format));
      return ed.addNode(at, 'Cast', [stored], `${w.tensor}_Cast_Output`, { to: DataType.FLOAT });
    },
    activation: (a, at) => {
      if (a.format.kind !== 'int') {
        const narrow = ed.addNode(at, 'Cast', [a.tensor], `${a.tensor}_Cast_${formatToString(a.format)}`, { to: floatFormatType(a.format) });
        return ed.addNode(at, 'Cast', [narrow], `${a.tensor}_Cast_Output`, { to: DataType.FLOAT });
      }
      const params = activationQuantParams(a.tensor, a.format, ranges, a.params, file);
      const type = containerType(a.format);
      const sName = ed.addInitializer(`${a.tensor}_scale`, scaleTensor(params, []));
      const zName = ed.addInitializer(`${a.tensor}_zero_point`, integerTensor('', params.zeroPoint, [], type));
      const q = ed.addNode(at, 'QuantizeLinear', [a.tensor, sName, zName], `${a.tensor}_QuantizeLinear_Output`);
      const dq = ed.addNode(at, 'DequantizeLinear', [q, sName, zName], `${a.tensor}_DequantizeLinear_Output`);
      if (!needsClip(a.format)) return dq;
      // Clip after DequantizeLinear: (qmin - zp) * s is exactly what DQ gives for qmin, so the result equals the
      // narrower format's saturation; a Clip before QuantizeLinear made ORT 1.30's optimized run deviate (measured).
      const s = params.scale[0];
      const z = params.zeroPoint[0];
      const lo = ed.addInitializer(`${a.tensor}_clip_min`, { type: DataType.FLOAT, dims: [], data: Float32Array.of((params.qmin - z) * s) });
      const hi = ed.addInitializer(`${a.tensor}_clip_max`, { type: DataType.FLOAT, dims: [], data: Float32Array.of((params.qmax - z) * s) });
      return ed.addNode(at, 'Clip', [dq, lo, hi], `${a.tensor}_Clip_Output`);
    },
  });
  // a weight tied between two layers (quantized the same way for both) is exported once
  return shareTiedWeights(ed.build(opset)).model;
}

/** How the tensors of a plan are replaced: each emitter returns the tensor the layer reads instead. */
export interface PlanEmitters {
  /** Emits a quantized weight (values given) before node index `at`. */
  weight(w: NonNullable<QuantPlanLayer['weight']>, data: Float32Array, dims: number[], at: number): string;
  /** Emits a quantized activation before node index `at`. */
  activation(a: QuantPlanLayer['activations'][number], at: number): string;
}

/**
 * Walks the plan: each distinct (tensor, format, fixed parameters) is emitted once, at its first planned consumer,
 * and every planned layer is rewired to it; float formats are left alone.
 */
export function rewritePlan(ed: ModelEditor, plan: QuantPlan, weightValues: Map<string, Tensor> | undefined, emit: PlanEmitters): void {
  const out = new Map<string, string>();
  const actAt = firstConsumers(ed, plan);
  const once = (key: string, make: () => string) => {
    let name = out.get(key);
    if (!name) out.set(key, (name = make()));
    return name;
  };
  for (const layer of plan) {
    const node = ed.node(layer.node);
    const w = layer.weight;
    if (w && w.format.kind !== 'float') {
      const name = once(`w|${w.tensor}|${formatToString(w.format)}|${w.params ? layer.node : ''}`, () => {
        const { data, dims } = ed.weightValue(w.tensor, weightValues);
        return emit.weight(w, data, dims, actAt.get(`w|${w.tensor}`) ?? node.index);
      });
      ed.rewire(node, w.tensor, name);
      ed.dropIfUnused(w.tensor);
    }
    for (const a of layer.activations) {
      if (a.format.kind === 'float') continue;
      ed.assertFloatActivation(a.tensor);
      const name = once(`a|${a.tensor}|${formatToString(a.format)}|${a.params ? layer.node : ''}`, () => emit.activation(a, actAt.get(`a|${a.tensor}`) ?? node.index));
      ed.rewire(node, a.tensor, name);
    }
  }
}

/** For each weight/activation tensor of the plan, the earliest topological index among its planned consumers. */
export function firstConsumers(ed: ModelEditor, plan: QuantPlan): Map<string, number> {
  const at = new Map<string, number>();
  const note = (k: string, i: number) => { const v = at.get(k); if (v === undefined || i < v) at.set(k, i); };
  for (const l of plan) {
    const n = ed.node(l.node);
    if (l.weight) note(`w|${l.weight.tensor}`, n.index);
    for (const a of l.activations) note(`a|${a.tensor}`, n.index);
  }
  return at;
}
