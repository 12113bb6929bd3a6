/** Gradient rules of Conv and ConvTranspose (groups, depthwise, strides, dilations, pads, auto_pad), weight gradients through im2col + MatMul. */
import { attrInt, attrInts, attrString } from '../../onnx/graph';
import { sizeOf } from '../../onnx/tensor-data';
import { GradContext, GradRule, FwdNode } from '../grad-context';

interface ConvGeom { group: number; k: number[]; s: number[]; d: number[]; pb: number[]; pe: number[] }

/** Convolution geometry with auto_pad resolved against the static shapes. */
function geometry(ctx: GradContext, n: FwdNode, inSpatial: number[], outSpatial: number[], transpose: boolean): ConvGeom {
  const ws = ctx.shape(n.inputs[1]);
  const nd = ws.length - 2;
  const k = attrInts(n.proto, 'kernel_shape', ws.slice(2));
  const s = attrInts(n.proto, 'strides', Array(nd).fill(1));
  const d = attrInts(n.proto, 'dilations', Array(nd).fill(1));
  const pads = attrInts(n.proto, 'pads', Array(2 * nd).fill(0));
  const autoPad = attrString(n.proto, 'auto_pad', 'NOTSET');
  let pb = pads.slice(0, nd), pe = pads.slice(nd);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pb = []; pe = [];
    for (let i = 0; i < nd; i++) {
      const total = transpose
        ? Math.max(0, s[i] * (inSpatial[i] - 1) + (k[i] - 1) * d[i] + 1 - outSpatial[i])
        : Math.max(0, (outSpatial[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - inSpatial[i]);
      const small = Math.floor(total / 2), big = total - small;
      const upper = autoPad === 'SAME_UPPER';
      pb.push(upper ? small : big); pe.push(upper ? big : small);
    }
  } else if (autoPad === 'VALID') {
    pb = Array(nd).fill(0); pe = Array(nd).fill(0);
  }
  return { group: attrInt(n.proto, 'group', 1), k, s, d, pb, pe };
}

/**
 * Shifted strided slices of x (N, C, *sp) for every kernel offset: returns cols [N, C, K, *out] where
 * cols[n, c, kk, o] = x[n, c, o*s + kk*d - pb] (zero outside).
 */
function im2col(ctx: GradContext, x: string, xs: number[], g: ConvGeom, out: number[]): string {
  const nd = g.k.length;
  const need = out.map((o, i) => (o - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1);
  const padEnd = need.map((L, i) => Math.max(0, L - g.pb[i] - xs[2 + i]));
  let xp = x;
  if (g.pb.some((p) => p > 0) || padEnd.some((p) => p > 0)) {
    xp = ctx.op('Pad', [x, ctx.ints([0, 0, ...g.pb, 0, 0, ...padEnd])], { mode: 'constant' });
  }
  const K = sizeOf(g.k);
  const slices: string[] = [];
  const axes = Array.from({ length: nd }, (_, i) => 2 + i);
  for (let kk = 0; kk < K; kk++) {
    const off: number[] = [];
    let rem = kk;
    for (let i = nd - 1; i >= 0; i--) { off[i] = rem % g.k[i]; rem = Math.floor(rem / g.k[i]); }
    const starts = off.map((o, i) => o * g.d[i]);
    const ends = starts.map((st, i) => st + (out[i] - 1) * g.s[i] + 1);
    const sl = ctx.op('Slice', [xp, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(g.s)]);
    slices.push(ctx.op('Unsqueeze', [sl, ctx.ints([2])]));
  }
  return slices.length === 1 ? slices[0] : ctx.op('Concat', slices, { axis: 2 });
}

/** sum over n, positions of a[n, g*Ag + i, p] * cols[n, g*Cg + c, kk, p] -> [group, Ag, Cg*K]. */
function groupedOuter(ctx: GradContext, a: string, aC: number, cols: string, cC: number, N: number, P: number, K: number, group: number): string {
  const Ag = aC / group, Cg = cC / group;
  // a: [N, aC, *sp] -> [N, group, Ag, P] -> [group, Ag, N, P] -> [group, Ag, N*P]
  const a4 = ctx.op('Transpose', [ctx.reshape(a, [N, group, Ag, P])], { perm: [1, 2, 0, 3] });
  const a3 = ctx.reshape(a4, [group, Ag, N * P]);
  // cols: [N, cC, K, *sp] -> [N, group, Cg*K, P] -> [group, N, P, Cg*K] -> [group, N*P, Cg*K]
  const c4 = ctx.op('Transpose', [ctx.reshape(cols, [N, group, Cg * K, P])], { perm: [1, 0, 3, 2] });
  const c3 = ctx.reshape(c4, [group, N * P, Cg * K]);
  return ctx.op('MatMul', [a3, c3]);
}

function biasGrad(ctx: GradContext, gy: string, rank: number): string {
  return ctx.op('ReduceSum', [gy, ctx.ints([0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)])], { keepdims: 0 });
}

const conv: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const [x, w, bias] = n.inputs;
  const xs = ctx.shape(x), ws = ctx.shape(w), ys = ctx.shape(n.outputs[0]);
  const g = geometry(ctx, n, xs.slice(2), ys.slice(2), false);
  const nd = g.k.length;
  let gx: string | undefined, gw: string | undefined, gb: string | undefined;
  if (ctx.needs(x)) {
    // Input gradient: ConvTranspose with the same weight; output_padding makes the size match.
    const op = xs.slice(2).map((h, i) => h - ((ys[2 + i] - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1 - g.pb[i] - g.pe[i]));
    if (op.some((o) => o < 0)) throw new Error(`Conv '${n.name}': unexpected geometry`);
    gx = ctx.op('ConvTranspose', [gy, w], {
      group: g.group, kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...g.pb, ...g.pe],
      output_padding: op.some((o) => o > 0) ? op : undefined,
    });
  }
  if (ctx.needs(w)) {
    const cols = im2col(ctx, x, xs, g, ys.slice(2));
    const m = groupedOuter(ctx, gy, ys[1], cols, xs[1], xs[0], sizeOf(ys.slice(2)), sizeOf(g.k), g.group);
    gw = ctx.reshape(m, ws);
  }
  if (bias && ctx.needs(bias)) gb = biasGrad(ctx, gy, 2 + nd);
  return [gx, gw, gb];
};

