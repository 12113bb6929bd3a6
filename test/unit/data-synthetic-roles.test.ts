// Synthetic inputs that fit each input: token ids drawn across the embedding table they index, attention masks of
// 0/1 (a prefix of ones), floats N(0,1), other integers in [0, 10); and the description says so per input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/core/onnx/graph';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType } from '../../src/core/onnx/proto';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { zooEntry } from '../fixtures/zoo';

async function firstBatch(graph: Graph, samples = 8) {
  const src = syntheticDataSource(graph.inputs, { samples, dims: { sequence: 32 } });
  for await (const b of src.batches(samples)) return { batch: b, description: src.description };
  throw new Error('no batch');
}

test('BERT-style inputs: token ids across the vocabulary, a 0/1 prefix mask, each described', async () => {
  const graph = new Graph(zooEntry('bert').build({ scale: 'tiny' }).model);
  assert.deepEqual(graph.inputs.map((i) => i.role), [{ kind: 'token-ids', vocab: 100, table: 'embeddings.word_embeddings.weight' }, { kind: 'mask' }]);
  const { batch, description } = await firstBatch(graph);
  const ids = Array.from(batch.feeds.input_ids.data as BigInt64Array, Number);
  assert.equal(batch.feeds.input_ids.type, DataType.INT64);
  assert.ok(ids.every((v) => v >= 0 && v < 100) && Math.max(...ids) >= 90 && new Set(ids).size > 60, 'ids spread over the table');
  const mask = Array.from(batch.feeds.attention_mask.data as BigInt64Array, Number);
  assert.ok(mask.every((v) => v === 0 || v === 1) && mask.includes(0));
  for (let r = 0; r < 8; r++) {
    const row: number[] = mask.slice(r * 32, r * 32 + 32);
    assert.equal(row[0], 1, 'the first token is kept');
    assert.deepEqual(row, [...row].sort((a, b) => b - a), 'ones, then zeros');
  }
  assert.match(description.detail!, /input_ids: token ids uniform in \[0, 100\) \(rows of embedding 'embeddings.word_embeddings.weight'\); attention_mask: 0\/1 mask/);
});

test('GPT ids are token ids of the tied embedding; image inputs are N(0,1); unexplained integers are said to be [0, 10)', async () => {
  const gpt = new Graph(zooEntry('gpt').build({ scale: 'tiny' }).model);
  assert.deepEqual(gpt.inputs[0].role, { kind: 'token-ids', vocab: 100, table: 'transformer.wte.weight' });
  const cnn = new Graph(zooEntry('resnet18').build({ scale: 'tiny' }).model);
  assert.equal(cnn.inputs[0].role, undefined);
  assert.match((await firstBatch(cnn, 2)).description.detail!, /^N\(0,1\) floats, seed 0$/);
  const b = new GraphBuilder();
  const k = b.input('k', DataType.INT64, ['N', 4]);
  b.output(b.node('Cast', [k], { to: DataType.FLOAT }));
  const other = new Graph(b.model(17));
  assert.equal(other.inputs[0].role, undefined);
  const { batch, description } = await firstBatch(other, 4);
  assert.ok(Array.from(batch.feeds.k.data as BigInt64Array, Number).every((v) => v >= 0 && v < 10));
  assert.match(description.detail!, /^integers uniform in \[0, 10\), seed 0$/);
});
