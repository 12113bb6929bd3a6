// Opset upgrade, one small hand-built model per rewrite: ONNX Runtime gives the same outputs for the model at its
// old opset and upgraded to 13 and 21, and the rewritten nodes have the new signature.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, float } from '../../src/core/onnx/builder';
import { attr } from '../../src/core/onnx/graph';
import { upgradeOpset } from '../../src/core/onnx/opset-upgrade';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { isQuantLensError } from '../../src/core/errors';

const F = DataType.FLOAT;

function input(dims: number[], seed = 3): Tensor {
  let s = seed;
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = ((s >>> 8) / 16777216) * 4 - 2; }
  return { type: F, dims, data };
}

async function run(model: ModelProto, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await ortBackend().createSession(encodeModelProto(model), { threads: 1, optimization: 'disabled' });
  try { return await s.run(feeds); } finally { await s.release(); }
}

/** Upgrades to 13 and 21, checks outputs equal the original's, returns the upgraded models for structural checks. */
async function same(model: ModelProto, feeds: Record<string, Tensor>, shapes?: Map<string, number[]>): Promise<ModelProto[]> {
  const ref = await run(model, feeds);
  const out: ModelProto[] = [];
  for (const target of [13, 21]) {
    const up = upgradeOpset(model, target, { shapes });
    assert.equal(up.opset_import?.find((o) => !o.domain)?.version, target);
    assert.ok(Number(up.ir_version) >= (target >= 21 ? 10 : 7));
    const got = await run(up, feeds);
    for (const [k, v] of Object.entries(ref)) {
      assert.deepEqual(got[k].dims, v.dims, `${k} shape at opset ${target}`);
      const a = v.data as Float32Array, b = got[k].data as Float32Array;
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(Number(a[i]) - Number(b[i])) <= 1e-5, `${k}[${i}] at opset ${target}: ${a[i]} vs ${b[i]}`);
    }
    out.push(up);
  }
  return out;
}

const nodesOf = (m: ModelProto, op: string) => (m.graph!.node ?? []).filter((n) => n.op_type === op);

test('Clip-6 min/max attributes become inputs', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 5]);
  b.output(b.node('Clip', [b.node('Clip', [x], { min: float(-0.5), max: float(0.75) })], { max: float(0.5) }));
  const [m13] = await same(b.model(9), { x: input([2, 5]) });
  const clips = nodesOf(m13, 'Clip');
  assert.equal(clips[0].input!.length, 3);
  assert.deepEqual(clips[1].input!.slice(1, 2), ['']);
  assert.ok(clips.every((n) => !attr(n, 'min') && !attr(n, 'max')));
});

test('Softmax/LogSoftmax/Hardmax before 13: 2-D coercion at a middle axis kept; last axis stays one node', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 3, 4]);
  const s1 = b.node('Softmax', [x], { axis: 1 }, { name: 'sm_mid' });
  const s2 = b.node('LogSoftmax', [x], { axis: 2 }, { name: 'lsm_last' });
  const s3 = b.node('Hardmax', [x], { axis: 1 }, { name: 'hm_mid' });
  const s4 = b.node('Softmax', [x], {}, { name: 'sm_default' }); // default axis 1
  b.output(s1); b.output(s2); b.output(s3); b.output(s4);
  const shapes = new Map([[x, [2, 3, 4]]]);
  const [m13] = await same(b.model(11), { x: input([2, 3, 4]) }, shapes);
  assert.equal(nodesOf(m13, 'LogSoftmax').length, 1);
  assert.equal(nodesOf(m13, 'Flatten').length, 3, 'the middle-axis ones are wrapped in Flatten/Reshape');
  // Without shapes every one is wrapped, and the result is still right.
  await same(b.model(11), { x: input([2, 3, 4]) });
});

test('Slice-1 attributes become inputs (negative and huge ends)', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [4, 6]);
  b.output(b.node('Slice', [x], { starts: [1, -4], ends: [1000000, -1], axes: [0, 1] }));
  b.output(b.node('Slice', [x], { starts: [0, 2], ends: [2, 5] }));
  // INT64_MAX ends, as PyTorch writes `x[1:]`: decoded to the number 2^63, it must be written back as INT64_MAX.
  const tail = b.node('Slice', [x], { starts: [1], ends: [9223372036854775807], axes: [1] });
  b.output(tail);
  const [m13] = await same(b.model(9), { x: input([4, 6]) });
  assert.deepEqual(nodesOf(m13, 'Slice').map((n) => n.input!.length), [4, 3, 4]);
  const out = (await run(m13, { x: input([4, 6]) }))[tail];
  assert.deepEqual(out.dims, [4, 5]);
});

