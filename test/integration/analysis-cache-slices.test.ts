// The calibration pass run in slices of fewer samples (ActivationCache `sliceBytes`) keeps the same graph outputs and
// gives the observer exactly the same statistics; a model that does not take slices runs its batches whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActivationCache } from '../../src/core/analysis/activation-cache';
import { ActivationObserver } from '../../src/core/analysis/layer-stats';
import { batchAxisFree, fitsJoin, joinBy, joinSlices, sliceFeeds, sliceJoin, sliceSamples } from '../../src/core/analysis/batch-slices';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { mustParseFormat } from '../../src/shared/formats';
import { InferenceBackend } from '../../src/core/runtime/backend';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { arraySource, normalData, wideChannelNet } from './analysis-models';

/** A backend that counts runs and the samples each run was fed. */
function countingBackend(): { backend: InferenceBackend; runs: number[] } {
  const inner = ortBackend();
  const runs: number[] = [];
  const backend = { version: inner.version, createSession: async (m: Uint8Array | string, so?: object) => {
    const s = await inner.createSession(m, so);
    return { inputNames: s.inputNames, outputNames: s.outputNames, release: () => s.release(), run: (f: Parameters<typeof s.run>[0], o?: readonly string[]) => { runs.push(Object.values(f)[0].dims[0]); return s.run(f, o); } };
  } } as InferenceBackend;
  return { backend, runs };
}

/** Captures `model` over 20 samples in batches of 8, observing every intermediate tensor, with and without slices. */
async function capture(model: ModelProto, slice?: number) {
  const graph = new Graph(model);
  const observed = graph.nodes.flatMap((n) => n.outputs).filter((t) => t && !graph.outputs.some((o) => o.name === t));
  const observer = new ActivationObserver({ method: 'minmax' }, [mustParseFormat('uint8')], 100);
  const { backend, runs } = countingBackend();
  const cache = await ActivationCache.capture({
    graph, backend, data: arraySource('x', [4, 8, 8], normalData(20, 256, 41)), tensors: [], observed, batchSize: 8,
    observe: (n, t, part) => observer.observe(n, t, part), bytesPerSample: () => 4 * 8 * 8 * 8,
    sliceBytes: slice ? slice * 4 * 8 * 8 * 8 * (observed.length + 1) : undefined, // `slice` samples of every fetch
  });
  const outputs = [0, 1, 2].map((b) => cache.get(b, graph.outputs[0].name));
  const stats = observed.map((t) => observer.stats(t, observer.range(t, mustParseFormat('uint8'))!));
  const feeds = [0, 1, 2].map((b) => cache.get(b, 'x').dims);
  cache.dispose();
  return { outputs, stats, runs, feeds };
}

test('a batch captured in slices keeps the same outputs and gives the observer the same statistics', async () => {
  const whole = await capture(wideChannelNet());
  const sliced = await capture(wideChannelNet(), 3);
  assert.deepEqual(whole.runs, [8, 8, 4]);
  assert.deepEqual(sliced.runs, [3, 3, 2, 3, 3, 2, 3, 1]);
  assert.deepEqual(sliced.feeds, whole.feeds);
  assert.deepEqual(sliced.outputs, whole.outputs);
  assert.deepEqual(sliced.stats, whole.stats);
});

test('a model whose graph fixes the batch runs its batches whole', async () => {
  // x → Conv → Reshape to (8, -1): a slice of fewer than 8 samples fails in ONNX Runtime
  const b = new GraphBuilder('fixed_reshape');
  const x = b.input('x', DataType.FLOAT, ['N', 4, 8, 8]);
  const w = b.initializer('w', { type: DataType.FLOAT, dims: [8, 4, 1, 1], data: normalData(1, 32, 5) });
  const c = b.node('Conv', [x, w], { kernel_shape: [1, 1] }, { name: 'conv' });
  const shape = b.initializer('shape', { type: DataType.INT64, dims: [2], data: BigInt64Array.from([8n, -1n]) });
  const y = b.node('Reshape', [c, shape], {}, { output: 'y' });
  b.output(y, DataType.FLOAT, [8, 512]);
  const graph = new Graph(b.model(13));
  const { backend, runs } = countingBackend();
  const cache = await ActivationCache.capture({
    graph, backend, data: arraySource('x', [4, 8, 8], normalData(16, 256, 42)), tensors: [], observed: [c], observe: () => {}, batchSize: 8,
    bytesPerSample: () => 4 * 8 * 8 * 8, sliceBytes: 1,
  });
  assert.deepEqual(runs, [2, 8, 8]); // the first slice fails, then every batch runs whole
  assert.deepEqual(cache.get(1, 'y').dims, [8, 512]);
  cache.dispose();
});

test('slices: a free batch axis, the slice size, views of the feeds and the outputs joined back', () => {
  assert.equal(batchAxisFree(new Graph(wideChannelNet())), true);
  const t = { type: DataType.FLOAT, dims: [8, 2], data: Float32Array.from({ length: 16 }, (_, i) => i) };
  assert.equal(sliceSamples({ x: t }, 8, 100, 800), undefined); // fits
  assert.equal(sliceSamples({ x: t }, 8, 100, 250), 2);
  assert.equal(sliceSamples({ x: t }, 8, 100, 10), 2); // never below two samples
  assert.equal(sliceSamples({ x: t }, 3, 100, 10), undefined); // too small to cut
  const parts = [0, 3, 6].map((s) => sliceFeeds({ x: t }, s, Math.min(8, s + 3)).x);
  assert.deepEqual(parts.map((p) => p.dims), [[3, 2], [3, 2], [2, 2]]);
  assert.deepEqual(joinSlices(parts), t);
});

