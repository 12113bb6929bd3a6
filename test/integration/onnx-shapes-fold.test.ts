// Shape inference by one ORT run, constant folding of derived weights, and BatchNormalization folding, on small
// hand-built models run in ONNX Runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, float } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { foldConstants, derivedConstants } from '../../src/core/onnx/constant-fold';
import { feedShapes, inferShapes, synthesizeFeeds, unfetchableTensors } from '../../src/core/onnx/shapes';
import { foldBatchNormDetailed } from '../../src/core/onnx/batchnorm-fold';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { Tensor, floatToHalf } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';

const F = DataType.FLOAT;
const backend = ortBackend();
const vals = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed) * (1 + (i % 3)));

async function run(model: ModelProto, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await backend.createSession(encodeModelProto(model), { threads: 1, optimization: 'disabled' });
  try { return await s.run(feeds); } finally { await s.release(); }
}

test('inferShapes: every intermediate shape, symbolic dims filled as documented, int4 tensors never fetched', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, ['batch', 3, 'h', 'w']);
  const c = b.node('Conv', [x, b.constFloat('w', vals(4 * 3 * 9, 1), [4, 3, 3, 3])], { strides: [2, 2] });
  const q = b.node('QuantizeLinear', [c, b.constFloat('s', [0.1], []), b.initializer('zp', { type: DataType.INT4, dims: [], data: new Uint8Array([0]) })]);
  const d = b.node('DequantizeLinear', [q, b.constFloat('s2', [0.1], []), b.initializer('zp2', { type: DataType.INT4, dims: [], data: new Uint8Array([0]) })]);
  const p = b.node('GlobalAveragePool', [d]);
  b.output(p);
  const model = b.model(21);
  const graph = new Graph(model);
  assert.deepEqual(feedShapes(graph).get('x'), [1, 3, 64, 64]);
  assert.deepEqual(feedShapes(graph, { dims: { h: 48 }, spatial: 32 }).get('x'), [1, 3, 48, 32]);
  assert.ok(unfetchableTensors(graph).has(q));
  const shapes = await inferShapes(model, backend, undefined, { dims: { h: 9, w: 11 } });
  assert.deepEqual(shapes.get(c), [1, 4, 4, 5]);
  assert.deepEqual(shapes.get(d), [1, 4, 4, 5]);
  assert.deepEqual(shapes.get(p), [1, 4, 1, 1]);
  assert.equal(shapes.get(q), undefined, 'the int4 tensor is not fetched');
  assert.deepEqual(shapes.get('w'), [4, 3, 3, 3]);
  // A given feed wins over made-up dims.
  const feeds = synthesizeFeeds(graph, { dims: { h: 5, w: 5 } });
  assert.deepEqual((await inferShapes(model, backend, feeds)).get(c), [1, 4, 2, 2]);
});

test('foldConstants and buildInventoryAsync: weights reached through Constant → Transpose, Cast and DequantizeLinear', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 4]);
  const raw = vals(6 * 4, 2); // stored as [6, 4], used transposed as [4, 6]
  const cw = b.node('Constant', [], { value: { type: F, dims: [6, 4], data: Float32Array.from(raw) } as Tensor });
  const wT = b.node('Transpose', [cw], { perm: [1, 0] });
  const m1 = b.node('MatMul', [x, wT], {}, { name: 'through_transpose' });
  const half = b.initializer('w16', { type: DataType.FLOAT16, dims: [6, 3], data: Uint16Array.from(vals(18, 3).map(floatToHalf)) });
  const m2 = b.node('MatMul', [m1, b.node('Cast', [half], { to: F })], {}, { name: 'through_cast' });
  const q = b.initializer('wq', { type: DataType.INT8, dims: [3, 2], data: Int8Array.from([1, -2, 3, -4, 5, -127]) });
  const dq = b.node('DequantizeLinear', [q, b.constFloat('sc', [0.5], [])]);
  const m3 = b.node('MatMul', [m2, dq], {}, { name: 'through_dq' });
  b.output(m3);
  const graph = new Graph(b.model(13));
  assert.deepEqual(derivedConstants(graph).sort(), [wT, dq, graph.nodes.find((n) => n.opType === 'Cast')!.outputs[0]].sort());
  const folded = await foldConstants(graph, backend, [wT, dq, x]);
  assert.equal(folded.has(x), false, 'activations are skipped');
  const t = folded.get(wT)!;
  assert.deepEqual(t.dims, [4, 6]);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) assert.equal((t.data as Float32Array)[i * 6 + j], Math.fround(raw[j * 4 + i]));
  assert.deepEqual(Array.from(folded.get(dq)!.data as Float32Array), [0.5, -1, 1.5, -2, 2.5, -63.5]);
  const layers = await buildInventoryAsync(graph, backend);
  assert.deepEqual(layers.map((l) => [l.name, l.weight?.source, l.weight?.dims]), [
    ['through_transpose', 'derived', [4, 6]], ['through_cast', 'derived', [6, 3]], ['through_dq', 'derived', [3, 2]]]);
  assert.equal(layers[2].weightStats?.absMax, 63.5);
  assert.deepEqual(layers[2].weightStats?.channelAbsMax, [2.5, 63.5]);
  assert.equal(layers[0].macs, 2 * 6 * 4);
});

