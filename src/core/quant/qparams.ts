/** Quantization parameters (scale, zero point, granularity) and how they are computed from ranges and weights. */
import { NumberFormat } from '../../shared/formats';

/** An integer number format (the only kind that has quantization parameters). */
export type IntFormat = Extract<NumberFormat, { kind: 'int' }>;

/**
 * Scale and zero point of an integer quantizer, with the granularity they apply at.
 *
 * Layout of `scale` / `zeroPoint` (identical to ONNX QuantizeLinear's `y_scale` / `y_zero_point`):
 * - per-tensor (`axis` undefined, `blockSize` undefined): length 1;
 * - per-channel (`axis` set, no `blockSize`): length `dims[axis]`, one per index along `axis`;
 * - blocked (`axis` and `blockSize` set): the tensor of shape `dims` with `dims[axis]` replaced by
 *   `ceil(dims[axis] / blockSize)`, flattened row-major; element `(i0, .., i_axis, .., ir)` uses
 *   entry `(i0, .., floor(i_axis / blockSize), .., ir)`.
 *
 * `qmin`/`qmax` are the saturation bounds: the full range of the format's bit width (e.g. -128..127 for
 * int8, -8..7 for int4, 0..63 for uint6), whatever range the scale was fitted to.
 */
export interface QuantParams {
  /** The integer format (kind 'int'). */
  format: NumberFormat;
  /** float32 scales (see layout above). */
  scale: Float32Array;
  /** Integer zero points, same layout as `scale`. */
  zeroPoint: Int32Array;
  /** Channel axis (per-channel) or block axis (blocked); undefined for per-tensor. */
  axis?: number;
  /** Block size along `axis` for blocked quantization. */
  blockSize?: number;
  /** Smallest integer value (saturation bound). */
  qmin: number;
  /** Largest integer value (saturation bound). */
  qmax: number;
}

/** Full integer range of a bit width: signed -2^(b-1)..2^(b-1)-1, unsigned 0..2^b-1. */
export function intRange(bits: number, signed: boolean): { qmin: number; qmax: number } {
  if (!(Number.isInteger(bits) && bits >= 2 && bits <= 16)) throw new Error(`integer formats take 2 to 16 bits, got ${bits}`);
  return signed ? { qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 } : { qmin: 0, qmax: 2 ** bits - 1 };
}

/**
 * The integer range a scale is fitted to (ONNX Runtime's `get_qmin_qmax_for_qType`): symmetric signed
 * formats use the restricted range -(2^(b-1)-1)..2^(b-1)-1 so that zero point 0 sits in the middle;
 * every other format uses the full range.
 */
export function fitRange(format: IntFormat): { qmin: number; qmax: number } {
  const r = intRange(format.bits, format.signed);
  if (format.symmetric && format.signed) return { qmin: -r.qmax, qmax: r.qmax };
  return r;
}

/** Asserts a format is an integer format and narrows its type. */
export function asIntFormat(format: NumberFormat): IntFormat {
  if (format.kind !== 'int') throw new Error(`quantization parameters need an integer format, got '${format.kind}'`);
  return format;
}

const FLOAT32_TINY = 1.1754943508222875e-38;

/**
 * Scale and zero point for one range, as ONNX Runtime's `compute_scale_zp`:
 * the range is widened to include 0; symmetric formats use [-absmax, absmax];
 * scale = (rmax - rmin) / (qmax - qmin) over the fit range, rounded to float32 (1 when below float32's tiny);
 * zero point: symmetric → round((qmin + qmax) / 2) over the fit range (0 for signed formats,
 * 2^(b-1) for unsigned ones, e.g. 128 for uint8: ONNX Runtime's convention), asymmetric →
 * round(qmin - rmin / scale); rounding is half to even.
 */
export function scaleZeroPoint(min: number, max: number, format: IntFormat): { scale: number; zeroPoint: number } {
  return scaleZeroPointIn(min, max, format, fitRange(format), intRange(format.bits, format.signed));
}

/** scaleZeroPoint with the format's fit and full ranges given (weightParams calls it once per group: millions for blocks). */
function scaleZeroPointIn(min: number, max: number, format: IntFormat, fit: { qmin: number; qmax: number }, full: { qmin: number; qmax: number }): { scale: number; zeroPoint: number } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`quantization range must be finite, got [${min}, ${max}]`);
  const { qmin, qmax } = fit;
  let rmin = Math.fround(Math.min(min, 0));
  let rmax = Math.fround(Math.max(max, 0));
  if (format.symmetric) {
    const absmax = Math.max(Math.abs(rmin), Math.abs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  let scale = Math.fround((rmax - rmin) / (qmax - qmin));
  const degenerate = !(scale >= FLOAT32_TINY);
  if (degenerate) scale = 1;
  let zeroPoint: number;
  if (format.symmetric) zeroPoint = roundHalfEven((qmin + qmax) / 2);
  else if (degenerate) zeroPoint = 0;
  else zeroPoint = roundHalfEven(Math.fround(qmin - Math.fround(rmin / scale)));
  zeroPoint = Math.min(full.qmax, Math.max(full.qmin, zeroPoint));
  return { scale, zeroPoint };
}

/**
 * Round half to even (ONNX QuantizeLinear's and Round's rounding, numpy.round's too).
 * Math.round rounds halves up; ties that landed on an odd integer are moved down by one.
 */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Per-tensor parameters for an activation whose calibrated range is [min, max]. */
export function activationParams(min: number, max: number, format: NumberFormat): QuantParams {
  const f = asIntFormat(format);
  const { scale, zeroPoint } = scaleZeroPoint(min, max, f);
  const { qmin, qmax } = intRange(f.bits, f.signed);
  return { format: f, scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zeroPoint), qmin, qmax };
}

