// Engine lifecycle: memory budget from initializationOptions and settings, closing models, and a crash mid-job
// leaving the model and step behind for the extension to report.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc';
import { DidChangeConfigurationNotification, LSPErrorCodes } from 'vscode-languageserver-protocol';
import { startEngine } from '../../src/engine/client-for-tests';
import {
  AnalyzePartialResult, AnalyzeRequest, CloseModelNotification, ENGINE_STEP_PREFIX, EngineStatusRequest, ExportRequest, InspectRequest,
  JobsNotification,
} from '../../src/shared/protocol';
import { CLS_MODEL, tempDir, writeMlp } from './engine-helpers';

describe('engine lifecycle', () => {
  it('keeps caches within the memory budget, follows quantlens.memoryBudgetMB and releases closed models', async () => {
    const dir = tempDir();
    const engine = await startEngine({ initializationOptions: { memoryBudgetMB: 1 } });
    try {
      const mlp = writeMlp(path.join(dir, 'mlp.onnx'), 6, 128); // 0.35 MB: with the classifier (0.58 MB) over 1 MB
      await engine.connection.sendRequest(InspectRequest, { model: CLS_MODEL });
      let st = await engine.connection.sendRequest(EngineStatusRequest);
      assert.equal(st.budgetBytes, 1024 * 1024);
      assert.deepEqual(st.models, [CLS_MODEL]);
      await engine.connection.sendRequest(InspectRequest, { model: mlp });
      st = await engine.connection.sendRequest(EngineStatusRequest);
      assert.deepEqual(st.models, [mlp], 'the least recently used model was released to fit 1 MB');
      assert.ok(st.cacheBytes <= st.budgetBytes);

      await engine.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { quantlens: { memoryBudgetMB: 64 } } });
      await engine.connection.sendRequest(InspectRequest, { model: CLS_MODEL });
      st = await engine.connection.sendRequest(EngineStatusRequest);
      assert.equal(st.budgetBytes, 64 * 1024 * 1024);
      assert.deepEqual(st.models.sort(), [CLS_MODEL, mlp].sort(), 'both models fit in 64 MB');

      await engine.connection.sendNotification(CloseModelNotification, { model: CLS_MODEL });
      st = await engine.connection.sendRequest(EngineStatusRequest);
      assert.deepEqual(st.models, [mlp]);
    } finally {
      await engine.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with maxJobs 1 a second job waits for the first, and runs once the first is cancelled', async () => {
    const dir = tempDir();
    const engine = await startEngine({ initializationOptions: { maxJobs: 1 } });
    try {
      const mlp = writeMlp(path.join(dir, 'mlp.onnx'));
      const messages: string[] = [];
      engine.connection.onNotification(JobsNotification, ({ jobs }) => { for (const j of jobs) if (j.kind === 'export' && j.message) messages.push(j.message); });
      const cts = new CancellationTokenSource();
      let exportAsked: Promise<unknown> | undefined;
      engine.connection.onProgress(AnalyzePartialResult, 'slots', () => {
        if (exportAsked) return;
        exportAsked = engine.connection.sendRequest(ExportRequest, { model: mlp, output: path.join(dir, 'mlp.q.onnx'), data: { samples: 8 } });
        setTimeout(() => cts.cancel(), 500);
      });
      await engine.connection.sendRequest(AnalyzeRequest, { model: CLS_MODEL, data: { samples: 2 }, formats: ['w8a8'], partialResultToken: 'slots' }, cts.token)
        .catch((e: ResponseError<unknown>) => { if (e.code !== LSPErrorCodes.RequestCancelled) throw e; });
      assert.ok(exportAsked, 'the export was sent while the analysis ran');
      await exportAsked;
      assert.ok(fs.existsSync(path.join(dir, 'mlp.q.onnx')));
      assert.equal(messages[0], 'waiting for another job to finish');
    } finally {
      await engine.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a crash in the middle of an analysis leaves the model and step in the step file and on stderr', async () => {
    const dir = tempDir();
    const stepFile = path.join(dir, 'engine-steps.json');
    const engine = await startEngine({ initializationOptions: { stepFile } });
    try {
      let layers = 0;
      engine.connection.onProgress(AnalyzePartialResult, 'crash', (l) => {
        layers += l.length;
        if (layers === 2) engine.child.kill('SIGKILL'); // stands in for a native crash or an out-of-memory kill
      });
      const pending = engine.connection.sendRequest(AnalyzeRequest, { model: CLS_MODEL, data: { samples: 2 }, formats: ['w8a8'], measure: 'all', partialResultToken: 'crash' });
      pending.catch(() => {});
      assert.equal(await engine.exited, 'SIGKILL');
      const state = JSON.parse(fs.readFileSync(stepFile, 'utf8'));
      assert.equal(state.pid, engine.child.pid);
      assert.equal(state.jobs.length, 1);
      assert.equal(state.jobs[0].kind, 'analyze');
      assert.equal(state.jobs[0].model, CLS_MODEL);
      assert.match(state.jobs[0].step, /^analysing layer /);
      const last = engine.stderr().split('\n').filter((l) => l.startsWith(ENGINE_STEP_PREFIX)).at(-1)!;
      assert.equal(JSON.parse(last.slice(ENGINE_STEP_PREFIX.length)).model, CLS_MODEL);
    } finally {
      await engine.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
