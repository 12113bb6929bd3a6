// The layer-wise algorithms' dense linear algebra: the Cholesky inverse is an inverse, and its cache-friendly layout
// gives exactly the values of the textbook loops (same summation order), so GPTQ's codes do not change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cholesky, choleskyInverse, inverseUpperFactor } from '../../src/core/quant/algorithms/linalg';

/** The textbook form: Linv by forward substitution over Linv itself, then Linvᵀ Linv. */
function reference(l: Float64Array, n: number): Float64Array {
  const li = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    li[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) { let s = 0; for (let k = j; k < i; k++) s += l[i * n + k] * li[k * n + j]; li[i * n + j] = -s / l[i * n + i]; }
  }
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) { let s = 0; for (let k = j; k < n; k++) s += li[k * n + i] * li[k * n + j]; inv[i * n + j] = s; inv[j * n + i] = s; }
  return inv;
}

/** X Xᵀ + 0.01 I from seeded rows. */
function spd(n: number, seed: number): Float64Array {
  let s = seed;
  const rows = n + 3, x = new Float64Array(rows * n);
  for (let i = 0; i < x.length; i++) { s = (s * 16807) % 2147483647; x[i] = s / 2147483647 - 0.5; }
  const h = new Float64Array(n * n);
  for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] += x[r * n + i] * x[r * n + j];
  for (let i = 0; i < n; i++) h[i * n + i] += 0.01;
  return h;
}

test('choleskyInverse inverts A = L Lᵀ and equals the textbook loops bit for bit', () => {
  for (const n of [1, 2, 5, 33, 130]) {
    const a = spd(n, 7 + n);
    const l = cholesky(a, n);
    const inv = choleskyInverse(l, n);
    assert.deepEqual(inv, reference(l, n), `n=${n}`);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * inv[k * n + j];
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-6, `n=${n}: (A A⁻¹)[${i}, ${j}] = ${s}`);
    }
  }
});

test('inverseUpperFactor gives the upper U with A⁻¹ = Uᵀ U (GPTQ\'s factor), equal to the Cholesky factor of the inverse', () => {
  for (const n of [1, 2, 5, 33, 130]) {
    const a = spd(n, 11 + n);
    const u = inverseUpperFactor(a, n);
    const inv = choleskyInverse(cholesky(a, n), n);
    const lower = cholesky(inv, n); // the way GPTQ computed it before: U = (chol(A⁻¹))ᵀ
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      if (j < i) assert.equal(u[i * n + j], 0, `n=${n}: U[${i}, ${j}] below the diagonal`);
      else assert.ok(Math.abs(u[i * n + j] - lower[j * n + i]) < 1e-6 * Math.max(1, Math.abs(lower[j * n + i])), `n=${n}: U[${i}, ${j}] = ${u[i * n + j]}, chol(A⁻¹)ᵀ = ${lower[j * n + i]}`);
      let s = 0;
      for (let k = 0; k <= Math.min(i, j); k++) s += u[k * n + i] * u[k * n + j];
      assert.ok(Math.abs(s - inv[i * n + j]) < 1e-6 * Math.max(1, Math.abs(inv[i * n + j])), `n=${n}: (UᵀU)[${i}, ${j}] = ${s}, A⁻¹ = ${inv[i * n + j]}`);
    }
  }
});

test('inverseUpperFactorOrt (recursive halves, products in ONNX Runtime float64) equals the JS factor', async () => {
  const { inverseUpperFactorOrt } = await import('../../src/core/quant/algorithms/ort-linalg');
  const { ortBackend } = await import('../../src/core/runtime/ort-backend');
  // 150 stays in JS; 400 and 777 recurse (uneven halves included)
  for (const n of [150, 400, 777]) {
    const a = spd(n, 5 + n);
    const js = inverseUpperFactor(a, n);
    const ort = await inverseUpperFactorOrt(ortBackend(), a, n);
    let worst = 0;
    for (let i = 0; i < n * n; i++) worst = Math.max(worst, Math.abs(ort[i] - js[i]) / Math.max(1, Math.abs(js[i])));
    assert.ok(worst < 1e-9, `n=${n}: largest relative difference ${worst}`);
    for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) assert.equal(ort[i * n + j], 0, `n=${n}: U[${i}, ${j}] below the diagonal`);
    // factored over the given array itself: the same values, held by that array
    const own = a.slice();
    const consumed = await inverseUpperFactorOrt(ortBackend(), own, n, undefined, true);
    assert.deepEqual(consumed, ort, `n=${n}: factored in place`);
    if (n > 192) assert.equal(consumed.buffer, own.buffer, `n=${n}: no copy of the matrix`);
  }
});
