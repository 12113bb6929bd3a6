// A recommendation that repairs layers (GPTQ at int4 with uint8 activations) is exported with the numbers the report
// measured: the analysis measures the chosen configuration with the weights export fits for it, and export calibrates
// the activations on the float model as the analysis does. Checked through the engine and through the CLI's quantize.
import { after, before, test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { AnalyzeRequest, ExportRequest } from '../../src/shared/protocol';
import { PassThrough } from 'stream';
import { quantizeModel } from '../../src/cli/commands/quantize';
import { underdetermined } from '../../src/core/quant/algorithms';
import { writeScopedModel } from '../e2e/scoped-model';

let engine: EngineClient;
let dir: string;
before(async () => {
  dir = tempDir('ql-repair-export-');
  engine = await startEngine({ initializationOptions: { memoryBudgetMB: 256 } });
});
after(async () => {
  await engine?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the exported repaired recommendation measures what the report says, and a fit on few samples is flagged', async () => {
  const model = path.join(dir, 'scoped.onnx');
  writeScopedModel(model, 6, 2, 32);
  const samples = 4; // 4 rows for 32 inputs per layer: GPTQ fits them (the report must say so)
  const report = await engine.connection.sendRequest(AnalyzeRequest, { model, data: { samples }, target: { kind: 'min-sqnr-db', value: 30 } });
  const rec = report.recommendation!;
  assert.ok(rec.repaired?.length, `the recommendation repairs layers: ${rec.message}`);
  assert.ok(report.warnings.some((w) => /fewer calibration rows than the weight has inputs \(4 rows for 32 inputs/.test(w)), report.warnings.join('\n'));

  const exported = await engine.connection.sendRequest(ExportRequest, { model, recipe: rec.recipe, data: { samples }, output: path.join(dir, 'engine.qdq.onnx') });
  assert.ok(Math.abs(exported.exactMetrics!.sqnrDb - rec.metrics.sqnrDb) < 0.05, `engine export ${exported.exactMetrics!.sqnrDb} dB vs report ${rec.metrics.sqnrDb} dB`);

  const recipeFile = path.join(dir, 'scoped.qrecipe.json');
  fs.writeFileSync(recipeFile, JSON.stringify(rec.recipe));
  const io = { out: () => undefined, err: () => undefined, progressStream: new PassThrough() };
  const cli = await quantizeModel(model, { output: path.join(dir, 'cli.qdq.onnx'), recipe: recipeFile, synthetic: true, samples, checkSamples: samples }, io);
  assert.ok(Math.abs(cli.exactSqnrDb.logits - rec.metrics.sqnrDb) < 0.05, `CLI quantize ${cli.exactSqnrDb.logits} dB vs report ${rec.metrics.sqnrDb} dB`);
  const thin = (cli.repair ?? []).filter(underdetermined);
  assert.deepEqual(thin.map((l) => [l.rows, l.inputs]), thin.map(() => [4, 32]));
  assert.ok(thin.length > 0, 'the CLI tells which repairs were fitted on fewer rows than inputs');
});