/** Splits `dims` around `axis` into (outer, extent, inner) element counts. */
export function splitDims(dims: readonly number[], axis: number): { outer: number; extent: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= dims[i];
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i];
  return { outer, extent: dims[axis], inner };
}

/** Normalizes a possibly negative axis for a tensor of rank `rank`, throwing when out of range. */
export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(Number.isInteger(a) && a >= 0 && a < Math.max(rank, 1))) throw new Error(`axis ${axis} is out of range for a tensor of rank ${rank}`);
  return a;
}

/** The shape of the scale tensor of `params` for a tensor of shape `dims` (ONNX's y_scale shape). */
export function scaleDims(dims: readonly number[], params: Pick<QuantParams, 'axis' | 'blockSize'>): number[] {
  if (params.axis === undefined) return [];
  if (params.blockSize === undefined) return [dims[params.axis]];
  return dims.map((d, i) => (i === params.axis ? Math.ceil(d / params.blockSize!) : d));
}

/**
 * Parameters for a weight tensor: per-tensor; per-channel along `channelAxis` (or the axis the format
 * names); or blocked along `reductionAxis` (or the format's axis) with the format's block size.
 * Each group's range is its own min/max (widened to include 0), as ONNX Runtime's weight quantizer.
 */
export function weightParams(w: Float32Array, dims: readonly number[], format: NumberFormat, channelAxis: number, reductionAxis: number): QuantParams {
  const f = asIntFormat(format);
  const { qmin, qmax } = intRange(f.bits, f.signed);
  const g = f.granularity;
  if (g.kind === 'tensor' || dims.length === 0) {
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = 0; i < w.length; i++) { const v = w[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
    if (w.length === 0) { mn = 0; mx = 0; }
    const { scale, zeroPoint } = scaleZeroPoint(mn, mx, f);
    return { format: f, scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zeroPoint), qmin, qmax };
  }
  if (g.kind === 'channel') return channelParams(channelRanges(w, dims, normalizeAxis(g.axis ?? channelAxis, dims.length)), f);
  const axis = normalizeAxis(g.axis ?? reductionAxis, dims.length);
  const blockSize = g.size;
  const { outer, extent, inner } = splitDims(dims, axis);
  const nb = Math.ceil(extent / blockSize);
  const count = outer * nb * inner;
  const mn = new Float64Array(count).fill(Infinity);
  const mx = new Float64Array(count).fill(-Infinity);
  for (let o = 0; o < outer; o++) {
    if (inner === 1) {
      for (let b = 0; b < nb; b++) {
        let a = Infinity;
        let z = -Infinity;
        const end = o * extent + Math.min(extent, (b + 1) * blockSize);
        for (let i = o * extent + b * blockSize; i < end; i++) { const v = w[i]; if (v < a) a = v; if (v > z) z = v; }
        mn[o * nb + b] = a;
        mx[o * nb + b] = z;
      }
      continue;
    }
    for (let d = 0; d < extent; d++) {
      const base = (o * extent + d) * inner;
      const sbase = (o * nb + Math.floor(d / blockSize)) * inner;
      for (let k = 0; k < inner; k++) {
        const v = w[base + k];
        if (v < mn[sbase + k]) mn[sbase + k] = v;
        if (v > mx[sbase + k]) mx[sbase + k] = v;
      }
    }
  }
  const { scale, zeroPoint } = paramsOfRanges(mn, mx, f);
  return { format: f, scale, zeroPoint, axis, blockSize, qmin, qmax };
}

/** Per-column min/max of a [rows, cols] matrix, in column tiles that keep the running ranges in the first-level cache. */
/** The min and max of each slice of `w` along `axis` (NaNs skipped; an empty slice keeps [Infinity, -Infinity]). */
export interface ChannelRanges { axis: number; mn: Float64Array; mx: Float64Array }

