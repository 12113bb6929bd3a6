// The optimizer in its own session (split-optimizer.ts, QatOptions.separateOptimizer, the default for models over
// SEPARATE_OPTIMIZER_VALUES trained values) trains exactly as the optimizer inside the step graph: the same losses,
// weights and learned scales, for Adam, AdamW and SGD (with and without momentum), with weight decay, gradient
// clipping, relative scale updates and their min/max clamps (a ReLU6's activation scale is capped), with and without
// micro-batches, and across a checkpoint.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { sizeOf, tensorFromProto, toFloat32 } from '../../src/core/onnx/tensor-data';
import { OptimizerEntry, OptimizerSpec } from '../../src/core/train/optimizer';
import { SplitOptimizer } from '../../src/core/train/split-optimizer';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { Rng } from '../../src/core/train/random';
import { QatOptions, QatResult, runQat } from '../../src/core/train/qat';

/** x [N, 16] -> MatMul [16, 32] + bias -> Clip(0, 6) -> MatMul [32, 10] + bias. */
function mlp(): ModelProto {
  const rng = new Rng(5);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  const b = new GraphBuilder('mlp');
  const x = b.input('x', DataType.FLOAT, ['N', 16]);
  const w1 = b.initializer('w1', { type: DataType.FLOAT, dims: [16, 32], data: rand(512, 0.5) });
  const b1 = b.initializer('b1', { type: DataType.FLOAT, dims: [32], data: rand(32, 0.1) });
  const lo = b.initializer('lo', { type: DataType.FLOAT, dims: [], data: Float32Array.of(0) });
  const hi = b.initializer('hi', { type: DataType.FLOAT, dims: [], data: Float32Array.of(6) });
  const h = b.node('Clip', [b.node('Add', [b.node('MatMul', [x, w1], {}, { name: '/fc1/MatMul' }), b1]), lo, hi]);
  const w2 = b.initializer('w2', { type: DataType.FLOAT, dims: [32, 10], data: rand(320, 0.3) });
  const b2 = b.initializer('b2', { type: DataType.FLOAT, dims: [10], data: rand(10, 0.1) });
  const y = b.node('Add', [b.node('MatMul', [h, w2], {}, { name: '/fc2/MatMul' }), b2], {}, { output: 'y' });
  b.output(y, DataType.FLOAT, ['N', 10]);
  return b.model(17);
}

function options(over: Partial<QatOptions>): QatOptions {
  const rng = new Rng(9);
  const n = 32;
  const data = Float32Array.from({ length: n * 16 }, () => rng.next() * 8 - 3);
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng.next() * 10));
  return {
    model: mlp(), recipe: { defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: {} },
    data: { inputs: { x: { type: DataType.FLOAT, dims: [n, 16], data } }, labels },
    batchSize: 8, steps: 6, lr: 0.01, seed: 3, progressEvery: 3, schedule: { kind: 'cosine', warmup: 2 }, ...over,
  };
}

const values = (m: ModelProto) => new Map((m.graph!.initializer ?? []).map((t) => [t.name!, toFloat32(tensorFromProto(t))]));

function assertSame(a: QatResult, b: QatResult): void {
  assert.deepEqual(a.log.map((e) => e.loss), b.log.map((e) => e.loss), 'losses');
  assert.deepEqual(a.log.map((e) => e.gradNorm), b.log.map((e) => e.gradNorm), 'gradient norms');
  const va = values(a.model), vb = values(b.model);
  for (const [k, v] of va) assert.deepEqual(v, vb.get(k), `tensor ${k}`);
  a.specs.forEach((s, k) => assert.deepEqual(s.scale, b.specs[k].scale, `scale of ${s.tensor}`));
}

const optimizers: [string, OptimizerSpec][] = [
  ['Adam, weight decay, clipping', { kind: 'adam', weightDecay: 0.01, clipNorm: 0.05 }],
  ['AdamW', { kind: 'adamw', weightDecay: 0.05, beta1: 0.8, clipNorm: 10 }],
  ['SGD with momentum, weight decay, clipping', { kind: 'sgd', momentum: 0.9, weightDecay: 0.01, clipNorm: 0.05 }],
  ['SGD without momentum', { kind: 'sgd', momentum: 0 }],
];

