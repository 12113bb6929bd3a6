// `quantlens qat`: fine-tunes an MNIST MLP from the command line, writes the QDQ model, recipe with scales and log.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import { runCli } from '../../src/cli/main';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { Graph } from '../../src/core/onnx/graph';
import { mnistMlp } from '../../src/core/train/examples';
import { TrainingLog } from '../../src/shared/training';

function io() {
  const out: string[] = [], err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), progressStream: new PassThrough() } };
}

test('quantlens qat fine-tunes with a recipe and exports a QDQ model, learned scales and a training log', async () => {
  const dir = tempDir('ql-qat-cli-');
  const model = path.join(dir, 'mlp.onnx');
  saveModelFile(model, mnistMlp(1, 32));
  const recipe = path.join(dir, 'mlp.qrecipe.json');
  fs.writeFileSync(recipe, JSON.stringify({ version: 1, model: 'mlp.onnx', defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: { '/fc2/Gemm': 'float' } }));
  const out = path.join(dir, 'mlp.qat.onnx');
  const c = io();
  const code = await runCli(['qat', model, '--recipe', recipe, '--data', 'mnist', '--samples', '640', '--epochs', '1', '--lr', '0.002', '--batch-size', '32', '-o', out], c.io);
  assert.equal(code, 0, c.err.join('\n'));
  assert.match(c.out.join('\n'), /Trained 20 steps on 640 samples/);
  const q = new Graph(loadModelFile(out));
  const dq = q.nodes.filter((n) => n.opType === 'DequantizeLinear');
  assert.ok(dq.length >= 2, 'fc1 weight and input are quantized');
  const gemm2 = q.nodes.find((n) => n.opType === 'Gemm' && n.inputs.includes('fc2.weight'));
  assert.ok(gemm2, 'the layer kept in float reads its float weight');
  const scales = JSON.parse(fs.readFileSync(path.join(dir, 'mlp.qat.qrecipe.json'), 'utf8'));
  assert.equal(scales.layers['/fc2/Gemm'], 'float');
  assert.equal(scales.layers['/fc1/Gemm'].scales['fc1.weight'].length, 32);
  const log: TrainingLog = JSON.parse(fs.readFileSync(path.join(dir, 'mlp.qat.training-log.json'), 'utf8'));
  assert.equal(log.entries[log.entries.length - 1].step, 20);
  assert.ok(log.entries[log.entries.length - 1].loss < log.entries[0].loss);
});

test('quantlens qat with labels that do not fit the model exits with a bad-input error', async () => {
  const dir = tempDir('ql-qat-cli-');
  const model = path.join(dir, 'small.onnx');
  const m = mnistMlp(1, 16);
  // 5 classes only: MNIST labels 5..9 do not fit.
  const g = m.graph!;
  const w2 = g.initializer!.find((t) => t.name === 'fc2.weight')!;
  w2.dims = [5, 16];
  w2.raw_data = w2.raw_data!.slice(0, 5 * 16 * 4);
  const b2 = g.initializer!.find((t) => t.name === 'fc2.bias')!;
  b2.dims = [5];
  b2.raw_data = b2.raw_data!.slice(0, 20);
  saveModelFile(model, m);
  const c = io();
  const code = await runCli(['qat', model, '--data', 'mnist', '--samples', '64', '--steps', '2', '-o', path.join(dir, 'o.onnx')], c.io);
  assert.equal(code, 1);
  assert.match(c.err.join('\n'), /label \d does not match the model output, which has 5 classes/);
  assert.ok(!fs.existsSync(path.join(dir, 'o.onnx')));
});
