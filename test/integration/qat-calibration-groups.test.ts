// Activation calibration fetches its tensors in groups of bounded size (QatOptions.calibrationFetchBytes, default
// CALIBRATION_FETCH_BYTES), several runs of the same batch in the same session: the calibrated scales, and so the
// training from them, are the same as with every tensor fetched at once. By default calibration fetches a ReduceMin and a
// ReduceMax of each tensor instead: the same scales, losses and weights bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { tensorFromProto, toFloat32 } from '../../src/core/onnx/tensor-data';
import { InferenceBackend } from '../../src/core/runtime/backend';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { Rng } from '../../src/core/train/random';
import { fetchGroups, logitsTensor, QatOptions, runQat } from '../../src/core/train/qat';
import { Graph } from '../../src/core/onnx/graph';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { readAllSamples } from '../../src/core/train/batches';
import { prepareForTraining } from '../../src/core/train/export';
import { zooEntry } from '../fixtures/zoo';

/** x [N, 16] -> MatMul [16, 32] + bias -> Relu -> MatMul [32, 10] + bias. */
function mlp(): ModelProto {
  const rng = new Rng(5);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  const b = new GraphBuilder('mlp');
  const x = b.input('x', DataType.FLOAT, ['N', 16]);
  const w1 = b.initializer('w1', { type: DataType.FLOAT, dims: [16, 32], data: rand(512, 0.5) });
  const b1 = b.initializer('b1', { type: DataType.FLOAT, dims: [32], data: rand(32, 0.1) });
  const h = b.node('Relu', [b.node('Add', [b.node('MatMul', [x, w1], {}, { name: '/fc1/MatMul' }), b1])]);
  const w2 = b.initializer('w2', { type: DataType.FLOAT, dims: [32, 10], data: rand(320, 0.3) });
  const b2 = b.initializer('b2', { type: DataType.FLOAT, dims: [10], data: rand(10, 0.1) });
  const y = b.node('Add', [b.node('MatMul', [h, w2], {}, { name: '/fc2/MatMul' }), b2], {}, { output: 'y' });
  b.output(y, DataType.FLOAT, ['N', 10]);
  return b.model(17);
}

/** The ORT backend, recording the fetches of every run of a session that fetches more than the model's output. */
function recordingBackend(): InferenceBackend & { fetches: (readonly string[])[]; sessions: number } {
  const inner = ortBackend();
  const fetches: (readonly string[])[] = [];
  const rec = {
    fetches, sessions: 0, version: inner.version,
    async createSession(model: Uint8Array | string, opts?: Parameters<InferenceBackend['createSession']>[1]) {
      rec.sessions++;
      const s = await inner.createSession(model, opts);
      return { ...s, inputNames: s.inputNames, outputNames: s.outputNames, run: (feeds: Parameters<typeof s.run>[0], f?: readonly string[]) => { if (f) fetches.push(f); return s.run(feeds, f); }, release: () => s.release() };
    },
  };
  return rec as InferenceBackend & { fetches: (readonly string[])[]; sessions: number };
}

function options(over: Partial<QatOptions>): QatOptions {
  const rng = new Rng(9);
  const n = 24;
  const data = Float32Array.from({ length: n * 16 }, () => rng.next() * 8 - 3);
  return {
    model: mlp(), recipe: { defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: {} },
    data: { inputs: { x: { type: DataType.FLOAT, dims: [n, 16], data } } },
    batchSize: 8, steps: 4, lr: 0.01, seed: 3, progressEvery: 2, calibrationSamples: 16, ...over,
  };
}

const values = (m: ModelProto) => new Map((m.graph!.initializer ?? []).map((t) => [t.name!, toFloat32(tensorFromProto(t))]));

test('fetchGroups: consecutive groups within the byte bound, scaled to the run batch; an oversized tensor alone', () => {
  const shapes = new Map([['a', [1, 10]], ['b', [1, 20]], ['c', [1, 100]], ['d', [1, 5]]]);
  // bytes at 2 samples: a 80, b 160, c 800, d 40
  assert.deepEqual(fetchGroups(['a', 'b', 'c', 'd'], shapes, 2, 240), [['a', 'b'], ['c'], ['d']]);
  assert.deepEqual(fetchGroups(['a', 'b', 'c', 'd'], shapes, 2, 1e9), [['a', 'b', 'c', 'd']]);
  assert.deepEqual(fetchGroups(['a', 'x', 'b'], shapes, 1, 100), [['a', 'x'], ['b']]);
});

