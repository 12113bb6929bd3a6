/** Gradient rules of data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Cast, Transpose, Concat, Split, Slice, Pad, Expand, Resize (nearest), ReduceSum, ReduceMean. */
import { attrInt, attrInts, attrString } from '../../onnx/graph';
import { sizeOf } from '../../onnx/tensor-data';
import { GradContext, GradRule, FwdNode } from '../grad-context';

const reshapeBack: GradRule = (ctx, n, [gy]) => [gy ? ctx.reshape(gy, ctx.shape(n.inputs[0])) : undefined];
const identity: GradRule = (_ctx, _n, [gy]) => [gy];

function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function constOrAttr(ctx: GradContext, n: FwdNode, inputIndex: number, attrName: string): number[] | undefined {
  const t = n.inputs[inputIndex];
  if (t) {
    const v = ctx.constInts(t);
    if (!v) throw new Error(`${n.opType} '${n.name}': input '${t}' must be a constant to differentiate through it`);
    return v;
  }
  const a = attrInts(n.proto, attrName, []);
  return a.length ? a : undefined;
}

/** Flat input indices selected by a Slice, in output order. */
function sliceIndices(xs: number[], starts: number[], ends: number[], axes: number[], steps: number[]): { idx: number[]; out: number[] } {
  const r = xs.length;
  const sel: number[][] = xs.map((d) => Array.from({ length: d }, (_, i) => i));
  axes.forEach((a0, k) => {
    const a = norm(a0, r), d = xs[a], step = steps[k] ?? 1;
    let s = starts[k], e = ends[k];
    if (s < 0) s += d;
    if (e < 0) e += d;
    const list: number[] = [];
    if (step > 0) { s = Math.max(0, Math.min(d, s)); e = Math.max(0, Math.min(d, e)); for (let i = s; i < e; i += step) list.push(i); }
    else { s = Math.max(-1, Math.min(d - 1, s)); e = Math.max(-1, Math.min(d - 1, e)); for (let i = s; i > e; i += step) list.push(i); }
    sel[a] = list;
  });
  const out = sel.map((l) => l.length);
  const strides = xs.map((_, i) => sizeOf(xs.slice(i + 1)));
  const idx: number[] = [];
  const walk = (axis: number, base: number) => {
    if (axis === r) { idx.push(base); return; }
    for (const i of sel[axis]) walk(axis + 1, base + i * strides[axis]);
  };
  walk(0, 0);
  return { idx, out };
}

/** A unit-step Slice's gradient: the output gradient padded with zeros back to the input's shape. */
function padBack(ctx: GradContext, gy: string, xs: number[], ys: number[], starts: number[], axes: number[]): string {
  const begin = xs.map(() => 0);
  axes.forEach((a0, k) => {
    const a = norm(a0, xs.length), d = xs[a];
    let s = starts[k];
    if (s < 0) s += d;
    begin[a] = Math.max(0, Math.min(d, s));
  });
  const end = xs.map((d, i) => d - begin[i] - ys[i]);
  return ctx.op('Pad', [gy, ctx.ints([...begin, ...end])]);
}

/** Scatters a gradient back to the flat input positions `idx` (summing duplicates). */
function scatterBack(ctx: GradContext, gy: string, xs: number[], idx: number[] | string): string {
  const indices = typeof idx === 'string' ? ctx.reshape(idx, [-1]) : ctx.b.constInt64('slice_idx', idx);
  const flat = ctx.op('ScatterElements', [ctx.zeros([sizeOf(xs)]), indices, ctx.reshape(gy, [-1])], { axis: 0, reduction: 'add' });
  return ctx.reshape(flat, xs);
}

