/** Kernel, strides, dilations and pads of a sliding-window op (Conv, ConvTranspose, pools), auto_pad resolved. */
import { attrInts, attrString } from '../../onnx/graph';
import { FwdNode } from '../grad-context';

/** A window op's geometry per spatial axis; `pb`/`pe` are the pads at the beginning and end. */
export interface WindowGeometry { k: number[]; s: number[]; d: number[]; pb: number[]; pe: number[] }

/**
 * Reads the window attributes of `n` with `nd` spatial axes and resolves auto_pad against the static shapes
 * (`transpose` for ConvTranspose, whose output is the larger side).
 */
export function windowGeometry(n: FwdNode, nd: number, kernelDefault: number[], inSpatial: number[], outSpatial: number[], transpose = false): WindowGeometry {
  const k = attrInts(n.proto, 'kernel_shape', kernelDefault);
  const s = attrInts(n.proto, 'strides', Array(nd).fill(1));
  const d = attrInts(n.proto, 'dilations', Array(nd).fill(1));
  const pads = attrInts(n.proto, 'pads', Array(2 * nd).fill(0));
  const autoPad = attrString(n.proto, 'auto_pad', 'NOTSET');
  let pb = pads.slice(0, nd), pe = pads.slice(nd);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pb = []; pe = [];
    for (let i = 0; i < nd; i++) {
      const total = transpose
        ? Math.max(0, s[i] * (inSpatial[i] - 1) + (k[i] - 1) * d[i] + 1 - outSpatial[i])
        : Math.max(0, (outSpatial[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - inSpatial[i]);
      const small = Math.floor(total / 2), big = total - small;
      const upper = autoPad === 'SAME_UPPER';
      pb.push(upper ? small : big); pe.push(upper ? big : small);
    }
  } else if (autoPad === 'VALID') {
    pb = Array(nd).fill(0); pe = Array(nd).fill(0);
  }
  return { k, s, d, pb, pe };
}
