// QAT on every input signature: two int64 inputs (BERT-style), token ids (GPT-style), a tiny ViT, fixed batch dims;
// the exported QDQ models run in ONNX Runtime; micro-batch accumulation gives the big-batch gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { feedRows, readAllSamples, SampleSet } from '../../src/core/train/batches';
import { exportQatModel, prepareForTraining } from '../../src/core/train/export';
import { runQat } from '../../src/core/train/qat';
import { probeModel } from '../../src/core/train/shape-probe';
import { buildTrainStep } from '../../src/core/train/train-step';
import { FakeQuantSpec } from '../../src/core/train/fake-quant';
import { initWeightScales } from '../../src/core/train/weight-init';
import { Rng } from '../../src/core/train/random';
import { zooEntry } from '../fixtures/zoo';

async function samplesFor(model: ModelProto, n: number): Promise<SampleSet> {
  return (await readAllSamples(syntheticDataSource(new Graph(model).inputs, { samples: n, seed: 3 }))).inputs;
}

/** Trains a few steps, exports QDQ and runs the export in ONNX Runtime on one batch the model takes. */
async function qatAndRun(name: string, batchSize: number, samples = 8) {
  const model = prepareForTraining(zooEntry(name).build({ scale: 'tiny', seed: 2 }).model);
  const inputs = await samplesFor(model, samples);
  const r = await runQat({ model, recipe: { defaults: {}, layers: {} }, data: { inputs }, batchSize, steps: 2, lr: 1e-3, stepsPerRun: 1, progressEvery: 1, calibrationSamples: 8 });
  assert.equal(r.steps, 2);
  assert.ok(r.log.every((l) => Number.isFinite(l.loss)), `${name}: finite losses`);
  assert.ok(r.specs.length > 0, `${name}: layers were fake-quantized`);
  const qdq = exportQatModel(r.model, r.layers, r.specs);
  assert.ok(qdq.graph!.node!.some((n) => n.op_type === 'DequantizeLinear'));
  const s = await ortBackend().createSession(encodeModelProto(qdq), { threads: 1 });
  try {
    const out = await s.run(feedRows(inputs, Array.from({ length: r.microBatch }, (_, i) => i)));
    const y = Object.values(out)[0];
    assert.ok(Array.from(y.data as Float32Array).every(Number.isFinite), `${name}: the QDQ export gives finite outputs`);
  } finally {
    await s.release();
  }
  return r;
}

test('QAT trains a BERT-style encoder with two int64 inputs (input_ids, attention_mask) and its QDQ export runs', async () => {
  const model = zooEntry('bert').build({ scale: 'tiny' }).model;
  assert.deepEqual(new Graph(model).inputs.map((i) => i.elemType), [DataType.INT64, DataType.INT64]);
  const r = await qatAndRun('bert', 4);
  // The word embedding table is trained (its gradient comes through Gather).
  const emb = new Graph(r.model).nodes.find((n) => n.opType === 'Gather' && new Graph(r.model).initializers.has(n.inputs[0]))!;
  const before = new Graph(prepareForTraining(zooEntry('bert').build({ scale: 'tiny', seed: 2 }).model)).constantValue(emb.inputs[0])!.data as Float32Array;
  const after = new Graph(r.model).constantValue(emb.inputs[0])!.data as Float32Array;
  assert.ok(before.some((v, i) => v !== after[i]), 'the embedding table changed');
});

test('QAT trains a GPT-style decoder (int64 token ids, causal mask, tied head) and a tiny ViT', async () => {
  await qatAndRun('gpt', 4);
  await qatAndRun('vit_b_16', 4);
});

test('QAT on fixed-batch models: batch 1 and 4 models train with a larger step size by accumulating micro-batches', async () => {
  const kws = await qatAndRun('kws_batch1', 4);
  assert.deepEqual([kws.batch, kws.microBatch], [4, 1]);
  const mlp = await qatAndRun('mlp_batch4', 8, 16);
  assert.deepEqual([mlp.batch, mlp.microBatch], [8, 4]);
  // A step size below the fixed batch becomes one whole batch.
  const small = await qatAndRun('mlp_batch4', 1);
  assert.deepEqual([small.batch, small.microBatch], [4, 4]);
});

/**
 * A symbolic-batch model with LayerNorm, GELU and a residual: the gradient of 4 micro-batches of 2 must equal that of one
 * batch of 8. With `seq`, rows of 3 tokens ([N, 3, 6], as a transformer's): the weights' gradients are one Gemm over
 * every token row.
 */
function mlpModel(seq = false): ModelProto {
  const rng = new Rng(5);
  const b = new GraphBuilder('acc');
  const x = b.input('x', DataType.FLOAT, seq ? ['N', 3, 6] : ['N', 6]);
  const w = (r: number, c: number) => b.constFloat('w', Array.from({ length: r * c }, () => rng.uniform(-0.5, 0.5)), [r, c]);
  const h = b.node('MatMul', [x, w(6, 8)]);
  const ln = b.node('LayerNormalization', [h, b.constFloat('g', Array(8).fill(1)), b.constFloat('beta', Array(8).fill(0))], { axis: -1 });
  const act = b.node('Mul', [ln, b.node('Sigmoid', [ln])]);
  const y = b.node('Add', [b.node('MatMul', [act, w(8, 5)]), b.constFloat('bias', [0.1, 0, -0.1, 0.2, 0])]);
  b.output(y, DataType.FLOAT, seq ? ['N', 3, 5] : ['N', 5]);
  return b.model(17);
}

