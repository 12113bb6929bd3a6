/** Quantize / dequantize / fake-quantize exactly as ONNX QuantizeLinear and DequantizeLinear compute them. */
import { NumberFormat } from '../../shared/formats';
import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from '../onnx/tensor-data';
import { QuantParams, roundHalfEven, splitDims, weightLayout, weightParams } from './qparams';

/** Round half to even (see qparams.ts), re-exported for the quantizer's users. */
export { roundHalfEven } from './qparams';

/** Adding and subtracting 1.5 * 2^52 rounds a double to an integer, half to even (exact for |v| < 2^51). */
const RNE = 6755399441055744;

/**
 * Walks the tensor in runs that share parameters: `same(start, end, s)` for elements start..end-1 using
 * parameter s, or `vary(start, count, s0)` for `count` consecutive elements using parameters s0..s0+count-1
 * (blocked layouts with an inner dimension).
 */
function walk(dims: readonly number[], params: QuantParams, n: number,
  same: (start: number, end: number, s: number) => void, vary: (start: number, count: number, s0: number) => void): void {
  if (params.axis === undefined) { same(0, n, 0); return; }
  const { outer, extent, inner } = splitDims(dims, params.axis);
  if (params.blockSize === undefined) {
    if (inner === 1) { for (let o = 0; o < outer; o++) vary(o * extent, extent, 0); return; }
    for (let o = 0; o < outer; o++) for (let c = 0; c < extent; c++) {
      const base = (o * extent + c) * inner;
      same(base, base + inner, c);
    }
    return;
  }
  const bs = params.blockSize;
  const nb = Math.ceil(extent / bs);
  for (let o = 0; o < outer; o++) {
    for (let b = 0; b < nb; b++) {
      const d0 = b * bs;
      const d1 = Math.min(extent, d0 + bs);
      const sbase = (o * nb + b) * inner;
      if (inner === 1) same(o * extent + d0, o * extent + d1, sbase);
      else for (let d = d0; d < d1; d++) vary((o * extent + d) * inner, inner, sbase);
    }
  }
}

/** Checks that a parameter set fits a tensor shape. */
function checkLayout(dims: readonly number[], params: QuantParams, n: number): void {
  let count = 1;
  for (const d of dims) count *= d;
  if (count !== n) throw new Error(`tensor has ${n} elements but shape [${dims.join(', ')}] holds ${count}`);
  let want = 1;
  if (params.axis !== undefined) {
    if (params.blockSize === undefined) want = dims[params.axis];
    else dims.forEach((d, i) => { want *= i === params.axis ? Math.ceil(d / params.blockSize!) : d; });
  }
  if (params.scale.length !== want || params.zeroPoint.length !== want) {
    throw new Error(`quantization parameters hold ${params.scale.length} scales for a layout that needs ${want} (shape [${dims.join(', ')}], axis ${params.axis}, block ${params.blockSize})`);
  }
}

function quantRun(x: Float32Array, out: Int32Array, start: number, end: number, sc: number, zp: number, qmin: number, qmax: number): void {
  for (let i = start; i < end; i++) {
    let r = (Math.fround(x[i] / sc) + RNE) - RNE + zp;
    r = r < qmin ? qmin : r > qmax ? qmax : r;
    out[i] = r;
  }
}

function quantVary(x: Float32Array, out: Int32Array, start: number, count: number, scale: Float32Array, zeroPoint: Int32Array, s0: number, qmin: number, qmax: number): void {
  for (let k = 0; k < count; k++) {
    let r = (Math.fround(x[start + k] / scale[s0 + k]) + RNE) - RNE + zeroPoint[s0 + k];
    r = r < qmin ? qmin : r > qmax ? qmax : r;
    out[start + k] = r;
  }
}

