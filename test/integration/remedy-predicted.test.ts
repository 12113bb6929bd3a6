// The default ('decisive') recommendation on a model deeper than the exhaustive remedy search: remedies ordered by
// predicted gains (repairs weighed by their measured layer gain), calibrated on one run and measured only around the
// prediction. The answer meets the target as measured, repairs where that is cheaper than keeping, costs a handful of
// whole-model runs (not one per layer and step), and its recipe exported as QDQ runs in ONNX Runtime as reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { PREDICTED_SEARCH_ABOVE } from '../../src/core/analysis/recommend';
import { sqnrDb } from '../../src/core/analysis/metrics';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { ModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { algorithmsFromRecipe, repairPlan } from '../../src/core/quant/algorithms';
import { buildPlan } from '../../src/core/quant/plan';
import { exportQdq } from '../../src/core/quant/qdq-export';
import { ConfigurationRunner } from '../../src/core/analysis/sensitivity';
import { cnnOutputs, deepCnn, smoothData } from './repair-models';

const backend = ortBackend();

const outputs = (model: ModelProto, x: Float32Array, n: number) => cnnOutputs(backend, model, x, n);

test('on a deep model the default recommendation searches remedies by calibrated predictions, verified by measuring', async () => {
  const model = deepCnn();
  const N = 32;
  const formats = ['int3/per-channel:float', 'int8/per-channel:float'];
  const opts = { modelPath: 'deep.onnx', model, formats, base: 'int3/per-channel:float', higher: 'int8/per-channel:float', allButOne: false };
  const probe = await analyzeModel({ ...opts, data: smoothData(N, 5), repair: false, measure: 'all' });
  assert.ok(probe.layers.length > PREDICTED_SEARCH_ABOVE, `${probe.layers.length} layers`);
  const base = probe.allQuantized[probe.formats[0].id].sqnrDb;
  const target = { kind: 'min-sqnr-db' as const, value: Math.round(base + 6) };

  // whole-model configurations measured, counted at the runner
  let configurations = 0;
  const measure = ConfigurationRunner.prototype.measure;
  ConfigurationRunner.prototype.measure = function (...args: Parameters<typeof measure>) { configurations++; return measure.apply(this, args); };
  let report;
  try { report = await analyzeModel({ ...opts, data: smoothData(N, 5), target, repair: ['gptq'] }); } finally { ConfigurationRunner.prototype.measure = measure; }
  assert.equal(report.method?.measure, 'decisive');
  const rec = report.recommendation!;
  assert.ok(rec.met, rec.message);
  assert.ok(rec.metrics.sqnrDb >= target.value, rec.message);
  assert.ok(rec.sizeBytes < rec.floatSizeBytes && rec.sizeBytes >= rec.baseSizeBytes);
  // the answer was measured, and so is every point of the remedy search it reports
  const final = rec.pareto.find((p) => p.kept.length === rec.keep.length && p.kept.every((k) => rec.keep.includes(k)) && (p.repaired ?? []).join() === (rec.repaired ?? []).join());
  assert.ok(final?.verified, 'the recommended configuration is a measured point');
  // repairs stand where their measured layer gain lowers the noise at no size: some layer is repaired, not kept
  assert.ok(rec.repaired && rec.repaired.length > 0, rec.message);
  for (const n of rec.repaired!) {
    const l = report.layers.find((x) => x.name === n)!;
    assert.ok(l.repair && l.repair.algorithms.gptq > l.repair.rtnSqnrDb, `${n}: ${JSON.stringify(l.repair)}`);
    assert.ok(!rec.keep.includes(n));
  }
  // a handful of whole-model configurations in the whole analysis: fewer than one per layer (the measured search
  // tried one per candidate layer and step)
  assert.ok(configurations < report.layers.length, `${configurations} configurations measured for ${report.layers.length} layers`);
  // the recipe, exported as QDQ with its repairs, runs in ONNX Runtime with the reported SQNR
  const layers = await buildInventoryAsync(new Graph(model), backend, { stats: false });
  const plan = buildPlan(layers, rec.recipe);
  const r = await repairPlan({ model, layers, plan, algorithms: algorithmsFromRecipe(layers, rec.recipe), data: smoothData(N, 5), backend, seed: 1 });
  const x = new Float32Array(N * 3 * 144);
  let at = 0;
  for await (const b of smoothData(N, 5).batches(8)) { const d = toFloat32(b.feeds.x); x.set(d, at); at += d.length; }
  const onOrt = sqnrDb(await outputs(model, x, N), await outputs(exportQdq(r.model, r.plan, new Map()), x, N));
  assert.ok(Math.abs(onOrt - rec.metrics.sqnrDb) < 0.5, `exported ${onOrt} dB vs recommended ${rec.metrics.sqnrDb} dB`);
});
