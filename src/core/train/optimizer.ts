/** Optimizers emitted as ONNX ops (SGD with momentum, Adam/AdamW), global-norm gradient clipping, and learning-rate schedules (in JS, fed each step). */
import { GradContext } from './grad-context';

/** Optimizer settings. */
export interface OptimizerSpec {
  kind: 'sgd' | 'adam' | 'adamw';
  /** SGD momentum (default 0.9). */
  momentum?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Weight decay: L2 added to the gradient for sgd/adam, decoupled for adamw. */
  weightDecay?: number;
  /** Clip gradients to this global L2 norm (0/undefined = no clipping). */
  clipNorm?: number;
}

/** Learning-rate schedule. */
export type LrSchedule = { kind: 'constant' } | { kind: 'cosine'; warmup?: number; minFactor?: number } | { kind: 'step'; every: number; gamma: number };

/** The learning rate at step `t` (0-based) of `total`. */
export function learningRate(base: number, schedule: LrSchedule, t: number, total: number): number {
  switch (schedule.kind) {
    case 'constant': return base;
    case 'step': return base * schedule.gamma ** Math.floor(t / schedule.every);
    case 'cosine': {
      const w = schedule.warmup ?? 0;
      if (t < w) return (base * (t + 1)) / w;
      const p = Math.min(1, (t - w) / Math.max(1, total - w));
      const min = schedule.minFactor ?? 0;
      return base * (min + (1 - min) * 0.5 * (1 + Math.cos(Math.PI * p)));
    }
  }
}

/** Names of the optimizer's per-parameter state tensors. */
export function stateNames(spec: OptimizerSpec, param: string): string[] {
  return spec.kind === 'sgd' ? (spec.momentum ?? 0.9) > 0 ? [`${param}__mom`] : [] : [`${param}__m`, `${param}__v`];
}

/** Scalar graph inputs the optimizer reads each step. */
export const OPT_INPUTS = { lr: 'opt__lr', bc1: 'opt__bc1', bc2: 'opt__bc2' } as const;

/** Emits the update of every (param, grad) (`relative`: step proportional to the value, for scales); returns new param and new state tensors, plus the gradient norm. */
export function emitOptimizer(ctx: GradContext, spec: OptimizerSpec, params: { name: string; grad: string; decay: boolean; relative?: boolean }[]): { newParams: string[]; newState: string[][]; gradNorm: string } {
  const lr = OPT_INPUTS.lr;
  const sq = params.map((p) => ctx.op('ReduceSumSquare', [p.grad], { keepdims: 0 }));
  const norm = ctx.op('Sqrt', [sq.length === 1 ? sq[0] : ctx.op('Sum', sq)]);
  let factor: string | undefined;
  if (spec.clipNorm && spec.clipNorm > 0) {
    factor = ctx.op('Min', [ctx.scalar(1), ctx.op('Div', [ctx.scalar(spec.clipNorm), ctx.op('Add', [norm, ctx.scalar(1e-12)])])]);
  }
  const wd = spec.weightDecay ?? 0;
  const newParams: string[] = [];
  const newState: string[][] = [];
  let bias: { k: string; eps: string } | undefined;
  for (const p of params) {
    let g = factor ? ctx.op('Mul', [p.grad, factor]) : p.grad;
    if (wd > 0 && p.decay && spec.kind !== 'adamw') g = ctx.op('Add', [g, ctx.op('Mul', [p.name, ctx.scalar(wd)])]);
    const st = stateNames(spec, p.name);
    let step: string;
    const ns: string[] = [];
    if (spec.kind === 'sgd') {
      const mu = spec.momentum ?? 0.9;
      if (mu > 0) {
        const v = ctx.op('Add', [ctx.op('Mul', [st[0], ctx.scalar(mu)]), g]);
        ns.push(v);
        step = v;
      } else step = g;
    } else {
      const b1 = spec.beta1 ?? 0.9, b2 = spec.beta2 ?? 0.999, eps = spec.eps ?? 1e-8;
      const m = ctx.op('Add', [ctx.op('Mul', [st[0], ctx.scalar(b1)]), ctx.op('Mul', [g, ctx.scalar(1 - b1)])]);
      const v = ctx.op('Add', [ctx.op('Mul', [st[1], ctx.scalar(b2)]), ctx.op('Mul', [ctx.op('Mul', [g, g]), ctx.scalar(1 - b2)])]);
      ns.push(m, v);
      // mhat / (sqrt(vhat) + eps) = (m * sqrt(bc2) / bc1) / (sqrt(v) + eps * sqrt(bc2)): the bias corrections become scalars.
      bias ??= (() => {
        const r = ctx.op('Sqrt', [OPT_INPUTS.bc2]);
        return { k: ctx.op('Div', [r, OPT_INPUTS.bc1]), eps: ctx.op('Mul', [r, ctx.scalar(eps)]) };
      })();
      step = ctx.op('Mul', [ctx.op('Div', [m, ctx.op('Add', [ctx.op('Sqrt', [v]), bias.eps])]), bias.k]);
      if (wd > 0 && p.decay && spec.kind === 'adamw') step = ctx.op('Add', [step, ctx.op('Mul', [p.name, ctx.scalar(wd)])]);
    }
    // Relative updates (quantization scales): the step is scaled by the value, as if learning its logarithm.
    const delta = ctx.op('Mul', [step, lr]);
    newParams.push(ctx.op('Sub', [p.name, p.relative ? ctx.op('Mul', [delta, p.name]) : delta]));
    newState.push(ns);
  }
  return { newParams, newState, gradNorm: norm };
}
