/** Candidate format pairs for the analysis: the default set and the ways a user can name others. */
import { QuantLensError } from '../errors';
import { formatToString, NumberFormat, parseFormat, shortLabel } from '../../shared/formats';
import { FormatCandidate } from '../../shared/report';

/** The formats analysed when the user names none: W8 per-channel, W8 per-tensor, W4 per-channel, W4 blocked(32), A8, A16. */
export const DEFAULT_CANDIDATES: readonly FormatCandidate[] = [
  { id: 'w8-pc', weights: 'int8/per-channel', activations: 'float' },
  { id: 'w8-pt', weights: 'int8/per-tensor', activations: 'float' },
  { id: 'w4-pc', weights: 'int4/per-channel', activations: 'float' },
  { id: 'w4-b32', weights: 'int4/block:32', activations: 'float' },
  { id: 'a8', weights: 'float', activations: 'uint8' },
  { id: 'a16', weights: 'float', activations: 'int16' },
];

const SHORT: Record<string, [string, string]> = {
  w8a8: ['int8/per-channel', 'uint8'],
  w8a16: ['int8/per-channel', 'int16'],
  w4a8: ['int4/per-channel', 'uint8'],
  w4a16: ['int4/per-channel', 'int16'],
  w4a32: ['int4/per-channel', 'float'],
  w8a32: ['int8/per-channel', 'float'],
  fp16: ['float16', 'float16'],
  float16: ['float16', 'float16'],
  float: ['float', 'float'],
  fp32: ['float', 'float'],
};

/** The id of a format pair: `w4-pc/a8`, `w8-pc`, `a16`, `float`. */
export function candidateId(weights: NumberFormat, activations: NumberFormat): string {
  const w = weights.kind === 'float' ? '' : shortLabel('w', weights);
  const a = activations.kind === 'float' ? '' : shortLabel('a', activations);
  return [w, a].filter(Boolean).join('/') || 'float';
}

/**
 * Parses a candidate: a default id (`w8-pc`, `a16`...), a short name (`w4a8`, `w8a16`, `fp16`, `float`) or a
 * `weights:activations` pair of format strings (`int4/block:64:uint8`, `int8/per-channel:float`).
 */
export function parseCandidate(text: string): FormatCandidate {
  const t = text.trim();
  const known = DEFAULT_CANDIDATES.find((c) => c.id === t.toLowerCase());
  if (known) return { ...known };
  const short = SHORT[t.toLowerCase()];
  let w: string, a: string;
  if (short) [w, a] = short;
  else {
    const k = t.lastIndexOf(':');
    if (k < 0) throw new QuantLensError('bad-format', `unknown format '${text}': use a default id (${DEFAULT_CANDIDATES.map((c) => c.id).join(', ')}), a short name (w8a8, w4a8, w8a16, fp16, float) or 'weights:activations' such as int4/block:64:uint8`);
    w = t.slice(0, k);
    a = t.slice(k + 1);
    // `int4/block:64` contains a colon: if the part after the last colon is a number, split at the one before
    if (/^\d+$/.test(a)) throw new QuantLensError('bad-format', `format '${text}' needs an activation part: '${t}:float'`);
  }
  const pw = parseFormat(w);
  if (!pw.ok) throw new QuantLensError('bad-format', `format '${text}': weights: ${pw.error}`);
  const pa = parseFormat(a);
  if (!pa.ok) throw new QuantLensError('bad-format', `format '${text}': activations: ${pa.error}`);
  if (pa.format.kind === 'int' && pa.format.granularity.kind !== 'tensor') throw new QuantLensError('bad-format', `format '${text}': activations are quantized per tensor`);
  return { id: short ? t.toLowerCase() : candidateId(pw.format, pa.format), weights: formatToString(pw.format), activations: formatToString(pa.format) };
}

/** Parses a list of candidates (comma-separated strings allowed), keeping ids unique. */
export function parseCandidates(list: readonly string[]): FormatCandidate[] {
  const out: FormatCandidate[] = [];
  for (const item of list.flatMap((s) => s.split(','))) {
    if (!item.trim()) continue;
    const c = parseCandidate(item);
    if (!out.some((o) => o.id === c.id)) out.push(c);
  }
  return out;
}
