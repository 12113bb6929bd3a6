// The regression set in test/models.json on the real PaddleOCR models: layer inventory against counts computed
// independently from the node list, weights found through Constant nodes, finite stats, channel range spread,
// opset upgrade to 13 and 21 and BatchNormalization folding giving the same outputs in ONNX Runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { foldBatchNormDetailed } from '../../src/core/onnx/batchnorm-fold';
import { Graph, attrInt } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { upgradeOpset } from '../../src/core/onnx/opset-upgrade';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { inferShapes, staticRanks } from '../../src/core/onnx/shapes';
import { modelSummary } from '../../src/core/onnx/summary';
import { Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';

interface Entry {
  name: string; file: string; why: string; feed: Record<string, number[]>;
  expect: {
    opset: number; weightSource: string; layersByKind: Record<string, number>; batchNormFolded: number; batchNormLeft: number;
    upgradeTo: number[]; foldTolerance?: number; pointwiseChannelRangeSpreadAtLeast?: number;
  };
}

const root = path.join(__dirname, '..', '..');
const entries: Entry[] = JSON.parse(fs.readFileSync(path.join(root, 'test', 'models.json'), 'utf8')).models;
const backend = ortBackend();

function imageFeed(dims: number[], seed: number): Tensor {
  let s = seed >>> 0;
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; data[i] = (s / 4294967296 - 0.5) / 0.5; }
  return { type: DataType.FLOAT, dims, data };
}

async function run(model: ModelProto, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await backend.createSession(encodeModelProto(model), { threads: 2 });
  try { return await s.run(feeds); } finally { await s.release(); }
}

/** Largest absolute difference, and the largest magnitude of the reference. */
function diff(a: Tensor, b: Tensor): { maxDiff: number; scale: number } {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let maxDiff = 0, scale = 0;
  for (let i = 0; i < x.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i])); scale = Math.max(scale, Math.abs(x[i])); }
  return { maxDiff, scale };
}