/** Extends a capture of `model` (20 samples, batches of 8) by `tensors`, with slices of 3 samples or whole. */
async function extend(model: ModelProto, tensors: string[], sliced: boolean) {
  const graph = new Graph(model);
  const { backend, runs } = countingBackend();
  const o = { graph, backend, data: arraySource('x', [4, 8, 8], normalData(20, 256, 43)), batchSize: 8, bytesPerSample: () => 4 * 256, sliceBytes: sliced ? 3 * 4 * 256 * tensors.length : undefined };
  const cache = await ActivationCache.capture({ ...o, tensors: [] });
  runs.length = 0;
  await cache.extend({ ...o, tensors });
  const values = [0, 1, 2].map((b) => tensors.map((t) => cache.get(b, t)));
  cache.dispose();
  return { values, runs };
}

test('kept intermediate tensors captured in slices are joined back to the same values; a tensor not batch-first runs whole', async () => {
  const graph = new Graph(wideChannelNet());
  const kept = ['conv1', 'conv3'].map((n) => graph.byName.get(n)!.outputs[0]);
  const whole = await extend(wideChannelNet(), kept, false);
  const sliced = await extend(wideChannelNet(), kept, true);
  assert.deepEqual(sliced.runs, [1, 3, 3, 2, 3, 3, 2, 3, 1]); // the first sample alone, then slices of 3
  assert.deepEqual(sliced.values.map((b) => b.map((t) => t.dims)), whole.values.map((b) => b.map((t) => t.dims)));
  for (const [b, ts] of sliced.values.entries()) for (const [i, t] of ts.entries()) {
    const w = whole.values[b][i].data as Float32Array;
    (t.data as Float32Array).forEach((v, j) => assert.ok(Math.abs(v - w[j]) <= 1e-5 * (1 + Math.abs(w[j])), `batch ${b} ${kept[i]}[${j}]`));
  }

  // x (N, 4, 8, 8) → Transpose to (4, N, 8, 8) → Reshape (4N, 64): the first dim follows the samples, the layout does not
  const b = new GraphBuilder('not_batch_first');
  const x = b.input('x', DataType.FLOAT, ['N', 4, 8, 8]);
  const tr = b.node('Transpose', [x], { perm: [1, 0, 2, 3] });
  const shape = b.initializer('shape', { type: DataType.INT64, dims: [2], data: BigInt64Array.from([-1n, 64n]) });
  const r = b.node('Reshape', [tr, shape], {}, { output: 'r' });
  const y = b.node('Relu', [r], {}, { output: 'y' });
  b.output(y, DataType.FLOAT, ['M', 64]);
  const m = b.model(13);
  const w2 = await extend(m, ['r'], false);
  const s2 = await extend(m, ['r'], true);
  assert.deepEqual(s2.runs, [1, 3, 8, 8, 4]); // the first slice does not start with the first sample's values: every batch runs whole
  assert.deepEqual(s2.values, w2.values);
});

test('slice joins: a shape tensor counting samples is scaled to the batch, a tensor without the batch is taken as is', () => {
  const s0 = { type: DataType.INT64, dims: [3], data: BigInt64Array.from([197n, 12n, -1n]) }; // (197·N, 12, -1) at N = 1
  const s2 = { type: DataType.INT64, dims: [3], data: BigInt64Array.from([394n, 12n, -1n]) };
  assert.equal(sliceJoin(s2, s0, 2), 'scaled');
  assert.equal(fitsJoin('scaled', { ...s2, data: BigInt64Array.from([591n, 12n, -1n]) }, s0, 3), true);
  assert.equal(fitsJoin('scaled', { ...s2, data: BigInt64Array.from([592n, 12n, -1n]) }, s0, 3), false);
  assert.deepEqual(Array.from(joinBy('scaled', [s2, s2], s0, 8).data as BigInt64Array), [1576n, 12n, -1n]);
  assert.equal(sliceJoin({ ...s2, data: BigInt64Array.from([395n, 12n, -1n]) }, s0, 2), undefined); // not a count of samples
  const pos = { type: DataType.FLOAT, dims: [1, 4], data: Float32Array.from([1, 2, 3, 4]) };
  assert.equal(sliceJoin(pos, pos, 2), 'same');
  assert.equal(sliceJoin({ ...pos, data: Float32Array.from([2, 4, 6, 8]) }, pos, 2), undefined); // floats are never scaled
  assert.equal(joinBy('same', [pos, pos], pos, 8), pos);
  const x0 = { type: DataType.FLOAT, dims: [1, 2], data: Float32Array.from([1, 2]) };
  assert.equal(sliceJoin({ type: DataType.FLOAT, dims: [2, 2], data: Float32Array.from([1, 2, 5, 6]) }, x0, 2), 'stack');
  assert.equal(sliceJoin({ type: DataType.FLOAT, dims: [2, 2], data: Float32Array.from([1, 5, 2, 6]) }, x0, 2), undefined); // samples interleaved
});

test('the observer lets go of its subsamples and keeps the ranges', () => {
  const o = new ActivationObserver({ method: 'minmax' }, [mustParseFormat('uint8')], 16);
  o.observe('t', { type: DataType.FLOAT, dims: [64], data: Float32Array.from({ length: 64 }, (_, i) => i - 10) });
  assert.ok(o.stats('t', { min: -10, max: 53 }).histogram.counts.some((c) => c > 0));
  o.dropSamples();
  assert.deepEqual(o.range('t', mustParseFormat('uint8')), { min: -10, max: 53 });
  assert.throws(() => o.stats('t', { min: -10, max: 53 }));
});
