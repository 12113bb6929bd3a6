/** Statistics of a weight tensor (range, spread, per-channel ranges, outliers) used to explain quantization error. */
import { WeightStats } from './layer';

/**
 * Statistics of weight values `w` with shape `dims`, channels along `channelAxis`:
 * min/max/absMax/std, per-channel absMax, channelRangeSpread = max channel absMax / median channel absMax
 * (falls back to the mean when the median is 0; 1 when every channel is 0), outlierRatio = absMax / std (1 when std is 0).
 */
export function weightStats(w: ArrayLike<number>, dims: readonly number[], channelAxis: number): WeightStats {
  const n = w.length;
  const rank = dims.length;
  const axis = rank === 0 ? 0 : ((channelAxis % rank) + rank) % rank;
  const channels = rank === 0 ? 1 : dims[axis];
  let inner = 1;
  for (let d = axis + 1; d < rank; d++) inner *= dims[d];
  const outer = channels > 0 && inner > 0 ? Math.ceil(n / (channels * inner)) : 0;
  const absMaxOf = new Float64Array(Math.max(1, channels));
  let min = Infinity, max = -Infinity, sum = 0, sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = w[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSq += v * v;
  }
  // channel c of row o holds w[(o * channels + c) * inner ..+ inner); channels last (MatMul weights): one value each
  if (inner === 1) {
    for (let o = 0, i = 0; o < outer; o++) for (let c = 0; c < channels && i < n; c++, i++) { const m = Math.abs(w[i]); if (m > absMaxOf[c]) absMaxOf[c] = m; }
  } else for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let a = absMaxOf[c];
      for (const end = Math.min(n, i + inner); i < end; i++) { const m = Math.abs(w[i]); if (m > a) a = m; }
      absMaxOf[c] = a;
    }
  }
  const channelAbsMax = Array.from(absMaxOf);
  if (n === 0) { min = 0; max = 0; }
  const mean = n ? sum / n : 0;
  const std = n ? Math.sqrt(Math.max(0, sumSq / n - mean * mean)) : 0;
  const absMax = Math.max(Math.abs(min), Math.abs(max));
  const sorted = channelAbsMax.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  let median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  if (!(median > 0)) median = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const top = sorted[sorted.length - 1];
  const channelRangeSpread = median > 0 ? top / median : 1;
  const outlierRatio = std > 0 ? absMax / std : 1;
  return { min, max, absMax, std, channelRangeSpread, channelAbsMax, outlierRatio };
}
