// Layer inventory on tiny hand-built graphs: each layer kind, channel/reduction axes, Gemm transB, depthwise
// detection, weights through Constant nodes and derived tensors, and MACs computed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventory } from '../../src/core/onnx/inventory';
import { DataType } from '../../src/core/onnx/proto';
import { Tensor } from '../../src/core/onnx/tensor-data';

const F = DataType.FLOAT;
const ramp = (n: number, scale = 0.01) => Array.from({ length: n }, (_, i) => ((i * 37) % 101 - 50) * scale);
const byName = (layers: ReturnType<typeof buildInventory>, name: string) => {
  const l = layers.find((x) => x.name === name);
  assert.ok(l, `layer ${name} missing; have ${layers.map((x) => x.name).join(', ')}`);
  return l;
};

test('Conv, depthwise Conv, grouped Conv and ConvTranspose: kinds, axes, params, MACs', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 4, 8, 8]);
  const w1 = b.constFloat('w1', ramp(8 * 4 * 3 * 3), [8, 4, 3, 3]);
  const bias1 = b.constFloat('b1', ramp(8), [8]);
  const c1 = b.node('Conv', [x, w1, bias1], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const wd = b.constFloat('wd', ramp(8 * 9), [8, 1, 3, 3]);
  const c2 = b.node('Conv', [c1, wd], { group: 8, pads: [1, 1, 1, 1], strides: [2, 2] }, { name: 'dw' });
  const wg = b.constFloat('wg', ramp(8 * 4), [8, 4, 1, 1]);
  const c3 = b.node('Conv', [c2, wg], { group: 2 }, { name: 'grouped' });
  const wt = b.constFloat('wt', ramp(8 * 3 * 2 * 2), [8, 3, 2, 2]);
  const y = b.node('ConvTranspose', [c3, wt], { strides: [2, 2] }, { name: 'deconv' });
  b.output(y);
  const graph = new Graph(b.model(13));
  const shapes = new Map<string, number[]>([[x, [1, 4, 8, 8]], [c1, [1, 8, 8, 8]], [c2, [1, 8, 4, 4]], [c3, [1, 8, 4, 4]], [y, [1, 3, 8, 8]]]);
  const layers = buildInventory(graph, { shapes });
  assert.deepEqual(layers.map((l) => l.kind), ['conv', 'depthwise-conv', 'conv', 'conv-transpose']);
  const conv = byName(layers, 'conv');
  assert.deepEqual([conv.weight?.channelAxis, conv.weight?.reductionAxis], [0, 1]);
  assert.equal(conv.bias, bias1);
  assert.deepEqual(conv.activationInputs, [x]);
  assert.equal(conv.params, 8 * 4 * 9);
  assert.equal(conv.macs, 8 * 8 * 8 * 4 * 9); // Cout*H*W * Cin*kh*kw
  assert.equal(conv.weight?.source, 'initializer');
  assert.equal(byName(layers, 'dw').macs, 8 * 4 * 4 * 9);
  assert.equal(byName(layers, 'grouped').macs, 8 * 4 * 4 * 4); // Cin/group = 4 per output channel
  const deconv = byName(layers, 'deconv');
  assert.deepEqual([deconv.weight?.channelAxis, deconv.weight?.reductionAxis], [1, 0]);
  assert.equal(deconv.macs, 8 * 4 * 4 * 3 * 4); // every input element scatters Cout*kh*kw products
  assert.equal(deconv.weightStats?.channelAbsMax.length, 3);
});

test('Gemm respects transB; bias recorded', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 6]);
  const w0 = b.constFloat('w0', ramp(6 * 5), [6, 5]);
  const g0 = b.node('Gemm', [x, w0], {}, { name: 'gemm_kn' });
  const w1 = b.constFloat('w1', ramp(4 * 5), [4, 5]);
  const bias = b.constFloat('bias', ramp(4), [4]);
  const g1 = b.node('Gemm', [g0, w1, bias], { transB: 1 }, { name: 'gemm_nk' });
  b.output(g1);
  const shapes = new Map([[x, [2, 6]], [g0, [2, 5]], [g1, [2, 4]]]);
  const layers = buildInventory(new Graph(b.model(13)), { shapes });
  const kn = byName(layers, 'gemm_kn'), nk = byName(layers, 'gemm_nk');
  assert.deepEqual([kn.kind, kn.weight?.channelAxis, kn.weight?.reductionAxis], ['gemm', 1, 0]);
  assert.deepEqual([nk.kind, nk.weight?.channelAxis, nk.weight?.reductionAxis], ['gemm', 0, 1]);
  assert.equal(nk.bias, bias);
  assert.equal(kn.weightStats?.channelAbsMax.length, 5);
  assert.equal(nk.weightStats?.channelAbsMax.length, 4);
  assert.equal(kn.macs, 2 * 5 * 6);
  assert.equal(nk.macs, 2 * 4 * 5);
});

