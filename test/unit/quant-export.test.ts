// QDQ export and fake-quant model structure (no runtime): what is stored, rewired, kept and dropped; opset choice; plan building.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto, ModelProto, NodeProto } from '../../src/core/onnx/proto';
import { QuantLayer } from '../../src/core/onnx/layer';
import { isQuantLensError } from '../../src/core/errors';
import { mustParseFormat } from '../../src/shared/formats';
import { exportQdq, opsetFor, QuantPlan } from '../../src/core/quant/qdq-export';
import { buildFakeQuantModel } from '../../src/core/quant/fake-quant-model';
import { buildPlan } from '../../src/core/quant/plan';
import { tensorFromProto, unpackInt4 } from '../../src/core/onnx/tensor-data';

/** x → MatMul(w) → y1, and w also used by an Add the plan does not touch (y2 = w + w). */
function model(opts: { opset?: number; constantNode?: boolean; sharedWeight?: boolean; initializerAsInput?: boolean } = {}): ModelProto {
  const g = new GraphBuilder('m');
  g.input('x', DataType.FLOAT, [2, 4]);
  const data = Float32Array.from({ length: 12 }, (_, i) => (i - 5) / 4);
  const w = opts.constantNode
    ? g.node('Constant', [], { value: { type: DataType.FLOAT, dims: [4, 3], data } }, { output: 'w', name: 'w_const' })
    : g.initializer('w', { type: DataType.FLOAT, dims: [4, 3], data });
  g.node('MatMul', ['x', w], {}, { name: 'mm', output: 'y1' });
  g.output('y1', DataType.FLOAT, [2, 3]);
  if (opts.sharedWeight) {
    g.node('Add', [w, w], {}, { name: 'other', output: 'y2' });
    g.output('y2', DataType.FLOAT, [4, 3]);
  }
  const m = g.model(opts.opset ?? 13);
  if (opts.initializerAsInput) m.graph!.input!.push({ name: 'w', type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_value: 4 }, { dim_value: 3 }] } } } });
  return m;
}

const plan = (w: string, a: string): QuantPlan => [{ node: 'mm', weight: { tensor: 'w', format: mustParseFormat(w), channelAxis: 1, reductionAxis: 0 }, activations: a === 'float' ? [] : [{ tensor: 'x', format: mustParseFormat(a) }] }];
const ranges = new Map([['x', { min: -1, max: 3 }]]);
const nodesOf = (m: ModelProto, op: string): NodeProto[] => (m.graph!.node ?? []).filter((n) => n.op_type === op);
const opsetOf = (m: ModelProto) => m.opset_import!.find((o) => !o.domain)!.version;

test('int8 per-channel weight: quantized initializer + DequantizeLinear(axis); activation Q/DQ; input untouched', () => {
  const m = model();
  const before = Buffer.from(encodeModelProto(m));
  const q = exportQdq(m, plan('int8/per-channel', 'uint8'), ranges);
  assert.ok(before.equals(Buffer.from(encodeModelProto(m))), 'input model unchanged');
  const inits = new Map((q.graph!.initializer ?? []).map((t) => [t.name, t]));
  assert.ok(!inits.has('w'), 'the float weight is dropped when nothing else uses it');
  assert.equal(inits.get('w_quantized')!.data_type, DataType.INT8);
  assert.deepEqual(inits.get('w_scale')!.dims, [3]);
  const dq = nodesOf(q, 'DequantizeLinear');
  assert.equal(dq.length, 2);
  const wdq = dq.find((n) => n.input![0] === 'w_quantized')!;
  assert.deepEqual(wdq.attribute!.map((a) => [a.name, a.i]), [['axis', 1]]);
  const mm = nodesOf(q, 'MatMul')[0];
  assert.deepEqual(mm.input, ['x_DequantizeLinear_Output', 'w_DequantizeLinear_Output']);
  assert.equal(nodesOf(q, 'QuantizeLinear').length, 1);
  assert.equal(opsetOf(q), 13);
  // nodes stay in topological order: every input is produced earlier or is a graph input / initializer
  const have = new Set<string>(['x', ...[...inits.keys()].map(String)]);
  for (const n of q.graph!.node!) { for (const i of n.input!) assert.ok(have.has(i), `${i} available before ${n.name}`); for (const o of n.output!) have.add(o); }
});

