// The recommendation, exported as QDQ and run in ONNX Runtime, meets its target on held-out data;
// bad input gives clear errors or explicit warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { ErrorAccumulator } from '../../src/core/analysis/metrics';
import { collectRanges, rangeSpecsFromPlan } from '../../src/core/data/collect-ranges';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventory } from '../../src/core/onnx/inventory';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { buildPlan } from '../../src/core/quant/plan';
import { exportQdq } from '../../src/core/quant/qdq-export';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { isQuantLensError } from '../../src/core/errors';
import { DataSource } from '../../src/core/data/source';
import { Recipe } from '../../src/shared/recipe';
import { arraySource, normalData, wideChannelNet } from './analysis-models';

async function outputSqnr(model: ModelProto, quantized: ModelProto, data: DataSource): Promise<number> {
  const be = ortBackend();
  const a = await be.createSession(encodeModelProto(model), { threads: 1 });
  const b = await be.createSession(encodeModelProto(quantized), { threads: 1 });
  const acc = new ErrorAccumulator();
  for await (const batch of data.batches(16)) {
    const fa = await a.run(batch.feeds);
    const fb = await b.run(batch.feeds);
    acc.add(toFloat32(fa.logits), toFloat32(fb.logits));
  }
  await a.release();
  await b.release();
  return acc.sqnrDb();
}

async function exportRecipe(model: ModelProto, recipe: Recipe, calib: DataSource): Promise<ModelProto> {
  const graph = new Graph(model);
  const plan = buildPlan(buildInventory(graph), recipe);
  const specs = rangeSpecsFromPlan(plan);
  const ranges = await collectRanges(model, [...specs.keys()], specs, calib, ortBackend());
  return exportQdq(model, plan, ranges);
}

test('the recommended mixed-precision recipe, exported as QDQ, meets the target on held-out data', async () => {
  const model = wideChannelNet(4);
  const calib = arraySource('x', [4, 8, 8], normalData(64, 256, 21));
  const heldOut = arraySource('x', [4, 8, 8], normalData(64, 256, 22));
  // first the two uniform configurations, to put the target strictly between them
  const probe = await analyzeModel({ modelPath: 'wide.onnx', model, data: calib, formats: ['w4a8', 'w8a8'], allButOne: false, measure: 'all' });
  const lo = probe.allQuantized.w4a8.sqnrDb;
  const hi = probe.allQuantized.w8a8.sqnrDb;
  assert.ok(hi > lo + 6, `w8a8 ${hi} dB vs w4a8 ${lo} dB`);
  const target = { kind: 'min-sqnr-db' as const, value: Math.round((lo + hi) / 2) };
  const report = await analyzeModel({ modelPath: 'wide.onnx', model, data: calib, formats: ['w4-pc', 'a8', 'w8-pc'], target, base: 'w4a8', higher: 'w8a8', allButOne: false, measure: 'all', repair: false });
  const rec = report.recommendation!;
  assert.ok(rec.met, rec.message);
  assert.ok(rec.keep.length > 0 && rec.keep.length < report.layers.length, `kept ${rec.keep}`);
  assert.ok(rec.metrics.sqnrDb >= target.value);
  assert.ok(rec.pareto.every((p) => p.verified));
  assert.ok(rec.pareto.some((p) => p.kept.length === rec.keep.length && p.metrics.sqnrDb === rec.metrics.sqnrDb));
  assert.equal(rec.recipe.defaults.weights, 'int4/per-channel');
  for (const k of rec.keep) assert.deepEqual(rec.recipe.layers[k], { weights: 'int8/per-channel', activations: 'uint8' });
  assert.ok(rec.sizeBytes > rec.baseSizeBytes && rec.sizeBytes < rec.floatSizeBytes);

  const q = await exportRecipe(model, rec.recipe, calib);
  // the simulation used for the recommendation agrees with ONNX Runtime on the exported model
  const onCalib = await outputSqnr(model, q, calib);
  assert.ok(Math.abs(onCalib - rec.metrics.sqnrDb) < 1, `exported ${onCalib} dB vs simulated ${rec.metrics.sqnrDb} dB`);
  // the search returns the smallest set meeting the target on the calibration data (no margin): held-out data lands
  // within half a dB of it
  const onHeldOut = await outputSqnr(model, q, heldOut);
  assert.ok(onHeldOut >= target.value - 0.5, `held-out SQNR ${onHeldOut} dB < target ${target.value} dB - 0.5`);
});