/** Shape-op rules by op type. */
export const shapeRules: Record<string, GradRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Identity: identity,
  Dropout: identity,
  Cast: (ctx, n, [gy]) => [gy ? ctx.op('CastLike', [gy, n.inputs[0]]) : undefined],
  Expand: (ctx, n, [gy]) => [gy ? ctx.sumTo(gy, ctx.shape(n.outputs[0]), ctx.shape(n.inputs[0])) : undefined],
  Transpose: (ctx, n, [gy]) => {
    if (!gy) return [];
    const r = ctx.shape(n.inputs[0]).length;
    const perm = attrInts(n.proto, 'perm', Array.from({ length: r }, (_, i) => r - 1 - i));
    const inv: number[] = [];
    perm.forEach((p, i) => { inv[p] = i; });
    return [ctx.op('Transpose', [gy], { perm: inv })];
  },
  Concat: (ctx, n, [gy]) => {
    if (!gy) return [];
    const r = ctx.shape(n.outputs[0]).length;
    const axis = norm(attrInt(n.proto, 'axis', 0), r);
    const sizes = n.inputs.map((i) => ctx.shape(i)[axis]);
    const parts = ctx.b.nodeMulti('Split', [gy, ctx.ints(sizes)], n.inputs.length, { axis });
    return n.inputs.map((i, k) => (ctx.needs(i) ? parts[k] : undefined));
  },
  Split: (ctx, n, gys) => {
    const r = ctx.shape(n.inputs[0]).length;
    const axis = norm(attrInt(n.proto, 'axis', 0), r);
    if (gys.every((g) => !g)) return [];
    const parts = n.outputs.map((o, k) => gys[k] ?? ctx.zeros(ctx.shape(o)));
    return [parts.length === 1 ? parts[0] : ctx.op('Concat', parts, { axis })];
  },
  Slice: (ctx, n, [gy]) => {
    if (!gy) return [];
    const xs = ctx.shape(n.inputs[0]);
    const starts = constOrAttr(ctx, n, 1, 'starts')!;
    const ends = constOrAttr(ctx, n, 2, 'ends')!;
    const axes = constOrAttr(ctx, n, 3, 'axes') ?? starts.map((_, i) => i);
    const steps = constOrAttr(ctx, n, 4, 'steps') ?? starts.map(() => 1);
    if (steps.every((s) => s === 1)) return [padBack(ctx, gy, xs, ctx.shape(n.outputs[0]), starts, axes)];
    return [scatterBack(ctx, gy, xs, sliceIndices(xs, starts, ends, axes, steps).idx)];
  },
  Pad: (ctx, n, [gy]) => {
    if (!gy) return [];
    if (attrString(n.proto, 'mode', 'constant') !== 'constant') throw new Error(`Pad '${n.name}': only constant padding is differentiable`);
    const xs = ctx.shape(n.inputs[0]);
    const pads = constOrAttr(ctx, n, 1, 'pads')!;
    const axes = n.inputs[3] ? ctx.constInts(n.inputs[3])!.map((a) => norm(a, xs.length)) : xs.map((_, i) => i);
    const starts = xs.map(() => 0);
    axes.forEach((a, k) => { starts[a] = pads[k]; });
    if (starts.some((s) => s < 0)) throw new Error(`Pad '${n.name}': negative pads are not differentiable`);
    return [ctx.op('Slice', [gy, ctx.ints(starts), ctx.ints(starts.map((s, i) => s + xs[i]))])];
  },
  Resize: (ctx, n, [gy]) => {
    if (!gy) return [];
    if (attrString(n.proto, 'mode', 'nearest') !== 'nearest') throw new Error(`Resize '${n.name}': only mode 'nearest' is differentiable`);
    // Nearest resize copies elements: resizing the element indices gives each output's source, then scatter-add.
    const xs = ctx.shape(n.inputs[0]);
    const total = sizeOf(xs);
    if (total >= 2 ** 24) throw new Error(`Resize '${n.name}': input too large to differentiate`);
    const iota = ctx.floats(Float64Array.from({ length: total }, (_, i) => i), xs);
    const src = ctx.b.fresh('resize_src');
    ctx.b.nodes.push({ op_type: 'Resize', input: [iota, ...n.inputs.slice(1)], output: [src], attribute: n.proto.attribute, name: ctx.b.fresh('Resize_grad'), domain: '' });
    return [scatterBack(ctx, gy, xs, ctx.op('Cast', [src], { to: 7 }))];
  },
  ReduceSum: (ctx, n, [gy]) => reduceBack(ctx, n, gy, false),
  ReduceMean: (ctx, n, [gy]) => reduceBack(ctx, n, gy, true),
};

function reduceBack(ctx: GradContext, n: FwdNode, gy: string | undefined, mean: boolean): (string | undefined)[] {
  if (!gy) return [];
  const xs = ctx.shape(n.inputs[0]);
  let axes = (n.inputs[1] ? ctx.constInts(n.inputs[1]) : attrInts(n.proto, 'axes', [])) ?? [];
  if (!axes.length) axes = attrInt(n.proto, 'noop_with_empty_axes', 0) ? [] : xs.map((_, i) => i);
  axes = axes.map((a) => norm(a, xs.length));
  const kept = xs.map((d, i) => (axes.includes(i) ? 1 : d));
  let g = ctx.op('Expand', [ctx.reshape(gy, kept), ctx.ints(xs)]);
  if (mean) g = ctx.op('Mul', [g, ctx.scalar(1 / sizeOf(axes.map((a) => xs[a])))]);
  return [g];
}