/** Same outputs within a relative tolerance of the largest magnitude. */
function close(a: Tensor, b: Tensor, rel = 1e-4): void {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= rel * Math.max(1, m), `[${i}] ${x[i]} vs ${y[i]}`);
}

test('foldBatchNorm: Conv (Constant-node weights, no bias), grouped ConvTranspose and Gemm(transB) give the same outputs', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 4, 5, 5]);
  const bn = (t: string, c: number, seed: number) => b.node('BatchNormalization', [t, b.constFloat('g', vals(c, seed)), b.constFloat('b', vals(c, seed + 1)),
    b.constFloat('m', vals(c, seed + 2)), b.constFloat('v', vals(c, seed + 3).map((v) => Math.abs(v) + 0.1))], { epsilon: float(1e-3) });
  const cw = b.node('Constant', [], { value: { type: F, dims: [6, 4, 3, 3], data: Float32Array.from(vals(216, 5)) } as Tensor });
  const c1 = bn(b.node('Conv', [x, cw], { pads: [1, 1, 1, 1] }, { name: 'conv' }), 6, 10);
  const ct = bn(b.node('ConvTranspose', [c1, b.constFloat('wt', vals(6 * 2 * 4, 20), [6, 2, 2, 2]), b.constFloat('bt', vals(4, 21))], { group: 2, strides: [2, 2] }, { name: 'deconv' }), 4, 30);
  const f = b.node('Flatten', [b.node('GlobalAveragePool', [ct])]);
  const gm = bn(b.node('Gemm', [f, b.constFloat('wg', vals(3 * 4, 40), [3, 4]), b.constFloat('cg', vals(3, 41))], { transB: 1, alpha: float(0.7), beta: float(1.3) }, { name: 'gemm' }), 3, 50);
  // A BN after a conv whose output is also used elsewhere must stay.
  const shared = b.node('Conv', [x, b.constFloat('ws', vals(8, 60), [2, 4, 1, 1])], {}, { name: 'shared' });
  const bnShared = bn(shared, 2, 70);
  b.output(gm); b.output(bnShared); b.output(b.node('Relu', [shared]));
  const model = b.model(13);
  const { model: foldedModel, folded } = foldBatchNormDetailed(model);
  assert.deepEqual(folded.map((f) => f.into), ['conv', 'deconv', 'gemm']);
  const g2 = new Graph(foldedModel);
  assert.equal(g2.nodes.filter((n) => n.opType === 'BatchNormalization').length, 1);
  assert.equal(g2.nodes.filter((n) => n.opType === 'Constant').length, 0, 'the replaced Constant weight is dropped');
  const feeds = { x: { type: F, dims: [1, 4, 5, 5], data: Float32Array.from(vals(100, 99)) } as Tensor };
  const [ref, got] = [await run(model, feeds), await run(foldedModel, feeds)];
  for (const k of Object.keys(ref)) close(ref[k], got[k]);
});