function fakeRun(x: Float32Array, out: Float32Array, start: number, end: number, sc: number, zp: number, qmin: number, qmax: number): void {
  const lo = qmin - zp;
  const hi = qmax - zp;
  for (let i = start; i < end; i++) {
    let r = (Math.fround(x[i] / sc) + RNE) - RNE;
    r = r < lo ? lo : r > hi ? hi : r;
    out[i] = r * sc;
  }
}

function fakeVary(x: Float32Array, out: Float32Array, start: number, count: number, scale: Float32Array, zeroPoint: Int32Array, s0: number, qmin: number, qmax: number): void {
  for (let k = 0; k < count; k++) {
    const sc = scale[s0 + k];
    const zp = zeroPoint[s0 + k];
    let r = (Math.fround(x[start + k] / sc) + RNE) - RNE;
    r = r < qmin - zp ? qmin - zp : r > qmax - zp ? qmax - zp : r;
    out[start + k] = r * sc;
  }
}

/**
 * QuantizeLinear: q = saturate(roundHalfEven(fround(x / scale)) + zeroPoint) into [qmin, qmax].
 * x / scale is computed in float32 (double division rounded once to float32 equals float32 division).
 * NaN inputs give 0 (ONNX leaves NaN unspecified).
 */
export function quantize(x: Float32Array, dims: readonly number[], params: QuantParams): Int32Array {
  const n = x.length;
  checkLayout(dims, params, n);
  const out = new Int32Array(n);
  const { qmin, qmax, scale, zeroPoint } = params;
  walk(dims, params, n,
    (start, end, s) => quantRun(x, out, start, end, scale[s], zeroPoint[s], qmin, qmax),
    (start, count, s0) => quantVary(x, out, start, count, scale, zeroPoint, s0, qmin, qmax));
  return out;
}

/** DequantizeLinear: x = fround((q - zeroPoint) * scale). */
export function dequantize(q: ArrayLike<number>, dims: readonly number[], params: QuantParams): Float32Array {
  const n = q.length;
  checkLayout(dims, params, n);
  const out = new Float32Array(n);
  const { scale, zeroPoint } = params;
  walk(dims, params, n,
    (start, end, s) => { const sc = scale[s]; const zp = zeroPoint[s]; for (let i = start; i < end; i++) out[i] = (q[i] - zp) * sc; },
    (start, count, s0) => { for (let k = 0; k < count; k++) out[start + k] = (q[start + k] - zeroPoint[s0 + k]) * scale[s0 + k]; });
  return out;
}

/**
 * dequantize(quantize(x)): the float values an ONNX Runtime QDQ pair produces, computed as
 * clamp(round(x / s), qmin - zp, qmax - zp) * s (the same numbers: clamping to integer bounds commutes with rounding).
 * `into` (at least x's length) receives the values instead of a new array.
 */
export function fakeQuantize(x: Float32Array, dims: readonly number[], params: QuantParams, into?: Float32Array): Float32Array {
  const n = x.length;
  checkLayout(dims, params, n);
  const out = into ? into.subarray(0, n) : new Float32Array(n);
  const { qmin, qmax, scale, zeroPoint } = params;
  walk(dims, params, n,
    (start, end, s) => fakeRun(x, out, start, end, scale[s], zeroPoint[s], qmin, qmax),
    (start, count, s0) => fakeVary(x, out, start, count, scale, zeroPoint, s0, qmin, qmax));
  return out;
}

/** The float formats that round-trip through a narrower float type. */
export type FloatFormatName = 'float16' | 'bfloat16' | 'float8e4m3fn' | 'float8e5m2';

/** Rounds float32 values to float16/bfloat16/float8 and back (round to nearest even, as ONNX Runtime's Cast). */
export function fakeQuantizeFloat(x: Float32Array, format: FloatFormatName): Float32Array {
  const n = x.length;
  const out = new Float32Array(n);
  if (format === 'float16') for (let i = 0; i < n; i++) out[i] = halfToFloat(floatToHalf(x[i]));
  else if (format === 'bfloat16') for (let i = 0; i < n; i++) out[i] = bfloat16ToFloat(floatToBfloat16(x[i]));
  else for (let i = 0; i < n; i++) out[i] = float8ToFloat(floatToFloat8(x[i], format), format);
  return out;
}

