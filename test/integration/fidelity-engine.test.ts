// ONNX Runtime fidelity warnings in the engine (export/evaluate results, for the VS Code UI) and in the analysis
// report (for the recommended recipe): int8 weights with 8-bit activations on x86 CPUs without VNNI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { cpuHasVnni } from '../../src/core/quant/ort-fidelity';
import { EvaluateRequest, ExportRequest } from '../../src/shared/protocol';
import { Recipe } from '../../src/shared/recipe';
import { tempDir } from './engine-helpers';
import { mlp7 } from './fidelity-models';

const vnni = cpuHasVnni();
const recipe = (weights: string): Recipe => ({ version: 1, model: 'mlp7.onnx', defaults: { weights, activations: 'uint8' }, layers: {} });

describe('engine export/evaluate carry the fidelity warnings', () => {
  let engine: EngineClient;
  let dir: string;
  let model: string;
  before(async () => {
    dir = tempDir();
    model = path.join(dir, 'mlp7.onnx');
    saveModelFile(model, mlp7());
    engine = await startEngine({ initializationOptions: { memoryBudgetMB: 128, threads: 1 } });
  });
  after(async () => {
    await engine?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('export int8/uint8: the u8s8 warning (no VNNI), exact and fused metrics both reported', async () => {
    const r = await engine.connection.sendRequest(ExportRequest, { model, recipe: recipe('int8/per-channel'), data: { samples: 16 }, output: path.join(dir, 'w8.onnx') });
    console.log(`export int8/uint8: fused ${r.metrics.sqnrDb.toFixed(2)} dB, exact ${r.exactMetrics?.sqnrDb.toFixed(2)} dB; ${JSON.stringify(r.warnings)}`);
    assert.ok(r.exactMetrics, 'export always measures the exact Q/DQ arithmetic too');
    const u8s8 = (r.warnings ?? []).filter((w) => /u8s8/.test(w));
    if (vnni === false) {
      assert.equal(u8s8.length, 1);
      assert.match(u8s8[0], /'fc1', 'fc2', 'fc3' and 3 more \(6 layers\)/);
      assert.ok(r.exactMetrics.sqnrDb - r.metrics.sqnrDb >= 3, 'the fused kernels measure worse, as predicted');
      assert.ok((r.warnings ?? []).some((w) => w.includes(r.metrics.sqnrDb.toFixed(2)) && w.includes(r.exactMetrics!.sqnrDb.toFixed(2))), 'both numbers are given');
    } else if (vnni === true) {
      assert.deepEqual(u8s8, []);
    }
  });

  it('evaluate int7/per-channel: no warning, and no extra exact run when nothing is predicted', async () => {
    const r = await engine.connection.sendRequest(EvaluateRequest, { model, recipe: recipe('int7/per-channel'), data: { samples: 16 } });
    assert.deepEqual(r.warnings, []);
    assert.equal(r.exactMetrics, undefined);
    assert.ok(r.metrics.sqnrDb > 15, `${r.metrics.sqnrDb}`);
  });

  it('evaluate int8/uint8 without VNNI measures the exact arithmetic too', { skip: vnni !== false }, async () => {
    const r = await engine.connection.sendRequest(EvaluateRequest, { model, recipe: recipe('int8/per-channel'), data: { samples: 16 } });
    assert.ok(r.exactMetrics && r.exactMetrics.sqnrDb > r.metrics.sqnrDb);
    assert.ok((r.warnings ?? []).some((w) => /no VNNI/.test(w)));
  });
});

describe('analysis report', () => {
  it("warns about u8s8 saturation for the recommended recipe's int8/uint8 layers", async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'mlp7.onnx');
      saveModelFile(file, mlp7());
      const opts = { modelPath: file, data: { kind: 'synthetic' as const }, dataOptions: { samples: 8 }, formats: ['w8a8'], allButOne: false, target: { kind: 'min-sqnr-db' as const, value: 20 } };
      const w8 = await analyzeModel({ ...opts, base: 'w8a8' });
      const w7 = await analyzeModel({ ...opts, base: 'int7/per-channel:uint8', higher: 'int7/per-channel:uint8' });
      assert.ok(w8.recommendation && w7.recommendation, 'both analyses recommend a recipe');
      const u8s8 = w8.warnings.filter((w) => /u8s8/.test(w));
      if (vnni === false) {
        assert.equal(u8s8.length, 1, JSON.stringify(w8.warnings));
        assert.match(u8s8[0], /^recommended recipe: ONNX Runtime on this CPU \(no VNNI\).*\(6 layers\)$/);
      } else if (vnni === true) {
        assert.deepEqual(u8s8, []);
      }
      assert.deepEqual(w7.warnings.filter((w) => /u8s8/.test(w)), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
