// The shape probe of QAT (`probeModel`) fetches each tensor's Shape and first values instead of the tensor: the same
// shapes, element types and small integer values as fetching every tensor (`keepValues`), on every zoo architecture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/core/onnx/graph';
import { InferenceBackend } from '../../src/core/runtime/backend';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { feedRows, fixedBatch, readAllSamples } from '../../src/core/train/batches';
import { prepareForTraining } from '../../src/core/train/export';
import { probeModel } from '../../src/core/train/shape-probe';
import { ZOO } from '../fixtures/zoo';

for (const entry of ZOO) {
  test(`probeModel by Shape and head: the same shapes, types and small ints as fetching every tensor (${entry.name})`, async () => {
    const model = prepareForTraining(entry.build({ scale: 'tiny', seed: 3 }).model);
    const graph = new Graph(model);
    const samples = (await readAllSamples(syntheticDataSource(graph.inputs, { samples: 4 }))).inputs;
    const batch = fixedBatch(graph.inputs, '<model>') ?? 3;
    const feeds = feedRows(samples, Array.from({ length: batch }, (_, i) => i % 4));
    const inner = ortBackend();
    const fetched: string[][] = [];
    const backend: InferenceBackend = {
      version: inner.version,
      async createSession(m, o) {
        const s = await inner.createSession(m, o);
        return { inputNames: s.inputNames, outputNames: s.outputNames, run: (f, names, into) => { fetched.push([...(names ?? s.outputNames)]); return s.run(f, names, into); }, release: () => s.release() };
      },
    };
    const fast = await probeModel(backend, model, feeds);
    assert.equal(fetched.length, 1, 'one run');
    assert.ok(fetched[0].every((t) => /__ql_(shape|head)$/.test(t)), 'only Shapes and heads fetched');
    const full = await probeModel(backend, model, feeds, true);
    assert.equal(fast.values.size, 0);
    assert.deepEqual([...fast.shapes].sort(), [...full.shapes].sort(), 'shapes');
    assert.deepEqual([...fast.types].sort(), [...full.types].sort(), 'types');
    assert.deepEqual([...fast.ints].sort(), [...full.ints].sort(), 'ints');
    assert.ok(fast.ints.size > 0 || !graph.nodes.some((n) => n.opType === 'Shape'), 'shape arithmetic recorded');
  });
}
