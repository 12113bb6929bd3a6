/** Optimizers emitted as ONNX ops (SGD with momentum, Adam/AdamW), global-norm gradient clipping, and learning-rate schedules (in JS, fed each step). */
import { sizeOf } from '../onnx/tensor-data';
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

/** Scalar graph inputs the optimizer reads each step. */
export const OPT_INPUTS = { lr: 'opt__lr', bc1: 'opt__bc1', bc2: 'opt__bc2' } as const;

/** One tensor the optimizer updates. */
export interface OptimizerEntry {
  name: string;
  dims: number[];
  grad: string;
  /** Weight decay applies. */
  decay: boolean;
  /** Step proportional to the value (quantization scales: as if learning the logarithm). */
  relative?: boolean;
  /** Bounds the new value is clamped to (scales: positive, and within a Clip's range). */
  min?: number;
  max?: number;
}

/** What the optimizer emitted: new values (in entry order), its state tensors (graph inputs it declared) and their new values. */
export interface OptimizerUpdate {
  newParams: string[];
  state: { name: string; dims: number[] }[];
  newState: string[];
  gradNorm: string;
}

/**
 * Largest flat vector the optimizer updates at once (4M values, 16 MB in float32): a group of more values is split
 * into chunks of whole tensors. Adam's temporaries are then a few chunk-sized buffers instead of a few copies of all
 * the parameters (ViT-B/16: 86M values, 344 MB per copy).
 */
export const OPT_CHUNK_VALUES = 1 << 22;

/** Entries grouped by kind (key 'decay', 'plain', 'scales'), each group cut into chunks of at most `cap` values ('decay', 'decay_1'...). */
function chunkedGroups(entries: OptimizerEntry[], cap: number): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  const filled = new Map<string, { chunk: number; values: number }>();
  entries.forEach((e, i) => {
    const kind = e.relative ? 'scales' : e.decay ? 'decay' : 'plain';
    const size = sizeOf(e.dims);
    let f = filled.get(kind) ?? { chunk: 0, values: 0 };
    if (f.values > 0 && f.values + size > cap) f = { chunk: f.chunk + 1, values: 0 };
    f.values += size;
    filled.set(kind, f);
    const key = f.chunk ? `${kind}_${f.chunk}` : kind;
    const l = groups.get(key) ?? [];
    l.push(i);
    groups.set(key, l);
  });
  return groups;
}

/**
 * Emits the update of every entry. Entries are grouped (decayed weights, other weights, relative scales) and each
 * group is updated as one flat vector (Concat of the flattened gradients and values, one Adam/SGD on it, Split back):
 * a few nodes per tensor instead of a dozen, and one state tensor per group (graph inputs `opt__<group>__m`...).
 */
