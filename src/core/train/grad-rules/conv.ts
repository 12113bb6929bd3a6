/** Gradient rules of Conv and ConvTranspose (groups, depthwise, strides, dilations, pads, auto_pad), weight gradients through strided slices + Gemm (strided Convs over large sources: windows by a one-hot Conv). */
import { attrInt, attrInts, attrString } from '../../onnx/graph';
import { sizeOf } from '../../onnx/tensor-data';
import { GradContext, GradRule, FwdNode } from '../grad-context';
import { windowGeometry } from './window-geometry';

interface ConvGeom { group: number; k: number[]; s: number[]; d: number[]; pb: number[]; pe: number[] }

/** Convolution geometry with auto_pad resolved against the static shapes. */
function geometry(ctx: GradContext, n: FwdNode, inSpatial: number[], outSpatial: number[], transpose: boolean): ConvGeom {
  const ws = ctx.shape(n.inputs[1]);
  return { group: attrInt(n.proto, 'group', 1), ...windowGeometry(n, ws.length - 2, ws.slice(2), inSpatial, outSpatial, transpose) };
}

/**
 * Weight gradient of a (transposed) convolution without materialising im2col:
 * out[a, b, kk] = sum over n, p of A[n, a, p] * src[n, b, p*s + kk*d - pb] (zero outside), for a, b in the same group.
 * A and src are first put channel-major ([C, N, ...]: a cheap block transpose); every kernel offset is one strided
 * Slice of the padded source; without groups the slices are stacked and one Gemm (transB, no transposed copy)
 * contracts them with A, with groups one batched MatMul per offset; depthwise, see depthwiseWeightGrad.
 * Returns [Ac, Bg, K] flattened to the weight shape by the caller.
 */