/** Fake quantization of the MLP's two weights (per channel, learned scales; one on a short last axis) and of an activation (learned scale: LSQ scales its gradient by 1/sqrt(elements of the whole step's tensor), micro-batches or not). */
function mlpSpecs(graph: Graph): FakeQuantSpec[] {
  const reader = (t: string) => graph.nodes.find((n) => n.opType === 'MatMul' && n.inputs.includes(t))!;
  const weight = (t: string, axis: number): FakeQuantSpec => {
    const dims = graph.initializers.get(t)!.dims!.map(Number);
    const spec: FakeQuantSpec = { tensor: t, uses: [[reader(t).name, 1]], role: 'weight', bits: 8, signed: true, granularity: { kind: 'channel', axis }, scale: new Float32Array(dims[axis]), zeroPoint: new Int32Array(dims[axis]), learnScale: true };
    initWeightScales(spec, graph.constantValue(t)!.data as Float32Array, dims, 'minmax');
    return spec;
  };
  const act = reader('w_1').inputs[0];
  return [weight('w', 0), weight('w_1', 1), { tensor: act, uses: [[reader('w_1').name, 0]], role: 'activation', bits: 8, signed: false, granularity: { kind: 'tensor' }, scale: Float32Array.of(0.02), zeroPoint: Int32Array.of(20), learnScale: true }];
}

for (const seq of [false, true]) for (const quantized of [false, true]) test(`gradients accumulated over micro-batches inside the step equal the big-batch gradient (up to float error)${quantized ? ', with fake-quantized weights (once per step) and activations' : ''}${seq ? ', on [batch, tokens, features] rows' : ''}`, async () => {
  const model = mlpModel(seq);
  const graph = new Graph(model);
  const backend = ortBackend();
  const rng = new Rng(9);
  const t = seq ? 3 : 1;
  const x: Tensor = { type: DataType.FLOAT, dims: seq ? [8, 3, 6] : [8, 6], data: Float32Array.from({ length: 48 * t }, () => rng.normal()) };
  const teacher: Tensor = { type: DataType.FLOAT, dims: seq ? [8, 3, 5] : [8, 5], data: Float32Array.from({ length: 40 * t }, () => rng.normal()) };
  const params = ['w', 'w_1', 'g', 'beta', 'bias'].filter((p) => graph.initializers.has(p));
  assert.equal(params.length, 5);
  const results: Record<string, Float32Array>[] = [];
  for (const [micro, k] of [[8, 1], [2, 4], [1, 8]]) {
    const probe = await probeModel(backend, model, { x: feedRows({ x }, Array.from({ length: micro }, (_, i) => i)).x });
    const specs = quantized ? mlpSpecs(graph) : [];
    const step = buildTrainStep({ model, probe, params, fakeQuant: specs, loss: { crossEntropy: 0, distill: 1, distillKind: 'mse', temperature: 1 }, logits: graph.outputs[0].name, optimizer: { kind: 'sgd', momentum: 0 }, microBatches: k });
    assert.equal(step.batch, 8);
    const feeds: Record<string, Tensor> = { [step.dataInputs[0]]: x, [step.teacher!]: teacher, opt__lr: { type: DataType.FLOAT, dims: [], data: Float32Array.of(1) } };
    for (const p of params) feeds[p] = graph.constantValue(p)!;
    specs.forEach((sp, i) => { feeds[step.scales[i]] = { type: DataType.FLOAT, dims: sp.granularity.kind === 'tensor' ? [] : [sp.scale.length], data: sp.scale }; });
    const s = await backend.createSession(encodeModelProto(step.model), { threads: 1, config: step.sessionConfig });
    try {
      const r = await s.run(feeds);
      // SGD with lr 1: parameter - new parameter is the gradient.
      const out: Record<string, Float32Array> = { loss: r[step.loss].data as Float32Array, norm: r[step.gradNorm].data as Float32Array };
      params.forEach((p, i) => { const v = graph.constantValue(p)!.data as Float32Array; out[p] = v.map((x, j) => x - (r[step.newParams[i]].data as Float32Array)[j]); });
      // Learned scales: relative steps, (s - new s) / s is the gradient.
      specs.forEach((sp, i) => { if (step.newScales[i]) out[step.scales[i]] = sp.scale.map((v, j) => (v - (r[step.newScales[i]!].data as Float32Array)[j]) / v); });
      results.push(out);
    } finally {
      await s.release();
    }
  }
  const [big, ...accs] = results;
  for (const acc of accs) {
    for (const [k, v] of Object.entries(big)) {
      const a = acc[k];
      let worst = 0;
      for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(a[i] - v[i]) / Math.max(1e-3, Math.abs(v[i])));
      assert.ok(worst < 1e-4, `${k}: relative difference ${worst}`);
    }
  }
});

test('micro-batch accumulation nested in the steps-per-run Loop trains as one step per run does', async () => {
  const model = prepareForTraining(zooEntry('kws_batch1').build({ scale: 'tiny', seed: 2 }).model);
  const inputs = await samplesFor(model, 8);
  const run = (stepsPerRun: number) => runQat({ model, recipe: { defaults: {}, layers: {} }, data: { inputs }, batchSize: 4, steps: 4, lr: 1e-3, stepsPerRun, progressEvery: 4, calibrationSamples: 8 });
  const [looped, single] = [await run(4), await run(1)];
  assert.deepEqual([looped.batch, looped.microBatch], [4, 1]);
  assert.equal(looped.log.length, 1);
  const diff = Math.abs(looped.log[0].loss - single.log[0].loss) / Math.max(1e-6, Math.abs(single.log[0].loss));
  assert.ok(diff < 1e-4, `loss ${looped.log[0].loss} vs ${single.log[0].loss}`);
  looped.specs.forEach((s, k) => assert.ok(s.scale.every((v, i) => Math.abs(v - single.specs[k].scale[i]) <= 1e-5 * Math.abs(v)), `scale ${s.tensor}`));
});
