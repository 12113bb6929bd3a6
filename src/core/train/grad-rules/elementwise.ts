/** Gradient rules of broadcasting arithmetic and unary math: Add, Sub, Mul, Div, Neg, Sqrt, Exp, Log, Pow, Erf, Abs, Reciprocal, Sin, Cos, Sum. */
import { GradContext, GradRule } from '../grad-context';

const binary = (f: (ctx: GradContext, gy: string, a: string, b: string, y: string) => [string | undefined, string | undefined], needA = true, needB = true): GradRule =>
  (ctx, node, [gy]) => {
    if (!gy) return [];
    const [a, b] = node.inputs;
    const ys = ctx.shape(node.outputs[0]);
    const [ga, gb] = f(ctx, gy, a, b, node.outputs[0]);
    return [
      needA && ctx.needs(a) && ga ? ctx.sumTo(ga, ys, ctx.shape(a)) : undefined,
      needB && ctx.needs(b) && gb ? ctx.sumTo(gb, ys, ctx.shape(b)) : undefined,
    ];
  };

/** Elementwise rules by op type. */
export const elementwiseRules: Record<string, GradRule> = {
  Add: binary((_c, gy) => [gy, gy]),
  Sub: binary((c, gy, _a, b) => [gy, c.needs(b) ? c.op('Neg', [gy]) : undefined]),
  Mul: binary((c, gy, a, b) => [c.needs(a) ? c.op('Mul', [gy, b]) : undefined, c.needs(b) ? c.op('Mul', [gy, a]) : undefined]),
  Div: binary((c, gy, a, b, y) => [
    c.needs(a) ? c.op('Div', [gy, b]) : undefined,
    c.needs(b) ? c.op('Neg', [c.op('Div', [c.op('Mul', [gy, y]), b])]) : undefined,
  ]),
  Sum: (ctx, node, [gy]) => {
    if (!gy) return [];
    const ys = ctx.shape(node.outputs[0]);
    return node.inputs.map((i) => (ctx.needs(i) ? ctx.sumTo(gy, ys, ctx.shape(i)) : undefined));
  },
  Neg: (ctx, _n, [gy]) => [gy ? ctx.op('Neg', [gy]) : undefined],
  Sqrt: (ctx, n, [gy]) => [gy ? ctx.op('Div', [gy, ctx.op('Mul', [n.outputs[0], ctx.scalar(2)])]) : undefined],
  Exp: (ctx, n, [gy]) => [gy ? ctx.op('Mul', [gy, n.outputs[0]]) : undefined],
  Log: (ctx, n, [gy]) => [gy ? ctx.op('Div', [gy, n.inputs[0]]) : undefined],
  Reciprocal: (ctx, n, [gy]) => [gy ? ctx.op('Neg', [ctx.op('Mul', [gy, ctx.op('Mul', [n.outputs[0], n.outputs[0]])])]) : undefined],
  Sin: (ctx, n, [gy]) => [gy ? ctx.op('Mul', [gy, ctx.op('Cos', [n.inputs[0]])]) : undefined],
  Cos: (ctx, n, [gy]) => [gy ? ctx.op('Neg', [ctx.op('Mul', [gy, ctx.op('Sin', [n.inputs[0]])])]) : undefined],
  Abs: (ctx, n, [gy]) => [gy ? ctx.op('Mul', [gy, ctx.op('Sign', [n.inputs[0]])]) : undefined],
  Erf: (ctx, n, [gy]) => {
    if (!gy) return [];
    const x = n.inputs[0];
    const e = ctx.op('Exp', [ctx.op('Neg', [ctx.op('Mul', [x, x])])]);
    return [ctx.op('Mul', [gy, ctx.op('Mul', [e, ctx.scalar(2 / Math.sqrt(Math.PI))])])];
  },
  Pow: (ctx, n, [gy]) => {
    if (!gy) return [];
    const [a, b] = n.inputs;
    if (ctx.needs(b)) throw new Error('Pow: gradient with respect to the exponent is not supported');
    // d/da a^b = b * a^(b-1)
    const bm1 = ctx.op('Sub', [b, ctx.op('CastLike', [ctx.scalar(1), b])]);
    const d = ctx.op('Mul', [ctx.op('CastLike', [b, a]), ctx.op('Pow', [a, bm1])]);
    return [ctx.sumTo(ctx.op('Mul', [gy, d]), ctx.shape(n.outputs[0]), ctx.shape(a))];
  },
};
