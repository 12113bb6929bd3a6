/**
 * Fake quantization inside the training graph: y = (clip(round(x / s) + z, qmin, qmax) - z) * s, with the
 * straight-through estimator (gradient zero outside the clip range) and optional LSQ-learned scales.
 * Rounding is ONNX Round (half to even) and saturation is QuantizeLinear's, so the simulation equals Q/DQ.
 */
import { DataType } from '../onnx/proto';
import { sizeOf } from '../onnx/tensor-data';
import { FwdNode, GradContext, GradRule } from './grad-context';

/** How one scale is shared across a tensor. */
export type FqGranularity = { kind: 'tensor' } | { kind: 'channel'; axis: number } | { kind: 'block'; axis: number; size: number };

/** One fake-quantized tensor of the training graph. */
export interface FakeQuantSpec {
  /** Tensor to quantize (a trainable weight or an activation). */
  tensor: string;
  /** Node inputs that read the quantized tensor instead: [node name, input index]. */
  uses: [string, number][];
  role: 'weight' | 'activation';
  bits: number;
  signed: boolean;
  granularity: FqGranularity;
  /** Scales in canonical shape: [] per tensor, [C] per channel, the tensor's dims with dims[axis] = blocks for blocks. */
  scale: Float32Array;
  /** Integer zero points, same layout as `scale` (all 0 for symmetric). */
  zeroPoint: Int32Array;
  /** Learn the scale with LSQ. */
  learnScale: boolean;
}

/** The integer range of a format: [qmin, qmax]. */
export function qRange(bits: number, signed: boolean): [number, number] {
  return signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}

/** Canonical dims of the scale of a tensor with dims `xs`. */
export function scaleDims(xs: number[], g: FqGranularity): number[] {
  if (g.kind === 'tensor') return [];
  if (g.kind === 'channel') return [xs[g.axis]];
  return xs.map((d, i) => (i === g.axis ? Math.ceil(d / g.size) : d));
}

/** Shapes the quantized computation works in: x (padded to whole blocks) reshaped to xb, scale broadcast as sb. */
function workShapes(xs: number[], g: FqGranularity): { xb: number[]; sb: number[]; padEnd: number } {
  if (g.kind === 'tensor') return { xb: xs, sb: [], padEnd: 0 };
  if (g.kind === 'channel') return { xb: xs, sb: xs.map((d, i) => (i === g.axis ? d : 1)), padEnd: 0 };
  const nb = Math.ceil(xs[g.axis] / g.size);
  const xb = [...xs.slice(0, g.axis), nb, g.size, ...xs.slice(g.axis + 1)];
  const sb = [...xs.slice(0, g.axis), nb, 1, ...xs.slice(g.axis + 1)];
  return { xb, sb, padEnd: nb * g.size - xs[g.axis] };
}

/** Graph input names carrying a spec's scale. */
export function scaleInputName(spec: FakeQuantSpec): string {
  return `${spec.tensor}__qscale`;
}

/**
 * Emits the forward fake quantization of `spec` reading `x` and the scale input; returns the quantized
 * tensor and the node (with its STE/LSQ gradient rule) to place in the differentiated node list. `recompute`: the
 * arithmetic form's backward quantizes x again instead of keeping x/s and the levels from the forward (a weight
 * fake-quantized once before the micro-batch Loop: ViT-B/16 kept 2 x 344 MB alive through the whole Loop).
 */
