// `quantlens quantize` end to end on a tiny model: synthetic data, an npy folder, a recipe; output runs in ORT.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { encodeNpy } from '../../src/core/data/npy';
import { loadModelFile, saveModelFile } from '../../src/core/onnx/model-file';
import { DataType } from '../../src/core/onnx/proto';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { captureIO, randn, tinyConvNet } from '../fixtures/tiny-models';

const tmp = () => tempDir('ql-cli-q-');

function sqnrOf(stdout: string): number {
  const m = /Output SQNR y: (-?[\d.]+) dB, top-1 agreement [\d.]+%/.exec(stdout);
  assert.ok(m, `no SQNR line in:\n${stdout}`);
  return Number(m[1]);
}

async function runModel(file: string, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await ortBackend().createSession(file, { threads: 1 });
  try {
    const r = await s.run({ x: { type: DataType.FLOAT, dims: [n, 3, 8, 8], data: x } });
    return r.y.data as Float32Array;
  } finally { await s.release(); }
}

test('quantize with synthetic data writes a QDQ model that ONNX Runtime runs close to the float one', async () => {
  const dir = tmp();
  const model = path.join(dir, 'tiny.onnx');
  saveModelFile(model, tinyConvNet());
  const out = path.join(dir, 'out', 'tiny.q.onnx');
  const io = captureIO();
  const code = await runCli(['quantize', model, '--synthetic', '--samples', '24', '-o', out], io);
  assert.equal(code, 0, io.stderr());
  assert.ok(fs.existsSync(out));
  assert.match(io.stdout(), new RegExp(`Wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(io.stdout(), /Size: [\d.]+ k?B -> [\d.]+ k?B \(\d+\.\d%\)/);
  assert.match(io.stdout(), /Quantized 3 layers, 3 activation tensors calibrated on 24 synthetic samples/);
  assert.match(io.stderr(), /Data: synthetic: 24 samples/);
  assert.ok(sqnrOf(io.stdout()) > 15, io.stdout());
  const q = loadModelFile(out);
  const ops = q.graph!.node!.map((n) => n.op_type);
  assert.equal(ops.filter((o) => o === 'QuantizeLinear').length, 3);
  assert.ok(ops.filter((o) => o === 'DequantizeLinear').length >= 6);
  const x = randn(2 * 192, 99);
  const [a, b] = [await runModel(model, x, 2), await runModel(out, x, 2)];
  assert.notDeepEqual(Array.from(a), Array.from(b), 'the quantized model computes something different...');
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 0.1 * (Math.abs(v) + 0.1), `...but close: ${v} vs ${b[i]}`));
  assert.deepEqual(fs.readdirSync(path.dirname(out)), ['tiny.q.onnx'], 'no temporary files left');
});

test('quantize with an npy folder and a recipe that keeps the classifier in float', async () => {
  const dir = tmp();
  const model = path.join(dir, 'tiny.onnx');
  saveModelFile(model, tinyConvNet());
  const data = path.join(dir, 'calib');
  fs.mkdirSync(data);
  for (let k = 0; k < 3; k++) fs.writeFileSync(path.join(data, `batch_${k}.npy`), encodeNpy({ type: DataType.FLOAT, dims: [4, 3, 8, 8], data: randn(4 * 192, 10 + k) }));
  fs.writeFileSync(path.join(data, 'labels.npy'), encodeNpy({ type: DataType.INT64, dims: [12], data: BigInt64Array.from({ length: 12 }, (_, i) => BigInt(i % 3)) }));
  const recipe = path.join(dir, 'tiny.qrecipe.json');
  fs.writeFileSync(recipe, JSON.stringify({ version: 1, model: 'tiny.onnx', defaults: { weights: 'int8/per-channel', activations: 'uint8', calibration: 'percentile:99.9' }, layers: { fc: 'float' } }));
  const out = path.join(dir, 'tiny.q.onnx');
  const io = captureIO();
  const code = await runCli(['quantize', model, '--recipe', recipe, '--data', data, '--batch-size', '5', '-o', out], io);
  assert.equal(code, 0, io.stderr());
  assert.match(io.stdout(), /Quantized 2 layers, 2 activation tensors calibrated on 12 real samples/);
  assert.match(io.stderr(), /Data: real \(npy\): 12 samples/);
  assert.match(io.stdout(), /accuracy \d+\.\d% float -> \d+\.\d% quantized \(quantized vs float, 4 samples\)/);
  const q = loadModelFile(out);
  const gemm = q.graph!.node!.find((n) => n.op_type === 'Gemm')!;
  const producers = new Map(q.graph!.node!.flatMap((n) => (n.output ?? []).map((o) => [o, n.op_type] as const)));
  assert.ok(gemm.input!.every((i) => producers.get(i) !== 'DequantizeLinear'), 'fc stays float');
  assert.ok(sqnrOf(io.stdout()) > 15);
  const j = captureIO();
  assert.equal(await runCli(['quantize', model, '--recipe', recipe, '--data', data, '--samples', '5', '--check-samples', '0', '--json', '-o', out], j), 0, j.stderr());
  const r = JSON.parse(j.stdout());
  assert.equal(r.output, out);
  assert.deepEqual(r.data, { kind: 'npy', synthetic: false, samples: 5, source: data, labeled: true });
  assert.equal(r.quantizedLayers, 2);
  assert.deepEqual(r.outputSqnrDb, {});
  assert.deepEqual(r.top1Agreement, {});
  assert.equal(r.sizeAfter, fs.statSync(out).size);
});

test('a recipe naming a layer the model lacks fails with exit 1 and a suggestion; no output written', async () => {
  const dir = tmp();
  const model = path.join(dir, 'tiny.onnx');
  saveModelFile(model, tinyConvNet());
  const recipe = path.join(dir, 'r.qrecipe.json');
  fs.writeFileSync(recipe, '{ "version": 1, "model": "tiny.onnx", "defaults": {}, "layers": { "conv3": "float" } }');
  const out = path.join(dir, 'q.onnx');
  const io = captureIO();
  assert.equal(await runCli(['quantize', model, '--recipe', recipe, '--synthetic', '-o', out], io), 1);
  assert.match(io.stderr(), /quantlens: .*r\.qrecipe\.json: .*'conv3' \(did you mean 'conv1'\?\)/);
  assert.ok(!fs.existsSync(out));
});