test('MatMul: constant right or left operand, two activations, and a weight reached through Constant → Transpose', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [3, 4, 8]);
  const w = b.constFloat('w', ramp(8 * 16), [8, 16]);
  const m1 = b.node('MatMul', [x, w], {}, { name: 'mm_right' });
  const wl = b.constFloat('wl', ramp(5 * 4), [5, 4]);
  const m2 = b.node('MatMul', [wl, m1], {}, { name: 'mm_left' }); // [5,4] x [3,4,16] -> [3,5,16]
  const mt = b.node('Transpose', [m2], { perm: [0, 2, 1] }); // [3,16,5]
  const m3 = b.node('MatMul', [mt, m2], {}, { name: 'mm_act' }); // [3,16,5] x [3,5,16] -> [3,16,16]
  // A weight stored in a Constant node, transposed by the graph before use.
  const cw = b.node('Constant', [], { value: { type: F, dims: [16, 2], data: Float32Array.from(ramp(32)) } as Tensor }, { name: 'const_w' });
  const wT = b.node('Transpose', [cw], { perm: [1, 0] }, { name: 'wT' });
  const m4 = b.node('MatMul', [m3, b.node('Transpose', [wT], { perm: [1, 0] })], {}, { name: 'mm_derived' });
  const cw2 = b.node('Constant', [], { value: { type: F, dims: [2, 3], data: Float32Array.from(ramp(6)) } as Tensor });
  const m5 = b.node('MatMul', [m4, cw2], {}, { name: 'mm_constnode' });
  b.output(m5);
  const graph = new Graph(b.model(13));
  const shapes = new Map([[x, [3, 4, 8]], [m1, [3, 4, 16]], [m2, [3, 5, 16]], [mt, [3, 16, 5]], [m3, [3, 16, 16]], [m4, [3, 16, 2]], [m5, [3, 16, 3]]]);
  const layers = buildInventory(graph, { shapes });
  assert.deepEqual(layers.map((l) => l.kind), ['matmul', 'matmul', 'matmul-activations', 'matmul', 'matmul']);
  const right = byName(layers, 'mm_right');
  assert.deepEqual([right.weight?.channelAxis, right.weight?.reductionAxis], [1, 0]);
  assert.equal(right.macs, 3 * 4 * 16 * 8);
  const left = byName(layers, 'mm_left');
  assert.deepEqual([left.weight?.channelAxis, left.weight?.reductionAxis], [0, 1]);
  assert.deepEqual(left.activationInputs, [m1]);
  const act = byName(layers, 'mm_act');
  assert.deepEqual(act.activationInputs, [mt, m2]);
  assert.equal(act.weight, undefined);
  assert.equal(act.macs, 3 * 16 * 16 * 5);
  const derived = byName(layers, 'mm_derived');
  assert.equal(derived.weight?.source, 'derived');
  assert.equal(derived.weightStats, undefined, 'no stats without folded values');
  assert.equal(byName(layers, 'mm_constnode').weight?.source, 'constant-node');
  assert.deepEqual(byName(layers, 'mm_constnode').weight?.dims, [2, 3]);
  // With the folded value supplied, the derived weight gets dims and stats.
  const folded = new Map<string, Tensor>([[derived.weight!.tensor, { type: F, dims: [16, 2], data: Float32Array.from(ramp(32)) }]]);
  const again = byName(buildInventory(graph, { shapes, constants: folded }), 'mm_derived');
  assert.deepEqual(again.weight?.dims, [16, 2]);
  assert.equal(again.params, 32);
  assert.equal(again.weightStats?.channelAbsMax.length, 2);
});

