/** Gradient rules of Gemm (transA/transB, alpha/beta, broadcast C) and MatMul (batched, broadcasting, 1-D operands). */
import { attrFloat, attrInt } from '../../onnx/graph';
import { broadcastShape, GradContext, GradRule } from '../grad-context';

function scale(ctx: GradContext, x: string, k: number): string {
  return k === 1 ? x : ctx.op('Mul', [x, ctx.scalar(k)]);
}

const gemm: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const [a, b, c] = n.inputs;
  const ta = attrInt(n.proto, 'transA', 0), tb = attrInt(n.proto, 'transB', 0);
  const alpha = attrFloat(n.proto, 'alpha', 1), beta = attrFloat(n.proto, 'beta', 1);
  let ga: string | undefined, gb: string | undefined, gc: string | undefined;
  if (ctx.needs(a)) {
    ga = ta
      ? ctx.op('Gemm', [b, gy], { transA: tb ? 1 : 0, transB: 1 })
      : ctx.op('Gemm', [gy, b], { transB: tb ? 0 : 1 });
    ga = scale(ctx, ga, alpha);
  }
  if (ctx.needs(b)) {
    gb = tb
      ? ctx.op('Gemm', [gy, a], { transA: 1, transB: ta ? 1 : 0 })
      : ctx.op('Gemm', [a, gy], { transA: ta ? 0 : 1 });
    gb = scale(ctx, gb, alpha);
  }
  if (c && ctx.needs(c)) gc = ctx.sumTo(scale(ctx, gy, beta), ctx.shape(n.outputs[0]), ctx.shape(c));
  return [ga, gb, gc];
};

function swapLast(ctx: GradContext, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return ctx.op('Transpose', [x], { perm });
}

const matmul: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const [a, b] = n.inputs;
  const as = ctx.shape(a), bs = ctx.shape(b);
  const a2s = as.length === 1 ? [1, as[0]] : as;
  const b2s = bs.length === 1 ? [bs[0], 1] : bs;
  const batch = broadcastShape(a2s.slice(0, -2), b2s.slice(0, -2));
  const y2s = [...batch, a2s[a2s.length - 2], b2s[b2s.length - 1]];
  const gy2 = ctx.reshape(gy, y2s);
  const a2 = as.length === 1 ? ctx.reshape(a, a2s) : a;
  const b2 = bs.length === 1 ? ctx.reshape(b, b2s) : b;
  let ga: string | undefined, gb: string | undefined;
  if (ctx.needs(a)) {
    const bt = swapLast(ctx, b2, b2s.length);
    const g = ctx.op('MatMul', [gy2, bt]);
    ga = ctx.reshape(ctx.sumTo(g, [...batch, a2s[a2s.length - 2], a2s[a2s.length - 1]], a2s), as);
  }
  if (ctx.needs(b) && bs.length === 2 && as.length >= 3) {
    // a matrix (a weight) times a batch of matrices: one Gemm over the rows of every batch, [K, rows] x [rows, N],
    // instead of a [batch..., K, N] product summed over the batch (a weight-sized copy per sample of the batch)
    const rows = as.slice(0, -1).reduce((p, d) => p * d, 1);
    gb = ctx.op('Gemm', [ctx.reshape(a, [rows, as[as.length - 1]]), ctx.reshape(gy, [rows, bs[1]])], { transA: 1 });
  } else if (ctx.needs(b)) {
    const at = swapLast(ctx, a2, a2s.length);
    const g = ctx.op('MatMul', [at, gy2]);
    gb = ctx.reshape(ctx.sumTo(g, [...batch, b2s[b2s.length - 2], b2s[b2s.length - 1]], b2s), bs);
  }
  return [ga, gb];
};

/** Linear-algebra rules by op type. */
export const linearRules: Record<string, GradRule> = { Gemm: gemm, MatMul: matmul };
