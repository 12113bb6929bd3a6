/**
 * AWQ (Lin et al., 2023), activation-aware weight quantization: the input channels that see large activations
 * matter most, so before rounding the weight's input channel c is scaled up by s_c = mean|x_c|^α (normalized to
 * a geometric mean of 1) and the producer absorbs 1/s_c (scale-migration.ts). α is searched on the grid 0, 0.05,
 * .., 1 by the measured layer-wise output error of round to nearest (summed over every consumer of the tensor,
 * e.g. the q/k/v projections after one LayerNormalization); α = 0 (no change) is among the candidates, so AWQ
 * never does worse than RTN on the calibration data. The error is summed over at most 128 evenly spaced output channels
 * per layer (the cost is channels × K²).
 */
import { QuantPlanLayer } from '../qdq-export';
import { LayerInputStats } from './layer-inputs';
import { columnsPerChannel, dequantizeCodes, roundToNearest, weightMatrix } from './layer-matrix';
import { errorEnergy } from './layer-error';
import { Migration } from './scale-migration';
import { splitDims } from '../qparams';

/** The AWQ scales for a migration: the grid point with the least summed layer output error. */
export function awqScales(m: Migration, planned: ReadonlyMap<string, QuantPlanLayer>, values: Map<string, { data: Float32Array; dims: number[] }>, stats: Map<string, LayerInputStats>, grid = 20): { s: Float64Array; alpha: number } {
  const C = m.channels;
  const first = stats.get(m.consumers[0].name);
  const ones = new Float64Array(C).fill(1);
  if (!first) return { s: ones, alpha: 0 };
  const per = columnsPerChannel(m.consumers[0]);
  const act = new Float64Array(C);
  for (let c = 0; c < C; c++) { let a = 0; for (let k = 0; k < per; k++) a += first.absMean[c * per + k]; act[c] = Math.max(a / per, 1e-8); }
  let best = { s: ones, alpha: 0, err: Infinity };
  for (let g = 0; g <= grid; g++) {
    const alpha = g / grid;
    const s = new Float64Array(C);
    let logMean = 0;
    for (let c = 0; c < C; c++) { s[c] = act[c] ** alpha; logMean += Math.log(s[c]); }
    const norm = Math.exp(logMean / C);
    for (let c = 0; c < C; c++) s[c] /= norm;
    let err = 0;
    for (const layer of m.consumers) {
      const p = planned.get(layer.name)?.weight;
      const st = stats.get(layer.name);
      if (!p || !st) continue;
      const v = values.get(layer.weight!.tensor)!;
      // W diag(s), rounded, then diag(1/s) back: the effective weight the consumer applies to the original input
      const scaled = Float32Array.from(v.data);
      const { outer, extent, inner } = splitDims(v.dims, layer.weight!.reductionAxis);
      for (let o = 0; o < outer; o++) for (let c = 0; c < extent; c++) for (let i = 0; i < inner; i++) scaled[(o * extent + c) * inner + i] = Math.fround(scaled[(o * extent + c) * inner + i] * s[c]);
      const mat = weightMatrix({ ...p, params: undefined }, scaled, v.dims);
      const deq = dequantizeCodes(mat, roundToNearest(mat));
      const orig = weightMatrix({ ...p, params: undefined }, v.data, v.dims);
      const pc = columnsPerChannel(layer);
      // the error of at most 128 evenly spaced output channels (the cost is rows x K²)
      const R = Math.min(mat.rows, 128);
      const delta = new Float64Array(R * mat.cols);
      for (let i = 0; i < R; i++) {
        const r = Math.floor((i * mat.rows) / R);
        for (let k = 0; k < mat.cols; k++) delta[i * mat.cols + k] = deq[r * mat.cols + k] / s[Math.floor(k / pc)] - orig.w[r * mat.cols + k];
      }
      err += (errorEnergy(delta, R, mat.cols, st.h) * mat.rows) / R;
    }
    if (err < best.err) best = { s, alpha, err };
  }
  return { s: best.s, alpha: best.alpha };
}
