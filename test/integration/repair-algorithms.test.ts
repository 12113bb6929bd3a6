// Repair algorithms against known answers: bias correction removes an injected mean shift, equalization makes a
// layer with one wide channel per-tensor-friendly, AdaRound and GPTQ lower the layer output error below round to
// nearest on every layer, and the exported QDQ model runs exactly the repaired codes.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { quantizeModel } from '../../src/cli/commands/quantize';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { Graph } from '../../src/core/onnx/graph';
import { Tensor, toFloat32 } from '../../src/core/onnx/tensor-data';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { ChunkedDataSource } from '../../src/core/data/source';
import { buildPlan } from '../../src/core/quant/plan';
import { exportQdq } from '../../src/core/quant/qdq-export';
import { buildFakeQuantModel } from '../../src/core/quant/fake-quant-model';
import { fakeQuantize, quantizeWeight } from '../../src/core/quant/quantize';
import { repairPlan } from '../../src/core/quant/algorithms/repair';
import { QuantAlgorithm } from '../../src/shared/recipe';
import { mulberry32 } from '../../src/core/data/synthetic';
import { sqnrDb } from '../../src/core/analysis/metrics';
import { cnn, randn, smoothData } from './repair-models';

const backend = ortBackend();

async function setup(model: ModelProto, weights: string, algorithm: QuantAlgorithm, activations = 'float', data = syntheticDataSource(new Graph(model).inputs, { samples: 32, seed: 5 })) {
  const graph = new Graph(model);
  const layers = await buildInventoryAsync(graph, backend, { stats: false });
  const plan = buildPlan(layers, { defaults: { weights, activations }, layers: {} });
  const algorithms = new Map(layers.map((l) => [l.name, algorithm]));
  const r = await repairPlan({ model, layers, plan, algorithms, data, backend, seed: 1, adaround: { iterations: 300 } });
  return { ...r, inventory: layers, data, graph };
}

async function run(model: ModelProto, feeds: Record<string, Tensor>, optimization: 'disabled' | 'all' = 'disabled'): Promise<Record<string, Tensor>> {
  const s = await backend.createSession(encodeModelProto(model), { optimization });
  try { return await s.run(feeds); } finally { await s.release(); }
}

test('AdaRound and GPTQ lower every layer output error below round to nearest; the export runs the chosen codes exactly', async () => {
  const model = cnn();
  for (const algorithm of ['adaround', 'gptq'] as const) {
    const r = await setup(model, 'int3/per-channel', algorithm, 'float', smoothData(32, 5));
    assert.equal(r.layers.length, 3);
    for (const l of r.layers) {
      assert.equal(l.applied, algorithm, `${algorithm} ${l.layer}: ${l.note}`);
      assert.ok(l.sqnrDb! > l.rtnSqnrDb! + 1, `${algorithm} ${l.layer}: ${l.sqnrDb} dB vs rtn ${l.rtnSqnrDb} dB`);
    }
    // simulation = deployment: the QDQ export and the fake-quant model agree bit for bit (ORT optimizations off)
    const x = randn(mulberry32(9), 4 * 3 * 144, 1);
    const feeds = { x: { type: DataType.FLOAT, dims: [4, 3, 12, 12], data: x } };
    const qdq = exportQdq(r.model, r.plan, new Map());
    const sim = buildFakeQuantModel(r.model, r.plan, new Map());
    assert.deepEqual(toFloat32((await run(qdq, feeds)).y), toFloat32((await run(sim, feeds)).y));
    // the repaired weights lie on their (fixed) grid: the export writes exactly the chosen codes
    const w2 = new Graph(r.model).constantValue('w2')!;
    const p = r.plan.find((q) => q.node === 'conv2')!.weight!.params!;
    assert.deepEqual(fakeQuantize(toFloat32(w2), w2.dims, p), toFloat32(w2));
  }
});