test('an int4 weight behind DequantizeLinear is folded to float; int4 tensors themselves are never fetched', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 4]);
  const q = b.initializer('w4', { type: DataType.INT4, dims: [4, 2], data: Uint8Array.from([0x21, 0x43, 0xf8, 0x07]) }); // 1,2,3,4,-8,-1,7,0
  const w = b.node('DequantizeLinear', [q, b.constFloat('sc', [0.25], [])]);
  const requant = b.node('QuantizeLinear', [w, b.constFloat('sc2', [0.5], []), b.initializer('zp', { type: DataType.INT4, dims: [], data: new Uint8Array([0]) })]);
  const w2 = b.node('DequantizeLinear', [requant, b.constFloat('sc3', [0.5], []), b.initializer('zp3', { type: DataType.INT4, dims: [], data: new Uint8Array([0]) })]);
  const y = b.node('MatMul', [b.node('MatMul', [x, w], {}, { name: 'mm4' }), b.node('Transpose', [w2])], {}, { name: 'mm_requant' });
  b.output(y);
  const graph = new Graph(b.model(21));
  assert.ok(!derivedConstants(graph).includes(requant));
  const folded = await foldConstants(graph, backend, [w, requant, q]);
  assert.deepEqual(Array.from(folded.get(w)!.data as Float32Array), [0.25, 0.5, 0.75, 1, -2, -0.25, 1.75, 0]);
  assert.equal(folded.has(requant), false, 'derived int4 tensor skipped');
  assert.equal(folded.get(q)?.type, DataType.INT4, 'stored int4 returned as stored, without ORT');
  const layers = await buildInventoryAsync(graph, backend);
  assert.deepEqual(layers[0].weightStats?.channelAbsMax, [2, 1]);
  assert.equal(layers[1].weight?.dims.join('x'), '2x4');
});

test('inferShapes finds an image size the model accepts when the head fixes it (Flatten + Gemm on 28x28)', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, ['N', 1, 'H', 'W']);
  const f = b.node('Flatten', [x]);
  const y = b.node('Gemm', [f, b.constFloat('w', new Float32Array(28 * 28 * 3), [28 * 28, 3])]);
  b.output(y);
  const shapes = await inferShapes(b.model(13), backend);
  assert.deepEqual(shapes.get(x), [1, 1, 28, 28]);
  assert.deepEqual(shapes.get(y), [1, 3]);
  // An explicit size is not second-guessed: the model's own error comes back.
  await assert.rejects(inferShapes(b.model(13), backend, undefined, { spatial: 30 }), /Gemm|dimension|shape/i);
});

test('inferShapes: Shape outputs match the values ORT returns, names that collide with its own are kept apart, sequences are skipped', async () => {
  // a tensor already named like the Shape output the probe adds: both must stay distinct
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 6]);
  const taken = b.node('Relu', [x], {}, { output: 'x_relu' });
  const clash = b.node('Neg', [taken], {}, { output: 'x_relu__ql_shape' });
  const m = b.node('MatMul', [clash, b.constFloat('w', vals(6 * 3, 2), [6, 3])]);
  const t = b.node('Transpose', [m], { perm: [1, 0] });
  b.output(t);
  const model = b.model(13);
  const feeds = { x: { type: F, dims: [2, 6], data: Float32Array.from(vals(12, 3)) } };
  const shapes = await inferShapes(model, backend, feeds);
  assert.deepEqual(shapes.get(taken), [2, 6]);
  assert.deepEqual(shapes.get(clash), [2, 6]);
  assert.deepEqual(shapes.get(m), [2, 3]);
  assert.deepEqual(shapes.get(t), [3, 2]);
  // a model whose values include a sequence: Shape cannot take it (and ORT cannot return it), the tensors around it get their shapes
  const s = new GraphBuilder();
  const sx = s.input('x', F, [4, 6]);
  const seq = s.node('SplitToSequence', [sx], { axis: 0, keepdims: 0 });
  const at = s.node('SequenceAt', [seq, s.initializer('i', { type: DataType.INT64, dims: [], data: new BigInt64Array([1n]) })]);
  const y = s.node('Relu', [at]);
  s.output(y);
  const seqShapes = await inferShapes(s.model(13), backend, { x: { type: F, dims: [4, 6], data: Float32Array.from(vals(24, 4)) } });
  assert.deepEqual(seqShapes.get(at), [6]);
  assert.deepEqual(seqShapes.get(y), [6]);
  assert.equal(seqShapes.has(seq), false);
});
