// The QAT job: bad input (unsupported op, labels not matching the output, diverging LR), cancel and resume, reproducibility.
import { before, test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { tensorFromProto, toFloat32 } from '../../src/core/onnx/tensor-data';
import { isQuantLensError } from '../../src/core/errors';
import { digitTensor, loadMnistSplit, mnistMlp, DigitSet } from '../../src/core/train/examples';
import { runQat, QatOptions } from '../../src/core/train/qat';
import { loadCheckpoint } from '../../src/core/train/checkpoint';
import { exportQatModel, recipeWithScales } from '../../src/core/train/export';
import { predict } from '../../src/core/train/evaluate';

let train: DigitSet;
before(() => { train = loadMnistSplit(640, 0).train; });

const tmp = () => tempDir('ql-qat-');
const weights = (m: ModelProto) => new Map((m.graph!.initializer ?? []).map((t) => [t.name!, toFloat32(tensorFromProto(t))]));
const base = (): QatOptions => ({
  model: mnistMlp(3, 32), recipe: { defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} },
  data: { input: digitTensor(train), labels: train.labels }, batchSize: 32, steps: 30, lr: 1e-3, seed: 11, progressEvery: 5,
});

async function rejects(p: Promise<unknown>, code: string, ...words: string[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isQuantLensError(e), `expected a QuantLensError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const w of words) assert.ok(e.message.includes(w), `message '${e.message}' mentions '${w}'`);
    return true;
  });
}

test('an op without a gradient rule between the weights and the loss is named in a clear error', async () => {
  const b = new GraphBuilder();
  const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
  const f = b.node('Flatten', [x], { axis: 1 });
  const w = b.initializer('w', { type: DataType.FLOAT, dims: [784, 10], data: new Float32Array(7840).fill(0.01) });
  const h = b.node('MatMul', [f, w], {}, { name: 'mm' });
  const y = b.node('Selu', [h], {}, { name: 'the_selu', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 10]);
  await rejects(runQat({ ...base(), model: b.model(17), recipe: null }), 'train-unsupported-op', "'Selu'", "'the_selu'");
});

test('labels that do not match the model output are refused', async () => {
  const bad = train.labels.slice();
  bad[3] = 12;
  await rejects(runQat({ ...base(), data: { input: digitTensor(train), labels: bad } }), 'train-labels', '12', '10 classes');
  await rejects(runQat({ ...base(), data: { input: digitTensor(train), labels: train.labels.slice(1) } }), 'train-labels', 'labels for');
});

test('a diverging learning rate stops with a clear error and keeps the last good checkpoint', async () => {
  const dir = tmp();
  const ck = path.join(dir, 'run.qlck');
  const first = await runQat({ ...base(), recipe: null, steps: 10, optimizer: { kind: 'sgd', momentum: 0.9 }, checkpointPath: ck });
  assert.equal(first.steps, 10);
  const before = fs.readFileSync(ck);
  await rejects(runQat({ ...base(), recipe: null, steps: 40, lr: 1e8, optimizer: { kind: 'sgd', momentum: 0.9 }, checkpointPath: ck }), 'train-diverged', 'learning rate', 'checkpoint');
  const after = loadCheckpoint(ck)!;
  assert.ok(after.tensors.size > 0 && [...after.tensors.values()].every((t) => t.every(Number.isFinite)), 'the kept checkpoint holds finite weights');
  assert.equal(after.step, 10, 'the checkpoint is the one before the divergence');
  assert.deepEqual(fs.readFileSync(ck), before);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f !== 'run.qlck'), [], 'no temporary files left behind');
});

test('cancel mid-epoch keeps a checkpoint; resuming finishes with the same weights as an uninterrupted run', async () => {
  const full = await runQat(base());
  const dir = tmp();
  const ck = path.join(dir, 'job.qlck');
  const ac = new AbortController();
  await rejects(runQat({ ...base(), checkpointPath: ck, signal: ac.signal, onProgress: (p) => { if (p.step === 10) ac.abort(); } }), 'cancelled');
  assert.equal(loadCheckpoint(ck)!.step, 10, 'cancelled after step 10 of an epoch of 20');
  const resumed = await runQat({ ...base(), checkpointPath: ck });
  assert.equal(resumed.steps, 30);
  const a = weights(full.model), b = weights(resumed.model);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `weight ${k} after resume`);
  assert.deepEqual(resumed.specs.map((s) => Array.from(s.scale)), full.specs.map((s) => Array.from(s.scale)));
});

test('same seed and data give the same weights; another seed gives others', async () => {
  const r1 = await runQat({ ...base(), steps: 15 });
  const r2 = await runQat({ ...base(), steps: 15 });
  const r3 = await runQat({ ...base(), steps: 15, seed: 12 });
  const w1 = weights(r1.model), w2 = weights(r2.model), w3 = weights(r3.model);
  for (const [k, v] of w1) assert.deepEqual(w2.get(k), v, `weight ${k}`);
  assert.notDeepEqual(w3.get('fc1.weight'), w1.get('fc1.weight'));
  assert.deepEqual(r1.log.map((e) => e.loss), r2.log.map((e) => e.loss));
});

test('several steps per run (ONNX Loop) train exactly like one step per run', async () => {
  const a = await runQat({ ...base(), steps: 12, stepsPerRun: 1 });
  const b = await runQat({ ...base(), steps: 12, stepsPerRun: 8 });
  const wa = weights(a.model), wb = weights(b.model);
  for (const [k, v] of wa) assert.deepEqual(wb.get(k), v, `weight ${k}`);
  assert.deepEqual(a.log.map((e) => e.loss), b.log.map((e) => e.loss));
  assert.deepEqual(b.specs.map((s) => Array.from(s.scale)), a.specs.map((s) => Array.from(s.scale)));
});

test('BatchNormalization after a Conv is folded before QAT; the trained model has none', async () => {
  const b = new GraphBuilder();
  const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
  const rnd = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + k) * 0.3);
  const w = b.initializer('conv.w', { type: DataType.FLOAT, dims: [4, 1, 3, 3], data: rnd(36, 1) });
  const c = b.node('Conv', [x, w], { kernel_shape: [3, 3], strides: [2, 2] }, { name: 'conv' });
  const bn = b.node('BatchNormalization', [c,
    b.initializer('bn.s', { type: DataType.FLOAT, dims: [4], data: Float32Array.of(1, 2, 0.5, 1.5) }),
    b.initializer('bn.b', { type: DataType.FLOAT, dims: [4], data: Float32Array.of(0.1, -0.1, 0, 0.2) }),
    b.initializer('bn.m', { type: DataType.FLOAT, dims: [4], data: Float32Array.of(0, 0.1, -0.1, 0) }),
    b.initializer('bn.v', { type: DataType.FLOAT, dims: [4], data: Float32Array.of(1, 0.5, 2, 1) })], { epsilon: 1e-5 }, { name: 'bn' });
  const r = b.node('Relu', [bn]);
  const f = b.node('Flatten', [r], { axis: 1 });
  const fc = b.node('Gemm', [f, b.initializer('fc.w', { type: DataType.FLOAT, dims: [10, 4 * 13 * 13], data: rnd(10 * 4 * 169, 2) })], { transB: 1 }, { name: 'fc', output: 'logits' });
  b.output(fc, DataType.FLOAT, ['N', 10]);
  const res = await runQat({ ...base(), model: b.model(13), steps: 5 });
  const ops = (res.model.graph!.node ?? []).map((n) => n.op_type);
  assert.ok(!ops.includes('BatchNormalization'), `ops: ${ops.join(', ')}`);
  assert.ok(res.log.every((e) => Number.isFinite(e.loss)));
  assert.ok(res.specs.some((s) => s.tensor === 'conv.w' || s.uses.some(([n]) => n === 'conv')), 'the folded conv is quantized');
});

test('held-out evaluation: accuracy and agreement with the FP32 model are logged each epoch', async () => {
  const held = loadMnistSplit(200, 300).test;
  const r = await runQat({ ...base(), steps: 40, evaluation: { data: { input: digitTensor(held), labels: held.labels } } });
  const evals = r.log.filter((e) => e.eval);
  assert.deepEqual(evals.map((e) => e.step), [20, 40], 'each epoch of 20 steps');
  for (const e of evals) {
    assert.ok(e.eval!.accuracy! > 0.3 && e.eval!.accuracy! <= 1, `accuracy ${e.eval!.accuracy}`);
    assert.ok(e.eval!.agreement! > 0 && e.eval!.agreement! <= 1);
  }
  assert.ok(!r.log.find((e) => e.step === 5)!.eval);
});

test('blocked weights (int4/block:32, last block partial) train and export; the QDQ model predicts like the simulation', async () => {
  const r = await runQat({ ...base(), recipe: { defaults: { weights: 'int4/block:32', activations: 'uint8' }, layers: {} }, steps: 20 });
  const w = r.specs.find((s) => s.tensor === 'fc1.weight')!;
  assert.deepEqual(w.granularity, { kind: 'block', axis: 1, size: 32 });
  assert.equal(w.scale.length, 32 * 25, '784 = 24 blocks of 32 and one of 16, per row');
  const qdq = exportQatModel(r.model, r.layers, r.specs);
  const sim = await predict(r.model, digitTensor(train), r.specs);
  const ort = await predict(qdq, digitTensor(train), undefined, { optimization: 'basic' });
  let same = 0;
  for (let i = 0; i < sim.length; i++) if (sim[i] === ort[i]) same++;
  assert.ok(same >= sim.length - 1, `${same} of ${sim.length} predictions agree`);
});

test('scales written into the recipe by a QAT run start the next run', async () => {
  const first = await runQat({ ...base(), steps: 10 });
  const recipe = recipeWithScales({ version: 1, model: 'm.onnx', defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} }, first.layers, first.specs);
  const next = await runQat({ ...base(), recipe, steps: 0 });
  assert.deepEqual(next.specs.map((s) => Array.from(s.scale)), first.specs.map((s) => Array.from(s.scale)));
  const bad = { ...recipe, layers: { '/fc1/Gemm': { scales: { 'fc1.weight': [1, 2] } } } };
  await rejects(runQat({ ...base(), recipe: bad, steps: 0 }), 'recipe-scales', '/fc1/Gemm', 'fc1.weight');
});

test('training samples that do not fit the model input are refused with both shapes named', async () => {
  const flat = { type: DataType.FLOAT, dims: [train.count, 784], data: train.images };
  await rejects(runQat({ ...base(), data: { input: flat, labels: train.labels } }), 'train-data-shape', `[${train.count}, 784]`, "input 'input'");
});
