// Embedding tables are screened from the rows their indices pick (screening-gather.ts) instead of a table-sized
// gradient: on a small embedding model with repeated and negative indices, the estimates equal the dense path's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenLayers } from '../../src/core/analysis/screening';
import { addGatherRun } from '../../src/core/analysis/screening-gather';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { DataType } from '../../src/core/onnx/proto';
import { Tensor, toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { DataBatch, DataSource } from '../../src/core/data/source';
import { mustParseFormat } from '../../src/shared/formats';
import { Rng } from '../../src/core/train/random';

const ROWS = 12, WIDTH = 6, TOKENS = 7;

function embeddingModel(): Graph {
  const rng = new Rng(3);
  const b = new GraphBuilder('emb');
  const ids = b.input('ids', DataType.INT64, ['N', TOKENS]);
  const table = Float32Array.from({ length: ROWS * WIDTH }, () => rng.normal());
  const e = b.node('Gather', [b.initializer('table', { type: DataType.FLOAT, dims: [ROWS, WIDTH], data: table }), ids], { axis: 0 }, { name: 'embed' });
  const w = Float32Array.from({ length: WIDTH * 4 }, () => rng.normal() * 0.4);
  const y = b.node('MatMul', [b.node('Tanh', [e]), b.initializer('w', { type: DataType.FLOAT, dims: [WIDTH, 4], data: w })], {}, { name: 'head', output: 'y' });
  b.output(y, DataType.FLOAT, ['N', TOKENS, 4]);
  return new Graph(b.model(17), 'emb.onnx');
}

/** Token ids with repeats in every sample and a negative (from the end) index. */
function idSource(count: number): DataSource {
  const rng = new Rng(11);
  const ids = BigInt64Array.from({ length: count * TOKENS }, (_, i) => BigInt(i % 5 === 0 ? -1 : Math.floor(rng.next() * 4)));
  return {
    description: { kind: 'npy', synthetic: false, samples: count, source: 'memory', labeled: false },
    samples: count,
    async *batches(batchSize: number): AsyncIterable<DataBatch> {
      for (let s = 0; s < count; s += batchSize) {
        const n = Math.min(batchSize, count - s);
        const t: Tensor = { type: DataType.INT64, dims: [n, TOKENS], data: ids.slice(s * TOKENS, (s + n) * TOKENS) };
        yield { feeds: { ids: t } };
      }
    },
  };
}

test('embedding tables screened from their rows give the dense gradient path\'s estimates (Fisher and Taylor)', async () => {
  const graph = embeddingModel();
  const backend = ortBackend();
  const layers = await buildInventoryAsync(graph, backend, { feeds: { ids: { type: DataType.INT64, dims: [1, TOKENS], data: new BigInt64Array(TOKENS) } } });
  assert.deepEqual(layers.map((l) => l.opType).sort(), ['Gather', 'MatMul']);
  const floatWeights = new Map(layers.map((l) => [l.name, Float32Array.from(toFloat32(graph.constantValue(l.weight!.tensor)!))]));
  const run = (sparseGathers: boolean, batchSize: number) => screenLayers({
    graph, layers, backend, data: idSource(6), floatOutputs: ['y'], floatWeights, batchSize, sparseGathers,
    weightFormats: [mustParseFormat('int8/per-channel'), mustParseFormat('int4/per-tensor')], activationFormats: [],
    activationSetting: () => { throw new Error('no activation formats'); },
  });
  for (const batch of [1, 3]) {
    const dense = await run(false, batch), sparse = await run(true, batch);
    assert.equal(sparse.unsupported.size, 0);
    for (const l of layers) {
      for (const [key, e] of dense.weightNoise.get(l.name)!) {
        const s = sparse.weightNoise.get(l.name)!.get(key)!;
        assert.ok(e.fisher > 0, `${l.name} ${key}: a nonzero estimate`);
        assert.ok(Math.abs(s.fisher - e.fisher) <= 1e-5 * e.fisher, `${l.name} ${key} batch ${batch}: sparse ${s.fisher}, dense ${e.fisher}`);
        assert.ok(e.taylor !== undefined && s.taylor !== undefined && Math.abs(s.taylor - e.taylor) <= 1e-4 * e.taylor + 1e-12, `${l.name} ${key} Taylor: ${s.taylor} vs ${e.taylor}`);
      }
    }
  }
});

test('addGatherRun sums a run\'s rows per index before squaring (repeats, negative indices)', () => {
  const fisher = new Float32Array(3 * 2);
  const delta = Float32Array.from([1, 0, 0, 1, 2, 2]);
  const dots = addGatherRun({ layer: 'g', indices: 'i', gy: 'gy', dims: [3, 2] }, { type: DataType.INT64, dims: [3], data: BigInt64Array.from([0n, -1n, 0n]) },
    { type: DataType.FLOAT, dims: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, fisher, [delta]);
  // row 0 gets (1,2)+(5,6) = (6,8); row 2 (index -1) gets (3,4)
  assert.deepEqual(Array.from(fisher), [36, 64, 0, 0, 9, 16]);
  assert.deepEqual(dots, [6 * 1 + 8 * 0 + 3 * 2 + 4 * 2]);
});
