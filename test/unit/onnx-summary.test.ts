// Model summary of a tiny model: I/O, opsets, histogram, parameters, MACs and layers by kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventory } from '../../src/core/onnx/inventory';
import { DataType } from '../../src/core/onnx/proto';
import { modelSummary } from '../../src/core/onnx/summary';

test('summary counts ops, parameters, MACs and layers, and is plain JSON', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['N', 3, 4, 4]);
  const w = b.constFloat('w', new Float32Array(2 * 3 * 9).fill(0.1), [2, 3, 3, 3]);
  const c = b.node('Conv', [x, w], { pads: [1, 1, 1, 1] });
  const r = b.node('Relu', [c]);
  const f = b.node('Flatten', [r]);
  const w2 = b.constFloat('w2', new Float32Array(32 * 5).fill(0.2), [32, 5]);
  const y = b.node('MatMul', [f, w2]);
  b.output(y, DataType.FLOAT, ['N', 5]);
  const model = b.model(13);
  const graph = new Graph(model);
  const shapes = new Map([[x, [1, 3, 4, 4]], [c, [1, 2, 4, 4]], [f, [1, 32]], [y, [1, 5]]]);
  const layers = buildInventory(graph, { shapes });
  const s = modelSummary(model, graph, layers, { shapes, file: 'tiny.onnx', fileSize: 1234 });
  assert.deepEqual(s.inputs, [{ name: 'x', type: 'float', shape: ['N', 3, 4, 4], inferredShape: [1, 3, 4, 4] }]);
  assert.deepEqual(s.outputs.map((o) => [o.name, o.shape, o.inferredShape]), [[y, ['N', 5], [1, 5]]]);
  assert.deepEqual(s.opsets, [{ domain: '', version: 13 }]);
  assert.equal(s.irVersion, 7);
  assert.equal(s.nodeCount, 4);
  assert.deepEqual(s.opHistogram.map((h) => h.count), [1, 1, 1, 1]);
  assert.equal(s.parameterCount, 54 + 160);
  assert.equal(s.layerParams, 54 + 160);
  assert.equal(s.constantBytes, (54 + 160) * 4);
  assert.equal(s.macs, 2 * 16 * 27 + 5 * 32);
  assert.deepEqual(s.layersByKind, { conv: 1, matmul: 1 });
  assert.equal(s.layerCount, 2);
  assert.deepEqual(s.weightSources, { initializer: 2 });
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  // Without shapes the MACs are unknown rather than wrong.
  assert.equal(modelSummary(model, graph, buildInventory(graph)).macs, undefined);
});