function weightGrad(ctx: GradContext, A: string, as: number[], src: string, ss: number[], g: ConvGeom): string {
  const nd = g.k.length;
  const N = as[0], Ac = as[1], Bc = ss[1], group = g.group;
  const Ag = Ac / group, Bg = Bc / group;
  const out = as.slice(2);
  const P = sizeOf(out);
  const cm = [1, 0, ...Array.from({ length: nd }, (_, i) => i + 2)];
  const need = out.map((o, i) => (o - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1);
  const padEnd = need.map((L, i) => Math.max(0, L - g.pb[i] - ss[2 + i]));
  if (Ag === 1 && Bg === 1) return depthwiseWeightGrad(ctx, A, as, src, ss, g, padEnd);
  if (group === 1 && N > 1 && sizeOf(g.k) === 1 && [...g.pb, ...padEnd].every((p) => p === 0) && Ac < P) return pointwiseWeightGrad(ctx, A, as, src, ss, g);
  if (group === 1 && sizeOf(g.k) > 1 && g.s.some((v) => v > 1) && sizeOf(ss.slice(2)) >= FLIPPED_MIN_POSITIONS) {
    return unfoldedWeightGrad(ctx, A, as, src, ss, g, padEnd);
  }
  // channel-major: a Transpose, or a plain reshape of a single sample ([1, C, ...] -> [C, 1, ...], the screening's batch)
  const channelMajor = (t: string, shape: readonly number[]) => (N === 1 ? ctx.reshape(t, [shape[1], 1, ...shape.slice(2)]) : ctx.op('Transpose', [t], { perm: cm }));
  let sp = channelMajor(src, ss);
  if (g.pb.some((p) => p > 0) || padEnd.some((p) => p > 0)) {
    sp = ctx.op('Pad', [sp, ctx.ints([0, 0, ...g.pb, 0, 0, ...padEnd])], { mode: 'constant' });
  }
  const a2 = ctx.reshape(channelMajor(A, as), [group, Ag, N * P]);
  // For grouped convolutions: A as [group, N*P, Ag] (a reshape when Ag = 1).
  const aT = group === 1 ? undefined : Ag === 1 ? ctx.reshape(a2, [group, N * P, 1]) : ctx.op('Transpose', [a2], { perm: [0, 2, 1] });
  const K = sizeOf(g.k);
  const axes = Array.from({ length: nd }, (_, i) => 2 + i);
  const slices: string[] = [];
  for (let kk = 0; kk < K; kk++) {
    const off: number[] = [];
    let rem = kk;
    for (let i = nd - 1; i >= 0; i--) { off[i] = rem % g.k[i]; rem = Math.floor(rem / g.k[i]); }
    const starts = off.map((o, i) => o * g.d[i]);
    const ends = starts.map((st, i) => st + (out[i] - 1) * g.s[i] + 1);
    slices.push(ctx.op('Slice', [sp, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(g.s)]));
  }
  if (group === 1) {
    // One Gemm over the slices stacked per input channel [Bc * K, N*P] (a plain copy): A is read once and the product
    // is [Ac, Bc * K], the weight's own layout (stacked per offset, [K * Bc], it needed a weight-sized Transpose back).
    const cols = K === 1 ? ctx.reshape(slices[0], [Bc, N * P]) : ctx.reshape(ctx.op('Concat', slices.map((sl) => ctx.reshape(sl, [Bc, 1, N * P])), { axis: 1 }), [Bc * K, N * P]);
    const m = ctx.op('Gemm', [ctx.reshape(a2, [Ac, N * P]), cols], { transB: 1 }); // [Ac, Bc * K]
    return ctx.reshape(m, [Ac, Bc, K]);
  }
  const parts = slices.map((sl) => {
    const bg = ctx.op('MatMul', [ctx.reshape(sl, [group, Bg, N * P]), aT!]); // [group, Bg, Ag]
    return ctx.op('Unsqueeze', [ctx.reshape(ctx.op('Transpose', [bg], { perm: [0, 2, 1] }), [Ac, Bg]), ctx.ints([2])]);
  });
  return parts.length === 1 ? parts[0] : ctx.op('Concat', parts, { axis: 2 });
}

/**
 * Weight gradient of an ungrouped strided convolution over a large source: the windows made by one Conv of the source
 * viewed as N*C one-channel images with K one-hot kernels ([N, C*K, P], ONNX Runtime's im2col), then one batched
 * product with A ([N, Ac, P] x [N, P, C*K]; the Transpose is fused into it as transB) summed over the batch. Measured in
 * isolation against the strided slices: resnet18's 7x7 stride-2 stem [8, 3, 224, 224] 30-32 -> 15 ms, [8, 64, 56, 56]
 * 3x3 stride 2 9-10 -> 5-6 ms, [8, 128, 28, 28] 9.6 -> 8.4 ms; even from 14x14 and at stride 1 (so not used there).
 * Returns [Ac, Bc, K].
 */
function unfoldedWeightGrad(ctx: GradContext, A: string, as: number[], src: string, ss: number[], g: ConvGeom, padEnd: number[]): string {
  const N = as[0], Ac = as[1], Bc = ss[1];
  const out = as.slice(2);
  const K = sizeOf(g.k), P = sizeOf(out);
  const oneHot = new Float32Array(K * K);
  for (let i = 0; i < K; i++) oneHot[i * K + i] = 1;
  const x = ctx.reshape(src, [N * Bc, 1, ...ss.slice(2)]);
  const cols = windowConv(ctx, x, ctx.floats(oneHot, [K, 1, ...g.k]), ss.slice(2), { kernel: g.k, strides: g.s, dilations: g.d, pb: g.pb, pe: padEnd }, out);
  const colsT = ctx.op('Transpose', [ctx.reshape(cols, [N, Bc * K, P])], { perm: [0, 2, 1] });
  const m = ctx.op('MatMul', [ctx.reshape(A, [N, Ac, P]), colsT]); // [N, Ac, Bc * K]
  const summed = N === 1 ? ctx.reshape(m, [Ac, Bc * K]) : ctx.op('ReduceSum', [m, ctx.ints([0])], { keepdims: 0 });
  return ctx.reshape(summed, [Ac, Bc, K]);
}

/**
 * Weight gradient of an ungrouped 1x1 convolution over a batch: one batched product A x srcᵀ per sample ([N, Ac, P] x
 * [N, P, Bc]; ONNX Runtime fuses the Transpose into it as transB) summed over the batch, instead of both tensors made
 * channel-major for one Gemm. Used when the per-sample products ([N, Ac, Bc]) are smaller than the source (Ac < P).
 * Measured in isolation (2 threads, best of 7, two runs), channel-major Gemm against this: [8, 32, 112, 112] -> 16
 * 1.9 -> 1.4-1.5 ms, [8, 256, 56, 56] -> 64 6.5-10.3 -> 3.5-5.2 ms, [8, 512, 28, 28] -> 128 4.2-4.4 -> 3.4-3.5 ms,
 * [8, 384, 14, 14] -> 64 0.8-1.0 -> 0.5 ms; slower where Ac >= P ([8, 1024, 14, 14] -> 256 3.4-3.6 vs 4.5-4.6 ms,
 * [8, 960, 7, 7] -> 160 1.2 vs 1.2-1.4 ms). Strides take a strided Slice of the source first. Returns [Ac, Bc, 1].
 */
function pointwiseWeightGrad(ctx: GradContext, A: string, as: number[], src: string, ss: number[], g: ConvGeom): string {
  const N = as[0], Ac = as[1], Bc = ss[1];
  const out = as.slice(2);
  const P = sizeOf(out);
  const axes = out.map((_, i) => i + 2);
  const strided = g.s.some((v) => v > 1) || out.some((o, i) => o !== ss[2 + i]);
  const x = strided ? ctx.op('Slice', [src, ctx.ints(axes.map(() => 0)), ctx.ints(out.map((o, i) => (o - 1) * g.s[i] + 1)), ctx.ints(axes), ctx.ints(g.s)]) : src;
  const xT = ctx.op('Transpose', [ctx.reshape(x, [N, Bc, P])], { perm: [0, 2, 1] });
  const m = ctx.op('MatMul', [ctx.reshape(A, [N, Ac, P]), xT]); // [N, Ac, Bc]
  return ctx.reshape(ctx.op('ReduceSum', [m, ctx.ints([0])], { keepdims: 0 }), [Ac, Bc, 1]);
}

/**
 * Depthwise weight gradient (one channel per group on both sides) as one grouped Conv: the source reshaped to
 * [1, N*C, ...] (a free reshape) convolved with A reshaped to [N*C, 1, ...out] as N*C kernels the size of the output,
 * dilated by the strides (stride = the dilations), then summed over the batch. ONNX Runtime's grouped Conv makes each
 * channel's windows in cache instead of writing K strided slices and their products (mobilenet_v2: [8, 96, 112, 112]
 * stride 2, 55 -> 14 ms; stride 1 layers 15-30% faster). Sums in another order than the slices did (~1e-6 relative).
 * [C, 1, K].
 */
function depthwiseWeightGrad(ctx: GradContext, A: string, as: number[], src: string, ss: number[], g: ConvGeom, padEnd: number[]): string {
  const N = as[0], C = as[1];
  const out = as.slice(2);
  const w = ctx.reshape(A, [N * C, 1, ...out]);
  const y = windowConv(ctx, ctx.reshape(src, [1, N * C, ...ss.slice(2)]), w, ss.slice(2), { kernel: out, strides: g.d, dilations: g.s, pb: g.pb, pe: padEnd, group: N * C }, g.k);
  const K = sizeOf(g.k);
  const summed = N === 1 ? ctx.reshape(y, [C, K]) : ctx.op('ReduceSum', [ctx.reshape(y, [N, C, K]), ctx.ints([0])], { keepdims: 0 });
  return ctx.reshape(summed, [C, 1, K]);
}

/** A weight gradient's Conv over its source: padded by pb/pe, cropped to the first `want` positions per axis. */
interface WindowConv { kernel: number[]; strides: number[]; dilations: number[]; pb: number[]; pe: number[]; group?: number }

/**
 * The Conv both windowed weight gradients run: pads as large as the kernel are applied by an explicit Pad (the Conv's
 * own pads stay below it), and a source that runs past the last window gives more positions than `want`: the first
 * ones are kept.
 */
function windowConv(ctx: GradContext, x: string, w: string, spatial: number[], c: WindowConv, want: number[]): string {
  const nd = c.kernel.length;
  let pads = [...c.pb, ...c.pe];
  if (pads.some((p, i) => p >= c.kernel[i % nd])) {
    x = ctx.op('Pad', [x, ctx.ints([0, 0, ...c.pb, 0, 0, ...c.pe])], { mode: 'constant' });
    pads = pads.map(() => 0);
  }
  let y = ctx.op('Conv', [x, w], { group: c.group, kernel_shape: c.kernel, strides: c.strides, dilations: c.dilations, pads });
  const got = spatial.map((S, i) => Math.floor((S + c.pb[i] + c.pe[i] - ((c.kernel[i] - 1) * c.dilations[i] + 1)) / c.strides[i]) + 1);
  if (got.some((v, i) => v !== want[i])) {
    const axes = Array.from({ length: nd }, (_, i) => 2 + i);
    y = ctx.op('Slice', [y, ctx.ints(axes.map(() => 0)), ctx.ints(want), ctx.ints(axes)]);
  }
  return y;
}

/** Input positions from which an ungrouped stride-1 Conv's input gradient is a Conv with the flipped kernel (measured). */
export const FLIPPED_MIN_POSITIONS = 28 * 28;

/**
 * Input gradient of a stride-1 Conv as a Conv of gy with the spatially flipped kernel: depthwise (ONNX Runtime's
 * depthwise Conv kernel: 10 ms where ConvTranspose takes 77 ms on [8, 96, 112, 112]), and ungrouped with the kernel
 * also transposed to [Ci, Co, ...] on inputs of at least FLIPPED_MIN_POSITIONS positions (resnet18 [8, 64, 56, 56]
 * 3x3: 10 vs 16 ms, [8, 128, 28, 28]: 7 vs 11.5 ms; at 14x14 even, at 7x7 slower, 19-23 vs 14 ms). Undefined when
 * the geometry does not allow it (strides, pads beyond the dilated kernel, other groups) or below that size.
 */
function flippedInputGrad(ctx: GradContext, gy: string, w: string, xs: number[], ws: number[], ys: number[], g: ConvGeom): string | undefined {
  const nd = g.k.length;
  if (!g.s.every((s) => s === 1)) return undefined;
  const depthwise = g.group > 1 && ws[0] === g.group && ws[1] === 1 && xs[1] === g.group;
  if (!depthwise && !(g.group === 1 && sizeOf(xs.slice(2)) >= FLIPPED_MIN_POSITIONS && g.k.some((k) => k > 1))) return undefined;
  const pb = g.k.map((k, i) => (k - 1) * g.d[i] - g.pb[i]);
  const pe = g.k.map((k, i) => xs[2 + i] - ys[2 + i] - pb[i] + (k - 1) * g.d[i]);
  if ([...pb, ...pe].some((p) => p < 0)) return undefined;
  const axes = Array.from({ length: nd }, (_, i) => 2 + i);
  const flipped = ctx.op('Slice', [w, ctx.ints(axes.map(() => -1)), ctx.ints(g.k.map((k) => -k - 1)), ctx.ints(axes), ctx.ints(axes.map(() => -1))]);
  const kernel = depthwise ? flipped : ctx.op('Transpose', [flipped], { perm: [1, 0, ...axes] });
  return ctx.op('Conv', [gy, kernel], { group: g.group, kernel_shape: g.k, dilations: g.d, pads: [...pb, ...pe] });
}

/**
 * Input gradient of a 1x1, stride-1, unpadded, ungrouped Conv: a 1x1 Conv of gy with the transposed weight (a GEMM
 * writing the result directly; ConvTranspose adds a col2im pass: 0.6 vs 3.0 ms on [8, 24, 56, 56] -> 144 channels).
 */
function pointwiseInputGrad(ctx: GradContext, gy: string, w: string, ws: number[], g: ConvGeom): string | undefined {
  if (g.group !== 1 || !g.k.every((k) => k === 1) || !g.s.every((s) => s === 1) || [...g.pb, ...g.pe].some((p) => p !== 0)) return undefined;
  const wt = ctx.op('Transpose', [w], { perm: [1, 0, ...ws.slice(2).map((_, i) => i + 2)] });
  return ctx.op('Conv', [gy, wt], { kernel_shape: g.k });
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
    gx = flippedInputGrad(ctx, gy, w, xs, ws, ys, g) ?? pointwiseInputGrad(ctx, gy, w, ws, g) ?? ctx.op('ConvTranspose', [gy, w], {
      group: g.group, kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...g.pb, ...g.pe],
      output_padding: op.some((o) => o > 0) ? op : undefined,
    });
  }
  if (ctx.needs(w)) {
    gw = ctx.reshape(weightGrad(ctx, gy, ys, x, xs, g), ws);
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
    gw = ctx.reshape(weightGrad(ctx, x, xs, gy, ys, g), ws);
  }
  if (bias && ctx.needs(bias)) gb = biasGrad(ctx, gy, ys.length);
  return [gx, gw, gb];
};

/** Convolution rules by op type. */
export const convRules: Record<string, GradRule> = { Conv: conv, ConvTranspose: convTranspose };
