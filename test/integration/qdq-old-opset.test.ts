// Old-opset models with weights in Constant nodes: the real PaddleOCR classifier (opset 9) exported as QDQ
// (opset raised to 13) runs in ONNX Runtime and equals the fake-quant simulation, which stays at opset 9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventory } from '../../src/core/onnx/inventory';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { synthesizeFeeds } from '../../src/core/onnx/shapes';
import { Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { createCalibrator } from '../../src/core/quant/calibrate';
import { buildFakeQuantModel } from '../../src/core/quant/fake-quant-model';
import { buildPlan } from '../../src/core/quant/plan';
import { exportQdq, QuantPlan, RangeMap } from '../../src/core/quant/qdq-export';

const CLS = path.join('node_modules', '@gutenye', 'ocr-models', 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');

async function ranges(model: ModelProto, plan: QuantPlan, feeds: Record<string, Tensor>[]): Promise<RangeMap> {
  const inputs = new Set((model.graph!.input ?? []).map((i) => i.name));
  const specs = new Map<string, ReturnType<typeof createCalibrator>>();
  for (const l of plan) for (const a of l.activations) if (!specs.has(a.tensor)) specs.set(a.tensor, createCalibrator(a.calibration ?? { method: 'minmax' }, a.format));
  const captured = [...specs.keys()].filter((t) => !inputs.has(t));
  const m: ModelProto = { ...model, graph: { ...model.graph, output: [...(model.graph!.output ?? []), ...captured.map((name) => ({ name }))] } };
  const s = await ortBackend().createSession(encodeModelProto(m), { optimization: 'disabled', threads: 2 });
  try {
    for (const f of feeds) {
      const out = await s.run(f, captured);
      for (const [t, c] of specs) c.observe((inputs.has(t) ? f[t].data : out[t].data) as Float32Array);
    }
  } finally {
    await s.release();
  }
  return new Map([...specs].map(([t, c]) => [t, c.range()]));
}

async function run(model: ModelProto, feeds: Record<string, Tensor>, optimization: 'disabled' | 'all'): Promise<Float32Array> {
  const s = await ortBackend().createSession(encodeModelProto(model), { optimization, threads: 2 });
  try {
    const out = await s.run(feeds);
    return Object.values(out)[0].data as Float32Array;
  } finally {
    await s.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('PaddleOCR classifier (opset 9, Constant-node weights): QDQ export at opset 13 equals the opset-9 fake-quant model', async () => {
  const model = loadModelFile(CLS);
  const graph = new Graph(model, CLS);
  assert.equal(graph.opset, 9);
  const layers = buildInventory(graph, { stats: false });
  assert.ok(layers.length >= 50, `${layers.length} layers`);
  const plan = buildPlan(layers, { defaults: { weights: 'int8/per-channel', activations: 'uint8', calibration: 'percentile:99.99' }, layers: {} });
  const calib = [1, 2].map((seed) => synthesizeFeeds(graph, { seed, batch: 2 }));
  const r = await ranges(model, plan, calib);
  const qdq = exportQdq(model, plan, r, { file: CLS });
  const fake = buildFakeQuantModel(model, plan, r, { file: CLS });
  const qg = new Graph(qdq);
  assert.equal(qg.opset, 13);
  assert.equal(new Graph(fake).opset, 9);
  const dq = qg.nodes.filter((n) => n.opType === 'DequantizeLinear').length;
  const weights = plan.filter((l) => l.weight).length;
  assert.ok(dq >= weights + 1, `${dq} DequantizeLinear for ${weights} weights`);
  assert.equal(qg.nodes.filter((n) => n.opType === 'Constant' && layers.some((l) => l.weight?.tensor === n.outputs[0])).length, 0, 'weight Constant nodes were replaced');
  const encoded = encodeModelProto(qdq).byteLength;
  const original = encodeModelProto(model).byteLength;
  console.log(`cls: ${layers.length} layers, ${weights} weights quantized; file ${(original / 1024).toFixed(0)} KiB → ${(encoded / 1024).toFixed(0)} KiB`);
  assert.ok(encoded < 0.5 * original, 'int8 weights shrink the file (BatchNormalization constants stay float)');
  const f = synthesizeFeeds(graph, { seed: 7, batch: 2 });
  const ref = await run(model, f, 'disabled');
  const yFake = await run(fake, f, 'disabled');
  const yQdq = await run(qdq, f, 'disabled');
  const yAll = await run(qdq, f, 'all');
  console.log(`cls: |fake-qdq| ${maxDiff(yFake, yQdq)}, |float-fake| ${maxDiff(ref, yFake).toExponential(2)}, |qdq(all)-qdq| ${maxDiff(yAll, yQdq).toExponential(2)}`);
  assert.equal(maxDiff(yFake, yQdq), 0, 'bit-exact without optimizations');
  assert.ok(yAll.every(Number.isFinite), 'the optimized QDQ model runs');
  assert.equal(yQdq.length, ref.length);
});

/** A normalized image of dark 'glyphs' on white lines, so the text detector has something to find. */
function textLike(input: string, size: number, phase = 0): Record<string, Tensor> {
  const data = new Float32Array(3 * size * size).fill(2.2);
  for (let c = 0; c < 3; c++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const line = Math.floor(y / 12) % 2 === 1;
    if (line && (x + phase) % 7 < 4 && x > 8 && x < size - 8) data[(c * size + y) * size + x] = -1.8;
  }
  return { [input]: { type: DataType.FLOAT, dims: [1, 3, size, size], data } };
}

for (const [name, file, spatial] of [['det', 'ch_PP-OCRv4_det_infer.onnx', 96], ['rec', 'ch_PP-OCRv4_rec_infer.onnx', 48]] as const) {
  test(`PaddleOCR ${name}: mixed recipe (int8 per-channel, int4 blocked + int16, float layers) exported at opset 21 equals fake quant`, async () => {
    const f = path.join('node_modules', '@gutenye', 'ocr-models', 'assets', file);
    const model = loadModelFile(f);
    const graph = new Graph(model, f);
    const layers = buildInventory(graph, { stats: false });
    const withWeight = layers.filter((l) => l.weight && l.weight.dims.length > 0);
    const overrides: Record<string, { weights?: string; activations?: string } | 'float'> = {
      [withWeight[0].name]: 'float',
      [withWeight[3].name]: { weights: 'int4/block:16', activations: 'int16' },
      [withWeight[5].name]: { weights: 'uint8', activations: 'int8' },
    };
    const plan = buildPlan(layers, { defaults: { weights: 'int8/per-channel', activations: 'uint8', calibration: 'minmax' }, layers: overrides });
    const dims = { batch: 1, spatial };
    const calib = name === 'det' ? [textLike(graph.inputs[0].name, spatial, 3)] : [1, 2].map((seed) => synthesizeFeeds(graph, { seed, ...dims }));
    const r = await ranges(model, plan, calib);
    const qdq = exportQdq(model, plan, r, { file: f });
    const fake = buildFakeQuantModel(model, plan, r, { file: f });
    assert.equal(new Graph(qdq).opset, 21);
    const feed = name === 'det' ? textLike(graph.inputs[0].name, spatial) : synthesizeFeeds(graph, { seed: 9, ...dims });
    const ref = await run(model, feed, 'disabled');
    const yFake = await run(fake, feed, 'disabled');
    const yQdq = await run(qdq, feed, 'disabled');
    const yAll = await run(qdq, feed, 'all');
    console.log(`${name}: output range [${Math.min(...ref)}, ${Math.max(...ref)}], n=${ref.length}`);
    console.log(`${name}: opset ${graph.opset} → 21, ${plan.length} layers planned; |fake-qdq| ${maxDiff(yFake, yQdq)}, |float-fake| ${maxDiff(ref, yFake).toExponential(2)}, |qdq(all)-qdq| ${maxDiff(yAll, yQdq).toExponential(2)}`);
    assert.equal(maxDiff(yFake, yQdq), 0, 'bit-exact without optimizations');
    assert.ok(maxDiff(ref, yFake) > 0);
    assert.ok(yAll.every(Number.isFinite), 'the optimized QDQ model runs');
  });
}