test('a target that cannot be met is reported with the best reachable point', async () => {
  const data = arraySource('x', [4, 8, 8], normalData(16, 256, 23));
  const report = await analyzeModel({ modelPath: 'wide.onnx', model: wideChannelNet(), data, formats: ['w4-pc', 'a8'], target: { kind: 'min-sqnr-db', value: 150 }, base: 'w4a8', higher: 'w8a8', allButOne: false, measure: 'all' });
  const rec = report.recommendation!;
  assert.equal(rec.met, false);
  assert.match(rec.message, /cannot be met/);
  assert.ok(report.warnings.some((w) => /cannot be met/.test(w)));
  const best = Math.max(...rec.pareto.map((p) => p.metrics.sqnrDb));
  assert.equal(rec.metrics.sqnrDb, best);
});

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isQuantLensError(e) && e.code === code, `expected QuantLensError ${code}`);
}

test('bad input: wrong shape, zero samples, NaN data, non-float output', async () => {
  const model = wideChannelNet();
  await rejects(analyzeModel({ modelPath: 'wide.onnx', model, data: arraySource('x', [4, 9, 9], normalData(4, 324, 1)) }), 'data-shape');
  await rejects(analyzeModel({ modelPath: 'wide.onnx', model, data: arraySource('x', [4, 8, 8], new Float32Array(0)) }), 'data-empty');
  const nan = normalData(4, 256, 2);
  nan[300] = NaN;
  await rejects(analyzeModel({ modelPath: 'wide.onnx', model, data: arraySource('x', [4, 8, 8], nan) }), 'data-not-finite');

  const b = new GraphBuilder('argmax');
  const x = b.input('x', DataType.FLOAT, ['N', 6]);
  const w = b.constFloat('w', Array.from({ length: 24 }, (_, i) => Math.sin(i)), [6, 4]);
  const y = b.node('MatMul', [x, w], {}, { name: 'mm' });
  const am = b.node('ArgMax', [y], { axis: 1 }, { output: 'cls' });
  b.output(am, DataType.INT64, ['N', 1]);
  await rejects(analyzeModel({ modelPath: 'argmax.onnx', model: b.model(13), data: arraySource('x', [6], normalData(4, 6, 3)) }), 'model-output-type');
  b.output(y, DataType.FLOAT, ['N', 4]);
  const report = await analyzeModel({ modelPath: 'two.onnx', model: b.model(13), data: arraySource('x', [6], normalData(8, 6, 3)), formats: ['w8-pc'] });
  assert.ok(report.warnings.some((m) => /'cls' is not a float tensor/.test(m)), report.warnings.join('\n'));
  assert.ok(Number.isFinite(report.layers[0].formats['w8-pc'].isolated!.sqnrDb));
});

test('isolated results equal running the whole model with only that layer quantized (QDQ export in ORT)', async () => {
  const model = wideChannelNet(5);
  const data = arraySource('x', [4, 8, 8], normalData(32, 256, 24));
  const report = await analyzeModel({ modelPath: 'wide.onnx', model, data, formats: ['w8-pt', 'a8', 'w4a8'], allButOne: false, measure: 'all' });
  for (const [id, weights, activations] of [['w8-pt', 'int8/per-tensor', 'float'], ['a8', 'float', 'uint8'], ['w4a8', 'int4/per-channel', 'uint8']]) {
    for (const layer of ['conv2', 'fc']) {
      const recipe: Recipe = { version: 1, model: 'wide.onnx', defaults: { weights: 'float', activations: 'float' }, layers: { [layer]: { weights, activations } } };
      const q = await exportRecipe(model, recipe, data);
      const exported = await outputSqnr(model, q, data);
      const isolated = report.layers.find((l) => l.name === layer)!.formats[id].isolated!.sqnrDb;
      assert.ok(Math.abs(exported - isolated) < 0.5, `${layer} ${id}: exported ${exported} dB, isolated ${isolated} dB`);
    }
  }
});