test('a weight still used by another node is kept; a Constant-node weight is dropped when unused', () => {
  const shared = exportQdq(model({ sharedWeight: true }), plan('int8', 'float'), ranges);
  assert.ok(shared.graph!.initializer!.some((t) => t.name === 'w'));
  assert.deepEqual(nodesOf(shared, 'Add')[0].input, ['w', 'w']);
  const constant = exportQdq(model({ constantNode: true }), plan('int8', 'float'), ranges);
  assert.equal(nodesOf(constant, 'Constant').length, 0);
  const constShared = exportQdq(model({ constantNode: true, sharedWeight: true }), plan('int8', 'float'), ranges);
  assert.equal(nodesOf(constShared, 'Constant').length, 1);
  const fake = buildFakeQuantModel(model({ constantNode: true, sharedWeight: true }), plan('int8', 'float'), ranges);
  assert.equal(nodesOf(fake, 'Constant').length, 1);
  assert.deepEqual(nodesOf(fake, 'MatMul')[0].input, ['x', 'w_fakequant']);
});

test('old IR models listing initializers as graph inputs lose the dropped weight from the inputs too', () => {
  const q = exportQdq(model({ initializerAsInput: true }), plan('int8', 'float'), ranges);
  assert.ok(!q.graph!.input!.some((i) => i.name === 'w'));
});

test('int4 weights are packed two per byte; opset and IR are raised to 21 / 10', () => {
  const q = exportQdq(model(), plan('int4/block:2', 'float'), ranges);
  const t = q.graph!.initializer!.find((i) => i.name === 'w_quantized')!;
  assert.equal(t.data_type, DataType.INT4);
  assert.equal(t.raw_data!.byteLength, 6);
  const vals = unpackInt4(t.raw_data!, 12, true);
  assert.ok(vals.some((v) => v < 0) && vals.every((v) => v >= -8 && v <= 7));
  const scale = tensorFromProto(q.graph!.initializer!.find((i) => i.name === 'w_scale')!);
  assert.deepEqual(scale.dims, [2, 3]);
  const dq = nodesOf(q, 'DequantizeLinear')[0];
  assert.deepEqual(dq.attribute!.map((a) => [a.name, a.i]).sort(), [['axis', 0], ['block_size', 2]]);
  assert.equal(opsetOf(q), 21);
  assert.ok(q.ir_version! >= 10);
});

test('opsetFor: per-axis int8 13, int16 / int4 / blocked 21, bfloat16 13, float8 19', () => {
  assert.equal(opsetFor(mustParseFormat('int8/per-channel')), 13);
  assert.equal(opsetFor(mustParseFormat('uint8')), 13);
  assert.equal(opsetFor(mustParseFormat('int16')), 21);
  assert.equal(opsetFor(mustParseFormat('int4')), 21);
  assert.equal(opsetFor(mustParseFormat('int8/block:32')), 21);
  assert.equal(opsetFor(mustParseFormat('int6')), 13);
  assert.equal(opsetFor(mustParseFormat('bfloat16')), 13);
  assert.equal(opsetFor(mustParseFormat('float8e4m3')), 19);
  assert.equal(opsetFor(mustParseFormat('float')), 1);
});

test('float16 weights are stored as float16 and cast back; float activations are left alone', () => {
  const q = exportQdq(model(), plan('float16', 'float'), ranges);
  const t = q.graph!.initializer!.find((i) => i.data_type === DataType.FLOAT16)!;
  assert.equal(t.raw_data!.byteLength, 24);
  assert.equal(nodesOf(q, 'Cast').length, 1);
  assert.equal(nodesOf(q, 'QuantizeLinear').length, 0);
});

