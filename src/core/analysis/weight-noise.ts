/**
 * The quantization noise of one weight in several integer formats, for the screening: the channel ranges are found
 * once and shared by the per-channel and per-tensor formats, and each format's weight SQNRs and Fisher-weighted noise
 * Σ G·(q − w)² come from one pass that quantizes as it goes (no fake-quantized copy written and read back). The
 * values are those of quantizeWeight + weightErrors to the last bit (same float32 rounding, same summation order);
 * other formats (blocks, a channel axis of their own) take that path.
 */
import { NumberFormat } from '../../shared/formats';
import { ChannelRanges, channelParams, channelRanges, normalizeAxis, QuantParams, splitDims, tensorParams } from '../quant/qparams';
import { quantizeWeight } from '../quant/quantize';
import { sqnrFromEnergies } from './metrics';
import { weightErrors, WeightErrors } from './sensitivity';

/** Adding and subtracting 1.5 * 2^52 rounds a double to an integer, half to even (as quantize.ts). */
const RNE = 6755399441055744;

/** A weight's noise in integer formats, with its channel ranges kept between formats. */
export class WeightNoise {
  private ranges?: ChannelRanges;

  /** `shared.scratch` holds the fake values of the other formats (grown as needed, kept for the next weight). */
  constructor(private readonly w: Float32Array, private readonly dims: readonly number[], private readonly channelAxis: number, private readonly reductionAxis: number,
    private readonly shared: { scratch?: Float32Array } = {}) {}

  /** Weight SQNR over the tensor and per output channel, and Σ G·(q − w)², of `format` (an integer format). */
  errors(format: NumberFormat, G: Float32Array): WeightErrors & { weighted: number } {
    const params = this.params(format);
    if (params) return fusedErrors(this.w, this.dims, params, this.channelAxis, G);
    if (!this.shared.scratch || this.shared.scratch.length < this.w.length) this.shared.scratch = new Float32Array(this.w.length);
    const q = quantizeWeight(this.w, this.dims, format, this.channelAxis, this.reductionAxis, this.shared.scratch).fake;
    return weightErrors(this.w, q, this.dims, this.channelAxis, G);
  }

  /** Parameters from the shared ranges (per-channel along the channel axis, per-tensor); undefined for other layouts. */
  private params(format: NumberFormat): QuantParams | undefined {
    if (format.kind !== 'int' || !this.dims.length || !this.w.length) return undefined;
    const g = format.granularity;
    if (g.kind === 'block' || (g.kind === 'channel' && normalizeAxis(g.axis ?? this.channelAxis, this.dims.length) !== this.channelAxis)) return undefined;
    this.ranges ??= channelRanges(this.w, this.dims, this.channelAxis);
    return g.kind === 'channel' ? channelParams(this.ranges, format) : tensorParams(this.ranges, format);
  }
}

/** weightErrors(w, fakeQuantize(w, params), ...) with G in one pass; params per-tensor or per channel of `channelAxis`. */
function fusedErrors(w: Float32Array, dims: readonly number[], p: QuantParams, channelAxis: number, G: Float32Array): WeightErrors & { weighted: number } {
  const { outer, extent, inner } = splitDims(dims, channelAxis);
  const perChannel = p.axis !== undefined;
  const sig = new Float64Array(extent);
  const noi = new Float64Array(extent);
  let S = 0, N = 0, E = 0;
  // per channel: the scale and the clamp bounds (qmin − z, qmax − z), as doubles (per-tensor: the same in every channel)
  const sc = new Float64Array(extent), lo = new Float64Array(extent), hi = new Float64Array(extent);
  for (let c = 0; c < extent; c++) {
    const k = perChannel ? c : 0;
    sc[c] = p.scale[k]; lo[c] = p.qmin - p.zeroPoint[k]; hi[c] = p.qmax - p.zeroPoint[k];
  }
  if (inner === 1) {
    for (let o = 0, i = 0; o < outer; o++) for (let c = 0; c < extent; c++, i++) {
      const v = w[i], s = sc[c];
      let r = (Math.fround(v / s) + RNE) - RNE;
      r = r < lo[c] ? lo[c] : r > hi[c] ? hi[c] : r;
      const d = v - Math.fround(r * s); const vv = v * v, dd = d * d;
      sig[c] += vv; noi[c] += dd; S += vv; N += dd; E += G[i] * d * d;
    }
  } else {
    for (let o = 0, i = 0; o < outer; o++) for (let c = 0; c < extent; c++) {
      const s = sc[c], l = lo[c], h = hi[c];
      let cs = 0, cn = 0;
      for (const end = i + inner; i < end; i++) {
        const v = w[i];
        let r = (Math.fround(v / s) + RNE) - RNE;
        r = r < l ? l : r > h ? h : r;
        const d = v - Math.fround(r * s); const vv = v * v, dd = d * d;
        cs += vv; cn += dd; S += vv; N += dd; E += G[i] * d * d;
      }
      sig[c] += cs;
      noi[c] += cn;
    }
  }
  return { total: sqnrFromEnergies(S, N), channels: Array.from(sig, (s, c) => round3(sqnrFromEnergies(s, noi[c]))), weighted: E };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
