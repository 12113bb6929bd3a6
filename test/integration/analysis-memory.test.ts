// Memory of a default analysis: the configurable model's session is let go before the repair and opened again for
// the recommendation (same configurations measured), and the cache keeps only the graph's inputs and outputs after
// the isolated runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { ActivationCache } from '../../src/core/analysis/activation-cache';
import { ConfigurationRunner } from '../../src/core/analysis/sensitivity';
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
