// The configurable model's fake quantizer (config-model.ts): an activation left float passes through unchanged (bit
// for bit: s = 1, bounds ±∞, rounding constant 0), and a quantized one gives what quantize.ts's fakeQuantize gives
// (round half to even, clamped to the integer bounds), so the configuration runs measure exactly the export's values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { buildConfigurableModel, Configuration, configurationFeeds } from '../../src/core/analysis/config-model';
import { fakeQuantize } from '../../src/core/quant/quantize';
import { QuantParams } from '../../src/core/quant/qparams';
import { mustParseFormat } from '../../src/shared/formats';
import { cnn } from './repair-models';

const backend = ortBackend();

test('the configurable model gives the float model\'s outputs bit for bit when left float, and fakeQuantize\'s values when quantized', async () => {
  const model = cnn();
  const graph = new Graph(model);
  const layers = await buildInventoryAsync(graph, backend, { stats: false });
  const first = layers.find((l) => l.activationInputs[0] === 'x')!;
  assert.ok(first, 'the first layer reads the graph input');
  // inputs with exact ties at the scale (k + 0.5 steps), values past both bounds, and -0
  const scale = 0.0625;
  const n = 2 * 3 * 12 * 12;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i % 7 === 0 ? ((i % 40) - 20 + 0.5) * scale : i % 11 === 0 ? (i % 2 ? 40 : -40) : Math.sin(i) * 3;
  x[1] = -0;
  const feeds = { x: { type: DataType.FLOAT, dims: [2, 3, 12, 12], data: x } };
  const cm = buildConfigurableModel(graph, layers);
  const floatWeights = new Map(layers.filter((l) => l.weight).map((l) => [l.name, toFloat32(graph.constantValue(l.weight!.tensor)!)]));
  const cs = await backend.createSession(encodeModelProto(cm.model), { optimization: 'basic' });
  const fs = await backend.createSession(encodeModelProto(model), { optimization: 'basic' });
  try {
    const out = graph.outputs[0].name;
    const float = toFloat32((await fs.run(feeds))[out]);
    const none: Configuration = { weights: new Map(), activations: new Map() };
    const left = toFloat32((await cs.run({ ...feeds, ...configurationFeeds(cm, none, floatWeights) }))[out]);
    assert.deepEqual([...left], [...float], 'every activation left float: the float model\'s outputs');

    const params: QuantParams = { format: mustParseFormat('uint8'), scale: Float32Array.of(scale), zeroPoint: Int32Array.of(100), qmin: 0, qmax: 255 };
    const q = fakeQuantize(x, [2, 3, 12, 12], params);
    assert.ok(q.some((v, i) => v !== x[i]), 'the quantizer changes the input');
    const expected = toFloat32((await fs.run({ x: { type: DataType.FLOAT, dims: [2, 3, 12, 12], data: q } }))[out]);
    const config: Configuration = { weights: new Map(), activations: new Map([[first.name, [{ kind: 'int', params }]]]) };
    const got = toFloat32((await cs.run({ ...feeds, ...configurationFeeds(cm, config, floatWeights) }))[out]);
    assert.deepEqual([...got], [...expected], 'the first layer\'s input quantized as fakeQuantize does');
  } finally { await cs.release(); await fs.release(); }
});

test('the configurable model leaves out the weights it feeds, and keeps a weight another node still reads', async () => {
  const model = cnn();
  const graph = new Graph(model);
  const layers = await buildInventoryAsync(graph, backend, { stats: false });
  const weighted = layers.filter((l) => l.weight);
  assert.ok(weighted.length >= 2, 'the test model has weighted layers');
  const names = (m: typeof model) => new Set((m.graph!.initializer ?? []).map((t) => t.name));
  const fed = names(buildConfigurableModel(graph, weighted).model);
  for (const l of weighted) assert.ok(!fed.has(l.weight!.tensor), `'${l.weight!.tensor}' is fed, not carried as an initializer`);
  // configuring only the first layer: every other layer's weight stays in the model
  const one = names(buildConfigurableModel(graph, weighted.slice(0, 1)).model);
  assert.ok(!one.has(weighted[0].weight!.tensor));
  for (const l of weighted.slice(1)) assert.ok(one.has(l.weight!.tensor), `'${l.weight!.tensor}' is still read by its own node`);
  // a weight that another node reads too (here: an Identity of it made a graph output) is kept
  const tied = { ...model, graph: { ...model.graph!, node: [...model.graph!.node!, { op_type: 'Identity', input: [weighted[0].weight!.tensor], output: ['w_copy'], name: 'w_copy', domain: '' }], output: [...model.graph!.output!, { name: 'w_copy', type: { tensor_type: { elem_type: DataType.FLOAT } } }] } };
  const tg = new Graph(tied);
  const kept = names(buildConfigurableModel(tg, weighted.map((l) => ({ ...l }))).model);
  assert.ok(kept.has(weighted[0].weight!.tensor), 'the weight read by the Identity stays');
});
