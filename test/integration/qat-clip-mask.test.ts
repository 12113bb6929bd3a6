// A ReLU6 (Clip 0..6) whose output only an activation fake quantization reads: its gradient mask merged into the fake
// quantization's (one mask on the Clip's input, fake-quant.ts clipFuses) trains bit for bit as the two separate rules,
// with the Clip's comparisons gone from the step graph; a Clip output read elsewhere too keeps its own rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, decodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { tensorFromProto, toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { InferenceBackend } from '../../src/core/runtime/backend';
import { Rng } from '../../src/core/train/random';
import { runQat, QatOptions } from '../../src/core/train/qat';

/** x [N, 3, 8, 8] -> Conv -> ReLU6 (also added to the 1x1 Conv's output when `residual`) -> depthwise Conv -> ReLU6 -> 1x1 Conv -> GAP -> Gemm. */
function reluSixNet(residual: boolean): ModelProto {
  const rng = new Rng(4);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  const b = new GraphBuilder('relu6');
  const x = b.input('x', DataType.FLOAT, ['N', 3, 8, 8]);
  const lo = b.constFloat('lo', [0], []), hi = b.constFloat('hi', [6], []);
  const w1 = b.initializer('w1', { type: DataType.FLOAT, dims: [8, 3, 3, 3], data: rand(216, 1.5) });
  const b1 = b.initializer('b1', { type: DataType.FLOAT, dims: [8], data: rand(8, 0.5) });
  const h1 = b.node('Clip', [b.node('Conv', [x, w1, b1], { pads: [1, 1, 1, 1] }, { name: 'conv1' }), lo, hi], {}, { output: 'h1' });
  const w2 = b.initializer('w2', { type: DataType.FLOAT, dims: [8, 1, 3, 3], data: rand(72, 1.5) });
  const h2 = b.node('Clip', [b.node('Conv', [h1, w2], { group: 8, pads: [1, 1, 1, 1] }, { name: 'conv2' }), lo, hi], {}, { output: 'h2' });
  const w4 = b.initializer('w4', { type: DataType.FLOAT, dims: [8, 8, 1, 1], data: rand(64, 0.5) });
  const h3 = b.node('Conv', [h2, w4], {}, { name: 'conv3' });
  const sum = residual ? b.node('Add', [h3, h1]) : h3;
  const pooled = b.node('Flatten', [b.node('GlobalAveragePool', [sum])]);
  const w3 = b.initializer('w3', { type: DataType.FLOAT, dims: [8, 5], data: rand(40, 0.5) });
  const y = b.node('Gemm', [pooled, w3], {}, { output: 'y' });
  b.output(y, DataType.FLOAT, ['N', 5]);
  return b.model(17);
}

const values = (m: ModelProto) => new Map((m.graph!.initializer ?? []).map((t) => [t.name!, toFloat32(tensorFromProto(t))]));

async function run(residual: boolean, fuseClipMask: boolean, layers: Record<string, { scales: Record<string, number> }> = {}): Promise<{ values: Map<string, Float32Array>; scales: Float32Array[]; losses: number[]; ops: Map<string, number> }> {
  const rng = new Rng(9);
  const n = 16;
  const data = Float32Array.from({ length: n * 192 }, () => rng.next() * 4 - 2);
  let step: ModelProto | undefined;
  const inner = ortBackend();
  // The step graph is the largest model a session is created for.
  const backend: InferenceBackend = { version: inner.version, createSession: (m, o) => { if (typeof m !== 'string') { const d = decodeModelProto(m); if (!step || (d.graph!.node ?? []).length > (step.graph!.node ?? []).length) step = d; } return inner.createSession(m, o); } };
  const o: QatOptions = {
    model: reluSixNet(residual), recipe: { defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers },
    data: { inputs: { x: { type: DataType.FLOAT, dims: [n, 3, 8, 8], data } } }, batchSize: 8, steps: 4, lr: 1e-3, seed: 3, progressEvery: 1,
    stepsPerRun: 1, fuseClipMask, backend,
  };
  const r = await runQat(o);
  const ops = new Map<string, number>();
  const count = (nodes: NonNullable<ModelProto['graph']>['node']) => { for (const nd of nodes ?? []) ops.set(nd.op_type!, (ops.get(nd.op_type!) ?? 0) + 1); };
  count(step!.graph!.node);
  if (Object.keys(layers).length) assert.deepEqual(r.specs.filter((sp) => sp.tensor === 'h1' || sp.tensor === 'h2').map((sp) => sp.tensor), ['h1', 'h2']);
  return { values: values(r.model), scales: r.specs.map((s) => s.scale), losses: r.log.map((e) => e.loss), ops };
}

for (const residual of [false, true]) {
  test(`ReLU6 mask merged into the activation fake quantization's: bit-identical training${residual ? ' (a ReLU6 output also read by a residual Add keeps its own rule)' : ''}`, async () => {
    const merged = await run(residual, true);
    const separate = await run(residual, false);
    assert.deepEqual(merged.losses, separate.losses);
    for (const [name, v] of separate.values) assert.deepEqual(merged.values.get(name), v, `${name} bit-identical`);
    assert.deepEqual(merged.scales, separate.scales, 'learned scales bit-identical');
    assert.ok(merged.values.get('w1')!.some((v, i) => v !== values(reluSixNet(residual)).get('w1')![i]), 'the weights trained');
    // Each merged ReLU6 drops its LessOrEqual (the per-channel weight masks keep theirs).
    const drop = (separate.ops.get('LessOrEqual') ?? 0) - (merged.ops.get('LessOrEqual') ?? 0);
    assert.equal(drop, residual ? 1 : 2, 'merged ReLU6 masks');
  });
}

test('merged ReLU6 mask with ranges past the ReLU6 (8/255: x = 6 inside the range) and short of it (4/255): bit-identical', async () => {
  // The LSQ product x * mask is taken from the merged mask (fake-quant.ts): both sides of the Clip's hi.
  const layers = { conv2: { scales: { h1: 8 / 255 } }, conv3: { scales: { h2: 4 / 255 } } };
  const merged = await run(false, true, layers);
  const separate = await run(false, false, layers);
  assert.deepEqual(merged.losses, separate.losses);
  for (const [name, v] of separate.values) assert.deepEqual(merged.values.get(name), v, `${name} bit-identical`);
  assert.deepEqual(merged.scales, separate.scales, 'learned scales bit-identical');
});
