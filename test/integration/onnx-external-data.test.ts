// External data kept on disk: a model saved with external data loads lazily (values read on demand, equal to the
// originals), sizes count the data file, sessions created from derived model bytes find the data in the model's
// folder, and saving copies the data into the output's folder only (one file under the threshold), atomically.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Graph } from '../../src/core/onnx/graph';
import { externalRef } from '../../src/core/onnx/external-data';
import { loadModelFile, modelDataBytes, modelFileSize, saveEncodedModel, saveModelFile } from '../../src/core/onnx/model-file';
import { encodeModelProto } from '../../src/core/onnx/proto';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { zooEntry } from '../fixtures/zoo';
import { randn } from '../fixtures/tiny-models';

test('saved with external data, loaded lazily, run from derived bytes, re-saved into another folder', async () => {
  const root = tempDir('ql-ext-');
  try {
    const model = zooEntry('resnet18').build({ scale: 'tiny' }).model;
    const src = path.join(root, 'a', 'net.onnx');
    const saved = saveModelFile(src, model, { externalThreshold: 0 });
    assert.equal(saved.dataFile, `${src}.data`);
    assert.deepEqual(fs.readdirSync(path.dirname(src)).sort(), ['net.onnx', 'net.onnx.data'], 'no temporary files left');
    assert.ok(saved.modelBytes < 40_000, `model file ${saved.modelBytes} bytes: weights are outside`);

    const loaded = loadModelFile(src);
    const graph = new Graph(loaded, src);
    const w = graph.initializers.get('layer1.layer1.0.conv1.weight')!;
    assert.ok(externalRef(w), 'the weight stays external after loading');
    assert.ok(!w.raw_data?.byteLength, 'nothing read into memory at load');
    const original = new Graph(model).constantValue('layer1.layer1.0.conv1.weight')!.data;
    assert.deepEqual(graph.constantValue('layer1.layer1.0.conv1.weight')!.data, original, 'values read on demand');
    const { external } = modelDataBytes(loaded);
    assert.equal(modelFileSize(src, loaded), fs.statSync(src).size + external);
    assert.ok(external > 600_000);

    // a derived model (the original plus an extra output) keeps the references; ORT reads them from folder a/
    const x = { type: 1, dims: [1, 3, 32, 32], data: randn(3 * 32 * 32, 1) };
    const want = await run(encodeModelProto(model), x);
    const derived = { ...loaded, graph: { ...loaded.graph, output: [...loaded.graph!.output!] } };
    const bytes = encodeModelProto(derived);
    assert.ok(bytes.byteLength < 40_000);
    assert.deepEqual(await run(bytes, x), want);

    // saving into another folder: one self-contained file under the threshold, a new data file over it
    const one = path.join(root, 'b', 'copy.onnx');
    const total = saveEncodedModel(one, bytes);
    assert.deepEqual(fs.readdirSync(path.dirname(one)), ['copy.onnx']);
    assert.equal(total, fs.statSync(one).size);
    assert.deepEqual(await run(fs.readFileSync(one), x), want);
    const two = path.join(root, 'c', 'big.onnx');
    saveModelFile(two, loaded, { externalThreshold: 1 });
    assert.deepEqual(fs.readdirSync(path.dirname(two)).sort(), ['big.onnx', 'big.onnx.data']);
    assert.deepEqual(await run(encodeModelProto(loadModelFile(two)), x), want);
    // writing over the data file the model reads from is refused, and leaves it intact
    assert.throws(() => saveModelFile(src, loaded, { externalThreshold: 1 }), /is the external data the model is read from/);
    assert.deepEqual(graph.constantValue('layer1.layer1.0.conv1.weight')!.data, original);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

async function run(bytes: Uint8Array, x: { type: number; dims: number[]; data: Float32Array }): Promise<number[]> {
  const s = await ortBackend().createSession(bytes, { threads: 1 });
  try {
    const out = await s.run({ input: x });
    return Array.from(Object.values(out)[0].data as Float32Array);
  } finally {
    await s.release();
  }
}
