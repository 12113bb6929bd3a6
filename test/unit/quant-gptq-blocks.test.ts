// GPTQ's blocked update (each block first takes every earlier block's errors in one ONNX Runtime product, then spreads
// its own column by column) against the textbook algorithm: every column's error spread at once over all later columns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gptq } from '../../src/core/quant/algorithms/gptq';
import { inverseUpperFactor } from '../../src/core/quant/algorithms/linalg';
import { quantizeOne, WeightMatrix } from '../../src/core/quant/algorithms/layer-matrix';
import { LayerInputStats } from '../../src/core/quant/algorithms/layer-inputs';
import { ortBackend } from '../../src/core/runtime/ort-backend';

function rng(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
}

/** A [rows, K] int4 per-row weight and the Gram matrix of correlated inputs (AR(1) columns, some 4x louder). */
function problem(rows: number, K: number) {
  const r = rng(11);
  const w = Float64Array.from({ length: rows * K }, () => Math.fround(r() * 0.2));
  const scale = new Float32Array(rows * K), zero = new Int32Array(rows * K);
  for (let i = 0; i < rows; i++) {
    let m = 0;
    for (let j = 0; j < K; j++) m = Math.max(m, Math.abs(w[i * K + j]));
    scale.fill(Math.fround(m / 7), i * K, (i + 1) * K);
  }
  const sig = Float64Array.from({ length: K }, (_, i) => (i % 9 === 0 ? 4 : 1) + r());
  const h = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) h[i * K + j] = 500 * 0.8 ** Math.abs(i - j) * sig[i] * sig[j];
  const m: WeightMatrix = { rows, cols: K, w, scale, zero, qmin: -8, qmax: 7, params: { scale: new Float32Array(rows), zeroPoint: new Int32Array(rows), axis: 0 } as never, dims: [rows, K], transposed: false };
  const stats = { cols: K, rows: 500, h, mean: new Float64Array(K), absMean: new Float64Array(K), absMax: new Float64Array(K) } as unknown as LayerInputStats;
  return { m, stats, h };
}

/** GPTQ as written in the paper's first form: column i quantized, its scaled error spread over every later column. */
function textbook(m: WeightMatrix, hIn: Float64Array): Int32Array {
  const K = m.cols, h = Float64Array.from(hIn);
  let diag = 0;
  for (let i = 0; i < K; i++) diag += h[i * K + i];
  for (let i = 0; i < K; i++) h[i * K + i] += 0.01 * diag / K;
  const u = inverseUpperFactor(h, K);
  const w = Float64Array.from(m.w), q = new Int32Array(w.length);
  for (let r = 0; r < m.rows; r++) {
    for (let i = 0; i < K; i++) {
      const at = r * K + i, s = m.scale[at], z = m.zero[at];
      q[at] = quantizeOne(w[at], s, z, m.qmin, m.qmax);
      const e = (w[at] - Math.fround((q[at] - z) * s)) / u[i * K + i];
      for (let j = i + 1; j < K; j++) w[r * K + j] -= e * u[i * K + j];
    }
  }
  return q;
}

/** tr(ΔW H ΔWᵀ): the output error GPTQ minimises. */
function outputError(m: WeightMatrix, q: Int32Array, h: Float64Array): number {
  const K = m.cols;
  let e = 0;
  for (let r = 0; r < m.rows; r++) {
    const d = Float64Array.from({ length: K }, (_, i) => (q[r * K + i] - m.zero[r * K + i]) * m.scale[r * K + i] - m.w[r * K + i]);
    for (let i = 0; i < K; i++) { let s = 0; for (let j = 0; j < K; j++) s += h[i * K + j] * d[j]; e += d[i] * s; }
  }
  return e;
}

for (const K of [100, 300]) { // several blocks, the last one short; 300 takes the ONNX Runtime inverse factor
  test(`blocked GPTQ gives the textbook codes (16 x ${K}, int4 per row)`, async () => {
    const { m, stats, h } = problem(16, K);
    const got = await gptq(m, stats, ortBackend(), { asymmetric: false });
    const want = textbook(m, h);
    let differ = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) differ++;
    // float32 products between blocks against float64 updates: a code at a rounding boundary may go the other way
    assert.ok(differ <= got.length * 0.002, `${differ} of ${got.length} codes differ`);
    const [eg, ew] = [outputError(m, got, h), outputError(m, want, h)];
    assert.ok(Math.abs(eg - ew) <= 1e-3 * ew, `output error ${eg} vs textbook ${ew}`);
    // and GPTQ beats round-to-nearest
    const rtn = Int32Array.from(m.w, (v, i) => quantizeOne(v, m.scale[i], m.zero[i], m.qmin, m.qmax));
    assert.ok(eg < 0.8 * outputError(m, rtn, h), `GPTQ ${eg} vs round-to-nearest ${outputError(m, rtn, h)}`);
  });
}