test('Squeeze/Unsqueeze/ReduceSum axes at 13, other Reduce* at 18', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 1, 3]);
  const sq = b.node('Squeeze', [x], { axes: [1] });
  const un = b.node('Unsqueeze', [sq], { axes: [0, 3] });
  b.output(un);
  b.output(b.node('ReduceSum', [x], { axes: [2], keepdims: 0 }));
  b.output(b.node('ReduceMean', [x], { axes: [-1] }));
  b.output(b.node('ReduceMax', [x], { axes: [0, 2], keepdims: 0 }));
  b.output(b.node('ReduceL2', [x]));
  const original = b.model(11);
  const [m13, m21] = await same(original, { x: input([2, 1, 3]) });
  assert.equal(nodesOf(m13, 'Squeeze')[0].input!.length, 2);
  assert.ok(attr(nodesOf(original, 'Squeeze')[0], 'axes'), 'the input model is left as it was');
  assert.equal(nodesOf(original, 'Squeeze')[0].input!.length, 1);
  assert.equal(nodesOf(m13, 'ReduceSum')[0].input!.length, 2);
  assert.ok(attr(nodesOf(m13, 'ReduceMean')[0], 'axes'), 'ReduceMean keeps its attribute at 13');
  assert.equal(nodesOf(m21, 'ReduceMean')[0].input!.length, 2);
  assert.ok(!attr(nodesOf(m21, 'ReduceMax')[0], 'axes'));
});

test('Split: split attribute becomes an input at 13; num_outputs at 18 when there is none', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [4, 6]);
  const [a, c] = b.nodeMulti('Split', [x], 2, { axis: 1, split: [2, 4] });
  const [d, e, f] = b.nodeMulti('Split', [x], 3, { axis: 1 });
  for (const t of [a, c, d, e, f]) b.output(t);
  const [m13, m21] = await same(b.model(11), { x: input([4, 6]) });
  assert.equal(nodesOf(m13, 'Split')[0].input!.length, 2);
  assert.equal(Number(attr(nodesOf(m21, 'Split')[1], 'num_outputs')?.i), 3);
});

test('Pad-2 attributes become inputs (constant value and reflect mode)', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 2, 3, 3]);
  b.output(b.node('Pad', [x], { pads: [0, 0, 1, 2, 0, 0, 2, 1], value: float(1.5) }));
  b.output(b.node('Pad', [x], { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'reflect' }));
  const [m13] = await same(b.model(9), { x: input([1, 2, 3, 3]) });
  assert.deepEqual(nodesOf(m13, 'Pad').map((n) => n.input!.length), [3, 2]);
});

test('Upsample (7 and 9) becomes Resize with the same nearest/linear results', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 2, 3, 4]);
  const scales = b.constFloat('scales', [1, 1, 2, 3]);
  b.output(b.node('Upsample', [x, scales], { mode: 'nearest' }));
  b.output(b.node('Upsample', [x, b.constFloat('s2', [1, 1, 2, 2])], { mode: 'linear' }));
  const [m13] = await same(b.model(9), { x: input([1, 2, 3, 4]) });
  assert.equal(nodesOf(m13, 'Upsample').length, 0);
  assert.equal(nodesOf(m13, 'Resize').length, 2);
  const b7 = new GraphBuilder();
  const x7 = b7.input('x', F, [1, 1, 2, 3]);
  b7.output(b7.node('Upsample', [x7], { mode: 'nearest', scales: float([1, 1, 3, 2]) }));
  await same(b7.model(8), { x: input([1, 1, 2, 3]) });
});

test('Resize-10 (asymmetric, truncating nearest) keeps its results at 13 and 21, up and down', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 1, 6, 6]);
  b.output(b.node('Resize', [x, b.constFloat('up', [1, 1, 1.5, 2.5])], { mode: 'nearest' }));
  b.output(b.node('Resize', [x, b.constFloat('down', [1, 1, 0.5, 0.7])], { mode: 'nearest' }));
  b.output(b.node('Resize', [x, b.constFloat('lin', [1, 1, 2, 1.5])], { mode: 'linear' }));
  await same(b.model(10), { x: input([1, 1, 6, 6]) });
});

