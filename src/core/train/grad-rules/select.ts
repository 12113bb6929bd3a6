/** Gradient rules of selecting and gathering ops: Where, Max, Min, ReduceMax, ReduceMin, Trilu, Gather (any indices), Tile, CumSum. */
import { attrInt, attrInts } from '../../onnx/graph';
import { sizeOf } from '../../onnx/tensor-data';
import { DataType } from '../../onnx/proto';
import { GradContext, GradRule, FwdNode } from '../grad-context';

function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** `gy` where the input is the selected one (ties: each tied input gets the gradient, as a subgradient). */
const extreme: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const y = n.outputs[0], ys = ctx.shape(y);
  return n.inputs.map((x) => (ctx.needs(x) ? ctx.sumTo(ctx.mask(gy, ctx.op('Equal', [x, y])), ys, ctx.shape(x)) : undefined));
};

function reduceExtreme(ctx: GradContext, n: FwdNode, gy: string | undefined): (string | undefined)[] {
  if (!gy) return [];
  const x = n.inputs[0], xs = ctx.shape(x);
  let axes = (n.inputs[1] ? ctx.constInts(n.inputs[1]) : attrInts(n.proto, 'axes', [])) ?? [];
  if (!axes.length) axes = attrInt(n.proto, 'noop_with_empty_axes', 0) ? [] : xs.map((_, i) => i);
  axes = axes.map((a) => norm(a, xs.length));
  const kept = xs.map((d, i) => (axes.includes(i) ? 1 : d));
  const y = ctx.reshape(n.outputs[0], kept);
  const mask = ctx.op('Cast', [ctx.op('Equal', [x, y])], { to: ctx.dtype });
  // Ties share the gradient equally (the sum over the tied elements stays gy).
  const count = ctx.op('ReduceSum', [mask, ctx.ints(axes)], { keepdims: 1 });
  return [ctx.op('Mul', [ctx.op('Div', [ctx.reshape(gy, kept), count]), mask])];
}

/** Gradient of Gather (embedding tables, activations; indices constant or computed at run time): ScatterND with reduction 'add' into zeros of the data's shape. */
export function gatherGrad(ctx: GradContext, n: FwdNode, gy: string): string {
  const [data, indices] = n.inputs;
  const xs = ctx.shape(data), is = ctx.shape(indices);
  const axis = norm(attrInt(n.proto, 'axis', 0), xs.length);
  const pre = xs.slice(0, axis), post = xs.slice(axis + 1);
  const count = sizeOf(is);
  let idx = ctx.op('Cast', [indices], { to: DataType.INT64 });
  const dim = ctx.b.constInt64('gather_dim', [xs[axis]], []);
  idx = ctx.op('Where', [ctx.op('Less', [idx, ctx.b.constInt64('zero', [0], [])]), ctx.op('Add', [idx, dim]), idx]);
  idx = ctx.reshape(idx, [count, 1]);
  // gy is pre + indices + post: bring the index axes to the front, flattened.
  let upd = ctx.reshape(gy, [...pre, count, ...post]);
  if (pre.length) upd = ctx.op('Transpose', [upd], { perm: [pre.length, ...pre.map((_, i) => i), ...post.map((_, i) => pre.length + 1 + i)] });
  const front = [xs[axis], ...pre, ...post];
  let g = ctx.op('ScatterND', [ctx.zeros(front), idx, upd], { reduction: 'add' });
  // front axes [axis, pre..., post...] back to [pre..., axis, post...]
  if (pre.length) g = ctx.op('Transpose', [g], { perm: [...pre.map((_, i) => i + 1), 0, ...post.map((_, i) => pre.length + 1 + i)] });
  return g;
}

/** Select-rule registry by op type. */
export const selectRules: Record<string, GradRule> = {
  Where: (ctx, n, [gy]) => {
    if (!gy) return [];
    const [c, a, b] = n.inputs;
    const ys = ctx.shape(n.outputs[0]);
    const z = ctx.scalar(0);
    return [
      undefined,
      ctx.needs(a) ? ctx.sumTo(ctx.op('Where', [c, gy, z]), ys, ctx.shape(a)) : undefined,
      ctx.needs(b) ? ctx.sumTo(ctx.op('Where', [c, z, gy]), ys, ctx.shape(b)) : undefined,
    ];
  },
  Max: extreme,
  Min: extreme,
  ReduceMax: (ctx, n, [gy]) => reduceExtreme(ctx, n, gy),
  ReduceMin: (ctx, n, [gy]) => reduceExtreme(ctx, n, gy),
  Trilu: (ctx, n, [gy]) => [gy ? ctx.op('Trilu', n.inputs[1] ? [gy, n.inputs[1]] : [gy], { upper: attrInt(n.proto, 'upper', 1) }) : undefined],
  Tile: (ctx, n, [gy]) => {
    if (!gy) return [];
    const xs = ctx.shape(n.inputs[0]);
    const reps = ctx.constInts(n.inputs[1]);
    if (!reps) throw new Error(`Tile '${n.name}': the repeats must be known to differentiate`);
    // Output axis i is reps[i] copies of xs[i]: view as [reps[0], xs[0], reps[1], xs[1], ...] and sum the copies.
    const inter = xs.flatMap((d, i) => [reps[i], d]);
    const g = ctx.op('ReduceSum', [ctx.reshape(gy, inter), ctx.ints(xs.map((_, i) => 2 * i))], { keepdims: 0 });
    return [ctx.reshape(g, xs)];
  },
  Gather: (ctx, n, [gy]) => [gy ? gatherGrad(ctx, n, gy) : undefined],
  CumSum: (ctx, n, [gy]) => {
    if (!gy) return [];
    return [ctx.op('CumSum', [gy, n.inputs[1]], { exclusive: attrInt(n.proto, 'exclusive', 0), reverse: attrInt(n.proto, 'reverse', 0) ? 0 : 1 })];
  },
};