export function emitFakeQuant(ctx: GradContext, spec: FakeQuantSpec, x: string, scaleInput: string, index: number, opts: { qdq?: boolean; clip?: ClipBefore; recompute?: boolean } = {}): { y: string; node: FwdNode; rule: GradRule } {
  if (opts.qdq && qdqApplies(ctx, spec, ctx.shape(x))) return emitQdqFakeQuant(ctx, spec, x, scaleInput, index, opts.clip && clipFuses(spec, opts.clip) ? opts.clip : undefined);
  const xs = ctx.shape(x);
  const { xb, sb, padEnd } = workShapes(xs, spec.granularity);
  const [qmin, qmax] = qRange(spec.bits, spec.signed);
  const reshaped = xb.length !== xs.length;
  // A last partial block is zero-padded to a whole one (zeros quantize to zero and add nothing to LSQ).
  const axis = spec.granularity.kind === 'block' ? spec.granularity.axis : 0;
  const padded = xs.map((d, i) => (i === axis ? d + padEnd : d));
  const pad = (t: string) => (padEnd ? ctx.op('Pad', [t, ctx.ints([...xs.map(() => 0), ...xs.map((_, i) => (i === axis ? padEnd : 0))])]) : t);
  const unpad = (t: string) => (padEnd ? ctx.op('Slice', [t, ctx.ints([0]), ctx.ints([xs[axis]]), ctx.ints([axis])]) : t);
  const toWork = (t: string) => (reshaped ? ctx.reshape(pad(t), xb) : t);
  const fromWork = (t: string) => (reshaped ? unpad(ctx.reshape(t, padded)) : t);
  const xw = toWork(x);
  const s = spec.granularity.kind === 'tensor' ? scaleInput : ctx.reshape(scaleInput, sb);
  const z0 = spec.zeroPoint[0] ?? 0;
  const uniformZ = spec.zeroPoint.every((z) => z === z0);
  const z = uniformZ ? undefined : ctx.floats(spec.zeroPoint, sb);
  // clip(round(v) + z, qmin, qmax) - z = clip(round(v), qmin - z, qmax - z) for integer z: with one zero point the
  // bounds are scalars and the zero point never enters the graph.
  const lo = ctx.scalar(qmin - z0), hi = ctx.scalar(qmax - z0);
  const quantize = (c: GradContext, sv: string, xv: string) => {
    const div = c.op('Div', [xv, sv]);
    const r = c.op('Round', [div]);
    return { div, qc: z ? c.op('Sub', [c.op('Clip', [c.op('Add', [r, z]), c.scalar(qmin), c.scalar(qmax)]), z]) : c.op('Clip', [r, lo, hi]) };
  };
  const fq = quantize(ctx, s, xw);
  const qc = fq.qc;
  const yw = ctx.op('Mul', [qc, s]);
  const y = fromWork(yw);
  ctx.setShape(y, xs);
  const name = `FakeQuant#${index}:${spec.tensor}`;
  const node: FwdNode = { name, opType: 'FakeQuant', inputs: [x, scaleInput], outputs: [y], proto: { op_type: 'FakeQuant', domain: 'quantlens', name } };
  const rule: GradRule = (c, _n, [gy]) => {
    if (!gy) return [];
    // `recompute`: x/s and the clipped levels again from x, so the forward keeps only y alive until the backward. The
    // scale passes through Where(isnan(gy[0]), s, s), exactly s: ONNX Runtime neither merges the two (common
    // subexpressions) nor runs this before gy exists.
    const { div: xsDiv, qc } = opts.recompute ? quantize(c, c.op('Where', [c.op('IsNaN', [c.reshape(c.op('Slice', [c.reshape(gy, [-1]), c.ints([0]), c.ints([1])]), [])]), s, s]), toWork(x)) : fq;
    const inside = z
      ? ((v: string) => c.op('And', [c.op('GreaterOrEqual', [v, c.scalar(qmin)]), c.op('LessOrEqual', [v, c.scalar(qmax)])]))(c.op('Add', [xsDiv, z]))
      : c.op('Equal', [c.op('Clip', [xsDiv, lo, hi]), xsDiv]);
    const gyw = toWork(gy);
    const gx = c.mask(gyw, inside);
    const out: (string | undefined)[] = [c.needs(x) ? fromWork(gx) : undefined];
    if (spec.learnScale) {
      // LSQ: dy/ds = (q - z) - x/s inside the range, (q - z) outside; gradient scaled by 1/sqrt(N * qmax).
      const insideF = c.op('Cast', [inside], { to: c.dtype });
      const d = c.op('Sub', [qc, c.op('Mul', [xsDiv, insideF])]);
      const perScale = (sizeOf(xs) / Math.max(1, sizeOf(scaleDims(xs, spec.granularity)))) * (spec.role === 'activation' ? ctx.microBatches : 1);
      const gscale = 1 / Math.sqrt(perScale * Math.max(1, qmax));
      const gsb = c.sumTo(c.op('Mul', [gyw, d]), xb, sb.length ? sb : []);
      out[1] = c.reshape(c.op('Mul', [gsb, c.scalar(gscale)]), scaleDims(xs, spec.granularity));
    }
    return out;
  };
  return { y, node, rule };
}

