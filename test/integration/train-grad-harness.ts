// Finite-difference checks of gradient rules: builds a one-node model, differentiates loss = sum(Y * R), compares to central differences.
import assert from 'node:assert/strict';
import { AttrValue, GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { sizeOf, Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { emitBackward, FwdNode } from '../../src/core/train/autodiff';
import { Graph } from '../../src/core/onnx/graph';
import { Rng } from '../../src/core/train/random';
import { probeModel } from '../../src/core/train/shape-probe';

/** One input of the op under test: x = differentiated (random), pos = differentiated and positive, f = float constant, i = int64 constant. */
export type In = { shape: number[]; kind?: 'x' | 'pos' | 'f' | 'fpos'; } | { ints: number[]; dims?: number[] } | { bools: number[]; dims: number[] } | { floats: number[] } | null;

export interface GradCase {
  op: string;
  /** Builds a composite forward graph from the input names instead of one `op` node; returns its output. */
  build?: (b: GraphBuilder, inputs: string[]) => string;
  inputs: In[];
  attrs?: Record<string, AttrValue>;
  opset?: number;
  outputs?: number;
  /** Force float32 (ops without float64 kernels in ONNX Runtime). */
  float32?: boolean;
}

function fill(rng: Rng, n: number, kind: string): number[] {
  return Array.from({ length: n }, () => (kind === 'pos' || kind === 'fpos' ? 0.5 + rng.next() : rng.uniform(-1, 1)));
}

/** Runs the check; returns the dtype used and the worst relative error. */
export async function checkGradient(c: GradCase, seed = 7): Promise<{ dtype: string; worst: number; checked: number }> {
  const rng = new Rng(seed);
  const dtype = c.float32 ? DataType.FLOAT : DataType.DOUBLE;
  const Arr = dtype === DataType.DOUBLE ? Float64Array : Float32Array;
  const opset = c.opset ?? 17;
  const fwd = new GraphBuilder('fwd');
  const feeds: Record<string, Tensor> = {};
  const wrt: string[] = [];
  const names = c.inputs.map((inp, k) => {
    if (!inp) return '';
    const name = `in${k}`;
    if ('floats' in inp) { fwd.initializerProto({ name, dims: [inp.floats.length], data_type: DataType.FLOAT, float_data: inp.floats }); return name; }
    if ('ints' in inp) { fwd.initializerProto({ name, dims: inp.dims ?? [inp.ints.length], data_type: DataType.INT64, int64_data: inp.ints }); return name; }
    if ('bools' in inp) { fwd.initializerProto({ name, dims: inp.dims, data_type: DataType.BOOL, int32_data: inp.bools }); return name; }
    const data = Arr.from(fill(rng, sizeOf(inp.shape), inp.kind ?? 'x'));
    if (inp.kind === 'f' || inp.kind === 'fpos') { fwd.initializerProto({ name, dims: inp.shape, data_type: dtype, [dtype === DataType.DOUBLE ? 'double_data' : 'float_data']: Array.from(data) }); return name; }
    fwd.input(name, dtype, inp.shape);
    feeds[name] = { type: dtype, dims: inp.shape, data };
    wrt.push(name);
    return name;
  });
  const outs = c.build ? [c.build(fwd, names)] : fwd.nodeMulti(c.op, names, c.outputs ?? 1, c.attrs ?? {}, { name: 'under_test' });
  fwd.output(outs[0], dtype);
  const fwdModel = fwd.model(opset);
  const backend = ortBackend();
  const probe = await probeModel(backend, fwdModel, feeds);
  const yShape = probe.shapes.get(outs[0])!;
  const R = Arr.from(fill(rng, sizeOf(yShape), 'x'));
  // Gradient graph.
  const b = new GraphBuilder('grad');
  for (const n of [...names, ...outs, ...fwd.nodes.flatMap((x) => [...(x.output ?? []), x.name ?? ""])]) if (n) b.fresh(n);
  for (const i of fwd.inputs) b.inputs.push(i);
  for (const t of fwd.initializers) b.initializerProto(t);
  const r = b.input('R', dtype, yShape);
  const graph = new Graph(fwdModel);
  let nodes: FwdNode[] = graph.nodes;
  if (c.op === 'MaxPool') {
    const { prepareForward, requiresGrad } = await import('../../src/core/train/autodiff');
    nodes = prepareForward(nodes, requiresGrad(nodes, wrt), probe.shapes);
  }
  for (const n of nodes) b.nodes.push(n.proto);
  const grads = emitBackward({
    b, nodes, wrt, seeds: new Map([[outs[0], r]]), shapes: new Map(probe.shapes), dtype,
    constInts: (t) => probe.ints.get(t) ?? (graph.constantValue(t) ? Array.from(graph.constantValue(t)!.data as ArrayLike<number | bigint>, Number) : undefined),
  });
  const gNames = wrt.map((w) => { const g = grads.get(w); assert.ok(g, `no gradient for ${w}`); const o = b.node('Identity', [g!]); b.output(o, dtype); return o; });
  const gs = await backend.createSession(encodeModelProto(b.model(opset)), { threads: 1, optimization: 'disabled' });
  const fs = await backend.createSession(encodeModelProto(fwdModel), { threads: 1, optimization: 'disabled' });
  try {
    const analytic = await gs.run({ ...feeds, R: { type: dtype, dims: yShape, data: R } }, gNames);
    const loss = async (f: Record<string, Tensor>) => {
      const y = (await fs.run(f, [outs[0]]))[outs[0]].data as Float64Array;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * R[i];
      return s;
    };
    const eps = dtype === DataType.DOUBLE ? 1e-6 : 1e-2;
    let worst = 0, checked = 0;
    for (let k = 0; k < wrt.length; k++) {
      const x = feeds[wrt[k]].data as Float64Array;
      const g = analytic[gNames[k]].data as Float64Array;
      assert.deepEqual(analytic[gNames[k]].dims, feeds[wrt[k]].dims, `gradient shape of ${wrt[k]}`);
      const picks = x.length <= 12 ? Array.from({ length: x.length }, (_, i) => i) : Array.from({ length: 12 }, () => Math.floor(rng.next() * x.length));
      for (const i of picks) {
        const orig = x[i];
        x[i] = orig + eps; const lp = await loss(feeds);
        x[i] = orig - eps; const lm = await loss(feeds);
        x[i] = orig;
        const num = (lp - lm) / (2 * eps);
        const err = Math.abs(num - g[i]) / Math.max(1, Math.abs(num));
        worst = Math.max(worst, err);
        checked++;
        const tol = dtype === DataType.DOUBLE ? 1e-5 : 2e-2;
        assert.ok(err < tol, `${c.op}: d/d${wrt[k]}[${i}] analytic ${g[i]} vs numeric ${num} (dtype ${DataType[dtype]})`);
      }
    }
    return { dtype: DataType[dtype], worst, checked };
  } finally {
    await gs.release();
    await fs.release();
  }
}
