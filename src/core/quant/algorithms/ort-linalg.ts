/**
 * GPTQ's inverse Hessian factor for big layers by recursive blocks whose O(n³) products run in ONNX Runtime (float64
 * MatMul): the JS loops of `linalg.ts` take n³/3 multiply-adds twice (Cholesky, triangular inverse), about 10 s for
 * n = 2304 on this machine; here only the diagonal blocks (n ≤ LEAF) stay in JS.
 */
import { GraphBuilder } from '../../onnx/builder';
import { DataType } from '../../onnx/proto';
import { InferenceBackend, RuntimeSession } from '../../runtime/backend';
import { cholesky, inverseUpperFactor, lowerInverse, reversed } from './linalg';
import { createProtoSession } from '../../runtime/proto-session';

/** Blocks up to this size are factorised in JS (the products around them are too small for a session run to pay). */
const LEAF = 192;

/** Float64 products a·b and a·bᵀ of fed operands, one session for every shape. */
class DoubleProducts {
  private constructor(private readonly session: RuntimeSession) {}

  static async create(backend: InferenceBackend, threads?: number): Promise<DoubleProducts> {
    const g = new GraphBuilder('double-products');
    g.input('a', DataType.DOUBLE, ['m', 'k']);
    g.input('b', DataType.DOUBLE, ['k', 'n']);
    g.input('c', DataType.DOUBLE, ['p', 'k']);
    g.input('d', DataType.DOUBLE, ['q', 'k']);
    g.node('MatMul', ['a', 'b'], {}, { name: 'ab', output: 'ab' });
    const dt = g.node('Transpose', ['d'], { perm: [1, 0] }, { name: 'dt', output: 'dt' });
    g.node('MatMul', ['c', dt], {}, { name: 'cdt', output: 'cdt' });
    g.output('ab', DataType.DOUBLE, ['m', 'n']);
    g.output('cdt', DataType.DOUBLE, ['p', 'q']);
    // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
    return new DoubleProducts(await createProtoSession(backend, g.model(13), { optimization: 'all', threads, arena: false }));
  }

  /** a [m, k] · b [k, n]. */
  async ab(a: Float64Array, m: number, k: number, b: Float64Array, n: number): Promise<Float64Array> {
    return this.run({ a: [a, m, k], b: [b, k, n] }, 'ab', k);
  }

  /** c [p, k] · dᵀ (d is [q, k]). */
  async abt(c: Float64Array, p: number, k: number, d: Float64Array, q: number): Promise<Float64Array> {
    return this.run({ c: [c, p, k], d: [d, q, k] }, 'cdt', k);
  }

  private async run(given: Record<string, [Float64Array, number, number]>, output: 'ab' | 'cdt', k: number): Promise<Float64Array> {
    // the other product's inputs get empty operands of the same inner size
    const empty = (rows: number, cols: number) => ({ type: DataType.DOUBLE, dims: [rows, cols], data: new Float64Array(rows * cols) });
    const feeds: Record<string, { type: DataType; dims: number[]; data: Float64Array }> = output === 'ab'
      ? { c: empty(0, k), d: empty(0, k) } : { a: empty(0, k), b: empty(k, 0) };
    for (const [name, [data, rows, cols]] of Object.entries(given)) feeds[name] = { type: DataType.DOUBLE, dims: [rows, cols], data };
    const out = (await this.session.run(feeds, [output]))[output];
    return out.data instanceof Float64Array ? out.data : Float64Array.from(out.data as ArrayLike<number>);
  }

  release(): Promise<void> { return this.session.release(); }
}

/** The [rows, cols] block of a row-major [*, n] matrix starting at (r0, c0), copied. */
function block(a: Float64Array, n: number, r0: number, rows: number, c0: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(a.subarray((r0 + i) * n + c0, (r0 + i) * n + c0 + cols), i * cols);
  return out;
}

/** Writes a [rows, cols] block into a row-major [*, n] matrix at (r0, c0). */
function put(a: Float64Array, n: number, r0: number, c0: number, b: Float64Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) a.set(b.subarray(i * cols, (i + 1) * cols), (r0 + i) * n + c0);
}

/**
 * L⁻¹ of the lower Cholesky factor of a symmetric positive definite [n, n] matrix, by halves: with A = [[A11, ·], [B, C]],
 * L11 = chol(A11), L21 = B L11⁻ᵀ, L22 = chol(C − L21 L21ᵀ), and L⁻¹ = [[L11⁻¹, 0], [−L22⁻¹ L21 L11⁻¹, L22⁻¹]].
 * Above LEAF, written over `a` (its blocks are copied out first) and returned: no fresh n² array per level, whose first
 * touch cost more than the products on this machine (about 2.5 ms a MB; 170 MB at n = 4608). At LEAF and below, a new
 * (small) array.
 */
async function lowerFactorInverse(p: DoubleProducts, a: Float64Array, n: number, check?: () => void): Promise<Float64Array> {
  if (n <= LEAF) return lowerInverse(cholesky(a, n), n);
  check?.();
  const m = n >> 1, r = n - m;
  const inv11 = await lowerFactorInverse(p, block(a, n, 0, m, 0, m), m, check);
  const b = block(a, n, m, r, 0, m);
  // L21 = B L11⁻ᵀ = B · (inv11)ᵀ
  const l21 = await p.abt(b, r, m, inv11, m);
  const s = block(a, n, m, r, m, r);
  const sub = await p.abt(l21, r, m, l21, r);
  for (let i = 0; i < s.length; i++) s[i] -= sub[i];
  // symmetrise against rounding in the product
  for (let i = 0; i < r; i++) for (let j = 0; j < i; j++) { const v = 0.5 * (s[i * r + j] + s[j * r + i]); s[i * r + j] = v; s[j * r + i] = v; }
  const inv22 = await lowerFactorInverse(p, s, r, check);
  const t = await p.ab(l21, r, m, inv11, m);
  const inv21 = await p.ab(inv22, r, r, t, m);
  put(a, n, 0, 0, inv11, m, m);
  for (let i = 0; i < m; i++) a.fill(0, i * n + m, (i + 1) * n);
  for (let i = 0; i < inv21.length; i++) inv21[i] = -inv21[i];
  put(a, n, m, 0, inv21, r, m);
  put(a, n, m, m, inv22, r, r);
  return a;
}

/**
 * The upper triangular U with A⁻¹ = Uᵀ U (as `linalg.inverseUpperFactor`, the same reversal: U = P L'⁻¹ P with
 * P A P = L' L'ᵀ), its big products in ONNX Runtime; small matrices stay in JS. `consume`: `a` may be overwritten (it
 * then holds U): no n² copy of it.
 */
export async function inverseUpperFactorOrt(backend: InferenceBackend, a: Float64Array, n: number, check?: () => void, consume = false): Promise<Float64Array> {
  if (n <= LEAF) return inverseUpperFactor(a, n);
  const p = await DoubleProducts.create(backend);
  // reversed and factored in place (fresh n² arrays are slow to fault in on this machine)
  const own = consume ? a.subarray(0, n * n).reverse() : reversed(a, n);
  try { return (await lowerFactorInverse(p, own, n, check)).reverse(); } finally { await p.release(); }
}
