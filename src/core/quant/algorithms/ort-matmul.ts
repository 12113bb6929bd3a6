/** Dense products for the layer-wise algorithms, computed by ONNX Runtime (float32) instead of JS loops. */
import { GraphBuilder } from '../../onnx/builder';
import { DataType } from '../../onnx/proto';
import { toFloat32 } from '../../onnx/tensor-data';
import { InferenceBackend } from '../../runtime/backend';
import { createProtoSession } from '../../runtime/proto-session';

/** A [rows, K] × M product with M ([K, N], row-major; transposed first when `transpose`) fixed in one ORT session. */
export interface FixedProduct {
  run(a: ArrayLike<number>, rows: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Builds the session of a product by the fixed matrix `m` ([K, N] row-major, or [N, K] with `transpose`). */
export async function fixedProduct(backend: InferenceBackend, m: ArrayLike<number>, K: number, N: number, transpose = false): Promise<FixedProduct> {
  const b = new GraphBuilder('product');
  b.input('a', DataType.FLOAT, ['rows', K]);
  const mn = b.initializer('m', { type: DataType.FLOAT, dims: transpose ? [N, K] : [K, N], data: Float32Array.from(m) });
  if (transpose) b.node('Gemm', ['a', mn], { transB: 1 }, { name: 'product', output: 'y' });
  else b.node('MatMul', ['a', mn], {}, { name: 'product', output: 'y' });
  b.output('y', DataType.FLOAT, ['rows', N]);
  // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
  const session = await createProtoSession(backend, b.model(13), { optimization: 'all', threads: 1, arena: false });
  return {
    run: async (a, rows) => toFloat32((await session.run({ a: { type: DataType.FLOAT, dims: [rows, K], data: a instanceof Float32Array ? a : Float32Array.from(a) } }, ['y'])).y),
    release: () => session.release(),
  };
}

/** a [rows, K] × m [K, N] (mᵀ with `transpose`: m is [N, K]) in one call. */
export async function matmul(backend: InferenceBackend, a: ArrayLike<number>, rows: number, m: ArrayLike<number>, K: number, N: number, transpose = false): Promise<Float32Array> {
  const p = await fixedProduct(backend, m, K, N, transpose);
  try { return await p.run(a, rows); } finally { await p.release(); }
}

/** Σ a ⊙ b over all elements. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** A session computing a [rows, K] × b [K, N] for any shapes, both operands fed per call (a is [K, rows], transposed, with `transposeA`). */
export interface FreeProduct {
  run(a: Float32Array, rows: number, K: number, b: Float32Array, N: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Builds one session for products of fed operands (reused across calls of any shape); `transposeA` reads a as [K, rows]. */
export async function freeProduct(backend: InferenceBackend, threads?: number, opts: { transposeA?: boolean } = {}): Promise<FreeProduct> {
  const g = new GraphBuilder('free-product');
  g.input('a', DataType.FLOAT, opts.transposeA ? ['k', 'rows'] : ['rows', 'k']);
  g.input('b', DataType.FLOAT, ['k', 'n']);
  if (opts.transposeA) g.node('Gemm', ['a', 'b'], { transA: 1 }, { name: 'product', output: 'y' });
  else g.node('MatMul', ['a', 'b'], {}, { name: 'product', output: 'y' });
  g.output('y', DataType.FLOAT, ['rows', 'n']);
  // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
  const session = await createProtoSession(backend, g.model(13), { optimization: 'all', threads, arena: false });
  return {
    run: async (a, rows, K, b, N) => toFloat32((await session.run({ a: { type: DataType.FLOAT, dims: opts.transposeA ? [K, rows] : [rows, K], data: a }, b: { type: DataType.FLOAT, dims: [K, N], data: b } }, ['y'])).y),
    release: () => session.release(),
  };
}
