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

/** A group of entries updated as one flat vector: its key ('decay', 'plain', 'scales', 'decay_1'...), entry indices and size. */
export interface OptimizerGroup {
  key: string;
  entries: number[];
  values: number;
}

/** Entries grouped by kind (key 'decay', 'plain', 'scales'), each group cut into chunks of at most `cap` values ('decay', 'decay_1'...). */
export function optimizerGroups(entries: readonly Pick<OptimizerEntry, 'dims' | 'decay' | 'relative'>[], cap = OPT_CHUNK_VALUES): OptimizerGroup[] {
  const groups = new Map<string, OptimizerGroup>();
  const filled = new Map<string, { chunk: number; values: number }>();
  entries.forEach((e, i) => {
    const kind = e.relative ? 'scales' : e.decay ? 'decay' : 'plain';
    const size = sizeOf(e.dims);
    let f = filled.get(kind) ?? { chunk: 0, values: 0 };
    if (f.values > 0 && f.values + size > cap) f = { chunk: f.chunk + 1, values: 0 };
    f.values += size;
    filled.set(kind, f);
    const key = f.chunk ? `${kind}_${f.chunk}` : kind;
    const g = groups.get(key) ?? { key, entries: [], values: 0 };
    g.entries.push(i);
    g.values += size;
    groups.set(key, g);
  });
  return [...groups.values()];
}

/** Names of the optimizer state of a group (graph inputs and the tensors a run keeps), in the order the update emits them. */
export function groupStateNames(spec: OptimizerSpec, key: string): string[] {
  const suffixes = spec.kind === 'sgd' ? ((spec.momentum ?? 0.9) > 0 ? ['mom'] : []) : ['m', 'v'];
  return suffixes.map((s) => `opt__${key}__${s}`);
}

/** The flat vector of a group's tensors (Concat of the flattened tensors; one tensor is only reshaped). */
export function emitFlat(ctx: GradContext, ts: string[]): string {
  return ts.length === 1 ? ctx.reshape(ts[0], [-1]) : ctx.op('Concat', ts.map((t) => ctx.reshape(t, [-1])), { axis: 0 });
}

/** The global L2 norm of the gradients: one ReduceSumSquare per group's flat gradient, summed. */
export function emitGradNorm(ctx: GradContext, flatGrads: string[]): string {
  const sq = flatGrads.map((g) => ctx.op('ReduceSumSquare', [g], { keepdims: 0 }));
  return ctx.op('Sqrt', [sq.length === 1 ? sq[0] : ctx.op('Sum', sq)]);
}

/** The factor gradients are multiplied by to clip their global norm to `spec.clipNorm` (undefined without clipping). */
export function emitClipFactor(ctx: GradContext, spec: OptimizerSpec, norm: string): string | undefined {
  if (!(spec.clipNorm && spec.clipNorm > 0)) return undefined;
  return ctx.op('Min', [ctx.scalar(1), ctx.op('Div', [ctx.scalar(spec.clipNorm), ctx.op('Add', [norm, ctx.scalar(1e-12)])])]);
}

/** Adam's bias corrections as two scalars (see emitGroupUpdate), emitted once per graph. */
export type AdamBias = { k: string; eps: string };

/**
 * Emits the update of one group's flat values `p` from its flat gradient `g0`: clipping factor, weight decay,
 * SGD momentum or Adam (state read from `stateIn`, named as groupStateNames), the step (relative for scales), clamps.
 * Returns the new flat values and the new state (same order as `stateIn`). The same nodes whether the update is part
 * of the step graph (emitOptimizer) or runs in the optimizer's own session (split-optimizer.ts).
 */