test('Gather on a constant float table is an embedding; on an int table or with constant indices it is not', () => {
  const b = new GraphBuilder();
  const ids = b.input('ids', DataType.INT64, [1, 7]);
  const table = b.constFloat('table', ramp(10 * 4), [10, 4]);
  const e = b.node('Gather', [table, ids], {}, { name: 'embed' });
  const intTable = b.initializer('itable', { type: DataType.INT64, dims: [10, 2], data: new BigInt64Array(20) });
  const g2 = b.node('Gather', [intTable, ids], {}, { name: 'int_gather' });
  const constIdx = b.constInt64('idx', [1, 2]);
  const g3 = b.node('Gather', [table, constIdx], {}, { name: 'const_gather' });
  b.output(e); b.output(g2, DataType.INT64); b.output(g3);
  const layers = buildInventory(new Graph(b.model(13)));
  assert.deepEqual(layers.map((l) => [l.name, l.kind]), [['embed', 'embedding']]);
  const emb = layers[0];
  assert.deepEqual(emb.activationInputs, []);
  assert.deepEqual([emb.weight?.channelAxis, emb.weight?.reductionAxis], [0, 1]);
  assert.equal(emb.params, 40);
});

test('MACs are undefined without shapes; stats can be turned off; non-default domains are ignored', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 8]);
  const w = b.constFloat('w', ramp(8 * 8), [8, 8]);
  const y = b.node('MatMul', [x, w]);
  const z = b.node('MatMul', [y, w], {}, { domain: 'com.example' });
  b.output(z);
  const graph = new Graph(b.model(13, [{ domain: 'com.example', version: 1 }]));
  const layers = buildInventory(graph, { stats: false });
  assert.equal(layers.length, 1);
  assert.equal(layers[0].macs, undefined);
  assert.equal(layers[0].weightStats, undefined);
  assert.equal(layers[0].params, 64);
});

test('MACs are per sample when the shapes were taken at a batch of several samples on a dynamic batch dim', () => {
  const mk = (batchDim: number | string) => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [batchDim, 8]);
    const y = b.node('MatMul', [x, b.constFloat('w', ramp(8 * 4), [8, 4])]);
    b.output(y);
    return { graph: new Graph(b.model(13)), x, y };
  };
  const dyn = mk('N');
  const shapes = new Map([[dyn.x, [5, 8]], [dyn.y, [5, 4]]]);
  assert.equal(buildInventory(dyn.graph, { shapes })[0].macs, 8 * 4);
  const fixed = mk(5); // a fixed first dim is not taken for a batch
  assert.equal(buildInventory(fixed.graph, { shapes: new Map([[fixed.x, [5, 8]], [fixed.y, [5, 4]]]) })[0].macs, 5 * 8 * 4);
});

test('Einsum that is a matrix product with a constant operand is a matmul layer; other Einsums are not layers', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 3, 4]);
  const e1 = b.node('Einsum', [x, b.constFloat('w1', ramp(4 * 5), [4, 5])], { equation: 'bti,io->bto' }, { name: 'right' });
  const e2 = b.node('Einsum', [b.constFloat('w2', ramp(6 * 5), [6, 5]), e1], { equation: 'oi, bti -> bto' }, { name: 'left' });
  const e3 = b.node('Einsum', [e2, b.constFloat('w3', ramp(2 * 6 * 6), [2, 6, 6])], { equation: 'bij,bjk->bik' }, { name: 'batched_weight' });
  const e4 = b.node('Einsum', [e3, e3], { equation: 'bij,bkj->bik' }, { name: 'two_activations' });
  b.output(e4);
  const shapes = new Map([[x, [2, 3, 4]], [e1, [2, 3, 5]], [e2, [2, 3, 6]], [e3, [2, 3, 6]]]);
  const layers = buildInventory(new Graph(b.model(13)), { shapes });
  assert.deepEqual(layers.map((l) => [l.name, l.kind, l.weight?.channelAxis, l.weight?.reductionAxis]), [['right', 'matmul', 1, 0], ['left', 'matmul', 0, 1]]);
  assert.equal(layers[0].macs, 2 * 3 * 4 * 5);
  assert.equal(layers[1].macs, 2 * 3 * 5 * 6);
  assert.deepEqual(layers[1].activationInputs, [e1]);
  assert.equal(layers[1].weightStats?.channelAbsMax.length, 6);
});
