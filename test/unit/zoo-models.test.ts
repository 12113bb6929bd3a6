// The model zoo (test/fixtures/zoo): full-size structures have the published layer counts in the layer inventory,
// every architecture's tiny version loads and runs in ONNX Runtime, and each architecture's op set is listed here
// (the autodiff and export must cover these ops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventory } from '../../src/core/onnx/inventory';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { sizeOf, Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { opSet, ZOO, zooEntry } from '../fixtures/zoo';
import { randn } from '../fixtures/tiny-models';

/** Each architecture's op set (opset 17 exports). */
const OPS: Record<string, string> = {
  mobilenet_v2: 'Add,Clip,Constant,Conv,Flatten,Gemm,GlobalAveragePool',
  resnet18: 'Add,Conv,Flatten,Gemm,GlobalAveragePool,MaxPool,Relu',
  resnet50: 'Add,Conv,Flatten,Gemm,GlobalAveragePool,MaxPool,Relu',
  efficientnet_b0: 'Add,Conv,Flatten,Gemm,GlobalAveragePool,Mul,Sigmoid',
  vit_b_16: 'Add,Concat,Constant,ConstantOfShape,Conv,Div,Equal,Erf,Expand,Gather,Gemm,LayerNormalization,MatMul,Mul,Reshape,Shape,Softmax,Squeeze,Transpose,Unsqueeze,Where',
  bert: 'Add,Cast,Concat,Constant,Div,Erf,Expand,Gather,Identity,MatMul,Mul,Pow,ReduceMean,Reshape,Shape,Slice,Softmax,Split,Sqrt,Sub,Transpose,Unsqueeze,Where',
  gpt: 'Add,Concat,Constant,Div,Gather,LayerNormalization,MatMul,Mul,Pow,Range,Reshape,Shape,Slice,Softmax,Split,Tanh,Transpose,Unsqueeze,Where',
  kws_batch1: 'Conv,Flatten,Gemm,GlobalAveragePool,Relu',
  mlp_batch4: 'Add,MatMul,Relu',
};

test('full-size structures: layer counts, parameters and op sets', () => {
  const params: Record<string, number> = {};
  for (const z of ZOO) {
    const model = z.build({ scale: 'full' }).model;
    const graph = new Graph(model);
    const layers = buildInventory(graph, { stats: false });
    assert.equal(layers.length, z.layers, `${z.name}: ${layers.length} quantizable layers, expected ${z.layers}`);
    assert.equal(opSet(model).join(','), OPS[z.name], `${z.name} op set`);
    params[z.name] = (model.graph!.initializer ?? []).filter((t) => t.data_type === DataType.FLOAT).reduce((a, t) => a + sizeOf((t.dims ?? []).map(Number)), 0);
    if (z.name === 'vit_b_16') assert.ok(graph.nodes.length > 1300, `vit_b_16 has ${graph.nodes.length} nodes`);
  }
  // torchvision's parameter counts (BatchNorm folded: its scale/shift disappear into the Conv weight and bias)
  assert.ok(Math.abs(params.resnet50 - 25.5e6) < 0.1e6, `resnet50 ${params.resnet50}`);
  assert.ok(Math.abs(params.resnet18 - 11.68e6) < 0.05e6, `resnet18 ${params.resnet18}`);
  assert.ok(Math.abs(params.mobilenet_v2 - 3.47e6) < 0.05e6, `mobilenet_v2 ${params.mobilenet_v2}`);
  assert.ok(Math.abs(params.vit_b_16 - 86.57e6) < 0.3e6, `vit_b_16 ${params.vit_b_16}`);
});

test('tiny versions have the same layer counts and op sets as the full ones', () => {
  for (const z of ZOO) {
    const model = z.build({ scale: 'tiny' }).model;
    assert.equal(buildInventory(new Graph(model), { stats: false }).length, z.layers, z.name);
    assert.equal(opSet(model).join(','), OPS[z.name], `${z.name} op set`);
  }
});

test('the GPT head shares the token embedding: one initializer, used by Gather and by Transpose -> MatMul', () => {
  const graph = new Graph(zooEntry('gpt').build({ scale: 'tiny' }).model);
  const users = graph.consumers.get('transformer.wte.weight')!.map((n) => n.opType).sort();
  assert.deepEqual(users, ['Gather', 'Transpose']);
  assert.equal(graph.consumers.get(graph.consumers.get('transformer.wte.weight')!.find((n) => n.opType === 'Transpose')!.outputs[0])![0].opType, 'MatMul');
});

/** Feeds for a tiny model: images/features N(0,1), token ids in the vocabulary, masks of 0/1 (first token kept). */
function feedsFor(graph: Graph, batch: number, seq: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const inp of graph.inputs) {
    const dims = (inp.shape ?? []).map((d) => (typeof d === 'number' ? d : d === 'batch' ? batch : seq));
    const n = sizeOf(dims);
    if (inp.elemType === DataType.INT64) {
      const mask = inp.name.includes('mask');
      feeds[inp.name] = { type: DataType.INT64, dims, data: BigInt64Array.from({ length: n }, (_, i) => BigInt(mask ? (i % seq === 0 ? 1 : (i * 7) % 3 ? 1 : 0) : (i * 37) % 100)) };
    } else feeds[inp.name] = { type: DataType.FLOAT, dims, data: randn(n, 7) };
  }
  return feeds;
}

test('every tiny model loads and runs in ONNX Runtime with finite outputs of the declared shape', async () => {
  for (const z of ZOO) {
    const model = z.build({ scale: 'tiny' }).model;
    const graph = new Graph(model);
    const session = await ortBackend().createSession(encodeModelProto(model), { threads: 1 });
    try {
      const out = await session.run(feedsFor(graph, 2, 8));
      const y = out[graph.outputs[0].name];
      const declared = graph.outputs[0].shape!.map((d) => (typeof d === 'number' ? d : d === 'batch' ? 2 : 8));
      assert.deepEqual(y.dims, declared, `${z.name} output shape`);
      const data = y.data as Float32Array;
      assert.ok(data.every(Number.isFinite), `${z.name}: non-finite outputs`);
      assert.ok(Math.max(...data) > Math.min(...data), `${z.name}: constant output`);
    } finally {
      await session.release();
    }
  }
});