export function emitGroupUpdate(
  ctx: GradContext, spec: OptimizerSpec, group: OptimizerGroup, entries: readonly OptimizerEntry[], p: string, g0: string,
  stateIn: string[], factor: string | undefined, bias: { value?: AdamBias }, clampInputs?: { min?: string; max?: string },
): { np: string; newState: string[] } {
  const lr = OPT_INPUTS.lr;
  const wd = spec.weightDecay ?? 0;
  const key = group.key;
  const decay = key.startsWith('decay') && wd > 0;
  let g = factor ? ctx.op('Mul', [g0, factor]) : g0;
  if (decay && spec.kind !== 'adamw') g = ctx.op('Add', [g, ctx.op('Mul', [p, ctx.scalar(wd)])]);
  const newState: string[] = [];
  let step: string;
  if (spec.kind === 'sgd') {
    const mu = spec.momentum ?? 0.9;
    if (mu > 0) {
      const v = ctx.op('Add', [ctx.op('Mul', [stateIn[0], ctx.scalar(mu)]), g]);
      newState.push(v);
      step = v;
    } else step = g;
  } else {
    const b1 = spec.beta1 ?? 0.9, b2 = spec.beta2 ?? 0.999, eps = spec.eps ?? 1e-8;
    const m = ctx.op('Add', [ctx.op('Mul', [stateIn[0], ctx.scalar(b1)]), ctx.op('Mul', [g, ctx.scalar(1 - b1)])]);
    const v = ctx.op('Add', [ctx.op('Mul', [stateIn[1], ctx.scalar(b2)]), ctx.op('Mul', [ctx.op('Mul', [g, g]), ctx.scalar(1 - b2)])]);
    newState.push(m, v);
    // mhat / (sqrt(vhat) + eps) = (m * sqrt(bc2) / bc1) / (sqrt(v) + eps * sqrt(bc2)): the bias corrections become scalars.
    bias.value ??= (() => {
      const r = ctx.op('Sqrt', [OPT_INPUTS.bc2]);
      return { k: ctx.op('Div', [r, OPT_INPUTS.bc1]), eps: ctx.op('Mul', [r, ctx.scalar(eps)]) };
    })();
    step = ctx.op('Mul', [ctx.op('Div', [m, ctx.op('Add', [ctx.op('Sqrt', [v]), bias.value.eps])]), bias.value.k]);
    if (decay && spec.kind === 'adamw') step = ctx.op('Add', [step, ctx.op('Mul', [p, ctx.scalar(wd)])]);
  }
  const delta = ctx.op('Mul', [step, lr]);
  let np = ctx.op('Sub', [p, key.startsWith('scales') ? ctx.op('Mul', [delta, p]) : delta]);
  const es = group.entries.map((i) => entries[i]);
  np = clamp(ctx, np, es, 'min', clampInputs?.min);
  np = clamp(ctx, np, es, 'max', clampInputs?.max);
  return { np, newState };
}

/**
 * Emits the update of every entry. Entries are grouped (decayed weights, other weights, relative scales) and each
 * group is updated as one flat vector (Concat of the flattened gradients and values, one Adam/SGD on it, Split back):
 * a few nodes per tensor instead of a dozen, and one state tensor per group (graph inputs `opt__<group>__m`...).
 */
export function emitOptimizer(ctx: GradContext, spec: OptimizerSpec, entries: OptimizerEntry[], opts: { chunkValues?: number } = {}): OptimizerUpdate {
  const b = ctx.b;
  const groups = optimizerGroups(entries, opts.chunkValues ?? OPT_CHUNK_VALUES);
  const g0 = groups.map((g) => emitFlat(ctx, g.entries.map((i) => entries[i].grad)));
  const norm = emitGradNorm(ctx, g0);
  const factor = emitClipFactor(ctx, spec, norm);
  const newParams: string[] = new Array(entries.length);
  const state: { name: string; dims: number[] }[] = [];
  const newState: string[] = [];
  const bias: { value?: AdamBias } = {};
  groups.forEach((group, gi) => {
    const idx = group.entries;
    const p = emitFlat(ctx, idx.map((i) => entries[i].name));
    const stateIn = groupStateNames(spec, group.key).map((n) => { const name = b.input(b.fresh(n), ctx.dtype, [group.values]); state.push({ name, dims: [group.values] }); return name; });
    const u = emitGroupUpdate(ctx, spec, group, entries, p, g0[gi], stateIn, factor, bias);
    newState.push(...u.newState);
    const parts = idx.length === 1 ? [u.np] : b.nodeMulti('Split', [u.np, ctx.ints(idx.map((i) => sizeOf(entries[i].dims)))], idx.length, { axis: 0 });
    idx.forEach((i, k) => { newParams[i] = ctx.reshape(parts[k], entries[i].dims); });
  });
  return { newParams, state, newState, gradNorm: norm };
}

/** How a group's values are clamped on one side: not at all, to one scalar (all entries agree), or per element. */
export function clampKind(es: readonly Pick<OptimizerEntry, 'min' | 'max'>[], which: 'min' | 'max'): 'none' | number | 'vector' {
  if (es.every((e) => e[which] === undefined)) return 'none';
  const none = which === 'min' ? -Infinity : Infinity;
  const first = es[0][which] ?? none;
  return es.every((e) => (e[which] ?? none) === first) ? first : 'vector';
}

/** A group's per-element bounds (entries without one get -/+Infinity). */
export function clampValues(es: readonly Pick<OptimizerEntry, 'min' | 'max' | 'dims'>[], which: 'min' | 'max'): Float32Array {
  const none = which === 'min' ? -Infinity : Infinity;
  const out = new Float32Array(es.reduce((n, e) => n + sizeOf(e.dims), 0));
  let off = 0;
  for (const e of es) { const n = sizeOf(e.dims); out.fill(e[which] ?? none, off, off + n); off += n; }
  return out;
}

/** Clamps a group's flat values to its entries' bounds (one scalar when all agree, else per element: a constant, or `input` when given). */
function clamp(ctx: GradContext, x: string, es: OptimizerEntry[], which: 'min' | 'max', input?: string): string {
  const kind = clampKind(es, which);
  if (kind === 'none') return x;
  const op = which === 'min' ? 'Max' : 'Min';
  if (kind !== 'vector') return ctx.op(op, [x, ctx.scalar(kind)]);
  if (input) return ctx.op(op, [x, input]);
  const v = clampValues(es, which);
  return ctx.op(op, [x, ctx.floats(v, [v.length])]);
}
