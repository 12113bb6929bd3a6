/** What a gradient rule sees: the builder, static shapes, and helpers emitting common ONNX patterns. */
import { GraphBuilder } from '../onnx/builder';
import { DataType, NodeProto } from '../onnx/proto';
import { QuantLensError } from '../errors';

/** A forward node as the differentiator sees it. */
export interface FwdNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  proto: NodeProto;
}

/** A gradient rule: given the output gradients (undefined = zero), returns input gradients (undefined = none). */
export type GradRule = (ctx: GradContext, node: FwdNode, gys: (string | undefined)[]) => (string | undefined)[];

/** Emission helpers shared by all rules. */
export class GradContext {
  private readonly cache = new Map<string, string>();
  /** Micro-batches per step: an activation's LSQ scale gradient counts the elements of the whole step's tensor, not one micro-batch's. */
  microBatches = 1;

  constructor(
    readonly b: GraphBuilder,
    /** Float element type of the training graph (FLOAT, or DOUBLE for gradient checks). */
    readonly dtype: DataType,
    /** Static shapes of the forward tensors (and of tensors rules emit). */
    readonly shapes: Map<string, number[]>,
    private readonly requires: Set<string>,
    /** Constant tensor values (int64 shapes, axes...) known when building. */
    readonly constInts: (t: string) => number[] | undefined,
    readonly file = '<model>',
  ) {}

  /** Static shape of a forward tensor. */
  shape(t: string): number[] {
    const s = this.shapes.get(t);
    if (!s) throw new QuantLensError('train-shape', `no shape known for tensor '${t}'`, this.file);
    return s;
  }

  /** Records the static shape of a tensor emitted by a rule. */
  setShape(t: string, s: number[]): void {
    this.shapes.set(t, s);
  }

  /** True when the input tensor needs a gradient. */
  needs(t: string | undefined): boolean {
    return !!t && this.requires.has(t);
  }

  /** A scalar constant of the graph's float type. */
  scalar(v: number): string {
    const key = `s:${v}`;
    let n = this.cache.get(key);
    if (!n) {
      const data = this.dtype === DataType.DOUBLE ? Float64Array.of(v) : Float32Array.of(v);
      n = this.b.initializer('c', { type: this.dtype, dims: [], data });
      this.cache.set(key, n);
    }
    return n;
  }

  /** A float tensor constant of the graph's type. */
  floats(values: ArrayLike<number>, dims: number[]): string {
    const data = this.dtype === DataType.DOUBLE ? Float64Array.from(values) : Float32Array.from(values);
    return this.b.initializer('cf', { type: this.dtype, dims, data });
  }

  /** An int64 1-D constant (shapes, axes), cached. */
  ints(values: number[]): string {
    const key = `i:${values.join(',')}`;
    let n = this.cache.get(key);
    if (!n) {
      n = this.b.constInt64('ci', values);
      this.cache.set(key, n);
    }
    return n;
  }

  /** Emits a node and returns its output. */
  op(opType: string, inputs: string[], attrs: Parameters<GraphBuilder['node']>[2] = {}): string {
    return this.b.node(opType, inputs, attrs);
  }

  /** Reshapes to a static shape. */
  reshape(x: string, dims: number[]): string {
    return this.op('Reshape', [x, this.ints(dims)]);
  }

  /** Sums a gradient of shape `from` down to the broadcast source shape `to`. */
  sumTo(g: string, from: number[], to: number[]): string {
    if (sameShape(from, to)) return g;
    const lead = from.length - to.length;
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) {
      if (i < lead) axes.push(i);
      else if (to[i - lead] === 1 && from[i] !== 1) axes.push(i);
    }
    let r = g;
    if (axes.length) r = this.op('ReduceSum', [g, this.ints(axes)], { keepdims: 1 });
    return this.reshape(r, to);
  }

  /** x where the boolean `cond` holds, 0 elsewhere (Cast + Mul: measured faster than Where in ONNX Runtime 1.30). */
  mask(x: string, cond: string): string {
    return this.op('Mul', [x, this.op('Cast', [cond], { to: this.dtype })]);
  }

  /** Zeros of a static shape. */
  zeros(dims: number[]): string {
    return this.op('Expand', [this.scalar(0), this.ints(dims)]);
  }
}

/** True when two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Numpy-style broadcast of two shapes. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}