test('BatchNormalization-7 (spatial), Dropout-10 (ratio), TopK-1 (k attribute), Gemm and Add with legacy broadcast', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 3, 2, 2]);
  const bn = b.node('BatchNormalization', [x, b.constFloat('g', [1, 2, 0.5]), b.constFloat('b', [0, 1, -1]), b.constFloat('m', [0.1, 0.2, 0.3]), b.constFloat('v', [1, 2, 3])], { spatial: 1, epsilon: float(1e-3) });
  const dr = b.node('Dropout', [bn], { ratio: float(0.3) });
  b.output(dr);
  const [m13] = await same(b.model(7), { x: input([2, 3, 2, 2]) });
  assert.ok(!attr(nodesOf(m13, 'BatchNormalization')[0], 'spatial'));
  const t = new GraphBuilder();
  const y = t.input('y', F, [3, 5]);
  const [vals, idx] = t.nodeMulti('TopK', [y], 2, { k: 2, axis: 1 });
  t.output(vals); t.output(idx, DataType.INT64);
  await same(t.model(9), { y: input([3, 5]) });
  // ONNX Runtime has no opset-6 Gemm/Add kernels: check the legacy attributes are gone and the result runs.
  const g = new GraphBuilder();
  const a = g.input('a', F, [2, 3]);
  const gm = g.node('Gemm', [a, g.constFloat('w', [1, 2, 3, 4, 5, 6], [3, 2]), g.constFloat('c', [0.5, -0.5])], { broadcast: 1 });
  g.output(g.node('Add', [gm, g.constFloat('k', [1, 2])], { broadcast: 1 }));
  const g13 = upgradeOpset(g.model(6), 13);
  assert.ok(!attr(nodesOf(g13, 'Add')[0], 'broadcast') && !attr(nodesOf(g13, 'Gemm')[0], 'broadcast'));
  const out = Object.values(await run(g13, { a: { type: F, dims: [2, 3], data: Float32Array.from([1, 0, 0, 0, 1, 1]) } }))[0];
  assert.deepEqual(Array.from(out.data as Float32Array), [2.5, 3.5, 9.5, 11.5]);
  const explicitAxis = new GraphBuilder();
  const e = explicitAxis.input('e', F, [2, 3, 4]);
  explicitAxis.output(explicitAxis.node('Add', [e, explicitAxis.constFloat('k', [1, 2, 3])], { broadcast: 1, axis: 1 }, { name: 'legacy_add' }));
  assert.throws(() => upgradeOpset(explicitAxis.model(6), 13), (err) => isQuantLensError(err) && /legacy_add/.test(err.message));
});

test('ops inside If branches are upgraded too', async () => {
  const branch = (axis: number) => {
    const s = new GraphBuilder(`branch${axis}`, `b${axis}_`);
    s.output(s.node('Unsqueeze', ['x'], { axes: [axis] }, { output: `b${axis}_out` }));
    return s.graph();
  };
  const b = new GraphBuilder();
  b.input('x', F, [2, 3]);
  const c = b.input('c', DataType.BOOL, []);
  b.output(b.node('If', [c], { then_branch: branch(0), else_branch: branch(2) }));
  const feeds = (v: number) => ({ x: input([2, 3]), c: { type: DataType.BOOL, dims: [], data: Uint8Array.from([v]) } as Tensor });
  const [m13] = await same(b.model(11), feeds(1));
  await same(b.model(11), feeds(0));
  const inner = attr(nodesOf(m13, 'If')[0], 'then_branch')!.g!;
  assert.equal(inner.node![0].input!.length, 2);
  assert.equal(inner.initializer!.length, 1, 'the axes constant lives in the branch');
});

test('refuses downgrades and ops it cannot rewrite, naming the op and node', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 3, 2, 2]);
  b.output(b.node('ImageScaler', [x], { scale: float(2) }, { name: 'scaler' }));
  assert.throws(() => upgradeOpset(b.model(9), 13), (e) => isQuantLensError(e) && /ImageScaler/.test(e.message) && /scaler/.test(e.message));
  const g = new GraphBuilder();
  const y = g.input('y', F, [1, 4, 2]);
  g.output(g.node('GroupNormalization', [y, g.constFloat('s', [1, 1]), g.constFloat('bb', [0, 0])], { num_groups: 2 }, { name: 'gn' }));
  assert.throws(() => upgradeOpset(g.model(18), 21), (e) => isQuantLensError(e) && /GroupNormalization/.test(e.message) && /'gn'/.test(e.message));
  assert.equal(upgradeOpset(g.model(18), 20).opset_import![0].version, 20);
  assert.throws(() => upgradeOpset(g.model(18), 13), (e) => isQuantLensError(e) && e.code === 'opset-downgrade');
  const r = new GraphBuilder();
  const z = r.input('z', F, [1, 1, 4, 4]);
  r.output(r.node('Resize', [z, r.constFloat('roi', []), r.constFloat('sc', [1, 1, 2, 2])], { coordinate_transformation_mode: 'tf_half_pixel_for_nn' }, { name: 'rz' }));
  assert.throws(() => upgradeOpset(r.model(11), 13), (e) => isQuantLensError(e) && /tf_half_pixel_for_nn/.test(e.message));
});
