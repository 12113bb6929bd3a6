/** Gradient rules of pooling: MaxPool (through its indices output, or indices the rule computes for tiling 2-D windows), AveragePool, GlobalAveragePool, GlobalMaxPool. */
import { attrInt, attrInts } from '../../onnx/graph';
import { DataType } from '../../onnx/proto';
import { sizeOf } from '../../onnx/tensor-data';
import { GradRule, FwdNode } from '../grad-context';
import { windowGeometry } from './window-geometry';

/** True when a MaxPool's windows tile its input exactly (kernel = stride, no padding or dilation): no indices needed. */
export function maxPoolTiles(n: FwdNode, xs: number[], ys: number[]): boolean {
  const k = attrInts(n.proto, 'kernel_shape', []);
  const s = attrInts(n.proto, 'strides', k.map(() => 1));
  return k.every((kk, i) => kk === s[i]) && attrInts(n.proto, 'pads', []).every((p) => p === 0) && attrInts(n.proto, 'dilations', []).every((d) => d === 1)
    && attrInt(n.proto, 'storage_order', 0) === 0 && ys.slice(2).every((o, i) => o * s[i] === xs[2 + i]);
}

/** True when a 2-D MaxPool's windows tile its input and flat indices fit float32 exactly: its rule computes the indices. */
export function maxPoolComputedIndices(n: FwdNode, xs: number[], ys: number[]): boolean {
  return xs.length === 4 && sizeOf(xs) < 2 ** 24 && maxPoolTiles(n, xs, ys);
}

/** Name of the indices output the differentiator adds to MaxPool nodes (see autodiff.ts). */
export function maxPoolIndicesName(n: FwdNode): string {
  return n.outputs[1] || `${n.outputs[0]}__argmax`;
}

const maxPool: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const xs = ctx.shape(n.inputs[0]);
  const ys = ctx.shape(n.outputs[0]);
  if (maxPoolComputedIndices(n, xs, ys) && !n.outputs[1]) {
    // Tiling 2-D windows without an indices output (see prepareForward): the plain MaxPool forward is several
    // times faster than the one with indices, so the indices are computed here. The max is upsampled (Resize
    // nearest); where x equals it, an element scores BIG - (its offset in the window's row-major order), so the
    // window maximum of the scores (a plain MaxPool) is the first maximum, the element MaxPool's indices name
    // (ties included); its flat index is (window base + BIG) - score, exact in floats below 2^24. Results are
    // bit-identical to the indices path. (Broadcasting along interleaved window axes, 6-D transposes,
    // Space/DepthToSpace and strided slices measured 1.1-5x slower in ORT.)
    const [kh, kw] = attrInts(n.proto, 'kernel_shape', []);
    const [N, C, H, W] = xs;
    const [oh, ow] = ys.slice(2);
    const big = (kh - 1) * W + kw;
    const up = ctx.op('Resize', [n.outputs[0], '', ctx.floats([1, 1, kh, kw], [4])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
    const pattern = new Float64Array(H * W);
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) pattern[h * W + w] = big - ((h % kh) * W + (w % kw));
    const eq = ctx.op('Cast', [ctx.op('Equal', [n.inputs[0], up])], { to: ctx.dtype });
    const score = ctx.op('MaxPool', [ctx.op('Mul', [eq, ctx.floats(pattern, [1, 1, H, W])])], { kernel_shape: [kh, kw], strides: [kh, kw] });
    const base = new Float64Array(N * C * oh * ow);
    for (let nc = 0, o = 0; nc < N * C; nc++) for (let r = 0; r < oh; r++) for (let c = 0; c < ow; c++) base[o++] = nc * H * W + r * kh * W + c * kw + big;
    const idx = ctx.op('Cast', [ctx.op('Sub', [ctx.floats(base, ys), score])], { to: DataType.INT64 });
    return [ctx.op('MaxUnpool', [gy, idx, ctx.ints(xs)], { kernel_shape: [kh, kw], strides: [kh, kw] })];
  }
  if (maxPoolTiles(n, xs, ys)) {
    // Windows do not overlap: each input position gets at most one gradient, which MaxUnpool places.
    const k = attrInts(n.proto, 'kernel_shape', []);
    return [ctx.op('MaxUnpool', [gy, maxPoolIndicesName(n), ctx.ints(xs)], { kernel_shape: k, strides: k })];
  }
  const idx = ctx.reshape(maxPoolIndicesName(n), [-1]);
  const flat = ctx.op('ScatterElements', [ctx.zeros([sizeOf(xs)]), idx, ctx.reshape(gy, [-1])], { axis: 0, reduction: 'add' });
  return [ctx.reshape(flat, xs)];
};

function poolGeometry(n: FwdNode, xs: number[], ys: number[]) {
  const nd = xs.length - 2;
  return { nd, ...windowGeometry(n, nd, [], xs.slice(2), ys.slice(2)) };
}

const averagePool: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const x = n.inputs[0];
  const xs = ctx.shape(x), ys = ctx.shape(n.outputs[0]);
  const g = poolGeometry(n, xs, ys);
  const C = xs[1];
  const includePad = attrInt(n.proto, 'count_include_pad', 0) === 1;
  // Divisor of every output position (valid inputs only unless count_include_pad).
  const outSp = ys.slice(2);
  const div = new Float64Array(sizeOf(outSp));
  for (let o = 0; o < div.length; o++) {
    let rem = o, count = 1;
    const pos: number[] = [];
    for (let i = g.nd - 1; i >= 0; i--) { pos[i] = rem % outSp[i]; rem = Math.floor(rem / outSp[i]); }
    for (let i = 0; i < g.nd; i++) {
      let c = 0;
      for (let kk = 0; kk < g.k[i]; kk++) {
        const p = pos[i] * g.s[i] + kk * g.d[i] - g.pb[i];
        if (includePad ? p < xs[2 + i] + g.pe[i] : p >= 0 && p < xs[2 + i]) c++;
      }
      count *= c;
    }
    div[o] = 1 / count;
  }
  const scaled = ctx.op('Mul', [gy, ctx.floats(div, outSp)]);
  const ones = ctx.floats(new Float64Array(C * sizeOf(g.k)).fill(1), [C, 1, ...g.k]);
  const op = xs.slice(2).map((h, i) => h - ((ys[2 + i] - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1 - g.pb[i] - g.pe[i]));
  if (op.some((v) => v < 0)) throw new Error(`AveragePool '${n.name}': windows running past the input (ceil_mode) are not supported`);
  const gx = ctx.op('ConvTranspose', [scaled, ones], {
    group: C, kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...g.pb, ...g.pe],
    output_padding: op.some((v) => v > 0) ? op : undefined,
  });
  return [gx];
};

const globalAverage: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const xs = ctx.shape(n.inputs[0]);
  return [ctx.op('Expand', [ctx.op('Mul', [gy, ctx.scalar(1 / sizeOf(xs.slice(2)))]), ctx.ints(xs)])];
};

const globalMax: GradRule = (ctx, n, [gy]) => {
  if (!gy) return [];
  const xs = ctx.shape(n.inputs[0]);
  const hit = ctx.op('Equal', [n.inputs[0], n.outputs[0]]);
  return [ctx.mask(ctx.op('Expand', [gy, ctx.ints(xs)]), hit)];
};

/** Pooling rules by op type. */
export const poolRules: Record<string, GradRule> = {
  MaxPool: maxPool, AveragePool: averagePool, GlobalAveragePool: globalAverage, GlobalMaxPool: globalMax,
};