export function emitOptimizer(ctx: GradContext, spec: OptimizerSpec, entries: OptimizerEntry[], opts: { chunkValues?: number } = {}): OptimizerUpdate {
  const b = ctx.b;
  const lr = OPT_INPUTS.lr;
  const groups = chunkedGroups(entries, opts.chunkValues ?? OPT_CHUNK_VALUES);
  const flat = (ts: string[]) => (ts.length === 1 ? ctx.reshape(ts[0], [-1]) : ctx.op('Concat', ts.map((t) => ctx.reshape(t, [-1])), { axis: 0 }));
  const g0 = new Map([...groups].map(([k, idx]) => [k, flat(idx.map((i) => entries[i].grad))]));
  const sq = [...g0.values()].map((g) => ctx.op('ReduceSumSquare', [g], { keepdims: 0 }));
  const norm = ctx.op('Sqrt', [sq.length === 1 ? sq[0] : ctx.op('Sum', sq)]);
  let factor: string | undefined;
  if (spec.clipNorm && spec.clipNorm > 0) {
    factor = ctx.op('Min', [ctx.scalar(1), ctx.op('Div', [ctx.scalar(spec.clipNorm), ctx.op('Add', [norm, ctx.scalar(1e-12)])])]);
  }
  const wd = spec.weightDecay ?? 0;
  const newParams: string[] = new Array(entries.length);
  const state: { name: string; dims: number[] }[] = [];
  const newState: string[] = [];
  let bias: { k: string; eps: string } | undefined;
  for (const [key, idx] of groups) {
    const total = idx.reduce((s, i) => s + sizeOf(entries[i].dims), 0);
    const p = flat(idx.map((i) => entries[i].name));
    const decay = key.startsWith('decay') && wd > 0;
    let g = factor ? ctx.op('Mul', [g0.get(key)!, factor]) : g0.get(key)!;
    if (decay && spec.kind !== 'adamw') g = ctx.op('Add', [g, ctx.op('Mul', [p, ctx.scalar(wd)])]);
    const st = (suffix: string) => { const name = b.input(b.fresh(`opt__${key}__${suffix}`), ctx.dtype, [total]); state.push({ name, dims: [total] }); return name; };
    let step: string;
    if (spec.kind === 'sgd') {
      const mu = spec.momentum ?? 0.9;
      if (mu > 0) {
        const v = ctx.op('Add', [ctx.op('Mul', [st('mom'), ctx.scalar(mu)]), g]);
        newState.push(v);
        step = v;
      } else step = g;
    } else {
      const b1 = spec.beta1 ?? 0.9, b2 = spec.beta2 ?? 0.999, eps = spec.eps ?? 1e-8;
      const m = ctx.op('Add', [ctx.op('Mul', [st('m'), ctx.scalar(b1)]), ctx.op('Mul', [g, ctx.scalar(1 - b1)])]);
      const v = ctx.op('Add', [ctx.op('Mul', [st('v'), ctx.scalar(b2)]), ctx.op('Mul', [ctx.op('Mul', [g, g]), ctx.scalar(1 - b2)])]);
      newState.push(m, v);
      // mhat / (sqrt(vhat) + eps) = (m * sqrt(bc2) / bc1) / (sqrt(v) + eps * sqrt(bc2)): the bias corrections become scalars.
      bias ??= (() => {
        const r = ctx.op('Sqrt', [OPT_INPUTS.bc2]);
        return { k: ctx.op('Div', [r, OPT_INPUTS.bc1]), eps: ctx.op('Mul', [r, ctx.scalar(eps)]) };
      })();
      step = ctx.op('Mul', [ctx.op('Div', [m, ctx.op('Add', [ctx.op('Sqrt', [v]), bias.eps])]), bias.k]);
      if (decay && spec.kind === 'adamw') step = ctx.op('Add', [step, ctx.op('Mul', [p, ctx.scalar(wd)])]);
    }
    const delta = ctx.op('Mul', [step, lr]);
    let np = ctx.op('Sub', [p, key.startsWith('scales') ? ctx.op('Mul', [delta, p]) : delta]);
    np = clamp(ctx, np, idx.map((i) => entries[i]), 'min');
    np = clamp(ctx, np, idx.map((i) => entries[i]), 'max');
    const parts = idx.length === 1 ? [np] : b.nodeMulti('Split', [np, ctx.ints(idx.map((i) => sizeOf(entries[i].dims)))], idx.length, { axis: 0 });
    idx.forEach((i, k) => { newParams[i] = ctx.reshape(parts[k], entries[i].dims); });
  }
  return { newParams, state, newState, gradNorm: norm };
}

/** Clamps a group's flat values to its entries' bounds (one scalar when all agree, else a per-element constant). */
function clamp(ctx: GradContext, x: string, es: OptimizerEntry[], which: 'min' | 'max'): string {
  if (es.every((e) => e[which] === undefined)) return x;
  const none = which === 'min' ? -Infinity : Infinity;
  const op = which === 'min' ? 'Max' : 'Min';
  const first = es[0][which] ?? none;
  if (es.every((e) => (e[which] ?? none) === first)) return ctx.op(op, [x, ctx.scalar(first)]);
  const values: number[] = [];
  for (const e of es) { const v = e[which] ?? none; for (let i = 0; i < sizeOf(e.dims); i++) values.push(v); }
  return ctx.op(op, [x, ctx.floats(values, [values.length])]);
}
