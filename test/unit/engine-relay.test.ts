// The engine's main-thread relay: what it answers itself while the worker is busy, and what it drops afterwards.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, NotificationMessage, ResponseMessage } from 'vscode-jsonrpc';
import { Relay, STATUS_WAIT_MS } from '../../src/engine/relay';
import type { ToEngineWorker } from '../../src/shared/job-messages';
import type { EngineStatus, JobInfo } from '../../src/shared/protocol';

const job: JobInfo = { id: 'inspect-1', kind: 'inspect', model: '/m.onnx', startedAt: '2026-01-01T00:00:00Z', message: 'loading /m.onnx' };
const status: EngineStatus = { models: ['/m.onnx'], cacheBytes: 10, budgetBytes: 100, threads: 1, jobs: [job] };

function setup() {
  const client: Message[] = [];
  const worker: ToEngineWorker[] = [];
  const relay = new Relay((m) => client.push(m), (m) => worker.push(m));
  const responses = () => client.filter((m): m is ResponseMessage => 'id' in m && !('method' in m));
  const jobLists = () => client.filter((m): m is NotificationMessage => (m as NotificationMessage).method === 'quant/jobs').map((m) => (m.params as { jobs: JobInfo[] }).jobs);
  return { client, worker, relay, responses, jobLists };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('engine relay', () => {
  it('passes everything to the worker and back unchanged', () => {
    const { relay, worker, client } = setup();
    relay.fromClient({ jsonrpc: '2.0', id: 1, method: 'quant/inspect', params: { model: '/m.onnx' } } as Message);
    assert.equal(worker.length, 1);
    relay.fromWorker({ type: 'rpc', message: { jsonrpc: '2.0', id: 1, result: { ok: true } } as Message });
    assert.deepEqual(client, [{ jsonrpc: '2.0', id: 1, result: { ok: true } }]);
  });

  it('answers quant/status from the last state when the worker is busy, and drops the late answer', async () => {
    const { relay, responses } = setup();
    relay.fromWorker({ type: 'status', status });
    relay.fromClient({ jsonrpc: '2.0', id: 7, method: 'quant/status' } as Message);
    assert.equal(responses().length, 0, 'waits for the worker first');
    await sleep(STATUS_WAIT_MS + 50);
    assert.deepEqual(responses(), [{ jsonrpc: '2.0', id: 7, result: status }]);
    relay.fromWorker({ type: 'rpc', message: { jsonrpc: '2.0', id: 7, result: { ...status, jobs: [] } } as Message });
    assert.equal(responses().length, 1, 'the worker\'s late answer is not sent twice');
  });

  it('a cancelled job\'s request is answered as cancelled at once and the job leaves the list', () => {
    const { relay, responses, jobLists, worker } = setup();
    relay.fromClient({ jsonrpc: '2.0', id: 3, method: 'quant/inspect', params: { model: '/m.onnx' } } as Message);
    relay.fromWorker({ type: 'job', job: job.id, request: 3 });
    relay.fromWorker({ type: 'rpc', message: { jsonrpc: '2.0', method: 'quant/jobs', params: { jobs: [job] } } as Message });
    relay.fromClient({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 3 } } as Message);
    const r = responses();
    assert.equal(r.length, 1);
    assert.equal(r[0].error?.code, -32800);
    assert.deepEqual(r[0].error?.data, { code: 'cancelled', step: 'loading /m.onnx' });
    assert.deepEqual(jobLists().at(-1), []);
    assert.equal(worker.at(-1)?.message && (worker.at(-1)!.message as NotificationMessage).method, '$/cancelRequest', 'the worker is told too');
    // The worker still lists the job until ONNX Runtime returns; the client does not see it again.
    relay.fromWorker({ type: 'rpc', message: { jsonrpc: '2.0', method: 'quant/jobs', params: { jobs: [job] } } as Message });
    assert.deepEqual(jobLists().at(-1), []);
    relay.fromWorker({ type: 'rpc', message: { jsonrpc: '2.0', id: 3, error: { code: -32800, message: 'cancelled' } } as Message });
    assert.equal(responses().length, 1, 'the worker\'s own answer is dropped');
  });

  it('a job request cancelled before the worker started it is answered at once, and its job never shows', () => {
    const { relay, responses, jobLists } = setup();
    relay.fromClient({ jsonrpc: '2.0', id: 6, method: 'quant/export', params: { model: '/m.onnx', output: '/q.onnx' } } as Message);
    relay.fromClient({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 6 } } as Message);
    assert.deepEqual(responses().map((r) => [r.id, r.error?.code, (r.error?.data as { step: string }).step]), [[6, -32800, 'starting']]);
    relay.fromWorker({ type: 'job', job: 'export-3', request: 6 });
    const exportJob: JobInfo = { ...job, id: 'export-3', kind: 'export' };
    relay.fromWorker({ type: 'rpc', message: { jsonrpc: '2.0', method: 'quant/jobs', params: { jobs: [exportJob] } } as Message });
    assert.deepEqual(jobLists().at(-1), []);
  });

  it('quant/cancelJob ends the job\'s request the same way; requests that are not jobs are left to the worker', () => {
    const { relay, responses } = setup();
    relay.fromClient({ jsonrpc: '2.0', id: 4, method: 'quant/analyze', params: { model: '/m.onnx' } } as Message);
    relay.fromClient({ jsonrpc: '2.0', id: 5, method: 'textDocument/completion', params: {} } as Message);
    relay.fromWorker({ type: 'job', job: 'analyze-2', request: 4 });
    relay.fromClient({ jsonrpc: '2.0', method: 'quant/cancelJob', params: { id: 'analyze-2' } } as Message);
    relay.fromClient({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 5 } } as Message);
    assert.deepEqual(responses().map((r) => [r.id, r.error?.code]), [[4, -32800]]);
  });
});