test('calibration fetched one tensor per run gives the same scales, losses and weights as all at once', async () => {
  const oneBackend = recordingBackend(), splitBackend = recordingBackend();
  const one = await runQat(options({ backend: oneBackend, calibrationReduce: false }));
  const split = await runQat(options({ backend: splitBackend, calibrationReduce: false, calibrationFetchBytes: 1 }));
  // the calibration run fetched every activation at once in one case, one activation per run in the other
  const acts = one.specs.filter((s) => s.role === 'activation').map((s) => s.tensor);
  assert.ok(acts.length >= 2, `activations ${acts}`);
  assert.ok(oneBackend.fetches.some((f) => acts.every((t) => f.includes(t))), 'all activations in one run');
  assert.ok(acts.every((t) => splitBackend.fetches.some((f) => f.length === 1 && f[0] === t)), 'each activation in a run of its own');
  assert.ok(!splitBackend.fetches.some((f) => f.length > 1 && acts.filter((t) => f.includes(t)).length > 1), 'no run fetched two activations');
  one.specs.forEach((s, k) => assert.deepEqual(split.specs[k].scale, s.scale, `scale of ${s.tensor}`));
  assert.deepEqual(split.log.map((e) => e.loss), one.log.map((e) => e.loss), 'losses');
  const a = values(one.model), b = values(split.model);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `tensor ${k}`);
});

async function zooOptions(name: string): Promise<QatOptions> {
  const model = prepareForTraining(zooEntry(name).build({ scale: 'tiny', seed: 4 }).model);
  const inputs = (await readAllSamples(syntheticDataSource(new Graph(model).inputs, { samples: 12 }))).inputs;
  return { model, recipe: { defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: {} }, data: { inputs }, batchSize: 4, steps: 2, lr: 1e-3, seed: 1, progressEvery: 1, calibrationSamples: 12 };
}

for (const [name, make] of [['mlp', async () => options({})], ['mobilenet_v2', () => zooOptions('mobilenet_v2')], ['resnet18', () => zooOptions('resnet18')], ['vit_b_16', () => zooOptions('vit_b_16')]] as const) {
  test(`calibration by ReduceMin/ReduceMax gives the same scales, losses and weights as fetching the activations (${name}), and its runs give the distillation's targets`, async () => {
    const reduceBackend = recordingBackend(), fetchBackend = recordingBackend();
    const o = await make();
    const reduced = await runQat({ ...o, backend: reduceBackend });
    const fetched = await runQat({ ...o, calibrationReduce: false, backend: fetchBackend });
    // the teacher's outputs for the calibration samples came from the calibration runs: with every sample calibrating (the
    // zoo's 12) no session of their own; the mlp's 24 samples, 16 calibrating, one run for the other 8 instead of 3 for all
    const logits = logitsTensor(new Graph(o.model));
    const teacherRuns = (r: { fetches: (readonly string[])[] }) => r.fetches.filter((f) => f.length === 1 && f[0] === logits).length;
    if (name === 'mlp') assert.deepEqual([reduceBackend.sessions, teacherRuns(reduceBackend), teacherRuns(fetchBackend)], [fetchBackend.sessions, 1, 3]);
    else assert.deepEqual([reduceBackend.sessions, teacherRuns(reduceBackend)], [fetchBackend.sessions - 1, 0], 'one float session fewer');
    const acts = reduced.specs.filter((s) => s.role === 'activation').map((s) => s.tensor);
    assert.ok(acts.length >= 2, `activations ${acts}`);
    assert.ok(!reduceBackend.fetches.some((f) => acts.some((t) => f.includes(t))), 'no activation fetched');
    reduced.specs.forEach((s, k) => assert.deepEqual(fetched.specs[k].scale, s.scale, `scale of ${s.tensor}`));
    reduced.specs.forEach((s, k) => assert.deepEqual(fetched.specs[k].zeroPoint, s.zeroPoint, `zero point of ${s.tensor}`));
    assert.deepEqual(fetched.log.map((e) => e.loss), reduced.log.map((e) => e.loss), 'losses');
    const a = values(reduced.model), b = values(fetched.model);
    for (const [k, v] of a) assert.deepEqual(b.get(k), v, `tensor ${k}`);
  });
}
