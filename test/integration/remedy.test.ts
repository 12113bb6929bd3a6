// The recommendation chooses remedies by measured effect: repairing layers at the base format (same size) instead of
// keeping them, each remedy's effect measured by undoing it; the report shows per layer the SQNR after repair next to
// rounding; the recipe records the algorithm and its export (repair applied by the exporter) runs as simulated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { sqnrDb } from '../../src/core/analysis/metrics';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { ModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { algorithmsFromRecipe, repairPlan } from '../../src/core/quant/algorithms';
import { buildPlan } from '../../src/core/quant/plan';
import { exportQdq } from '../../src/core/quant/qdq-export';
import { cnnOutputs, cnn, smoothData } from './repair-models';

const backend = ortBackend();

const outputs = (model: ModelProto, x: Float32Array, n: number) => cnnOutputs(backend, model, x, n);

test('the recommendation repairs layers instead of keeping them when that meets the target at the base size', async () => {
  const model = cnn();
  const formats = ['int3/per-channel:float', 'int8/per-channel:float'];
  const opts = { modelPath: 'cnn.onnx', model, formats, base: 'int3/per-channel:float', higher: 'int8/per-channel:float', allButOne: false };
  const probe = await analyzeModel({ ...opts, data: smoothData(32, 5), repair: false });
  const base = probe.allQuantized[probe.formats[0].id].sqnrDb;
  const target = { kind: 'min-sqnr-db' as const, value: Math.round(base + 4) };

  const report = await analyzeModel({ ...opts, data: smoothData(32, 5), target, repair: ['gptq', 'bias-correction'] });
  const rec = report.recommendation!;
  assert.ok(rec.met, rec.message);
  assert.ok(rec.repaired && rec.repaired.length > 0, rec.message);
  // every layer shows what repair gives next to rounding
  for (const l of report.layers) {
    assert.ok(l.repair && l.repair.algorithms.gptq > l.repair.rtnSqnrDb, `${l.name}: ${JSON.stringify(l.repair)}`);
    assert.equal(l.repair.best, 'gptq');
  }
  // each remedy's effect is measured by undoing it: the configuration gets worse without it
  for (const r of rec.remedies ?? []) assert.ok(r.without && r.without.sqnrDb < rec.metrics.sqnrDb, JSON.stringify(r));
  assert.ok(rec.sizeBytes < rec.floatSizeBytes && rec.sizeBytes >= rec.baseSizeBytes);
  // keeping layers instead would need more bytes than the repaired answer
  const keepOnly = await analyzeModel({ ...opts, data: smoothData(32, 5), target, repair: false });
  assert.ok(!keepOnly.recommendation!.met || keepOnly.recommendation!.sizeBytes >= rec.sizeBytes);
  // the recipe records the algorithm; exporting it repairs the same way and ONNX Runtime gets the simulated SQNR
  for (const n of rec.repaired!) assert.equal((rec.recipe.layers[n] as { algorithm?: string }).algorithm, 'gptq');
  const layers = await buildInventoryAsync(new Graph(model), backend, { stats: false });
  const plan = buildPlan(layers, rec.recipe);
  const r = await repairPlan({ model, layers, plan, algorithms: algorithmsFromRecipe(layers, rec.recipe), data: smoothData(32, 5), backend, seed: 1 });
  const n = 32;
  const x = new Float32Array(n * 3 * 144);
  let at = 0;
  for await (const b of smoothData(32, 5).batches(8)) { const d = toFloat32(b.feeds.x); x.set(d, at); at += d.length; }
  const exported = await outputs(exportQdq(r.model, r.plan, new Map()), x, n);
  const onOrt = sqnrDb(await outputs(model, x, n), exported);
  assert.ok(Math.abs(onOrt - rec.metrics.sqnrDb) < 0.5, `exported ${onOrt} dB vs recommended ${rec.metrics.sqnrDb} dB`);
});
