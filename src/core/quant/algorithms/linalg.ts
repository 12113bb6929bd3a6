/** Small dense linear algebra on row-major Float64Arrays (Cholesky, inverse) for the layer-wise algorithms. */

/** Lower Cholesky factor L (A = L Lᵀ) of a symmetric positive definite [n, n] matrix; throws when not positive definite. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0)) throw new Error(`matrix is not positive definite (pivot ${j}: ${d})`);
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      const li = i * n, lj = j * n;
      for (let k = 0; k < j; k++) s -= l[li + k] * l[lj + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** Inverse of A = L Lᵀ from its lower Cholesky factor: A⁻¹ = L⁻ᵀ L⁻¹. */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  const t = lowerInverseTransposed(l, n);
  // A⁻¹ = Linvᵀ Linv: A⁻¹[i, j] = Σ_k Linv[k, i] Linv[k, j]
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ti = i * n;
    for (let j = i; j < n; j++) {
      let s = 0;
      const tj = j * n;
      for (let k = j; k < n; k++) s += t[ti + k] * t[tj + k];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  }
  return inv;
}

/**
 * The upper triangular U with A⁻¹ = Uᵀ U (GPTQ's factor) from one Cholesky factorisation: with P the reversal
 * permutation and P A P = L' L'ᵀ, A⁻¹ = (P L'⁻ᵀ P)(P L'⁻¹ P), so U = P L'⁻¹ P. Costs n³/3 multiply-adds where
 * inverting A and factorising the inverse costs three times that.
 */
export function inverseUpperFactor(a: Float64Array, n: number): Float64Array {
  const l = cholesky(reversed(a, n), n);
  const t = lowerInverseTransposed(l, n);
  // U[i, j] = Linv[n-1-i, n-1-j] = t[(n-1-j) n + (n-1-i)], nonzero for j >= i
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = t[(n - 1 - j) * n + (n - 1 - i)];
  return u;
}

/** P A P for the reversal permutation P (rows and columns in reverse order): lower triangular becomes upper. */
export function reversed(a: Float64Array, n: number): Float64Array {
  // element (i, j) goes to (n-1-i, n-1-j): flat index k to n² - 1 - k, the whole array reversed
  return a.slice(0, n * n).reverse();
}

/** L⁻¹ of a lower triangular [n, n] L (row-major). */
export function lowerInverse(l: Float64Array, n: number): Float64Array {
  const t = lowerInverseTransposed(l, n);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) out[i * n + j] = t[j * n + i];
  return out;
}

/**
 * L⁻¹ of a lower triangular L by forward substitution, stored transposed (t[j n + i] = L⁻¹[i, j]) so that sums over
 * it read contiguous memory; the sums run in the same order as over L⁻¹ itself (same values).
 */
function lowerInverseTransposed(l: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const tj = j * n;
    t[tj + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      const li = i * n;
      for (let k = j; k < i; k++) s += l[li + k] * t[tj + k];
      t[tj + i] = -s / l[li + i];
    }
  }
  return t;
}