/**
 * Whether `spec` can run as ONNX QuantizeLinear + DequantizeLinear in a float graph: 8-bit, per tensor or per
 * channel (opset 13 kernels). Two vectorized passes instead of Div, Round, Clip, Mul, and the very ops of the export.
 * Not per channel on an axis with fewer than 8 contiguous values per channel entry (a MatMul weight's last axis):
 * ONNX Runtime 1.30 quantizes those one value at a time (60 ms instead of 2.3 ms for [768, 3072]).
 */
export function qdqApplies(ctx: GradContext, spec: FakeQuantSpec, xs: number[]): boolean {
  const g = spec.granularity;
  if (ctx.dtype !== DataType.FLOAT || spec.bits !== 8 || g.kind === 'block') return false;
  return g.kind === 'tensor' || sizeOf(xs.slice(g.axis + 1)) >= 8;
}

/** The Clip with constant bounds producing a fake-quantized tensor that nothing else reads (ReLU6 before an activation's fake quantization). */
export interface ClipBefore {
  /** The Clip's input. */
  input: string;
  lo?: number;
  hi?: number;
}

/**
 * Whether a Clip's gradient mask can merge into the fake quantization's that follows it: per-tensor scale, one zero
 * point, and Clip bounds on either side of zero (as the quantization range always is), so that the merged interval
 * [max(lo, (qmin - z)s), min(hi, (qmax - z)s)] is never empty.
 */
export function clipFuses(spec: FakeQuantSpec, clip: ClipBefore): boolean {
  return spec.granularity.kind === 'tensor' && spec.zeroPoint.length <= 1 && (clip.lo ?? 0) <= 0 && (clip.hi ?? 0) >= 0 && (clip.lo !== undefined || clip.hi !== undefined);
}

/**
 * Fake quantization as QuantizeLinear + DequantizeLinear (see qdqApplies). The session must not fuse the pair into
 * integer kernels (`STEP_SESSION_CONFIG`). Backward: STE mask from x against the range's bounds (qmin - z)s and
 * (qmax - z)s, and for LSQ d = y - x inside the range, y outside (exact subtraction, y and x being close), so that
 * dy/ds = d / s = (q - z) - x/s inside, (q - z) outside.
 */
