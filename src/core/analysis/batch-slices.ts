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