for (const entry of entries) {
  test(`${entry.name}: ${entry.why}`, async (t) => {
    const file = path.join(root, entry.file);
    const model = loadModelFile(file);
    const graph = new Graph(model, file);
    assert.equal(graph.opset, entry.expect.opset);
    const feeds: Record<string, Tensor> = {};
    Object.entries(entry.feed).forEach(([k, dims], i) => { feeds[k] = imageFeed(dims, 7 + i); });
    const shapes = await inferShapes(model, backend, feeds);
    const layers = await buildInventoryAsync(graph, backend, { shapes });

    // Counts recomputed from the node list: depthwise = group equal to the input's channel count (from the shapes).
    const count: Record<string, number> = {};
    const add = (k: string) => { count[k] = (count[k] ?? 0) + 1; };
    const fromConstantNode = (tensor: string) => graph.producer.get(tensor)?.opType === 'Constant';
    for (const n of graph.nodes) {
      if (n.opType === 'Conv') {
        const group = attrInt(n.proto, 'group', 1);
        add(group > 1 && group === shapes.get(n.inputs[0])![1] ? 'depthwise-conv' : 'conv');
      } else if (n.opType === 'ConvTranspose') add('conv-transpose');
      else if (n.opType === 'MatMul') add(fromConstantNode(n.inputs[1]) ? 'matmul' : n.inputs.some((i) => graph.isConstant(i)) ? 'other' : 'matmul-activations');
      else if (n.opType === 'Gemm') add('gemm');
    }
    const got: Record<string, number> = {};
    for (const l of layers) got[l.kind] = (got[l.kind] ?? 0) + 1;
    assert.deepEqual(got, count, 'inventory matches the node list');
    assert.deepEqual(got, entry.expect.layersByKind, 'inventory matches test/models.json');

    // Weights live in Constant nodes; stats are finite; params and MACs are filled.
    for (const l of layers.filter((x) => x.kind !== 'matmul-activations')) {
      assert.equal(l.weight?.source, entry.expect.weightSource, l.name);
      const s = l.weightStats!;
      assert.ok(s, `${l.name} has stats`);
      for (const v of [s.min, s.max, s.absMax, s.std, s.channelRangeSpread, s.outlierRatio, ...s.channelAbsMax]) assert.ok(Number.isFinite(v), `${l.name} stats finite`);
      assert.equal(s.channelAbsMax.length, l.weight!.dims[l.weight!.channelAxis]);
      assert.ok(l.params > 0 && (l.macs ?? 0) > 0, `${l.name} params/MACs`);
    }
    for (const l of layers.filter((x) => x.kind === 'matmul-activations')) assert.equal(l.activationInputs.length, 2);
    const summary = modelSummary(model, graph, layers, { shapes, file: entry.file, fileSize: fs.statSync(file).size });
    assert.equal(summary.layerCount, layers.length);
    assert.ok((summary.macs ?? 0) > 0);
    assert.deepEqual(summary.outputs[0].inferredShape, shapes.get(graph.outputs[0].name));

    // Statically derived ranks agree with the shapes ORT found.
    const ranks = staticRanks(graph);
    let known = 0;
    for (const [name, dims] of shapes) if (ranks.has(name)) { known++; assert.equal(ranks.get(name), dims.length, name); }
    t.diagnostic(`static ranks known for ${known} of ${shapes.size} tensors`);

    // The widest channel of 1x1 convolutions against the median channel.
    const pointwise = layers.filter((l) => l.kind === 'conv' && l.weight!.dims.slice(2).every((d) => d === 1))
      .map((l) => ({ name: l.name, dims: l.weight!.dims.join('x'), spread: l.weightStats!.channelRangeSpread }))
      .sort((a, b) => b.spread - a.spread);
    t.diagnostic(`${entry.name}: ${layers.length} layers, ${summary.macs} MACs at ${JSON.stringify(entry.feed)}; widest 1x1 conv channels vs median: ${pointwise.slice(0, 3).map((p) => `${p.name} ${p.dims} ${p.spread.toFixed(1)}x`).join(', ')}`);
    if (entry.expect.pointwiseChannelRangeSpreadAtLeast) assert.ok(pointwise[0].spread >= entry.expect.pointwiseChannelRangeSpreadAtLeast);

    // Opset upgrade: same outputs in ORT. The inputs of the last nodes (det: the logits before the Sigmoid, which
    // saturates near 0 on a random image) are compared too, as extra graph outputs.
    const probes = graph.outputs.map((o) => graph.producer.get(o.name)!.inputs[0]).filter((n) => !graph.isConstant(n));
    const probed: ModelProto = { ...model, graph: { ...model.graph, output: [...model.graph!.output!, ...probes.map((name) => ({ name }))] } };
    const ref = await run(probed, feeds);
    for (const target of entry.expect.upgradeTo) {
      const up = upgradeOpset(probed, target, { file });
      const out = await run(up, feeds);
      for (const k of Object.keys(ref)) {
        const { maxDiff, scale } = diff(ref[k], out[k]);
        t.diagnostic(`opset ${entry.expect.opset} -> ${target}: ${k} max abs diff ${maxDiff.toExponential(2)} (output max ${scale.toExponential(2)})`);
        assert.ok(maxDiff <= 1e-5 * Math.max(1, scale), `${k} at opset ${target}`);
      }
      // Ranks are known (from shapes, or derived statically) so the Softmax-family rewrites stay single nodes.
      for (const opts of [{ shapes }, {}]) assert.equal((upgradeOpset(model, target, opts).graph!.node ?? []).length, (model.graph!.node ?? []).length);
    }

    // BatchNormalization folding.
    const { model: folded, folded: list } = foldBatchNormDetailed(probed, file);
    assert.equal(list.length, entry.expect.batchNormFolded);
    const fg = new Graph(folded);
    assert.equal(fg.nodes.filter((n) => n.opType === 'BatchNormalization').length, entry.expect.batchNormLeft);
    assert.equal(fg.nodes.filter((n) => n.opType === 'BatchNormalization' && ['Conv', 'ConvTranspose', 'Gemm'].includes(fg.producer.get(n.inputs[0])?.opType ?? '')).length, 0);
    const fout = await run(folded, feeds);
    for (const k of Object.keys(ref)) {
      const { maxDiff, scale } = diff(ref[k], fout[k]);
      t.diagnostic(`BN folded: ${k} max abs diff ${maxDiff.toExponential(2)} (output max ${scale.toExponential(2)})`);
      assert.ok(maxDiff <= (entry.expect.foldTolerance ?? 1e-4) * Math.max(1, scale));
    }
  });
}