for (const [name, optimizer] of optimizers) {
  for (const microBatch of [undefined, 4]) {
    test(`optimizer in its own session = in the step graph: ${name}${microBatch ? ', micro-batches of 4' : ''}`, async () => {
      const fused = await runQat(options({ optimizer, microBatch, separateOptimizer: false }));
      const separate = await runQat(options({ optimizer, microBatch, separateOptimizer: true }));
      assertSame(separate, fused);
      // the training did something: weights and scales moved, a capped (ReLU6) activation scale is within 6 / 255
      const before = values(mlp());
      for (const w of ['w1', 'b1', 'w2', 'b2']) assert.notDeepEqual(values(separate.model).get(w), before.get(w), `${w} trained`);
      const capped = separate.specs.find((s) => s.role === 'activation' && s.learnScale && s.tensor.startsWith('Clip'));
      assert.ok(capped && capped.scale[0] <= (6 / 255) * (1 + 1e-6), `capped scale ${capped?.scale[0]}`);
    });
  }
}

test('optimizer in its own session: a run resumed from a checkpoint ends as one run of all the steps', async () => {
  const dir = tempDir('ql-sepopt-');
  try {
    const checkpointPath = path.join(dir, 'ck.bin');
    const o = { optimizer: { kind: 'adam', weightDecay: 0.01 } as OptimizerSpec, schedule: { kind: 'constant' } as const };
    await runQat(options({ ...o, separateOptimizer: true, steps: 3, checkpointPath }));
    const resumed = await runQat(options({ ...o, separateOptimizer: true, checkpointPath }));
    const straight = await runQat(options({ ...o, separateOptimizer: false }));
    assert.equal(resumed.steps, 6);
    assertSame(resumed, straight);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('optimizer in its own session: a tensor alone in its group is updated in place as when grouped with others', async () => {
  // one group per tensor: ONNX Runtime writes the new values and state over the arrays fed to it (no flat copy)
  const entries: OptimizerEntry[] = [
    { name: 'w1', dims: [16, 32], grad: 'g_w1', decay: true },
    { name: 'w2', dims: [32, 10], grad: 'g_w2', decay: true },
    { name: 'b1', dims: [32], grad: 'g_b1', decay: false },
    { name: 's', dims: [3], grad: 'g_s', decay: false, relative: true, min: 1e-3, max: 0.05 },
  ];
  const rng = new Rng(11);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  const start = new Map(entries.map((e) => [e.name, e.relative ? Float32Array.of(0.01, 0.02, 0.049) : rand(sizeOf(e.dims), 0.5)]));
  const grads = [0, 1, 2].map(() => new Map(entries.map((e) => [e.grad, rand(sizeOf(e.dims), 0.2)])));
  const backend = ortBackend();
  const train = async (chunkValues: number): Promise<Map<string, Float32Array>> => {
    const opt = await SplitOptimizer.create(backend, 1, { kind: 'adamw', weightDecay: 0.05, clipNorm: 1 }, entries, chunkValues);
    try {
      const values = new Map([...start].map(([k, v]) => [k, v.slice()]));
      for (const s of opt.state) values.set(s.name, new Float32Array(sizeOf(s.dims)));
      for (const [t, g] of grads.entries()) {
        const out = Object.fromEntries(entries.map((e) => [e.grad, { type: DataType.FLOAT, dims: e.dims, data: g.get(e.grad)! }]));
        await opt.update(values, out, 2.5, { lr: 0.01, bc1: 1 - 0.9 ** (t + 1), bc2: 1 - 0.999 ** (t + 1) });
      }
      return new Map(entries.map((e) => [e.name, values.get(e.name)!]));
    } finally {
      await opt.release();
    }
  };
  const alone = await train(1), grouped = await train(1 << 20);
  for (const e of entries) {
    assert.deepEqual(alone.get(e.name), grouped.get(e.name), e.name);
    assert.notDeepEqual(alone.get(e.name), start.get(e.name), `${e.name} moved`);
  }
  assert.ok(alone.get('s')!.every((v) => v >= 1e-3 && v <= 0.05), 'scales within their bounds');
});
