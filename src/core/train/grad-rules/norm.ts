/** Gradient rules of normalization: BatchNormalization (inference form, for BN left unfolded) and LayerNormalization. */
import { attrFloat, attrInt } from '../../onnx/graph';
import { sizeOf } from '../../onnx/tensor-data';
import { GradRule } from '../grad-context';

const batchNorm: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const [x, scale, bias, mean, variance] = n.inputs;
  if (attrInt(n.proto, 'training_mode', 0)) throw new Error(`BatchNormalization '${n.name}': training mode is not supported`);
  if (ctx.needs(mean) || ctx.needs(variance)) throw new Error(`BatchNormalization '${n.name}': running statistics cannot be trained`);
  const xs = ctx.shape(x);
  const eps = attrFloat(n.proto, 'epsilon', 1e-5);
  const chan = [xs[1], ...xs.slice(2).map(() => 1)];
  const inv = ctx.reshape(ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.scalar(eps)])])]), chan);
  const axes = ctx.ints([0, ...xs.slice(2).map((_, i) => i + 2)]);
  const gx = ctx.needs(x) ? ctx.op('Mul', [gy, ctx.op('Mul', [inv, ctx.reshape(scale, chan)])]) : undefined;
  const gb = ctx.needs(bias) ? ctx.op('ReduceSum', [gy, axes], { keepdims: 0 }) : undefined;
  let gs: string | undefined;
  if (ctx.needs(scale)) {
    const xhat = ctx.op('Mul', [ctx.op('Sub', [x, ctx.reshape(mean, chan)]), inv]);
    gs = ctx.op('ReduceSum', [ctx.op('Mul', [gy, xhat]), axes], { keepdims: 0 });
  }
  return [gx, gs, gb];
};

const layerNorm: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const [x, gamma, beta] = n.inputs;
  const xs = ctx.shape(x);
  const r = xs.length;
  let axis = attrInt(n.proto, 'axis', -1);
  if (axis < 0) axis += r;
  const eps = attrFloat(n.proto, 'epsilon', 1e-5);
  const axes = ctx.ints(Array.from({ length: r - axis }, (_, i) => axis + i));
  const inv = ctx.scalar(1 / sizeOf(xs.slice(axis)));
  const mean = (t: string) => ctx.op('Mul', [ctx.op('ReduceSum', [t, axes], { keepdims: 1 }), inv]);
  const mu = mean(x);
  const xc = ctx.op('Sub', [x, mu]);
  const rstd = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [mean(ctx.op('Mul', [xc, xc])), ctx.scalar(eps)])])]);
  const xhat = ctx.op('Mul', [xc, rstd]);
  const out: (string | undefined)[] = [];
  if (ctx.needs(x)) {
    const gh = ctx.op('Mul', [gy, gamma]);
    const t = ctx.op('Sub', [ctx.op('Sub', [gh, mean(gh)]), ctx.op('Mul', [xhat, mean(ctx.op('Mul', [gh, xhat]))])]);
    out[0] = ctx.op('Mul', [t, rstd]);
  }
  if (ctx.needs(gamma)) out[1] = ctx.sumTo(ctx.op('Mul', [gy, xhat]), xs, ctx.shape(gamma));
  if (beta && ctx.needs(beta)) out[2] = ctx.sumTo(gy, xs, ctx.shape(beta));
  return out;
};

/** Normalization rules by op type. */
export const normRules: Record<string, GradRule> = { BatchNormalization: batchNorm, LayerNormalization: layerNorm };