test('bias correction removes a deliberately injected mean shift of the output', async () => {
  // every weight sits 0.4 of a step above a grid point, inputs are positive: rounding down shifts each output by a fixed amount
  const g = new GraphBuilder('shift');
  g.input('x', DataType.FLOAT, ['N', 32]);
  const r = mulberry32(4);
  const step = 0.1;
  const w = Float32Array.from({ length: 8 * 32 }, () => (Math.round((r() * 2 - 1) * 6) + 0.4) * step);
  // one weight per row pins the per-channel range so that the scale is `step`
  for (let o = 0; o < 8; o++) w[o * 32] = 7 * step;
  g.initializer('w', { type: DataType.FLOAT, dims: [8, 32], data: w });
  g.initializer('b', { type: DataType.FLOAT, dims: [8], data: new Float32Array(8) });
  g.node('Gemm', ['x', 'w', 'b'], { transB: 1 }, { name: 'fc', output: 'y' });
  g.output('y', DataType.FLOAT, ['N', 8]);
  const model = g.model(17);
  const n = 64;
  const xs = Float32Array.from({ length: n * 32 }, () => 0.5 + r());
  const data = new ChunkedDataSource({ about: { kind: 'npy', synthetic: true, source: 'test' }, chunks: new Map([['x', [{ file: 'x', count: n, sampleDims: [32], load: () => ({ type: DataType.FLOAT, dims: [n, 32], data: xs }) }]]]) }, new Graph(model).inputs);
  const meanShift = async (m: ModelProto, plan: Parameters<typeof exportQdq>[1]) => {
    const feeds = { x: { type: DataType.FLOAT, dims: [n, 32], data: xs } };
    const a = toFloat32((await run(model, feeds)).y), b = toFloat32((await run(exportQdq(m, plan, new Map()), feeds)).y);
    let worst = 0;
    for (let o = 0; o < 8; o++) { let s = 0; for (let i = 0; i < n; i++) s += b[i * 8 + o] - a[i * 8 + o]; worst = Math.max(worst, Math.abs(s / n)); }
    return worst;
  };
  const rtn = await setup(model, 'int4/per-channel', 'rtn', 'float', data);
  const bc = await setup(model, 'int4/per-channel', 'bias-correction', 'float', data);
  const before = await meanShift(rtn.model, rtn.plan);
  const after = await meanShift(bc.model, bc.plan);
  assert.ok(before > 0.3, `injected shift ${before}`);
  assert.ok(after < before / 50, `mean shift ${before} → ${after}`);
  assert.ok(bc.layers[0].sqnrDb! > bc.layers[0].rtnSqnrDb! + 3, JSON.stringify(bc.layers[0]));
});

test('equalization makes a layer with one wide channel per-tensor-friendly and keeps the float function', async () => {
  const model = cnn(30);
  const rtn = await setup(model, 'int8/per-tensor', 'rtn');
  const eq = await setup(model, 'int8/per-tensor', 'equalize');
  const weightSqnr = (m: ModelProto) => {
    const w = new Graph(m).constantValue('w1')!;
    const fq = quantizeWeight(toFloat32(w), w.dims, { kind: 'int', bits: 8, signed: true, symmetric: true, granularity: { kind: 'tensor' } }, 0, 1).fake;
    // the narrowest channel's SQNR: per-tensor scales set by one wide channel wipe out the others
    const v = toFloat32(w);
    let worst = Infinity;
    for (let c = 0; c < 8; c++) worst = Math.min(worst, sqnrDb(v.subarray(c * 27, (c + 1) * 27), fq.subarray(c * 27, (c + 1) * 27)));
    return worst;
  };
  const gain = weightSqnr(eq.model) - weightSqnr(rtn.model);
  assert.ok(gain > 10, `conv1 worst channel per-tensor weight SQNR up by ${gain.toFixed(1)} dB`);
  assert.equal(eq.layers.find((l) => l.layer === 'conv2')?.applied, 'equalize');
  // the float model computes the same function
  const x = randn(mulberry32(2), 2 * 3 * 144, 1);
  const feeds = { x: { type: DataType.FLOAT, dims: [2, 3, 12, 12], data: x } };
  const a = toFloat32((await run(model, feeds)).y), b = toFloat32((await run(eq.model, feeds)).y);
  assert.ok(sqnrDb(a, b) > 100, `float function kept: ${sqnrDb(a, b)} dB`);
});

test('quantize --algorithm: every layer repaired and reported; an unknown name is a usage error listing the names', async () => {
  const dir = tempDir('ql-repair-');
  try {
    const file = path.join(dir, 'cnn.onnx');
    fs.writeFileSync(file, encodeModelProto(cnn()));
    const r = await quantizeModel(file, { output: path.join(dir, 'q.onnx'), synthetic: true, samples: 16, algorithm: 'gptq', checkSamples: 4 });
    assert.deepEqual(r.repair?.map((l) => [l.layer, l.applied]), [['conv1', 'gptq'], ['conv2', 'gptq'], ['fc', 'gptq']]);
    assert.ok(fs.existsSync(path.join(dir, 'q.onnx')));
    await assert.rejects(quantizeModel(file, { output: path.join(dir, 'x.onnx'), synthetic: true, algorithm: 'adaroud' }), /unknown algorithm 'adaroud': expected one of rtn, adaround, gptq/);
    assert.ok(!fs.existsSync(path.join(dir, 'x.onnx')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