test('int6 activations get a Clip after DequantizeLinear; the fake-quant model uses Div/Clip/Round/Mul', () => {
  const q = exportQdq(model(), plan('int8', 'int6'), ranges);
  const clip = nodesOf(q, 'Clip')[0];
  assert.equal(clip.input![0], 'x_DequantizeLinear_Output');
  const fake = buildFakeQuantModel(model(), plan('int8', 'int6'), ranges);
  assert.deepEqual(fake.graph!.node!.map((n) => n.op_type), ['Div', 'Clip', 'Round', 'Mul', 'MatMul']);
  const old = buildFakeQuantModel(model({ opset: 9 }), plan('int8', 'uint8'), ranges);
  assert.deepEqual(old.graph!.node!.map((n) => n.op_type), ['Div', 'Clip', 'Add', 'Sub', 'Mul', 'MatMul']);
  assert.equal(opsetOf(old), 9);
});

test('bad plans: unknown node, missing range, per-channel activations → QuantLensError', () => {
  const bad = (f: () => unknown, code: string) => assert.throws(f, (e: unknown) => isQuantLensError(e) && (e as { code: string }).code === code);
  bad(() => exportQdq(model(), [{ node: 'nope', activations: [] }], ranges), 'plan-unknown-node');
  bad(() => exportQdq(model(), plan('int8', 'uint8'), new Map()), 'plan-missing-range');
  bad(() => exportQdq(model(), plan('int8', 'int8/per-channel'), ranges), 'plan-activation-granularity');
});

const layers: QuantLayer[] = [
  { name: '/conv1/Conv', opType: 'Conv', kind: 'conv', nodeIndex: 0, activationInputs: ['x'], weight: { tensor: 'w1', dims: [8, 3, 3, 3], channelAxis: 0, reductionAxis: 1, source: 'initializer' }, outputs: ['c1'], params: 216 },
  { name: '/fc/Gemm', opType: 'Gemm', kind: 'gemm', nodeIndex: 5, activationInputs: ['f'], weight: { tensor: 'w2', dims: [10, 8], channelAxis: 0, reductionAxis: 1, source: 'constant-node' }, outputs: ['y'], params: 80 },
  { name: '/attn/MatMul', opType: 'MatMul', kind: 'matmul-activations', nodeIndex: 6, activationInputs: ['q', 'k'], outputs: ['s'], params: 0 },
];

test('buildPlan applies defaults and overrides, skips float layers, fixes QAT scales', () => {
  const p = buildPlan(layers, {
    defaults: { weights: 'int4/per-channel', activations: 'uint8', calibration: 'percentile:99.9' },
    layers: { '/fc/Gemm': { weights: 'int8/per-channel', activations: 'int16', scales: { w2: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] } }, '/attn/MatMul': 'float' },
  });
  assert.equal(p.length, 2);
  assert.equal(p[0].node, '/conv1/Conv');
  assert.deepEqual(p[0].weight!.format, mustParseFormat('int4/per-channel'));
  assert.deepEqual(p[0].activations, [{ tensor: 'x', format: mustParseFormat('uint8'), calibration: { method: 'percentile', percentile: 99.9 }, params: undefined }]);
  assert.deepEqual(p[1].weight!.format, mustParseFormat('int8/per-channel'));
  assert.equal(p[1].weight!.params!.scale.length, 10);
  assert.equal(p[1].weight!.params!.axis, 0);
  assert.deepEqual(p[1].activations[0].format, mustParseFormat('int16'));
  const both = buildPlan(layers, { defaults: {}, layers: {} });
  assert.deepEqual(both[2].activations.map((a) => a.tensor), ['q', 'k']);
  assert.equal(both[2].weight, undefined);
});

test('buildPlan rejects unknown layer names (listing them with the nearest names) and bad formats', () => {
  assert.throws(() => buildPlan(layers, { defaults: {}, layers: { '/conv1/Cnv': 'float', '/fc/Gem': 'float' } }), (e: unknown) => {
    assert.ok(isQuantLensError(e));
    assert.match((e as Error).message, /'\/conv1\/Cnv' \(did you mean '\/conv1\/Conv'\?\)/);
    assert.match((e as Error).message, /'\/fc\/Gem'/);
    return true;
  });
  assert.throws(() => buildPlan(layers, { defaults: { weights: 'int33' }, layers: {} }), /int33/);
  assert.throws(() => buildPlan(layers, { defaults: { activations: 'int8/per-channel' }, layers: {} }), /per tensor/);
  assert.throws(() => buildPlan(layers, { defaults: { calibration: 'magic' }, layers: {} }), /calibration/);
});

