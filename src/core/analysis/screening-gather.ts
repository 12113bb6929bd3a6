/**
 * Screening of embedding tables (Gather on axis 0 of a weight) without table-sized gradients. A run's gradient of the
 * table is zero except on the rows its indices pick: row r gets Σ gY[p] over the positions p with index r. The graph
 * returns gY (the gradient of the Gather's output) and the indices, and the rows are summed, squared and added to the
 * Fisher diagonal here: a BERT-base word table (30,522 x 768) costs 128 rows a sample instead of a 94 MB scatter, square
 * and add (10.6 of the screening's 14.5 s of ONNX Runtime kernels on 16 samples, and its peak memory).
 */
import { Tensor, toFloat32 } from '../onnx/tensor-data';

/** A Gather layer screened through its output gradient: the fetched tensors and the table's shape. */
export interface GatherLayer {
  layer: string;
  /** Fetch names of the indices and of gY (the gradient of the Gather's output). */
  indices: string;
  gy: string;
  /** The table's dims ([rows, ...row]). */
  dims: number[];
}

/** True when a Gather layer reads its weight as the table (input 0) on axis 0: the case screened from its rows. */
export function sparseGather(opType: string, weightInput: number, axis: number, rank: number): boolean {
  return opType === 'Gather' && weightInput === 0 && (axis === 0 || axis === -rank);
}

/**
 * Adds one run's squared table gradient to `fisher` (Σ g², g the run's gradient of the table) and returns, per
 * delta, g·δ (the Taylor term's dot product; `deltas` are δW of the table, one per weight format).
 */
export function addGatherRun(g: GatherLayer, indices: Tensor, gy: Tensor, fisher: Float32Array, deltas: readonly Float32Array[] = []): number[] {
  const rows = g.dims[0], width = g.dims.slice(1).reduce((a, b) => a * b, 1);
  const idx = indices.data as ArrayLike<number | bigint>;
  const grad = toFloat32(gy);
  if (grad.length !== idx.length * width) throw new Error(`Gather '${g.layer}': ${grad.length} gradient values for ${idx.length} indices of rows of ${width}`);
  // the run's gradient rows, summed per distinct index (in float64)
  const slot = new Map<number, number>();
  const sums = new Float64Array(idx.length * width);
  for (let p = 0; p < idx.length; p++) {
    let r = Number(idx[p]);
    if (r < 0) r += rows;
    let s = slot.get(r);
    if (s === undefined) slot.set(r, (s = slot.size));
    const o = s * width, src = p * width;
    for (let j = 0; j < width; j++) sums[o + j] += grad[src + j];
  }
  const dots = deltas.map(() => 0);
  for (const [r, s] of slot) {
    const o = s * width, base = r * width;
    for (let j = 0; j < width; j++) fisher[base + j] += sums[o + j] * sums[o + j];
    deltas.forEach((d, k) => { let t = 0; for (let j = 0; j < width; j++) t += sums[o + j] * d[base + j]; dots[k] += t; });
  }
  return dots;
}