function emitQdqFakeQuant(ctx: GradContext, spec: FakeQuantSpec, x: string, scaleInput: string, index: number, clip?: ClipBefore): { y: string; node: FwdNode; rule: GradRule } {
  const xs = ctx.shape(x);
  const [qmin, qmax] = qRange(spec.bits, spec.signed);
  const g = spec.granularity;
  const axis = g.kind === 'channel' ? g.axis : undefined;
  const zType = spec.signed ? DataType.INT8 : DataType.UINT8;
  const zData = spec.signed ? Int8Array.from(spec.zeroPoint) : Uint8Array.from(spec.zeroPoint);
  const zp = ctx.b.initializer('fq_zp', { type: zType, dims: axis === undefined ? [] : [zData.length], data: zData });
  const q = ctx.op('QuantizeLinear', [x, scaleInput, zp], { axis });
  const y = ctx.op('DequantizeLinear', [q, scaleInput, zp], { axis });
  ctx.setShape(y, xs);
  const sb = axis === undefined ? [] : xs.map((d, i) => (i === axis ? d : 1));
  const name = `FakeQuant#${index}:${spec.tensor}`;
  // With a Clip before it, the node stands for Clip + fake quantization: its input is the Clip's.
  const node: FwdNode = { name, opType: 'FakeQuant', inputs: [clip ? clip.input : x, scaleInput], outputs: [y], proto: { op_type: 'FakeQuant', domain: 'quantlens', name } };
  const rule: GradRule = (c, _n, [gy]) => {
    if (!gy) return [];
    const s = axis === undefined ? scaleInput : c.reshape(scaleInput, sb);
    const z0 = spec.zeroPoint[0] ?? 0;
    const uniformZ = spec.zeroPoint.every((z) => z === z0);
    const bound = (qb: number) => (uniformZ ? c.op('Mul', [s, c.scalar(qb - z0)]) : c.op('Mul', [s, c.floats(Array.from(spec.zeroPoint, (z) => qb - z), sb)]));
    const lo = bound(qmin), hi = bound(qmax);
    // One Clip against scalar bounds (per tensor); per channel (weights, small) two comparisons.
    const inside = () => (axis === undefined ? c.op('Equal', [c.op('Clip', [x, lo, hi]), x]) : c.op('And', [c.op('GreaterOrEqual', [x, lo]), c.op('LessOrEqual', [x, hi])]));
    let out: (string | undefined)[];
    let insideF: string | undefined, xMasked: string | undefined;
    if (clip) {
      // One mask on the Clip's input u for both gradients: u within the Clip's bounds, and then x = u within the
      // range, i.e. u in [max(lo, (qmin - z)s), min(hi, (qmax - z)s)] (an exact product of the two 0/1 masks).
      const u = clip.input;
      const a = clip.lo === undefined ? lo : c.op('Max', [lo, c.scalar(clip.lo)]);
      const b = clip.hi === undefined ? hi : c.op('Min', [hi, c.scalar(clip.hi)]);
      const cu = c.op('Clip', [u, a, b]);
      const mF = c.op('Cast', [c.op('Equal', [cu, u])], { to: c.dtype });
      out = [c.needs(u) ? c.op('Mul', [gy, mF]) : undefined];
      // LSQ needs x * (x's own mask). When the merged interval starts at exactly 0 (a ReLU6, or an unsigned range
      // with z = 0), that product is cu * max(mask, [hi >= Clip's hi]) bit for bit: inside it is u = x; below, cu = 0;
      // above, x is the Clip's hi, inside x's range exactly when the range reaches it (then cu = that hi), else 0.
      const startsAtZero = clip.lo === 0 || (z0 === qmin && (clip.lo === undefined || clip.lo <= 0));
      if (spec.learnScale && startsAtZero) {
        const reach = clip.hi === undefined ? undefined : c.op('Cast', [c.op('GreaterOrEqual', [hi, c.scalar(clip.hi)])], { to: c.dtype });
        xMasked = c.op('Mul', [cu, reach ? c.op('Max', [mF, reach]) : mF]);
      }
    } else {
      insideF = c.op('Cast', [inside()], { to: c.dtype });
      out = [c.needs(x) ? c.op('Mul', [gy, insideF]) : undefined];
    }
    if (spec.learnScale) {
      xMasked ??= c.op('Mul', [x, insideF ?? c.op('Cast', [inside()], { to: c.dtype })]);
      const d = c.op('Sub', [y, xMasked]);
      const perScale = (sizeOf(xs) / Math.max(1, sizeOf(scaleDims(xs, g)))) * (spec.role === 'activation' ? ctx.microBatches : 1);
      const gscale = 1 / Math.sqrt(perScale * Math.max(1, qmax));
      const gsb = c.sumTo(c.op('Mul', [gy, d]), xs, sb);
      out[1] = c.reshape(c.op('Div', [c.op('Mul', [gsb, c.scalar(gscale)]), s]), scaleDims(xs, g));
    }
    return out;
  };
  return { y, node, rule };
}

/** Symmetric/asymmetric quantization parameters for values in [lo, hi] (zero always representable). */
export function rangeToScale(lo: number, hi: number, bits: number, signed: boolean, symmetric: boolean): { scale: number; zeroPoint: number } {
  const [qmin, qmax] = qRange(bits, signed);
  lo = Math.min(lo, 0); hi = Math.max(hi, 0);
  if (symmetric) {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    const scale = m > 0 ? (signed ? m / qmax : (2 * m) / (qmax - qmin)) : 1;
    const zeroPoint = signed ? 0 : Math.round((qmin + qmax + 1) / 2);
    return { scale, zeroPoint };
  }
  const scale = hi - lo > 0 ? (hi - lo) / (qmax - qmin) : 1;
  const zeroPoint = Math.max(qmin, Math.min(qmax, Math.round(qmin - lo / scale)));
  return { scale, zeroPoint };
}

/** Round half to even, as ONNX Round and QuantizeLinear. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantizes in JS with the same arithmetic as the graph (float32 division, half-to-even, saturation). */
export function quantizeValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const v = roundHalfEven(Math.fround(x / scale)) + zeroPoint;
  return Math.max(qmin, Math.min(qmax, v));
}
