// Memory of a default analysis: the configurable model's session is let go before the repair and opened again for
// the recommendation (same configurations measured), and the cache keeps only the graph's inputs and outputs after
// the isolated runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { ActivationCache } from '../../src/core/analysis/activation-cache';
import { ConfigurationRunner, SensitivityContext, uniformFormats } from '../../src/core/analysis/sensitivity';
import { detectOutputLayout } from '../../src/core/analysis/metrics';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { Tensor, toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { mustParseFormat } from '../../src/shared/formats';
import { arraySource, normalData, wideChannelNet } from './analysis-models';

test('the configurable model is suspended for the repair and reopened by the recommendation; the cache drops intermediates', async () => {
  const retained: string[][] = [];
  const retain = ActivationCache.prototype.retain;
  ActivationCache.prototype.retain = function (names: Iterable<string>) { retained.push([...names]); return retain.call(this, names); };
  const suspend = ConfigurationRunner.prototype.suspend;
  let suspended = 0;
  ConfigurationRunner.prototype.suspend = function () { suspended++; return suspend.call(this); };
  try {
    const report = await analyzeModel({
      modelPath: 'wide.onnx', model: wideChannelNet(), data: arraySource('x', [4, 8, 8], normalData(16, 256, 51)),
      formats: ['w4a8', 'w8a8'], target: { kind: 'min-sqnr-db', value: 30 }, repair: ['gptq'], batchSize: 8,
    });
    assert.ok(report.recommendation, 'a recommendation');
    assert.ok(suspended >= 1, `suspended ${suspended} times`);
    assert.deepEqual(retained, [['x', 'logits']]);
    const phases = report.timings.phases!;
    assert.ok(phases['recommendation (count-based)'].sessions >= 1, 'the runner reopened its session');
    assert.ok(phases['recommendation (count-based)'].runs >= 1);
    for (const [k, c] of Object.entries(phases)) assert.ok((c as { rssMb?: number }).rssMb! > 0, `${k}: sampled RSS`);
  } finally {
    ActivationCache.prototype.retain = retain;
    ConfigurationRunner.prototype.suspend = suspend;
  }
});

test('whole-model configurations run in slices of a batch give the same metrics as whole batches', async () => {
  const model = wideChannelNet();
  const graph = new Graph(model);
  const backend = ortBackend();
  const layers = await buildInventoryAsync(graph, backend, { stats: false });
  const data = arraySource('x', [4, 8, 8], normalData(20, 256, 52), Int32Array.from({ length: 20 }, (_, i) => i % 5));
  const cache = await ActivationCache.capture({ graph, backend, data, tensors: layers.flatMap((l) => l.activationInputs), batchSize: 8 });
  const outputs: Record<string, Tensor> = { logits: cache.get(0, 'logits') };
  const floatWeights = new Map(layers.filter((l) => l.weight).map((l) => [l.name, toFloat32(graph.constantValue(l.weight!.tensor)!)]));
  const ctx: SensitivityContext = { graph, layers, backend, cache, layout: detectOutputLayout(outputs, ['logits']), floatWeights, constants: new Map(), calibration: { method: 'minmax' } };
  const f = uniformFormats(layers, mustParseFormat('int4'), mustParseFormat('uint8'));
  const whole = await ConfigurationRunner.create(ctx);
  const sliced = await ConfigurationRunner.create(ctx, { samplesPerRun: 3 });
  const runs: number[] = [];
  const run = (sliced as unknown as { session: { run: (f: Record<string, Tensor>, o: string[]) => Promise<Record<string, Tensor>> } }).session;
  const inner = run.run.bind(run);
  run.run = (feeds, o) => { runs.push(feeds.x.dims[0]); return inner(feeds, o); };
  const a = await whole.measure(f), b = await sliced.measure(f);
  assert.deepEqual(runs, [3, 3, 2, 3, 3, 2, 3, 1]);
  assert.equal(b.sqnrDb, a.sqnrDb);
  assert.equal(b.top1Agreement, a.top1Agreement);
  assert.equal(b.accuracy, a.accuracy);
  assert.ok(Math.abs(b.mse - a.mse) <= 1e-6 * a.mse);
  await whole.release();
  await sliced.release();
  cache.dispose();
});
