/** Gradient rules of activations: Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Gelu, Clip, Softmax, LogSoftmax. */
import { attrFloat, attrInt, attrString } from '../../onnx/graph';
import { GradContext, GradRule, FwdNode } from '../grad-context';

function softmaxAxis(ctx: GradContext, n: FwdNode): number {
  const r = ctx.shape(n.inputs[0]).length;
  const a = attrInt(n.proto, 'axis', -1);
  return a < 0 ? a + r : a;
}

/** Activation rules by op type. */
export const activationRules: Record<string, GradRule> = {
  Relu: (ctx, n, [gy]) => [gy ? ctx.mask(gy, ctx.op('Greater', [n.inputs[0], ctx.scalar(0)])) : undefined],
  LeakyRelu: (ctx, n, [gy]) => {
    if (!gy) return [];
    const alpha = attrFloat(n.proto, 'alpha', 0.01);
    return [ctx.op('Where', [ctx.op('Greater', [n.inputs[0], ctx.scalar(0)]), gy, ctx.op('Mul', [gy, ctx.scalar(alpha)])])];
  },
  Sigmoid: (ctx, n, [gy]) => {
    if (!gy) return [];
    const y = n.outputs[0];
    return [ctx.op('Mul', [gy, ctx.op('Mul', [y, ctx.op('Sub', [ctx.scalar(1), y])])])];
  },
  Tanh: (ctx, n, [gy]) => {
    if (!gy) return [];
    const y = n.outputs[0];
    return [ctx.op('Mul', [gy, ctx.op('Sub', [ctx.scalar(1), ctx.op('Mul', [y, y])])])];
  },
  HardSigmoid: (ctx, n, [gy]) => {
    if (!gy) return [];
    const a = attrFloat(n.proto, 'alpha', 0.2), b = attrFloat(n.proto, 'beta', 0.5);
    const t = ctx.op('Add', [ctx.op('Mul', [n.inputs[0], ctx.scalar(a)]), ctx.scalar(b)]);
    const inside = ctx.op('And', [ctx.op('Greater', [t, ctx.scalar(0)]), ctx.op('Less', [t, ctx.scalar(1)])]);
    return [ctx.mask(ctx.op('Mul', [gy, ctx.scalar(a)]), inside)];
  },
  HardSwish: (ctx, n, [gy]) => {
    if (!gy) return [];
    // y = x * clip(x/6 + 1/2, 0, 1): dy = 0 (x < -3), 1 (x > 3), (2x + 3)/6 otherwise
    const x = n.inputs[0];
    const mid = ctx.op('Add', [ctx.op('Mul', [x, ctx.scalar(1 / 3)]), ctx.scalar(0.5)]);
    const d = ctx.op('Where', [ctx.op('Greater', [x, ctx.scalar(3)]), ctx.scalar(1),
      ctx.op('Where', [ctx.op('Less', [x, ctx.scalar(-3)]), ctx.scalar(0), mid])]);
    return [ctx.op('Mul', [gy, d])];
  },
  Gelu: (ctx, n, [gy]) => {
    if (!gy) return [];
    const x = n.inputs[0];
    if (attrString(n.proto, 'approximate', 'none') === 'tanh') {
      const k = Math.sqrt(2 / Math.PI);
      const x2 = ctx.op('Mul', [x, x]);
      const u = ctx.op('Mul', [ctx.scalar(k), ctx.op('Add', [x, ctx.op('Mul', [ctx.scalar(0.044715), ctx.op('Mul', [x2, x])])])]);
      const t = ctx.op('Tanh', [u]);
      const du = ctx.op('Mul', [ctx.scalar(k), ctx.op('Add', [ctx.scalar(1), ctx.op('Mul', [ctx.scalar(3 * 0.044715), x2])])]);
      const a = ctx.op('Mul', [ctx.scalar(0.5), ctx.op('Add', [ctx.scalar(1), t])]);
      const bterm = ctx.op('Mul', [ctx.op('Mul', [ctx.scalar(0.5), x]), ctx.op('Mul', [ctx.op('Sub', [ctx.scalar(1), ctx.op('Mul', [t, t])]), du])]);
      return [ctx.op('Mul', [gy, ctx.op('Add', [a, bterm])])];
    }
    const cdf = ctx.op('Mul', [ctx.scalar(0.5), ctx.op('Add', [ctx.scalar(1), ctx.op('Erf', [ctx.op('Mul', [x, ctx.scalar(Math.SQRT1_2)])])])]);
    const pdf = ctx.op('Mul', [ctx.scalar(1 / Math.sqrt(2 * Math.PI)), ctx.op('Exp', [ctx.op('Mul', [ctx.op('Mul', [x, x]), ctx.scalar(-0.5)])])]);
    return [ctx.op('Mul', [gy, ctx.op('Add', [cdf, ctx.op('Mul', [x, pdf])])])];
  },
  Clip: (ctx, n, [gy]) => {
    if (!gy) return [];
    const [x, lo, hi] = n.inputs;
    let cond: string | undefined;
    if (lo) cond = ctx.op('GreaterOrEqual', [x, lo]);
    if (hi) { const c = ctx.op('LessOrEqual', [x, hi]); cond = cond ? ctx.op('And', [cond, c]) : c; }
    return [cond ? ctx.mask(gy, cond) : gy];
  },
  Softmax: (ctx, n, [gy]) => {
    if (!gy) return [];
    const y = n.outputs[0];
    const s = ctx.op('ReduceSum', [ctx.op('Mul', [gy, y]), ctx.ints([softmaxAxis(ctx, n)])], { keepdims: 1 });
    return [ctx.op('Mul', [y, ctx.op('Sub', [gy, s])])];
  },
  LogSoftmax: (ctx, n, [gy]) => {
    if (!gy) return [];
    const s = ctx.op('ReduceSum', [gy, ctx.ints([softmaxAxis(ctx, n)])], { keepdims: 1 });
    return [ctx.op('Sub', [gy, ctx.op('Mul', [ctx.op('Exp', [n.outputs[0]]), s])])];
  },
};