test('blocked conv weights are stored as the 2-D view and reshaped back after DequantizeLinear', () => {
  const g = new GraphBuilder('c');
  g.input('x', DataType.FLOAT, [1, 4, 5, 5]);
  const w = g.initializer('w', { type: DataType.FLOAT, dims: [4, 1, 3, 3], data: Float32Array.from({ length: 36 }, (_, i) => Math.cos(i)) });
  g.node('Conv', ['x', w], { group: 4, kernel_shape: [3, 3] }, { name: 'dw', output: 'y' });
  g.output('y', DataType.FLOAT);
  const q = exportQdq(g.model(13), [{ node: 'dw', weight: { tensor: 'w', format: mustParseFormat('int4/block:32'), channelAxis: 0, reductionAxis: 1 }, activations: [] }], new Map());
  assert.deepEqual(q.graph!.initializer!.find((t) => t.name === 'w_quantized')!.dims, [4, 9]);
  assert.deepEqual(q.graph!.initializer!.find((t) => t.name === 'w_scale')!.dims, [4, 1]);
  assert.deepEqual(q.graph!.node!.map((n) => n.op_type), ['DequantizeLinear', 'Reshape', 'Conv']);
});

test('derived weights: an error without their value; with it, the now-dead constant subgraph is pruned', () => {
  const g = new GraphBuilder('d');
  g.input('x', DataType.FLOAT, [2, 4]);
  const wt = g.node('Constant', [], { value: { type: DataType.FLOAT, dims: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7 - 0.8) } }, { output: 'wt', name: 'wt_const' });
  const w = g.node('Transpose', [wt], { perm: [1, 0] }, { output: 'w', name: 'transpose' });
  g.node('MatMul', ['x', w], {}, { name: 'mm', output: 'y' });
  g.output('y', DataType.FLOAT);
  const m = g.model(13);
  const p = plan('int8/per-channel', 'float');
  assert.throws(() => exportQdq(m, p, ranges), (e: unknown) => isQuantLensError(e) && (e as { code: string }).code === 'weight-derived');
  const value = Float32Array.from({ length: 12 }, (_, i) => ((i % 3) * 4 + Math.floor(i / 3)) / 7 - 0.8);
  const q = exportQdq(m, p, ranges, { weightValues: new Map([['w', { type: DataType.FLOAT, dims: [4, 3], data: value }]]) });
  assert.deepEqual(q.graph!.node!.map((n) => n.op_type), ['DequantizeLinear', 'MatMul']);
  const fake = buildFakeQuantModel(m, p, ranges, { weightValues: new Map([['w', { type: DataType.FLOAT, dims: [4, 3], data: value }]]) });
  assert.deepEqual(fake.graph!.node!.map((n) => n.op_type), ['MatMul']);
});

test('one Q/DQ pair per (tensor, format), shared by the planned consumers; unplanned consumers keep the float tensor', () => {
  const g = new GraphBuilder('s');
  g.input('x', DataType.FLOAT, [2, 4]);
  for (const k of [1, 2, 3, 4]) {
    const w = g.initializer(`w${k}`, { type: DataType.FLOAT, dims: [4, 3], data: Float32Array.from({ length: 12 }, (_, i) => (i - k) / 5) });
    g.node('MatMul', ['x', w], {}, { name: `mm${k}`, output: `y${k}` });
    g.output(`y${k}`, DataType.FLOAT);
  }
  const layer = (k: number, a: string) => ({ node: `mm${k}`, activations: [{ tensor: 'x', format: mustParseFormat(a) }] });
  const q = exportQdq(g.model(21), [layer(1, 'uint8'), layer(2, 'uint8'), layer(3, 'int16')], ranges);
  assert.equal(nodesOf(q, 'QuantizeLinear').length, 2);
  const mm = nodesOf(q, 'MatMul').map((n) => n.input![0]);
  assert.equal(mm[0], mm[1]);
  assert.notEqual(mm[0], mm[2]);
  assert.equal(mm[3], 'x');
});