const F8 = {
  float8e4m3fn: { mant: 3, bias: 7, max: 448 },
  float8e5m2: { mant: 2, bias: 15, max: 57344 },
} as const;

/** A number to float8 bits (round to nearest even, saturating to ±max as ONNX Cast's default saturate=1). */
export function floatToFloat8(value: number, format: 'float8e4m3fn' | 'float8e5m2'): number {
  const { mant, bias, max } = F8[format];
  const v = Math.fround(value);
  if (Number.isNaN(v)) return format === 'float8e4m3fn' ? 0x7f : 0x7f;
  const sign = v < 0 || Object.is(v, -0) ? 0x80 : 0;
  let a = Math.abs(v);
  if (a >= max) a = max; // saturate (also infinities)
  const minExp = 1 - bias; // smallest normal exponent
  let e = a === 0 ? minExp : Math.max(minExp, Math.floor(Math.log2(a)));
  if (a !== 0 && 2 ** e > a) e -= 1; // guard log2 rounding
  if (e < minExp) e = minExp;
  const step = 2 ** (e - mant);
  let m = roundHalfEven(a / step); // value = m * step, m in [0, 2^(mant+1)]
  if (m >= 2 ** (mant + 1)) { e += 1; m = m / 2; }
  let r = m * 2 ** (e - mant);
  if (r > max) r = max;
  // encode r
  if (r === 0) return sign;
  let ee = Math.floor(Math.log2(r));
  if (2 ** ee > r) ee -= 1;
  if (ee < minExp) { // subnormal
    const mm = Math.round(r / 2 ** (minExp - mant));
    return sign | mm;
  }
  const mm = Math.round(r / 2 ** (ee - mant)) - 2 ** mant;
  return sign | ((ee + bias) << mant) | mm;
}

/** float8 bits to a number. */
export function float8ToFloat(bits: number, format: 'float8e4m3fn' | 'float8e5m2'): number {
  const { mant, bias } = F8[format];
  const sign = bits & 0x80 ? -1 : 1;
  const expBits = 7 - mant;
  const e = (bits >> mant) & ((1 << expBits) - 1);
  const m = bits & ((1 << mant) - 1);
  if (format === 'float8e4m3fn' && e === 15 && m === 7) return NaN;
  if (format === 'float8e5m2' && e === 31) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** (1 - bias - mant);
  return sign * (1 + m / 2 ** mant) * 2 ** (e - bias);
}

/**
 * Quantizes a weight tensor in the given format: integer formats return their parameters (in the layout of
 * weightLayout(dims, ...): blocked convolution weights use the [O, I * prod(k)] view) and the fake-quantized values; float16/bfloat16/float8 return the rounded values; `float` returns `w` unchanged.
 * `into` receives an integer format's fake values (a scratch buffer: no new array).
 */
export function quantizeWeight(w: Float32Array, dims: readonly number[], format: NumberFormat, channelAxis: number, reductionAxis: number, into?: Float32Array): { params?: QuantParams; fake: Float32Array } {
  switch (format.kind) {
    case 'float': return { fake: w };
    case 'float16': return { fake: fakeQuantizeFloat(w, 'float16') };
    case 'bfloat16': return { fake: fakeQuantizeFloat(w, 'bfloat16') };
    case 'float8': return { fake: fakeQuantizeFloat(w, format.variant === 'e4m3fn' ? 'float8e4m3fn' : 'float8e5m2') };
    case 'int': {
      const layout = weightLayout(dims, format, channelAxis, reductionAxis);
      const params = weightParams(w, layout.dims, format, layout.channelAxis, layout.reductionAxis);
      return { params, fake: fakeQuantize(w, layout.dims, params, into) };
    }
  }
}
