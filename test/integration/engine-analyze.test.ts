// The engine's analysis over stdio: partial results and progress, cancellation (by request and by job id), recovery.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc';
import { LSPErrorCodes, WorkDoneProgress } from 'vscode-languageserver-protocol';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import {
  AnalyzePartialResult, AnalyzeRequest, CancelJobNotification, EngineStatus, EngineStatusRequest, EngineErrorInfo, EngineErrorNotification, InspectRequest,
  JobInfo, JobsNotification, RecommendRequest,
} from '../../src/shared/protocol';
import type { LayerReport } from '../../src/shared/report';
import { CLS_MODEL, tempDir, writeMlp } from './engine-helpers';

describe('engine process: analysis', () => {
  let engine: EngineClient;
  let dir: string;
  const errors: EngineErrorInfo[] = [];
  let jobs: JobInfo[] = [];

  before(async () => {
    dir = tempDir();
    engine = await startEngine({ initializationOptions: { memoryBudgetMB: 256 } });
    engine.connection.onNotification(EngineErrorNotification, (e) => { errors.push(e); });
    engine.connection.onNotification(JobsNotification, (j) => { jobs = j.jobs; });
  });
  after(async () => {
    await engine?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('analyzes a small model, streaming one partial result per layer and reporting progress', async () => {
    const model = writeMlp(path.join(dir, 'mlp.onnx'));
    const partial: LayerReport[] = [];
    const progress: string[] = [];
    const percents: number[] = [];
    const p1 = engine.connection.onProgress(AnalyzePartialResult, 'partial-1', (layers) => { partial.push(...layers); });
    const p2 = engine.connection.onProgress(WorkDoneProgress.type, 'work-1', (v) => {
      progress.push(v.kind);
      if (v.kind !== 'end' && v.percentage !== undefined) percents.push(v.percentage);
    });
    const reportPath = path.join(dir, 'mlp.report.json');
    const htmlPath = path.join(dir, 'mlp.report.html');
    const recipeOut = path.join(dir, 'mlp.qrecipe.json');
    const report = await engine.connection.sendRequest(AnalyzeRequest, {
      model, data: { samples: 16 }, formats: ['w8a8', 'w4a8'], target: { kind: 'min-sqnr-db', value: 20 },
      reportPath, htmlPath, recipeOut, workDoneToken: 'work-1', partialResultToken: 'partial-1',
    });
    p1.dispose(); p2.dispose();
    assert.equal(report.layers.length, 7, '6 hidden MatMuls and the head');
    assert.deepEqual(partial.map((l) => l.name).sort(), report.layers.map((l) => l.name).sort(), 'every layer arrived as a partial result');
    for (const l of partial) assert.ok(Object.keys(l.formats).length >= 2, `layer ${l.name} has results for both formats`);
    assert.equal(progress[0], 'begin');
    assert.equal(progress.at(-1), 'end');
    assert.ok(progress.includes('report'));
    assert.ok(percents.every((p, i) => i === 0 || p >= percents[i - 1]), `progress never goes back: ${percents}`);
    for (const l of report.layers) for (const f of Object.values(l.formats)) if (f.isolated) assert.ok(Number.isFinite(f.isolated.sqnrDb));
    const written = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
    assert.equal(written.layers.length, 7);
    assert.ok(report.recommendation, 'a target gives a recommendation');
    assert.deepEqual(JSON.parse(fs.readFileSync(recipeOut, 'utf8')), report.recommendation!.recipe);
    const html = fs.readFileSync(htmlPath, 'utf8');
    assert.match(html, /<html/i);
    assert.ok(html.includes('/fc3/MatMul'), 'the HTML report lists the layers');
  });

  it('answers other requests while an analysis runs (the JSON-RPC loop is not blocked)', async () => {
    let inspected = false;
    let inspectedWhileRunning = false;
    let analysisDone = false;
    let asked = false;
    let status: EngineStatus | undefined;
    const cts = new CancellationTokenSource();
    const sub = engine.connection.onProgress(AnalyzePartialResult, 'partial-4', () => {
      if (asked) return;
      asked = true;
      void engine.connection.sendRequest(InspectRequest, { model: CLS_MODEL }).then(async (info) => {
        inspected = info.layers.length === 54;
        inspectedWhileRunning = !analysisDone;
        status = await engine.connection.sendRequest(EngineStatusRequest);
        cts.cancel(); // the point is made; stop the analysis
      });
    });
    await engine.connection.sendRequest(AnalyzeRequest, { model: CLS_MODEL, data: { samples: 2 }, formats: ['w8a8'], measure: 'all', partialResultToken: 'partial-4' }, cts.token)
      .catch((e: ResponseError<unknown>) => { if (e.code !== LSPErrorCodes.RequestCancelled) throw e; });
    analysisDone = true;
    sub.dispose();
    assert.ok(inspected, 'the inspect request was answered');
    assert.ok(inspectedWhileRunning, 'the inspect answer came before the analysis ended');
    // While it ran, the analysis's activations were counted in the cache memory beside the model itself.
    assert.ok(status!.jobs.some((j) => j.kind === 'analyze' && j.model === CLS_MODEL));
    assert.ok(status!.cacheBytes > fs.statSync(CLS_MODEL).size * 1.5, `cache ${status!.cacheBytes} B`);
  });

  it('recommends layers to keep in higher precision, verified by running', async () => {
    const model = path.join(dir, 'mlp.onnx');
    const rec = await engine.connection.sendRequest(RecommendRequest, { model, target: { kind: 'min-sqnr-db', value: 25 }, base: 'w4a8', higher: 'w8a8', data: { samples: 16 } });
    assert.equal(rec.base.id, 'w4a8');
    assert.equal(rec.higher.id, 'w8a8');
    assert.ok(rec.pareto.length >= 2 && rec.pareto.every((p) => p.verified), 'every Pareto point was run');
    if (rec.met) assert.ok(rec.metrics.sqnrDb >= 25, `met but SQNR ${rec.metrics.sqnrDb}`);
    assert.ok(rec.keep.every((k) => k.includes('MatMul')));
    assert.equal(typeof rec.recipe.defaults, 'object');
  });

  it('cancelling an analysis halfway stops it with RequestCancelled; the engine then answers the next request', async () => {
    const cts = new CancellationTokenSource();
    let received = 0;
    const sub = engine.connection.onProgress(AnalyzePartialResult, 'partial-2', (layers) => {
      received += layers.length;
      if (received === 3) cts.cancel();
    });
    const err = await engine.connection.sendRequest(AnalyzeRequest, { model: CLS_MODEL, data: { samples: 4 }, formats: ['w8a8'], measure: 'all', partialResultToken: 'partial-2' }, cts.token)
      .then(() => undefined, (e: unknown) => e);
    sub.dispose();
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${err}`);
    assert.equal(err.code, LSPErrorCodes.RequestCancelled);
    assert.ok(received >= 3 && received < 54, `stopped after ${received} of 54 layers`);
    const info = await engine.connection.sendRequest(InspectRequest, { model: CLS_MODEL });
    assert.equal(info.layers.length, 54);
    assert.equal(errors.length, 0, 'a cancellation is not reported as an engine error');
  });

  it('CancelJobNotification cancels a running analysis by its job id', async () => {
    let jobId: string | undefined;
    let sent = false;
    const sub = engine.connection.onProgress(AnalyzePartialResult, 'partial-3', () => {
      jobId ??= jobs.find((j) => j.kind === 'analyze')?.id;
      if (jobId && !sent) { sent = true; void engine.connection.sendNotification(CancelJobNotification, { id: jobId }); }
    });
    await assert.rejects(
      engine.connection.sendRequest(AnalyzeRequest, { model: CLS_MODEL, data: { samples: 4 }, formats: ['w8a8'], measure: 'all', partialResultToken: 'partial-3' }),
      (e: ResponseError<unknown>) => e.code === LSPErrorCodes.RequestCancelled,
    );
    sub.dispose();
    assert.ok(jobId?.startsWith('analyze-'));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(jobs, [], 'the job list is empty after the cancellation');
  });
});
