/** Round to nearest: every weight to its nearest grid point (QuantizeLinear), the baseline the others improve on. */
import { roundToNearest, WeightMatrix } from './layer-matrix';

/** The integer codes round to nearest gives. */
export function rtn(m: WeightMatrix): Int32Array {
  return roundToNearest(m);
}
