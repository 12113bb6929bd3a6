// End to end on MNIST: FP32 training from scratch by the QAT engine, then W4A8 / W2A8 PTQ vs QAT, and the exported QDQ model in ORT.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnistSplit, mnistCnn, mnistMlp, DigitSet } from '../../src/core/train/examples';
import { quantRow, trainFp32 } from '../../src/core/train/mnist-experiment';
import { ModelProto } from '../../src/core/onnx/proto';
import { Graph } from '../../src/core/onnx/graph';

let train: DigitSet, test_: DigitSet;
before(() => {
  const s = loadMnistSplit();
  train = s.train;
  test_ = s.test;
});

const pts = (v: number) => (100 * v).toFixed(2);

async function checkModel(name: string, model: ModelProto, epochs: number) {
  const fp = await trainFp32(model, train, test_, epochs);
  assert.ok(fp.accuracy > 0.9, `${name} FP32 trained by the engine reaches ${pts(fp.accuracy)}%`);
  const w4 = await quantRow(fp.model, train, test_, 'int4/per-channel', 'uint8', 2);
  console.log(`${name}: FP32 ${pts(fp.accuracy)} | W4A8 PTQ ${pts(w4.ptq)} QAT ${pts(w4.qat)} QDQ ${pts(w4.qdq)}`);
  assert.ok(w4.qat >= fp.accuracy - 0.005, `${name} W4A8 QAT ${pts(w4.qat)} within 0.5 points of FP32 ${pts(fp.accuracy)}`);
  assert.ok(Math.abs(w4.qdq - w4.qat) <= 0.001 + 1e-9, `${name} W4A8 exported QDQ ${pts(w4.qdq)} equals the simulation ${pts(w4.qat)} within 0.1 points`);
  assert.ok(Math.abs(w4.qdqUnfused - w4.qat) <= 0.001 + 1e-9, `${name} W4A8 QDQ without Q/DQ fusion ${pts(w4.qdqUnfused)} equals the simulation`);
  const ops = new Graph(w4.qdqModel).nodes.map((n) => n.opType);
  assert.ok(ops.includes('DequantizeLinear') && ops.includes('QuantizeLinear'), 'the export is a QDQ model');
  const w2 = await quantRow(fp.model, train, test_, 'int2/per-channel', 'uint8', 2);
  console.log(`${name}: W2A8 PTQ ${pts(w2.ptq)} QAT ${pts(w2.qat)} QDQ ${pts(w2.qdq)}`);
  assert.ok(w2.ptq < fp.accuracy - 0.05, `${name} W2 PTQ collapses (${pts(w2.ptq)})`);
  assert.ok(w2.qat > w2.ptq + 0.05 && w2.qat >= fp.accuracy - 0.03, `${name} W2 QAT recovers: ${pts(w2.qat)} vs PTQ ${pts(w2.ptq)}, FP32 ${pts(fp.accuracy)}`);
  assert.ok(Math.abs(w2.qdq - w2.qat) <= 0.001 + 1e-9, `${name} W2A8 exported QDQ ${pts(w2.qdq)} equals the simulation ${pts(w2.qat)}`);
}

test('MNIST MLP: FP32 from scratch, W4A8 QAT within 0.5 points, W2 recovers, QDQ export matches', async () => {
  await checkModel('MLP', mnistMlp(1), 6);
});

test('MNIST CNN: FP32 from scratch, W4A8 QAT within 0.5 points, W2 recovers, QDQ export matches', async () => {
  await checkModel('CNN', mnistCnn(1), 4);
});
