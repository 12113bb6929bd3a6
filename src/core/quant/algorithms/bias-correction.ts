/**
 * Bias correction (Nagel et al., 2019, empirical form): quantizing the weights shifts the expected layer output
 * by E[W_q x̂] - E[W x] (x̂ = x, or, in sequential repair, the input once the layers before are quantized, so that
 * their shift is corrected too); subtracting that shift from the bias removes the mean error. The expectations are
 * measured on the calibration data (im2col columns of a Conv: every output position, padding included as zeros).
 */
import { LayerInputStats } from './layer-inputs';
import { meanError } from './layer-error';

/** Per output channel, the expected output shift the bias must absorb (subtract it). */
export function biasShift(w: Float64Array, q: Float64Array, rows: number, cols: number, stats: LayerInputStats): Float64Array {
  return meanError(w, q, rows, cols, stats);
}
