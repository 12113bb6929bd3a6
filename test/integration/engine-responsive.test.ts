// Liveness while the engine works: `quant/status` is answered during long analyses and QAT runs, and cancelling the
// request ends the job promptly, leaving no job behind. Bounds are generous (the machine is shared): they catch a
// frozen event loop (the old `data.samples: 1e9` freeze), not speed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { EngineStatusRequest } from '../../src/shared/protocol';
import { tempDir, writeMlp } from './engine-helpers';

describe('engine liveness during long jobs', () => {
  let engine: EngineClient;
  let dir: string;
  let mlp: string;
  before(async () => {
    dir = tempDir();
    mlp = writeMlp(path.join(dir, 'mlp.onnx'), 4, 64);
    engine = await startEngine({ initializationOptions: { memoryBudgetMB: 128 } });
  });
  after(async () => { await engine?.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  /** Starts `method`, polls quant/status for `pollMs`, cancels, and returns the slowest status answer and the cancel time. */
  async function pollThenCancel(method: string, params: object, pollMs: number): Promise<{ worst: number; cancelMs: number; error: unknown; sawJob: boolean }> {
    const source = new CancellationTokenSource();
    const done = engine.connection.sendRequest(method, params, source.token).then(() => undefined, (e: unknown) => e);
    let worst = 0;
    let sawJob = false;
    const end = Date.now() + pollMs;
    while (Date.now() < end) {
      const t = Date.now();
      const s = await engine.connection.sendRequest(EngineStatusRequest);
      worst = Math.max(worst, Date.now() - t);
      if (s.jobs.some((j) => j.kind === method.slice(6))) sawJob = true;
      await new Promise((r) => setTimeout(r, 100));
    }
    const c = Date.now();
    source.cancel();
    const error = await done;
    return { worst, cancelMs: Date.now() - c, error, sawJob };
  }

  it('a long analysis: status answered throughout, $/cancelRequest ends it', async (t) => {
    const r = await pollThenCancel('quant/analyze', { model: mlp, data: { samples: 100000 } }, 3000);
    t.diagnostic(`analyze: slowest status ${r.worst} ms, cancel ${r.cancelMs} ms`);
    assert.ok(r.sawJob, 'the analysis was running');
    assert.ok(r.worst < 3000, `quant/status answered within 3 s (slowest ${r.worst} ms)`);
    assert.ok(r.error instanceof ResponseError && r.error.code === -32800, `cancelled: ${r.error}`);
    assert.ok(r.cancelMs < 10_000, `cancel took ${r.cancelMs} ms`);
  });

  it('a long QAT run: status answered throughout, $/cancelRequest ends it', async (t) => {
    const r = await pollThenCancel('quant/qat', { model: mlp, output: path.join(dir, 'q.onnx'), steps: 1_000_000, batchSize: 1 }, 3000);
    t.diagnostic(`qat: slowest status ${r.worst} ms, cancel ${r.cancelMs} ms`);
    assert.ok(r.sawJob, 'QAT was running');
    assert.ok(r.worst < 3000, `quant/status answered within 3 s (slowest ${r.worst} ms)`);
    assert.ok(r.error instanceof ResponseError && r.error.code === -32800, `cancelled: ${r.error}`);
    assert.ok(r.cancelMs < 10_000, `cancel took ${r.cancelMs} ms`);
    assert.ok(!fs.existsSync(path.join(dir, 'q.onnx')), 'no output after a cancelled run');
  });

  it('no job is left, and the engine answers', async () => {
    const end = Date.now() + 5000;
    let s = await engine.connection.sendRequest(EngineStatusRequest);
    while (s.jobs.length && Date.now() < end) { await new Promise((r) => setTimeout(r, 100)); s = await engine.connection.sendRequest(EngineStatusRequest); }
    assert.deepEqual(s.jobs, []);
  });
});
