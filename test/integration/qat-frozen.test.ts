// QAT with the weights frozen (train scope 'quant-params'): the weights come out bit-identical, biases and learned
// scales move; the fused frozen MatMul (frozen-matmul.ts: recomputed weight, scale gradient without the weight
// gradient, weights in row blocks) learns the same scales and biases as the generic fake-quant node and backward (SGD:
// Adam's normalisation would magnify float summation-order differences); 'auto' picks the scope by the budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { tensorFromProto, toFloat32 } from '../../src/core/onnx/tensor-data';
import { Rng } from '../../src/core/train/random';
import { runQat, QatOptions } from '../../src/core/train/qat';
import { fullTrainingBytes, trainedScopeMessage } from '../../src/core/train/train-scope';

/** x [N, T, 16] -> MatMul [16, 32] + bias -> Relu -> MatMul [32, 10] + bias (rank-3 activations: the fused node reshapes). */
function matmulMlp(rank3: boolean): ModelProto {
  const rng = new Rng(5);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  const b = new GraphBuilder('mlp');
  const x = b.input('x', DataType.FLOAT, rank3 ? ['N', 3, 16] : ['N', 16]);
  const w1 = b.initializer('w1', { type: DataType.FLOAT, dims: [16, 32], data: rand(512, 0.5) });
  const b1 = b.initializer('b1', { type: DataType.FLOAT, dims: [32], data: rand(32, 0.1) });
  const h = b.node('Relu', [b.node('Add', [b.node('MatMul', [x, w1], {}, { name: '/fc1/MatMul' }), b1])]);
  const w2 = b.initializer('w2', { type: DataType.FLOAT, dims: [32, 10], data: rand(320, 0.3) });
  const b2 = b.initializer('b2', { type: DataType.FLOAT, dims: [10], data: rand(10, 0.1) });
  const y = b.node('Add', [b.node('MatMul', [h, w2], {}, { name: '/fc2/MatMul' }), b2], {}, { output: 'y' });
  b.output(y, DataType.FLOAT, rank3 ? ['N', 3, 10] : ['N', 10]);
  return b.model(17);
}

const values = (m: ModelProto) => new Map((m.graph!.initializer ?? []).map((t) => [t.name!, toFloat32(tensorFromProto(t))]));

function options(rank3: boolean, over: Partial<QatOptions> = {}): QatOptions {
  const rng = new Rng(9);
  const n = 32, per = rank3 ? 48 : 16;
  const data = Float32Array.from({ length: n * per }, () => rng.next() * 4 - 2);
  return {
    model: matmulMlp(rank3), recipe: { defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: {} },
    data: { inputs: { x: { type: DataType.FLOAT, dims: rank3 ? [n, 3, 16] : [n, 16], data } } },
    batchSize: 8, steps: 6, lr: 0.01, seed: 3, progressEvery: 2, train: 'quant-params', optimizer: { kind: 'sgd' }, ...over,
  };
}

for (const [rank3, blockBytes] of [[false, undefined], [true, undefined], [false, 200], [true, 128]] as const) {
  test(`frozen weights${rank3 ? ' (rank-3 activations)' : ''}${blockBytes ? `, weights quantized in blocks of ${blockBytes} bytes` : ''}: weights unchanged, biases and scales trained, fused MatMul = generic backward`, async () => {
    const o = options(rank3, { frozenBlockBytes: blockBytes });
    const before = values(o.model);
    const fused = await runQat(o);
    const generic = await runQat({ ...options(rank3), fuseFrozenMatMul: false });
    assert.equal(fused.trained.kind, 'quant-params');
    assert.equal(fused.trained.reason, 'requested');
    assert.deepEqual([fused.trained.trainedTensors, fused.trained.frozenTensors, fused.trained.frozenBytes], [2, 2, 4 * (512 + 320)]);
    assert.match(trainedScopeMessage(fused.trained), /quantization parameters only, \d+ learned quantization scales and 2 bias\/norm tensors \(42 values\); 2 weight tensors \(0\.00 GB\) frozen \(as asked\)/);
    const after = values(fused.model);
    for (const w of ['w1', 'w2']) assert.deepEqual(after.get(w), before.get(w), `${w} is frozen`);
    for (const b of ['b1', 'b2']) assert.notDeepEqual(after.get(b), before.get(b), `${b} is trained`);
    const g = values(generic.model);
    for (const b of ['b1', 'b2']) after.get(b)!.forEach((v, i) => assert.ok(Math.abs(v - g.get(b)![i]) < 1e-5, `${b}[${i}] ${v} vs ${g.get(b)![i]}`));
    let moved = 0;
    fused.specs.forEach((s, k) => {
      const init = generic.specs[k];
      assert.equal(s.tensor, init.tensor);
      s.scale.forEach((v, i) => assert.ok(Math.abs(v - init.scale[i]) <= 1e-5 * Math.abs(v), `${s.tensor} scale[${i}]: fused ${v}, generic ${init.scale[i]}`));
    });
    // the weight scales did move from their initial (MSE) values
    const initial = await runQat({ ...options(rank3), steps: 1, lr: 0 });
    fused.specs.forEach((s, k) => { if (s.role === 'weight') s.scale.forEach((v, i) => { if (v !== initial.specs[k].scale[i]) moved++; }); });
    assert.ok(moved > 10, `${moved} weight scales moved`);
    assert.deepEqual(fused.log.map((e) => e.step), generic.log.map((e) => e.step));
    fused.log.forEach((e, i) => assert.ok(Math.abs(e.loss - generic.log[i].loss) <= 1e-5 * Math.abs(e.loss) + 1e-7, `loss at step ${e.step}`));
  });
}

test("'auto' trains everything when it fits the budget, freezes the weights when it does not", async () => {
  assert.equal(fullTrainingBytes(874, 'adam'), 4 * 874 * 10);
  const full = fullTrainingBytes(512 + 32 + 320 + 10, 'sgd');
  assert.equal(full, 4 * 874 * 7);
  const fits = await runQat(options(false, { train: 'auto', memoryBudgetBytes: full, steps: 2 }));
  assert.deepEqual([fits.trained.kind, fits.trained.reason, fits.trained.trainedTensors, fits.trained.frozenTensors], ['all', 'fits', 4, 0]);
  const over = await runQat(options(false, { train: 'auto', memoryBudgetBytes: full - 1, steps: 2 }));
  assert.deepEqual([over.trained.kind, over.trained.reason, over.trained.trainedTensors, over.trained.frozenTensors], ['quant-params', 'over-budget', 2, 2]);
  assert.match(trainedScopeMessage(over.trained), /frozen: training them with the optimizer needs about 0\.00 GB, over the 0\.00 GB memory budget/);
  assert.deepEqual(values(over.model).get('w1'), values(options(false).model).get('w1'));
  assert.notDeepEqual(values(fits.model).get('w1'), values(options(false).model).get('w1'));
});
