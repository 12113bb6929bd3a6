/** The MNIST QAT experiment shared by the accuracy script and the tests: FP32 training, PTQ, QAT and QDQ export of one model. */
import { ModelProto } from '../onnx/proto';
import { digitTensor, DigitSet } from './examples';
import { accuracy, predict } from './evaluate';
import { exportQatModel } from './export';
import { runQat } from './qat';

/** Accuracies (0..1) of one quantized configuration. */
export interface QuantRow {
  weights: string;
  activations: string;
  ptq: number;
  qat: number;
  /** The exported QDQ model run by ONNX Runtime (default optimizations: Q/DQ fused into integer kernels). */
  qdq: number;
  /** The same with graph optimizations 'basic' (no Q/DQ fusion). */
  qdqUnfused: number;
}

/** Trains `model` in FP32 from scratch; returns the trained model and its test accuracy. */
export async function trainFp32(model: ModelProto, train: DigitSet, test: DigitSet, epochs: number, seed = 1): Promise<{ model: ModelProto; accuracy: number }> {
  const r = await runQat({ model, recipe: null, data: { input: digitTensor(train), labels: train.labels }, epochs, lr: 2e-3, schedule: { kind: 'cosine', minFactor: 0.05 }, seed });
  return { model: r.model, accuracy: accuracy(await predict(r.model, digitTensor(test)), test.labels) };
}

/** PTQ (min-max) and QAT of a trained model for one format pair, with the QDQ export evaluated in ONNX Runtime. */
export async function quantRow(fp32: ModelProto, train: DigitSet, test: DigitSet, weights: string, activations: string, epochs: number, seed = 1): Promise<QuantRow & { qatModel: ModelProto; qdqModel: ModelProto }> {
  const recipe = { defaults: { weights, activations }, layers: {} };
  const data = { input: digitTensor(train), labels: train.labels };
  const ptq = await runQat({ model: fp32, recipe, data, steps: 0, lr: 0, seed, weightInit: 'minmax' });
  const ptqAcc = accuracy(await predict(fp32, digitTensor(test), ptq.specs), test.labels);
  const q = await runQat({ model: fp32, recipe, data, epochs, lr: 5e-4, schedule: { kind: 'cosine', minFactor: 0.05 }, seed });
  const qatAcc = accuracy(await predict(q.model, digitTensor(test), q.specs), test.labels);
  const qdqModel = exportQatModel(q.model, q.layers, q.specs);
  const qdqAcc = accuracy(await predict(qdqModel, digitTensor(test)), test.labels);
  const unfused = accuracy(await predict(qdqModel, digitTensor(test), undefined, { optimization: 'basic' }), test.labels);
  return { weights, activations, ptq: ptqAcc, qat: qatAcc, qdq: qdqAcc, qdqUnfused: unfused, qatModel: q.model, qdqModel };
}