const convTranspose: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const [x, w, bias] = n.inputs;
  const xs = ctx.shape(x), ws = ctx.shape(w), ys = ctx.shape(n.outputs[0]);
  const g = geometry(ctx, n, xs.slice(2), ys.slice(2), true);
  if (attrInts(n.proto, 'output_shape', []).length && attrString(n.proto, 'auto_pad', 'NOTSET') === 'NOTSET') {
    // output_shape with explicit pads: ONNX derives pads; the common case is covered by SAME_* above.
  }
  let gx: string | undefined, gw: string | undefined, gb: string | undefined;
  if (ctx.needs(x)) {
    // Adjoint of a transposed convolution is the convolution with the same parameters.
    const need = xs.slice(2).map((h, i) => (h - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1);
    const padEnd = need.map((L, i) => L - g.pb[i] - ys[2 + i]);
    let src = gy;
    const pe = padEnd.map((p) => Math.max(0, p));
    if (padEnd.some((p) => p < 0)) {
      // Output positions beyond the reach of any input are dropped first.
      src = ctx.op('Slice', [gy, ctx.ints(padEnd.map(() => 0)), ctx.ints(padEnd.map((p, i) => ys[2 + i] + Math.min(0, p))), ctx.ints(padEnd.map((_, i) => 2 + i))]);
    }
    gx = ctx.op('Conv', [src, w], { group: g.group, kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...g.pb, ...pe] });
  }
  if (ctx.needs(w)) {
    // gw[c, m, kk] = sum x[n, c, h] * gy[n, m, h*s + kk*d - pb]
    const cols = im2col(ctx, gy, ys, g, xs.slice(2));
    const m = groupedOuter(ctx, x, xs[1], cols, ys[1], xs[0], sizeOf(xs.slice(2)), sizeOf(g.k), g.group);
    gw = ctx.reshape(m, ws);
  }
  if (bias && ctx.needs(bias)) gb = biasGrad(ctx, gy, ys.length);
  return [gx, gw, gb];
};

/** Convolution rules by op type. */
export const convRules: Record<string, GradRule> = { Conv: conv, ConvTranspose: convTranspose };
