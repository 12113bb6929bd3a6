/**
 * Equalization before rounding. Between two weight layers (Conv/Gemm/MatMul → Relu/MaxPool → Conv/Gemm/MatMul):
 * cross-layer equalization (Nagel et al., 2019), s_c = sqrt(r1_c / r2_c) with r1_c the producer's output channel
 * range and r2_c the consumers' input channel range, so both end up with range sqrt(r1_c r2_c) and one wide
 * channel no longer sets a per-tensor scale. After a LayerNormalization: SmoothQuant's migration (Xiao et al., 2022),
 * s_c = max|x_c|^α / max|w_c|^(1-α) with α = 0.5 and max|x_c| measured on the calibration data, which moves activation
 * outliers into the weights. Needs no labels; the float model's function is unchanged (up to float32 rounding).
 */
import { LayerInputStats } from './layer-inputs';
import { absMaxAlong, Migration } from './scale-migration';

/** Channels whose range is this small (relative to the largest) are left alone (s = 1). */
const TINY = 1e-8;

/** The per-channel scales equalization applies to a migration (see the module comment). */
export function equalizationScales(m: Migration, values: Map<string, { data: Float32Array; dims: number[] }>, stats: Map<string, LayerInputStats>, alpha = 0.5): Float64Array {
  const C = m.channels;
  const r2 = new Float64Array(C);
  for (const c of m.consumers) {
    const w = values.get(c.weight!.tensor)!;
    const r = absMaxAlong(w.data, w.dims, c.weight!.reductionAxis);
    for (let i = 0; i < C; i++) r2[i] = Math.max(r2[i], r[i]);
  }
  const s = new Float64Array(C).fill(1);
  if (m.absorber.kind === 'layer') {
    const l = m.absorber.layer;
    const w = values.get(l.weight!.tensor)!;
    const r1 = absMaxAlong(w.data, w.dims, l.weight!.channelAxis);
    const top = Math.max(...r1, ...r2);
    for (let i = 0; i < C; i++) if (r1[i] > TINY * top && r2[i] > TINY * top) s[i] = Math.sqrt(r1[i] / r2[i]);
    return s;
  }
  // SmoothQuant: activation range per channel from the statistics of the first consumer (all read the same tensor)
  const st = stats.get(m.consumers[0].name);
  if (!st) return s;
  const top = Math.max(...st.absMax);
  for (let i = 0; i < C; i++) {
    const x = st.absMax[i];
    if (x > TINY * top && r2[i] > 0) s[i] = x ** alpha / r2[i] ** (1 - alpha);
  }
  return s;
}
