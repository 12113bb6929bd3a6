/**
 * A data batch run in slices of fewer samples (same fetches each): ONNX Runtime's cost follows the samples, so this
 * costs about nothing, while the fetched tensors alive at once (held by ONNX Runtime and copied to JS) shrink with
 * the slice. Used by the capture pass when it keeps nothing but graph outputs (those are put back together).
 */
import { Graph } from '../onnx/graph';
import { Tensor, TensorArray } from '../onnx/tensor-data';

/** Where a slice's tensor sits in the whole batch's tensor (flat element offset and the whole batch's element count). */
export interface BatchPart {
  offset: number;
  total: number;
}

/** Fewest samples in a slice: with two or more, a graph output whose first axis is not the batch shows (its first dim does not follow the slice). */
export const MIN_SLICE_SAMPLES = 2;

/** True when every model input has a free first axis (not a fixed number), so a batch may be cut along it. */
export function batchAxisFree(graph: Graph): boolean {
  return graph.inputs.every((i) => !i.shape || (i.shape.length > 0 && !(typeof i.shape[0] === 'number' && i.shape[0] > 0)));
}

/**
 * Samples per slice so that a slice's fetched bytes stay within `maxBytes` (at least MIN_SLICE_SAMPLES), or undefined
 * when the batch needs no slicing (it fits, is too small to cut, or the feeds do not share a first dim of `samples`).
 */
export function sliceSamples(feeds: Record<string, Tensor>, samples: number, bytesPerSample: number, maxBytes: number): number | undefined {
  if (samples < 2 * MIN_SLICE_SAMPLES || bytesPerSample * samples <= maxBytes) return undefined;
  if (Object.values(feeds).some((t) => !t.dims.length || t.dims[0] !== samples)) return undefined;
  const per = Math.max(MIN_SLICE_SAMPLES, Math.floor(maxBytes / bytesPerSample));
  return per < samples ? per : undefined;
}

/** Samples [start, end) of every feed (views, no copy). */
export function sliceFeeds(feeds: Record<string, Tensor>, start: number, end: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) {
    const per = t.data.length / t.dims[0];
    out[k] = { type: t.type, dims: [end - start, ...t.dims.slice(1)], data: t.data.subarray(start * per, end * per) as TensorArray };
  }
  return out;
}

/** True when a slice's tensor has the batch as its first axis: first dim equal to the slice's samples. */
export function batchFirst(t: Tensor, samples: number): boolean {
  return t.dims.length > 0 && t.dims[0] === samples;
}

/** The slices' tensors of one output put back into the whole batch's tensor (first axis = samples; all batch-first). */
export function joinSlices(parts: readonly Tensor[]): Tensor {
  if (parts.length === 1) return parts[0];
  const first = parts[0];
  const length = parts.reduce((s, p) => s + p.data.length, 0);
  const data = new (first.data.constructor as new (n: number) => TensorArray)(length);
  let off = 0;
  for (const p of parts) {
    (data as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p.data as ArrayLike<number | bigint>, off);
    off += p.data.length;
  }
  return { type: first.type, dims: [parts.reduce((s, p) => s + p.dims[0], 0), ...first.dims.slice(1)], data };
}

/**
 * How a fetched tensor of a slice gives the whole batch's: 'stack' (batch-first: the slices' tensors stacked), 'same'
 * (no batch in it, e.g. a position embedding: any slice's value), 'scaled' (an integer shape tensor: the entries that
 * count samples, the first sample's times the batch).
 */
export type SliceJoin = 'stack' | 'same' | 'scaled';

/** Relative difference up to which a slice's first sample counts as the first sample's own values (ONNX Runtime may sum in another order at another batch size). */
export const SAMPLE_TOLERANCE = 1e-3;

/**
 * How the first slice's tensor `t` (of `samples` >= 2 samples) relates to `s0`, the first sample's own: 'stack' when
 * its first dim is `samples` times s0's, the others s0's, and s0's values come first; 'same' when it equals s0;
 * 'scaled' when it is an integer tensor shaped like s0 whose entries are s0's or s0's times `samples`. Else undefined.
 */
export function sliceJoin(t: Tensor, s0: Tensor, samples: number): SliceJoin | undefined {
  if (stacks(t, s0, samples)) return closeTo(t.data, s0.data) ? 'stack' : undefined;
  if (t.dims.length !== s0.dims.length || t.dims.some((d, i) => d !== s0.dims[i])) return undefined;
  let scaled = false;
  for (let i = 0; i < s0.data.length; i++) {
    if (t.data[i] === s0.data[i]) continue;
    if (typeof s0.data[i] === 'bigint' ? t.data[i] !== (s0.data[i] as bigint) * BigInt(samples) : !(s0.data instanceof Int32Array) || t.data[i] !== (s0.data[i] as number) * samples) return undefined;
    scaled = true;
  }
  return scaled ? 'scaled' : 'same';
}

/** True when a later slice's tensor `t` (of `samples` samples) still fits the first slice's `join`. */
export function fitsJoin(join: SliceJoin, t: Tensor, s0: Tensor, samples: number): boolean {
  if (join === 'stack') return stacks(t, s0, samples);
  if (t.dims.length !== s0.dims.length || t.dims.some((d, i) => d !== s0.dims[i])) return false;
  const f = BigInt(samples);
  for (let i = 0; i < s0.data.length; i++) {
    if (t.data[i] === s0.data[i]) continue;
    if (join === 'same') return false;
    if (typeof s0.data[i] === 'bigint' ? t.data[i] !== (s0.data[i] as bigint) * f : t.data[i] !== (s0.data[i] as number) * samples) return false;
  }
  return true;
}

/** The whole batch's tensor (of `batch` samples) from the slices' ones, by `join` (the first slice's rule; `s0` the first sample's own). */
export function joinBy(join: SliceJoin, parts: readonly Tensor[], s0: Tensor, batch: number): Tensor {
  if (join === 'stack') return joinSlices(parts);
  if (join === 'same') return parts[0];
  const first = parts[0];
  const data = first.data.slice() as TensorArray;
  for (let i = 0; i < data.length; i++) {
    if (first.data[i] === s0.data[i]) continue;
    data[i] = typeof s0.data[i] === 'bigint' ? (s0.data[i] as bigint) * BigInt(batch) : (s0.data[i] as number) * batch;
  }
  return { type: first.type, dims: first.dims.slice(), data };
}

function stacks(t: Tensor, s0: Tensor, samples: number): boolean {
  return s0.dims.length > 0 && t.dims.length === s0.dims.length && t.dims[0] === samples * s0.dims[0] && t.dims.every((d, i) => i === 0 || d === s0.dims[i]);
}

/** True when `a` starts with `b`'s values (integers exactly, floats within SAMPLE_TOLERANCE of b's largest magnitude). */
function closeTo(a: TensorArray, b: TensorArray): boolean {
  if (typeof b[0] === 'bigint' || b instanceof Int32Array) { for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false; return true; }
  let scale = 0, diff = 0;
  for (let i = 0; i < b.length; i++) { const y = Number(b[i]); scale = Math.max(scale, Math.abs(y)); diff = Math.max(diff, Math.abs(Number(a[i]) - y)); }
  return !(diff > SAMPLE_TOLERANCE * scale);
}
