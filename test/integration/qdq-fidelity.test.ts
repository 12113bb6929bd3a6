// Exported QDQ models run in ONNX Runtime give the same outputs as the core's fake-quant simulation.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, decodeModelProto, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { FORMAT_EXAMPLES, mustParseFormat } from '../../src/shared/formats';
import { createCalibrator } from '../../src/core/quant/calibrate';
import { exportQdq, QuantPlan, RangeMap } from '../../src/core/quant/qdq-export';
import { buildFakeQuantModel } from '../../src/core/quant/fake-quant-model';
import { cpuHasVnni, fidelityWarnings, FidelityWarning } from '../../src/core/quant/ort-fidelity';
import { QuantLayer } from '../../src/core/onnx/layer';
import { mulberry32 } from '../../src/core/data/synthetic';

const rng = mulberry32;

function randn(r: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * std;
  return out;
}

/** A small CNN: Conv 3→8 (3x3) + Relu, Conv 8→16 (3x3, stride 2) + Relu, GlobalAveragePool, Flatten, Gemm 16→10. */
function cnn(opset: number, seed = 1, constantNodes = false): { model: ModelProto; input: number[] } {
  const r = rng(seed);
  const g = new GraphBuilder('cnn');
  const input = [2, 3, 16, 16];
  g.input('x', DataType.FLOAT, input);
  const weight = (name: string, dims: number[], std: number): string => {
    const data = randn(r, dims.reduce((a, b) => a * b, 1), std);
    // one channel much wider than the rest, as in real models
    for (let i = 0; i < data.length / dims[0]; i++) data[i] *= 6;
    if (!constantNodes) return g.initializer(name, { type: DataType.FLOAT, dims, data });
    return g.node('Constant', [], { value: { type: DataType.FLOAT, dims, data } }, { output: name, name: `${name}_const` });
  };
  const w1 = weight('w1', [8, 3, 3, 3], 0.3);
  const b1 = g.constFloat('b1', randn(r, 8, 0.1));
  const c1 = g.node('Conv', ['x', w1, b1], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'conv1', output: 'c1' });
  const r1 = g.node('Relu', [c1], {}, { name: 'relu1', output: 'r1' });
  const w2 = weight('w2', [16, 8, 3, 3], 0.15);
  const c2 = g.node('Conv', [r1, w2], { pads: [1, 1, 1, 1], strides: [2, 2], kernel_shape: [3, 3] }, { name: 'conv2', output: 'c2' });
  const r2 = g.node('Relu', [c2], {}, { name: 'relu2', output: 'r2' });
  const p = g.node('GlobalAveragePool', [r2], {}, { name: 'gap', output: 'p' });
  const f = g.node('Flatten', [p], { axis: 1 }, { name: 'flatten', output: 'f' });
  const w3 = weight('w3', [10, 16], 0.3);
  const b3 = g.constFloat('b3', randn(r, 10, 0.1));
  g.node('Gemm', [f, w3, b3], { transB: 1 }, { name: 'fc', output: 'y' });
  g.output('y', DataType.FLOAT, [2, 10]);
  return { model: g.model(opset), input };
}

/** A small MLP: MatMul 64→48 + Add + Relu, MatMul 48→10 (weights [K, N]). */
function mlp(opset: number, seed = 2): { model: ModelProto; input: number[] } {
  const r = rng(seed);
  const g = new GraphBuilder('mlp');
  const input = [8, 64];
  g.input('x', DataType.FLOAT, input);
  const w1 = g.initializer('w1', { type: DataType.FLOAT, dims: [64, 48], data: randn(r, 64 * 48, 0.2) });
  const m1 = g.node('MatMul', ['x', w1], {}, { name: 'mm1', output: 'm1' });
  const a1 = g.node('Add', [m1, g.constFloat('b1', randn(r, 48, 0.1))], {}, { name: 'add1', output: 'a1' });
  const h = g.node('Relu', [a1], {}, { name: 'relu', output: 'h' });
  const w2 = g.initializer('w2', { type: DataType.FLOAT, dims: [48, 10], data: randn(r, 480, 0.3) });
  g.node('MatMul', [h, w2], {}, { name: 'mm2', output: 'y' });
  g.output('y', DataType.FLOAT, [8, 10]);
  return { model: g.model(opset), input };
}

