// Big MatMul weights are screened through their factors (X, gY) instead of their weight-sized gradient: on a small
// MatMul MLP forced through that path, the weight estimates equal the gradient path's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenLayers } from '../../src/core/analysis/screening';
import { FactorStore } from '../../src/core/analysis/screening-factors';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { DataType } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { mustParseFormat } from '../../src/shared/formats';
import { Rng } from '../../src/core/train/random';
import { arraySource, normalData } from './analysis-models';

function matmulMlp(): Graph {
  const rng = new Rng(5);
  const b = new GraphBuilder('mm');
  let x = b.input('x', DataType.FLOAT, ['N', 24]);
  const widths = [24, 40, 32, 6];
  for (let k = 0; k < 3; k++) {
    const w = Float32Array.from({ length: widths[k] * widths[k + 1] }, () => (rng.next() * 2 - 1) * Math.sqrt(6 / widths[k]));
    const y = b.node('MatMul', [x, b.initializer(`w${k}`, { type: DataType.FLOAT, dims: [widths[k], widths[k + 1]], data: w })], {}, { name: `fc${k}`, output: k === 2 ? 'y' : undefined });
    x = k === 2 ? y : b.node('Relu', [y]);
  }
  b.output(x, DataType.FLOAT, ['N', 6]);
  return new Graph(b.model(17), 'mm.onnx');
}

test('factored screening of MatMul weights equals the gradient path; over the factor limit a layer is left to measurement', async () => {
  const graph = matmulMlp();
  const backend = ortBackend();
  const data = arraySource('x', [24], normalData(6, 24, 9));
  const layers = await buildInventoryAsync(graph, backend);
  const floatWeights = new Map(layers.map((l) => [l.name, Float32Array.from(toFloat32(graph.constantValue(l.weight!.tensor)!))]));
  const run = (factorMinValues?: number, batchSize = 1) => screenLayers({
    graph, layers, backend, data, floatOutputs: ['y'], floatWeights, batchSize, factorMinValues,
    weightFormats: [mustParseFormat('int8/per-channel'), mustParseFormat('int4/per-tensor')], activationFormats: [],
    activationSetting: () => { throw new Error('no activation formats'); },
  });
  for (const batch of [1, 2]) {
    const plain = await run(undefined, batch);
    const factored = await run(1, batch);
    assert.equal(factored.unsupported.size, 0);
    for (const l of layers) {
      for (const [key, e] of plain.weightNoise.get(l.name)!) {
        const f = factored.weightNoise.get(l.name)!.get(key)!.fisher;
        assert.ok(Math.abs(f - e.fisher) <= 1e-4 * e.fisher, `${l.name} ${key} batch ${batch}: factored ${f}, gradient ${e.fisher}`);
      }
    }
    assert.ok(Math.abs(factored.signal - plain.signal) <= 1e-5 * plain.signal, `signal ${factored.signal} vs ${plain.signal}`);
  }
  // factors over the limit: the layer is not screened (measured instead), with the reason
  const capped = await screenLayers({
    graph, layers, backend, data, floatOutputs: ['y'], floatWeights, factorMinValues: 1, factorStoreValues: 100,
    weightFormats: [mustParseFormat('int8/per-channel')], activationFormats: [], activationSetting: () => { throw new Error('no activation formats'); },
  });
  for (const l of layers) {
    assert.match(capped.unsupported.get(l.name) ?? '', /factors of its weight's gradient .* exceed 100 values/, l.name);
    assert.equal(capped.weightNoise.has(l.name), false);
  }
});

test('the Fisher diagonal from the factors, over blocks of rows, equals Σ over runs of the squared whole gradient', async () => {
  const inDim = 37, outDim = 11;
  let seed = 7;
  const rnd = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647 - 0.5; };
  const store = new FactorStore();
  // runs of different row counts (the last batch of a data set is often smaller)
  const runs = [3, 5].map((rows) => ({ x: Float32Array.from({ length: rows * inDim }, rnd), gy: Float32Array.from({ length: rows * outDim }, rnd) }));
  for (const r of runs) store.add('l', r.x, r.gy);
  const want = new Float64Array(inDim * outDim);
  for (let i = 0; i < inDim; i++) for (let j = 0; j < outDim; j++) {
    for (const { x, gy } of runs) { let g = 0; for (let r = 0; r < x.length / inDim; r++) g += x[r * inDim + i] * gy[r * outDim + j]; want[i * outDim + j] += g * g; }
  }
  for (const blockValues of [2 * outDim, 5 * 2 * outDim, 1 << 24]) {
    const got = await store.fisherDiagonal({ layer: 'l', x: 'x', gy: 'gy', inDim, outDim }, ortBackend(), { blockValues });
    for (let k = 0; k < want.length; k++) assert.ok(Math.abs(got[k] - want[k]) <= 1e-5 * (1e-3 + want[k]), `blocks of ${blockValues / outDim / 2} rows, element ${k}: ${got[k]} vs ${want[k]}`);
  }
});