test('a weight read inside a subgraph (If branch) is kept', () => {
  const m = model();
  const branch = { name: 'then', node: [{ op_type: 'Identity', input: ['w'], output: ['t_out'], name: 'id' }], output: [{ name: 't_out', type: { tensor_type: { elem_type: DataType.FLOAT } } }] };
  m.graph!.input!.push({ name: 'cond', type: { tensor_type: { elem_type: DataType.BOOL, shape: { dim: [] } } } });
  m.graph!.node!.push({ op_type: 'If', input: ['cond'], output: ['z'], name: 'if', attribute: [{ name: 'then_branch', type: 5, g: branch }, { name: 'else_branch', type: 5, g: branch }] });
  const q = exportQdq(m, plan('int8', 'float'), ranges);
  assert.ok(q.graph!.initializer!.some((t) => t.name === 'w'));
});

test('float16 weights or activations of the model itself are refused with a clear error', () => {
  const g = new GraphBuilder('h');
  g.input('x', DataType.FLOAT16, [2, 4]);
  const w = g.initializer('w', { type: DataType.FLOAT16, dims: [4, 3], data: new Uint16Array(12).fill(0x3c00) });
  g.node('MatMul', ['x', w], {}, { name: 'mm', output: 'y1' });
  g.output('y1', DataType.FLOAT16);
  const code = (c: string) => (e: unknown) => isQuantLensError(e) && (e as { code: string }).code === c;
  assert.throws(() => exportQdq(g.model(13), plan('int8', 'float'), ranges), code('unsupported-weight-type'));
  assert.throws(() => buildFakeQuantModel(g.model(13), [{ node: 'mm', activations: [{ tensor: 'x', format: mustParseFormat('uint8') }] }], ranges), code('unsupported-activation-type'));
});

test('buildPlan checks fixed scales: known tensors, one per channel, positive', () => {
  const bad = (scales: Record<string, number | number[]>) => assert.throws(
    () => buildPlan(layers, { defaults: {}, layers: { '/fc/Gemm': { weights: 'int8/per-channel', scales } } }),
    (e: unknown) => isQuantLensError(e) && (e as { code: string }).code === 'recipe-bad-scales');
  bad({ nope: 1 });
  bad({ w2: [1, 2, 3] });
  bad({ w2: -1 });
  const ok = buildPlan(layers, { defaults: {}, layers: { '/fc/Gemm': { weights: 'int8', scales: { w2: 0.05, f: 0.1 } } } });
  assert.equal(ok[1].weight!.params!.scale[0], Math.fround(0.05));
  assert.equal(ok[1].activations[0].params!.scale[0], Math.fround(0.1));
});

test('buildPlan takes fixed blocked scales in the exporter layout (conv: [O, ceil(I*k*k / block)])', () => {
  const p = buildPlan(layers, { defaults: {}, layers: { '/conv1/Conv': { weights: 'int4/block:16', scales: { w1: Array.from({ length: 16 }, (_, i) => 0.01 * (i + 1)) } } } });
  const params = p[0].weight!.params!;
  assert.equal(params.blockSize, 16);
  assert.equal(params.axis, 1);
  assert.deepEqual([params.qmin, params.qmax], [-8, 7]);
  assert.throws(() => buildPlan(layers, { defaults: {}, layers: { '/conv1/Conv': { weights: 'int4/block:16', scales: { w1: [1, 2] } } } }), /one per block \(16\)/);
});

test('plans naming unnamed nodes (generated names) still resolve after the opset upgrade', () => {
  const m = model({ opset: 11 });
  for (const n of m.graph!.node!) n.name = '';
  const p: QuantPlan = [{ node: 'MatMul:y1', weight: { tensor: 'w', format: mustParseFormat('int4/per-channel'), channelAxis: 1, reductionAxis: 0 }, activations: [{ tensor: 'x', format: mustParseFormat('int16') }] }];
  const q = exportQdq(m, p, ranges);
  assert.equal(opsetOf(q), 21);
  assert.deepEqual(nodesOf(q, 'MatMul')[0].input, ['x_DequantizeLinear_Output', 'w_DequantizeLinear_Output']);
});
