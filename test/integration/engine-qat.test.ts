// QAT through the engine: live curve points, QDQ export with learned scales, cancellation without output.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc';
import { LSPErrorCodes } from 'vscode-languageserver-protocol';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { QatProgress, QatProgressNotification, QatRequest } from '../../src/shared/protocol';
import { tempDir, writeMlp } from './engine-helpers';

describe('engine process: QAT', () => {
  let engine: EngineClient;
  let dir: string;
  let model: string;
  const points: QatProgress[] = [];
  const recipe = { version: 1, model: 'mlp.onnx', defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} };

  before(async () => {
    dir = tempDir();
    model = writeMlp(path.join(dir, 'mlp.onnx'));
    engine = await startEngine();
    engine.connection.onNotification(QatProgressNotification, (p) => { points.push(p); });
  });
  after(async () => {
    await engine?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fine-tunes W4A8 by distillation: curve points arrive, the KL to the float model drops, the QDQ model loads', async () => {
    const output = path.join(dir, 'out', 'mlp.qat.onnx');
    const r = await engine.connection.sendRequest(QatRequest, { model, recipe, steps: 40, output });
    assert.equal(r.steps, 40);
    const mine = points.filter((p) => p.model === model);
    assert.ok(mine.length >= 3, `${mine.length} curve points`);
    assert.ok(mine.every((p) => p.jobId.startsWith('qat-') && Number.isFinite(p.loss)));
    assert.equal(mine.at(-1)!.step, 40);
    // The result carries the same curve, so a panel that missed progress messages still draws the finished run.
    assert.deepEqual(r.curve.map((c) => [c.step, c.loss]), mine.map((p) => [p.step, p.loss]));
    assert.ok(r.after.klDiv! < r.before.klDiv!, `KL after ${r.after.klDiv} should be below KL before ${r.before.klDiv}`);
    // The result says how QAT compares with plain PTQ of the same recipe, and which formats were trained.
    const v = r.versusPtq;
    assert.equal(v.ptqSqnrDb, Math.round(r.before.sqnrDb * 100) / 100);
    assert.equal(v.qatSqnrDb, Math.round(r.after.sqnrDb * 100) / 100);
    assert.equal(v.qatWorse, v.qatSqnrDb < v.ptqSqnrDb || (v.ptqAgreement !== undefined && v.qatAgreement! < v.ptqAgreement));
    assert.ok(v.formats.length >= 1 && v.formats.every((f) => f.layers > 0), JSON.stringify(v.formats));
    const s = await ortBackend().createSession(output, { threads: 1 });
    await s.release();
    const saved = JSON.parse(fs.readFileSync(r.recipe!, 'utf8'));
    assert.ok(Object.values(saved.layers).some((l) => typeof l === 'object' && l !== null && 'scales' in l), 'the recipe holds the learned scales');
    assert.equal(path.resolve(path.dirname(r.recipe!), saved.model), model);
    assert.ok(JSON.parse(fs.readFileSync(r.log, 'utf8')).entries.length >= 3);
  });

  it('a cancelled QAT job writes nothing', async () => {
    const output = path.join(dir, 'cancelled.onnx');
    const cts = new CancellationTokenSource();
    const sub = engine.connection.onNotification(QatProgressNotification, () => cts.cancel());
    const err = await engine.connection.sendRequest(QatRequest, { model, recipe, steps: 2000, output }, cts.token).then(() => undefined, (e: unknown) => e);
    sub.dispose();
    assert.ok(err instanceof ResponseError && err.code === LSPErrorCodes.RequestCancelled, `got ${err}`);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('cancelled')), []);
  });
});
