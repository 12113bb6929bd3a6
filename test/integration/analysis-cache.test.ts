// The activation cache spills beyond its memory budget with identical results, is removed on dispose, and
// an analysis stops between runs when its AbortSignal fires.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { ActivationCache } from '../../src/core/analysis/activation-cache';
import { Graph } from '../../src/core/onnx/graph';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { arraySource, normalData, wideChannelNet } from './analysis-models';

test('a tiny memory budget spills to disk and gives the same report numbers; dispose removes the files', async () => {
  const model = wideChannelNet();
  const data = () => arraySource('x', [4, 8, 8], normalData(24, 256, 31));
  const opts = { modelPath: 'wide.onnx', model, formats: ['w8-pt', 'a8'], allButOne: false, batchSize: 8 };
  const inMemory = await analyzeModel({ ...opts, data: data() });
  const spilled = await analyzeModel({ ...opts, data: data(), memoryBudgetBytes: 1024 });
  assert.deepEqual(spilled.layers.map((l) => l.formats), inMemory.layers.map((l) => l.formats));
  assert.deepEqual(spilled.allQuantized, inMemory.allQuantized);

  const graph = new Graph(model);
  const cache = await ActivationCache.capture({ graph, backend: ortBackend(), data: data(), tensors: ['conv2', 'conv1'].map((n) => graph.byName.get(n)!.outputs[0]), batchSize: 8, memoryBudgetBytes: 4096 });
  assert.equal(cache.batches, 3);
  assert.equal(cache.samples, 24);
  assert.ok(cache.usage.disk > 0 && cache.usage.memory <= 4096);
  const t = cache.get(2, graph.byName.get('conv2')!.outputs[0]);
  assert.deepEqual(t.dims, [8, 8, 8, 8]);
  const dir = (cache as unknown as { dir?: string }).dir!;
  assert.ok(fs.existsSync(dir));
  const c1 = graph.byName.get('conv1')!.outputs[0];
  cache.retain(['x', c1]); // conv2's output goes, from memory and from the spill folder
  assert.equal(cache.has(graph.byName.get('conv2')!.outputs[0]), false);
  assert.deepEqual(cache.get(2, c1).dims, [8, 8, 8, 8]);
  assert.equal(cache.get(0, 'x').dims[0], 8);
  assert.ok(cache.usage.memory + cache.usage.disk === 3 * (8 * 256 + 8 * 512) * 4, JSON.stringify(cache.usage));
  cache.dispose();
  assert.ok(!fs.existsSync(dir));
});

test('an aborted analysis stops between runs with an AbortError', async () => {
  const ac = new AbortController();
  let layers = 0;
  await assert.rejects(
    analyzeModel({
      modelPath: 'wide.onnx', model: wideChannelNet(), data: arraySource('x', [4, 8, 8], normalData(8, 256, 32)), formats: ['w8-pc'],
      signal: ac.signal, onLayer: () => { layers++; ac.abort(); },
    }),
    (e: Error) => e.name === 'AbortError',
  );
  assert.equal(layers, 1);
});

test('fetches split into several runs per batch (a small per-run budget) keep and observe exactly the same values', async () => {
  const model = wideChannelNet();
  const graph = new Graph(model);
  const data = () => arraySource('x', [4, 8, 8], normalData(16, 256, 33));
  const kept = [graph.byName.get('conv2')!.outputs[0]];
  const observed = graph.nodes.flatMap((n) => n.outputs).filter((t) => t && !graph.outputs.some((o) => o.name === t));
  const capture = async (fetchBytesPerRun?: number) => {
    const seen: Record<string, number[]> = {};
    let runs = 0;
    const backend = ortBackend();
    const counting = { version: backend.version, createSession: async (m: Uint8Array | string, so?: object) => {
      const s = await backend.createSession(m, so);
      return { inputNames: s.inputNames, outputNames: s.outputNames, release: () => s.release(), run: (f: Parameters<typeof s.run>[0], o?: string[]) => { runs++; return s.run(f, o); } };
    } } as typeof backend;
    const cache = await ActivationCache.capture({ graph, backend: counting, data: data(), tensors: kept, observed, observe: (n, t) => (seen[n] ??= []).push(...Array.from(t.data as Float32Array)), batchSize: 8,
      bytesPerSample: () => 4 * 8 * 8 * 8, fetchBytesPerRun });
    const values = [0, 1].map((b) => Array.from(cache.get(b, kept[0]).data as Float32Array));
    cache.dispose();
    return { seen, values, runs };
  };
  const one = await capture();
  const split = await capture(4 * 8 * 8 * 8 * 8); // one tensor of 8 samples per run
  assert.equal(one.runs, 2);
  assert.ok(split.runs >= 2 * observed.length, `${split.runs} runs for ${observed.length} observed tensors`);
  assert.deepEqual(split.values, one.values);
  assert.deepEqual(Object.keys(split.seen).sort(), Object.keys(one.seen).sort());
  for (const k of Object.keys(one.seen)) assert.deepEqual(split.seen[k], one.seen[k], k);
});