function feed(dims: number[], seed: number): Record<string, Tensor> {
  const r = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { x: { type: DataType.FLOAT, dims, data: randn(r, n, 1) } };
}

/** Min-max ranges of `tensors`, captured by running the float model with them as extra outputs. */
async function calibrate(model: ModelProto, tensors: string[], feeds: Record<string, Tensor>[]): Promise<RangeMap> {
  const withOutputs: ModelProto = {
    ...model,
    graph: { ...model.graph, output: [...(model.graph!.output ?? []), ...tensors.filter((t) => t !== 'x').map((name) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT } } }))] },
  };
  const s = await ortBackend().createSession(encodeModelProto(withOutputs), { optimization: 'disabled', threads: 1 });
  const cals = new Map(tensors.map((t) => [t, createCalibrator({ method: 'minmax' }, mustParseFormat('uint8'))]));
  try {
    for (const f of feeds) {
      const out = await s.run(f, tensors.filter((t) => t !== 'x'));
      for (const t of tensors) cals.get(t)!.observe((t === 'x' ? f.x.data : out[t].data) as Float32Array);
    }
  } finally {
    await s.release();
  }
  return new Map([...cals].map(([t, c]) => [t, c.range()]));
}

async function runModel(model: ModelProto, f: Record<string, Tensor>, optimization: 'disabled' | 'all', optimizedModelPath?: string): Promise<Float32Array> {
  const s = await ortBackend().createSession(encodeModelProto(model), { optimization, threads: 1, optimizedModelPath });
  try {
    return (await s.run(f, ['y'])).y.data as Float32Array;
  } finally {
    await s.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function span(a: Float32Array): number {
  let lo = Infinity, hi = -Infinity;
  for (const v of a) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return hi - lo;
}

function opTypes(file: string): Map<string, number> {
  const m = decodeModelProto(fs.readFileSync(file));
  const count = new Map<string, number>();
  for (const n of m.graph?.node ?? []) count.set(n.op_type ?? '', (count.get(n.op_type ?? '') ?? 0) + 1);
  return count;
}

const cnnPlan = (w: string, a: string, wfc = w): QuantPlan => [
  { node: 'conv1', weight: { tensor: 'w1', format: mustParseFormat(w), channelAxis: 0, reductionAxis: 1 }, activations: [{ tensor: 'x', format: mustParseFormat(a) }] },
  { node: 'conv2', weight: { tensor: 'w2', format: mustParseFormat(w), channelAxis: 0, reductionAxis: 1 }, activations: [{ tensor: 'r1', format: mustParseFormat(a) }] },
  { node: 'fc', weight: { tensor: 'w3', format: mustParseFormat(wfc), channelAxis: 0, reductionAxis: 1 }, activations: [{ tensor: 'f', format: mustParseFormat(a) }] },
];

const mlpPlan = (w: string, a: string): QuantPlan => [
  { node: 'mm1', weight: { tensor: 'w1', format: mustParseFormat(w), channelAxis: 1, reductionAxis: 0 }, activations: [{ tensor: 'x', format: mustParseFormat(a) }] },
  { node: 'mm2', weight: { tensor: 'w2', format: mustParseFormat(w), channelAxis: 1, reductionAxis: 0 }, activations: [{ tensor: 'h', format: mustParseFormat(a) }] },
];

interface Fidelity { exactDiff: number; fusedDiff: number; quantEffect: number; range: number; fusedOps: Map<string, number>; warnings: FidelityWarning[] }

/** Runs float, fake-quant and QDQ (optimizations off and 'all') and returns the differences. */
async function fidelity(model: ModelProto, plan: QuantPlan, input: number[], label: string): Promise<Fidelity> {
  const tensors = [...new Set(plan.flatMap((l) => l.activations.map((a) => a.tensor)))];
  const calib = [feed(input, 11), feed(input, 12), feed(input, 13)];
  const ranges = await calibrate(model, tensors, calib);
  const before = Buffer.from(encodeModelProto(model));
  const qdq = exportQdq(model, plan, ranges);
  const fake = buildFakeQuantModel(model, plan, ranges);
  assert.ok(before.equals(Buffer.from(encodeModelProto(model))), 'the input model is not modified');
  const f = feed(input, 99);
  const ref = await runModel(model, f, 'disabled');
  const yFake = await runModel(fake, f, 'disabled');
  const yQdq = await runModel(qdq, f, 'disabled');
  const tmp = tempDir('ql-qdq-');
  const optPath = path.join(tmp, 'opt.onnx');
  let yFused: Float32Array;
  let fusedOps: Map<string, number>;
  try {
    yFused = await runModel(qdq, f, 'all', optPath);
    fusedOps = opTypes(optPath);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const yFakeAll = await runModel(fake, f, 'all');
  const layers = plan.map((l): QuantLayer => {
    const n = model.graph!.node!.find((x) => x.name === l.node)!;
    return { name: l.node, opType: n.op_type!, kind: 'conv', nodeIndex: 0, activationInputs: [], outputs: [], params: 0, weight: { tensor: n.input![1], dims: [], channelAxis: 0, reductionAxis: 1, source: 'initializer' } };
  });
  const warnings = fidelityWarnings(plan, { layers });
  const r: Fidelity = { exactDiff: maxAbsDiff(yFake, yQdq), fusedDiff: maxAbsDiff(yFakeAll, yFused), quantEffect: maxAbsDiff(ref, yFake), range: span(ref), fusedOps, warnings };
  console.log(`${label}: |fake-qdq| ${r.exactDiff.toExponential(2)}, |fake(all)-qdq(all)| ${r.fusedDiff.toExponential(2)}, |float-fake| ${r.quantEffect.toExponential(2)}, output range ${r.range.toFixed(3)}, optimized ops ${[...fusedOps].map(([k, v]) => `${k}:${v}`).join(' ')}`);
  return r;
}

/**
 * Without graph optimizations the QDQ model must equal the simulation bit for bit. With 'all', ONNX Runtime
 * runs fused integer kernels: `fusedTolerance` (relative to the output range) bounds their deviation, or is
 * undefined where the kernels are known to deviate (u8s8/s8s8 on AVX2 CPUs without VNNI saturate int16
 * pair sums; MatMulNBits quantizes activations to int8 at its default accuracy level).
 */
function assertFaithful(r: Fidelity, fusedTolerance: number | undefined): void {
  assert.ok(r.quantEffect > 0, 'quantization changes the outputs (the test can see a difference)');
  assert.equal(r.exactDiff, 0, 'QDQ (no optimization) equals fake quant bit for bit');
  assert.ok(Number.isFinite(r.fusedDiff), 'the optimized QDQ model runs');
  if (fusedTolerance !== undefined) assert.ok(r.fusedDiff <= fusedTolerance * r.range, `QDQ (optimization all) is close to fake quant: ${r.fusedDiff} vs range ${r.range}`);
  // fidelityWarnings predicts the deviating cases on this CPU (the measured ones are AVX2 without VNNI)
  if (cpuHasVnni() === false) assert.equal(r.warnings.length > 0, fusedTolerance === undefined, `warnings: ${r.warnings.map((w) => w.kind).join(', ')}`);
}

test('CNN int8 per-tensor weights, uint8 activations: QDQ == fake quant; fuses to QLinearConv', async () => {
  const { model, input } = cnn(13);
  const r = await fidelity(model, cnnPlan('int8', 'uint8'), input, 'cnn w8/a8');
  assertFaithful(r, undefined);
  assert.ok((r.fusedOps.get('QLinearConv') ?? 0) >= 1, 'ONNX Runtime fused Q/DQ around Conv into QLinearConv');
});

test('CNN int7 per-channel weights in Constant nodes, uint8 activations: fused kernels match too', async () => {
  const { model, input } = cnn(13, 3, true);
  const r = await fidelity(model, cnnPlan('int7/per-channel', 'uint8'), input, 'cnn w7-pc/a8 (Constant weights)');
  assertFaithful(r, 0.01);
  assert.ok((r.fusedOps.get('QLinearConv') ?? 0) >= 1, 'fused into QLinearConv');
});

test('MLP int8 per-channel weights, uint8 activations', async () => {
  const { model, input } = mlp(13);
  const r = await fidelity(model, mlpPlan('int8/per-channel', 'uint8'), input, 'mlp w8-pc/a8');
  assertFaithful(r, undefined);
});

test('MLP uint8 weights and activations: fused kernels match', async () => {
  const { model, input } = mlp(13);
  const r = await fidelity(model, mlpPlan('uint8/per-channel', 'uint8'), input, 'mlp w8u-pc/a8');
  assertFaithful(r, 0.01);
});

test('MLP int4 blocked weights (block 16), float activations, opset 21: fuses to MatMulNBits', async () => {
  const { model, input } = mlp(21);
  const r = await fidelity(model, mlpPlan('int4/block:16', 'float'), input, 'mlp w4-b16/a32');
  assertFaithful(r, undefined);
  assert.ok((r.fusedOps.get('MatMulNBits') ?? 0) >= 1, 'fused into MatMulNBits');
});

test('CNN int4 blocked conv weights, int16 activations (opset raised from 13 to 21)', async () => {
  const { model, input } = cnn(13);
  const r = await fidelity(model, cnnPlan('int4/block:4', 'int16', 'int8/per-channel'), input, 'cnn w4-b4/a16');
  assertFaithful(r, 0.01);
});

test('MLP int16 activations, uint4 per-channel weights', async () => {
  const { model, input } = mlp(21);
  const r = await fidelity(model, mlpPlan('uint4/per-channel', 'int16'), input, 'mlp w4u-pc/a16');
  assertFaithful(r, 0.01);
});

test('CNN int6 and uint5 activations (Clip after DequantizeLinear keeps the narrower range), int7 weights', async () => {
  const { model, input } = cnn(13);
  const plan = cnnPlan('int7/per-channel', 'int6');
  plan[1].activations[0].format = mustParseFormat('uint5');
  const r = await fidelity(model, plan, input, 'cnn w7-pc/a6');
  assertFaithful(r, 0.01);
});

test('CNN float16 and bfloat16 weights, float16 activations', async () => {
  const { model, input } = cnn(13);
  const r = await fidelity(model, cnnPlan('float16', 'float16', 'bfloat16'), input, 'cnn wfp16/afp16');
  assertFaithful(r, 0.01);
});

test('every example format, as weights and as activations, exports a model ONNX Runtime runs exactly as simulated', async () => {
  const { model, input } = mlp(13);
  const f = feed(input, 5);
  const ranges: RangeMap = new Map([['x', { min: -3, max: 3.5 }], ['h', { min: 0, max: 4 }]]);
  const rows: string[] = [];
  for (const fmt of [...FORMAT_EXAMPLES, 'int4', 'uint4', 'int2', 'uint3/sym', 'int10/asym', 'uint12', 'float8e5m2']) {
    const asActivation = !/per-channel|block/.test(fmt);
    const plans: [string, QuantPlan][] = [[`w=${fmt}`, mlpPlan(fmt, 'uint8')]];
    if (asActivation) plans.push([`a=${fmt}`, mlpPlan('int8/per-channel', fmt)]);
    for (const [label, plan] of plans) {
      const qdq = exportQdq(model, plan, ranges);
      const fake = buildFakeQuantModel(model, plan, ranges);
      const yQdq = await runModel(qdq, f, 'disabled');
      const yFake = await runModel(fake, f, 'disabled');
      assert.equal(maxAbsDiff(yQdq, yFake), 0, label);
      rows.push(`${label}: opset ${qdq.opset_import![0].version}`);
    }
  }
  console.log(rows.join('; '));
});
