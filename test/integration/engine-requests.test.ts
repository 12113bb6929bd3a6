// The engine process over stdio: inspect, export, bad input, jobs and recovery after a failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { ResponseError } from 'vscode-jsonrpc';
import { WorkDoneProgress } from 'vscode-languageserver-protocol';
import type { WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageserver-protocol';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { DataType } from '../../src/core/onnx/proto';
import {
  CloseModelNotification, CompareRequest, EngineErrorCodes, EngineErrorInfo, EngineErrorNotification, EvaluateRequest, ExportRequest, InspectRequest,
  JobInfo, JobsNotification,
} from '../../src/shared/protocol';
import { CLS_MODEL, tempDir, writeMlp } from './engine-helpers';

describe('engine process: inspect, export, errors', () => {
  let engine: EngineClient;
  let dir: string;
  const errors: EngineErrorInfo[] = [];
  const jobLists: JobInfo[][] = [];

  before(async () => {
    dir = tempDir();
    engine = await startEngine({ initializationOptions: { memoryBudgetMB: 256, stepFile: path.join(dir, 'steps.json') } });
    engine.connection.onNotification(EngineErrorNotification, (e) => { errors.push(e); });
    engine.connection.onNotification(JobsNotification, (j) => { jobLists.push(j.jobs); });
  });
  after(async () => {
    await engine?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('inspects the PaddleOCR classifier: summary and every quantizable layer', async () => {
    const info = await engine.connection.sendRequest(InspectRequest, { model: CLS_MODEL });
    assert.equal(info.model, CLS_MODEL);
    assert.equal(info.summary.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version, 9);
    const convs = info.layers.filter((l) => l.opType === 'Conv');
    assert.equal(convs.length, 53, 'the classifier has 53 Conv layers');
    assert.equal(info.layers.filter((l) => l.kind === 'depthwise-conv').length, 11);
    assert.ok(info.layers.some((l) => l.opType === 'MatMul'));
    assert.equal(info.summary.layerCount, info.layers.length);
    assert.ok(info.layers.every((l) => l.params > 0 && Array.isArray(l.weightShape)), 'every layer has constant weights');
    assert.ok((info.summary.macs ?? 0) > 0, 'MACs are known after shape inference');
    assert.deepEqual(info.warnings, []);
    // The job appeared in the job list and the list is empty again.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(jobLists.some((l) => l.some((j) => j.kind === 'inspect' && j.model === CLS_MODEL)));
    assert.deepEqual(jobLists.at(-1), []);
  });

  it('a corrupt model gives a ResponseError naming the file, and the engine keeps answering', async () => {
    const bad = path.join(dir, 'truncated.onnx');
    fs.writeFileSync(bad, fs.readFileSync(CLS_MODEL).subarray(0, 5000));
    const err = await engine.connection.sendRequest(InspectRequest, { model: bad }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${err}`);
    assert.equal(err.code, EngineErrorCodes.UserError);
    assert.ok(err.message.includes(bad), err.message);
    assert.equal((err.data as { file?: string }).file, bad);
    await new Promise((r) => setTimeout(r, 100));
    const note = errors.find((e) => e.model === bad);
    assert.ok(note, 'an engineError notification names the model');
    assert.match(note!.step, /loading/);
    const again = await engine.connection.sendRequest(InspectRequest, { model: CLS_MODEL });
    assert.equal(again.layers.length, 54);
  });

  it('a missing model file is reported as such', async () => {
    const missing = path.join(dir, 'nope.onnx');
    await assert.rejects(engine.connection.sendRequest(InspectRequest, { model: missing }), (e: ResponseError<unknown>) => e.message.includes(missing) && /does not exist/.test(e.message));
  });

  it('exports a W8A8 QDQ model of a small MLP that ONNX Runtime loads and runs, with work-done progress', async () => {
    const model = writeMlp(path.join(dir, 'mlp.onnx'));
    const output = path.join(dir, 'out', 'mlp.qdq.onnx');
    const progress: (WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd)[] = [];
    const token = 'export-progress';
    const sub = engine.connection.onProgress(WorkDoneProgress.type, token, (v) => { progress.push(v); });
    const res = await engine.connection.sendRequest(ExportRequest, { model, output, data: { samples: 16 }, workDoneToken: token });
    sub.dispose();
    assert.equal(res.output, output);
    assert.ok(fs.existsSync(output));
    assert.equal(fs.statSync(output).size, res.sizeBytes);
    assert.ok(res.sizeBytes < res.floatSizeBytes, `quantized ${res.sizeBytes} B should be smaller than float ${res.floatSizeBytes} B`);
    assert.ok(res.metrics.sqnrDb > 15 && Number.isFinite(res.metrics.sqnrDb), `W8A8 output SQNR ${res.metrics.sqnrDb} dB`);
    assert.equal(progress[0]?.kind, 'begin');
    assert.equal(progress.at(-1)?.kind, 'end');
    assert.ok(progress.some((p) => p.kind === 'report'));
    // The exported file runs in ORT here, and it holds QDQ nodes.
    const s = await ortBackend().createSession(output, { threads: 1 });
    const out = await s.run({ x: { type: DataType.FLOAT, dims: [2, 16], data: new Float32Array(32).fill(0.5) } });
    await s.release();
    assert.deepEqual(out.logits.dims, [2, 10]);
    assert.ok(fs.readFileSync(output).includes(Buffer.from('DequantizeLinear')));
    // No temporary files are left beside the output.
    assert.deepEqual(fs.readdirSync(path.dirname(output)), ['mlp.qdq.onnx']);
    // Comparing it with the float model tensor by tensor gives the same output metrics as the export measured.
    const cmp = await engine.connection.sendRequest(CompareRequest, { float: model, quantized: output, data: { samples: 16 } });
    assert.ok(cmp.tensors.some((t) => t.tensor === 'logits'));
    for (let i = 0; i < 6; i++) assert.ok(cmp.tensors.some((t) => t.producer === `/fc${i}/MatMul`), `layer ${i} output compared`);
    assert.ok(cmp.tensors.every((t) => Number.isFinite(t.sqnrDb) && t.maxAbsDiff >= 0 && t.cosine <= 1));
    assert.ok(Math.abs(cmp.outputs.sqnrDb - res.metrics.sqnrDb) < 1e-6, `${cmp.outputs.sqnrDb} vs ${res.metrics.sqnrDb}`);
  });

  it('an export with a recipe naming an unknown layer fails without writing the output', async () => {
    const model = writeMlp(path.join(dir, 'mlp2.onnx'));
    const output = path.join(dir, 'mlp2.qdq.onnx');
    const recipe = { version: 1, model: 'mlp2.onnx', defaults: {}, layers: { '/fc9/MatMul': 'float' as const } };
    await assert.rejects(engine.connection.sendRequest(ExportRequest, { model, output, recipe }), (e: ResponseError<{ code: string }>) => e.data?.code === 'recipe-unknown-layer' && /fc9/.test(e.message));
    assert.equal(fs.existsSync(output), false);
  });

  it('evaluates recipes: keeping a layer in float makes the model bigger and never hurts its SQNR much', async () => {
    const model = writeMlp(path.join(dir, 'mlp3.onnx'));
    const w4 = { version: 1, model: 'mlp3.onnx', defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} };
    const a = await engine.connection.sendRequest(EvaluateRequest, { model, recipe: w4, data: { samples: 16 } });
    const b = await engine.connection.sendRequest(EvaluateRequest, { model, recipe: { ...w4, layers: { '/fc0/MatMul': 'float' as const, '/fc1/MatMul': { weights: 'int8/per-channel' } } }, data: { samples: 16 } });
    assert.ok(Number.isFinite(a.metrics.sqnrDb) && Number.isFinite(b.metrics.sqnrDb));
    assert.ok(b.sizeBytes > a.sizeBytes, `float/int8 layers make it bigger: ${b.sizeBytes} vs ${a.sizeBytes}`);
    assert.ok(b.metrics.sqnrDb > a.metrics.sqnrDb - 1, `${b.metrics.sqnrDb} vs ${a.metrics.sqnrDb}`);
    // The second evaluation reused the activation ranges calibrated by the first (same data, same formats).
    const steps = (id: string) => jobLists.flatMap((l) => l.filter((j) => j.id === id).map((j) => j.message ?? ''));
    const ids = [...new Set(jobLists.flatMap((l) => l.filter((j) => j.kind === 'evaluate' && j.model === model).map((j) => j.id)))];
    assert.equal(ids.length, 2);
    assert.ok(steps(ids[0]).some((m) => m.startsWith('calibrating')), 'the first evaluation calibrated');
    assert.ok(!steps(ids[1]).some((m) => m.startsWith('calibrating')), 'the second did not');
    // The evaluated configuration is what export writes: same size, same metrics.
    const out = path.join(dir, 'mlp3.w4.onnx');
    const e = await engine.connection.sendRequest(ExportRequest, { model, recipe: w4, data: { samples: 16 }, output: out });
    assert.equal(e.sizeBytes, a.sizeBytes);
    assert.equal(e.metrics.sqnrDb, a.metrics.sqnrDb);
  });

  it('closing a model releases it; the step file shows no running job when idle', async () => {
    await engine.connection.sendNotification(CloseModelNotification, { model: CLS_MODEL });
    const info = await engine.connection.sendRequest(InspectRequest, { model: CLS_MODEL });
    assert.equal(info.layers.length, 54);
    const steps = JSON.parse(fs.readFileSync(path.join(dir, 'steps.json'), 'utf8'));
    assert.equal(steps.pid, engine.child.pid);
    assert.deepEqual(steps.jobs, []);
    assert.match(engine.stderr(), /quantlens-step .*"kind":"inspect"/);
  });
});
