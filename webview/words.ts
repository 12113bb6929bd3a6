/** Numbers in words: diagnosis evidence with units, format ids explained (the legend). Pure. */
import type { FormatCandidate } from '../src/shared/report';
import { formatNumber } from './format';

/** What each known evidence key means and its unit. */
const EVIDENCE: Record<string, { text: string; unit: 'dB' | 'x' | '' }> = {
  localSqnrDb: { text: 'layer output SQNR (only this layer quantized, float inputs)', unit: 'dB' },
  outputSqnrDb: { text: 'model output SQNR with only this layer quantized', unit: 'dB' },
  gapDb: { text: 'gap', unit: 'dB' },
  channelRangeSpread: { text: 'widest output channel range over the median channel’s', unit: 'x' },
  w4OutputSqnrDb: { text: 'model output SQNR with this layer at 4-bit weights', unit: 'dB' },
  w8OutputSqnrDb: { text: 'model output SQNR with this layer at 8-bit weights', unit: 'dB' },
  outlierRatio: { text: 'largest |value| over the standard deviation', unit: 'x' },
  absMax: { text: 'largest |value|', unit: '' },
  std: { text: 'standard deviation', unit: '' },
  rank: { text: 'sensitivity rank', unit: '' },
  perTensorWeightSqnrDb: { text: 'weight SQNR with one scale per tensor', unit: 'dB' },
  perChannelWeightSqnrDb: { text: 'weight SQNR with one scale per output channel', unit: 'dB' },
  perTensorOutputSqnrDb: { text: 'model output SQNR, per-tensor weights', unit: 'dB' },
  perChannelOutputSqnrDb: { text: 'model output SQNR, per-channel weights', unit: 'dB' },
  calibratedMin: { text: 'calibrated range low end', unit: '' },
  calibratedMax: { text: 'calibrated range high end', unit: '' },
  a8OutputSqnrDb: { text: 'model output SQNR with 8-bit activations here', unit: 'dB' },
  a16OutputSqnrDb: { text: 'model output SQNR with 16-bit activations here', unit: 'dB' },
};

/** `camelCaseKeyDb` -> `camel case key` (for keys this build does not know). */
function words(key: string): string {
  return key.replace(/Db$/, '').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/** One evidence entry in words with its unit: `layer output SQNR (…): 47.0 dB`. */
export function evidenceText(key: string, value: number): string {
  const e = EVIDENCE[key];
  const unit = e?.unit ?? (/Db$/.test(key) ? 'dB' : '');
  const v = formatNumber(value);
  const withUnit = unit === 'dB' ? `${Number.isFinite(value) ? value.toFixed(1) : v} dB` : unit === 'x' ? `${v}×` : v;
  return `${e?.text ?? words(key)}: ${withUnit}`;
}

/** A number format in words: `int4/block-32` -> `4-bit integers, one scale per block of 32`. */
export function numberFormatText(spec: string): string {
  if (!spec || spec === 'float') return 'float (not quantized)';
  const m = /^(u?int|float)(\d+)(?:\/(per-tensor|per-channel|block[-:](\d+)))?/.exec(spec);
  if (!m) return spec;
  const kind = m[1] === 'uint' ? 'unsigned integers' : m[1] === 'int' ? 'integers' : 'floats';
  const gran = m[3] === 'per-channel' ? ', one scale per output channel' : m[4] ? `, one scale per block of ${m[4]}` : m[3] === 'per-tensor' ? ', one scale per tensor' : '';
  return `${m[2]}-bit ${kind}${gran}`;
}

/** The legend line of a format candidate: `w4-b32: weights 4-bit integers, one scale per block of 32; activations float`. */
export function formatLegend(f: FormatCandidate): string {
  return `${f.id}: weights ${numberFormatText(f.weights)}; activations ${numberFormatText(f.activations)}`;
}
