/**
 * The core's own simulation of a quantization plan: weights replaced by their fake-quantized float
 * values (computed in JS), activations fake-quantized with float ops only. ONNX Runtime runs it with the
 * same results as the exported QDQ model (with graph optimizations off: bit for bit).
 *
 * Activation fake quantization: y = Mul(Round(Clip(Div(x, s), qmin - zp, qmax - zp)), s). This equals
 * DequantizeLinear(QuantizeLinear(x)) = (clamp(round(x / s) + zp, qmin, qmax) - zp) * s because clamping to
 * integer bounds commutes with rounding, and the Div is the same float32 division QuantizeLinear does.
 * Below opset 11 (no Round) the rounding is (v + 1.5 * 2^23) - 1.5 * 2^23 in float32, which rounds half
 * to even for |v| <= 2^22 (true after the Clip) and Clip takes min/max attributes.
 */
import { float } from '../onnx/builder';
import { DataType, ModelProto } from '../onnx/proto';
import { ModelEditor } from './graph-edit';
import { activationQuantParams, aliasesOf, ExportOptions, floatFormatType, opsetFor, planWeightParams, QuantPlan, RangeMap, rewritePlan } from './qdq-export';
import { Graph } from '../onnx/graph';
import { upgradeOpset } from '../onnx/opset-upgrade';
import { fakeQuantize, quantizeWeight } from './quantize';

/** The float magic number whose addition rounds a float32 of magnitude <= 2^22 to an integer, half to even. */
const ROUND_MAGIC = 12582912; // 1.5 * 2^23

/**
 * A new model simulating `plan` in float (see the module comment); the input model is not modified. It keeps
 * the model's opset unless a bfloat16 (13) or float8 (19) activation Cast needs a higher one.
 */
export function buildFakeQuantModel(model: ModelProto, plan: QuantPlan, ranges: RangeMap, options: ExportOptions = {}): ModelProto {
  const file = options.file;
  // Casts to bfloat16 / float8 need opset 13 / 19: raise the opset only for those (integer formats work at any opset).
  let need = 0;
  for (const l of plan) for (const a of l.activations) if (a.format.kind === 'bfloat16' || a.format.kind === 'float8') need = Math.max(need, opsetFor(a.format));
  const original = new Graph(model, file);
  const base = need > original.opset ? upgradeOpset(model, need) : model;
  const ed = new ModelEditor(base, file, base === model ? original : undefined);
  if (base !== model) ed.aliases = aliasesOf(original, plan);
  const opset = ed.graph.opset;
  rewritePlan(ed, plan, options.weightValues, {
    weight: (w, data, dims) => {
      const fake = w.format.kind === 'int'
        ? (() => { const p = planWeightParams(w, data, dims); return fakeQuantize(data, p.dims, p.params); })()
        : quantizeWeight(data, dims, w.format, w.channelAxis, w.reductionAxis).fake;
      return ed.addInitializer(`${w.tensor}_fakequant`, { type: DataType.FLOAT, dims, data: fake });
    },
    activation: (a, at) => {
      if (a.format.kind !== 'int') {
        const narrow = ed.addNode(at, 'Cast', [a.tensor], `${a.tensor}_fq_cast`, { to: floatFormatType(a.format) });
        return ed.addNode(at, 'Cast', [narrow], `${a.tensor}_fakequant`, { to: DataType.FLOAT });
      }
      const p = activationQuantParams(a.tensor, a.format, ranges, a.params, file);
      const s = p.scale[0];
      const z = p.zeroPoint[0];
      const sName = ed.addInitializer(`${a.tensor}_scale`, { type: DataType.FLOAT, dims: [], data: Float32Array.of(s) });
      const div = ed.addNode(at, 'Div', [a.tensor, sName], `${a.tensor}_fq_div`);
      let rounded: string;
      if (opset >= 11) {
        const lo = ed.addInitializer(`${a.tensor}_fq_lo`, { type: DataType.FLOAT, dims: [], data: Float32Array.of(p.qmin - z) });
        const hi = ed.addInitializer(`${a.tensor}_fq_hi`, { type: DataType.FLOAT, dims: [], data: Float32Array.of(p.qmax - z) });
        const clip = ed.addNode(at, 'Clip', [div, lo, hi], `${a.tensor}_fq_clip`);
        rounded = ed.addNode(at, 'Round', [clip], `${a.tensor}_fq_round`);
      } else {
        const clip = ed.addNode(at, 'Clip', [div], `${a.tensor}_fq_clip`, { min: float(p.qmin - z), max: float(p.qmax - z) });
        const magic = ed.addInitializer(`${a.tensor}_fq_magic`, { type: DataType.FLOAT, dims: [], data: Float32Array.of(ROUND_MAGIC) });
        const up = ed.addNode(at, 'Add', [clip, magic], `${a.tensor}_fq_magic_add`);
        rounded = ed.addNode(at, 'Sub', [up, magic], `${a.tensor}_fq_round`);
      }
      return ed.addNode(at, 'Mul', [rounded, sName], `${a.tensor}_fakequant`);
    },
  });
  return ed.build(base === model ? undefined : need);
}