/** The min and max of each channel of `w` along `axis` (weightParams' per-channel pass). */
export function channelRanges(w: Float32Array, dims: readonly number[], axis: number): ChannelRanges {
  const { outer, extent, inner } = splitDims(dims, axis);
  const mn = new Float64Array(extent).fill(Infinity);
  const mx = new Float64Array(extent).fill(-Infinity);
  if (inner === 1) channelRangesLastAxis(w, outer, extent, mn, mx);
  else for (let o = 0; o < outer; o++) {
    for (let c = 0; c < extent; c++) {
      const base = (o * extent + c) * inner;
      let a = mn[c];
      let b = mx[c];
      for (let k = 0; k < inner; k++) { const v = w[base + k]; if (v < a) a = v; if (v > b) b = v; }
      mn[c] = a;
      mx[c] = b;
    }
  }
  return { axis, mn, mx };
}

/** Per-channel parameters of an integer format from its channel ranges (as weightParams computes them). */
export function channelParams(r: ChannelRanges, format: NumberFormat): QuantParams {
  const f = asIntFormat(format);
  const { qmin, qmax } = intRange(f.bits, f.signed);
  const { scale, zeroPoint } = paramsOfRanges(r.mn, r.mx, f);
  return { format: f, scale, zeroPoint, axis: r.axis, qmin, qmax };
}

/** Per-tensor parameters of an integer format from the channel ranges of a non-empty tensor: the same as weightParams' per-tensor pass. */
export function tensorParams(r: ChannelRanges, format: NumberFormat): QuantParams {
  const f = asIntFormat(format);
  const { qmin, qmax } = intRange(f.bits, f.signed);
  let mn = Infinity, mx = -Infinity;
  for (let c = 0; c < r.mn.length; c++) { if (r.mn[c] < mn) mn = r.mn[c]; if (r.mx[c] > mx) mx = r.mx[c]; }
  const { scale, zeroPoint } = scaleZeroPoint(mn, mx, f);
  return { format: f, scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zeroPoint), qmin, qmax };
}

function channelRangesLastAxis(w: Float32Array, rows: number, cols: number, mn: Float64Array, mx: Float64Array): void {
  const TILE = 512;
  for (let c0 = 0; c0 < cols; c0 += TILE) {
    const c1 = Math.min(cols, c0 + TILE);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let c = c0; c < c1; c++) { const v = w[base + c]; if (v < mn[c]) mn[c] = v; if (v > mx[c]) mx[c] = v; }
    }
  }
}

/** Scale and zero point of each group's range (an empty group, min > max, gets the range [0, 0]). */
function paramsOfRanges(mn: Float64Array, mx: Float64Array, f: IntFormat): { scale: Float32Array; zeroPoint: Int32Array } {
  const fit = fitRange(f), full = intRange(f.bits, f.signed);
  const scale = new Float32Array(mn.length);
  const zeroPoint = new Int32Array(mn.length);
  for (let i = 0; i < mn.length; i++) {
    const r = scaleZeroPointIn(Number.isFinite(mn[i]) ? mn[i] : 0, Number.isFinite(mx[i]) ? mx[i] : 0, f, fit, full);
    scale[i] = r.scale;
    zeroPoint[i] = r.zeroPoint;
  }
  return { scale, zeroPoint };
}

/**
 * Parameters from given scales (e.g. learned by QAT): per-tensor for one scale, per-channel along
 * `channelAxis` for a list; zero points by the format's symmetric convention (asymmetric formats get
 * the symmetric zero point too, since a scale alone does not fix one).
 */
export function paramsFromScales(scales: number | readonly number[], format: NumberFormat, channelAxis?: number): QuantParams {
  const f = asIntFormat(format);
  const { qmin, qmax } = intRange(f.bits, f.signed);
  const fit = fitRange(f);
  const zp = f.signed ? 0 : roundHalfEven((fit.qmin + fit.qmax) / 2);
  const list = typeof scales === 'number' ? [scales] : scales;
  const scale = Float32Array.from(list);
  const zeroPoint = new Int32Array(list.length).fill(zp);
  return { format: f, scale, zeroPoint, axis: typeof scales === 'number' ? undefined : channelAxis, qmin, qmax };
}

/**
 * The shape a weight is quantized in. Blocked formats on convolution weights [O, I, k...] (channel axis 0,
 * reduction axis 1, no explicit axis in the format) are quantized as the 2-D view [O, I * prod(k)] with
 * blocks along axis 1, so blocks run over the whole reduction (input channels and kernel positions) and a
 * depthwise kernel [C, 1, 3, 3] gets one block per channel instead of one scale per weight. The exporter
 * stores that view and Reshapes it back after DequantizeLinear. Every other case keeps `dims`.
 */
export function weightLayout(dims: readonly number[], format: NumberFormat, channelAxis: number, reductionAxis: number): { dims: number[]; channelAxis: number; reductionAxis: number; reshaped: boolean } {
  const g = format.kind === 'int' ? format.granularity : undefined;
  if (g?.kind === 'block' && g.axis === undefined && dims.length > 2 && channelAxis === 0 && reductionAxis === 1) {
    const rest = dims.slice(1).reduce((a, b) => a * b, 1);
    return { dims: [dims[0], rest], channelAxis: 0, reductionAxis: 1, reshaped: true };
  }
  return { dims: dims.slice(), channelAxis, reductionAxis, reshaped: false };
}
