// The CLI on models with several integer inputs and fixed batch dims: `qat` trains, exports and compares with PTQ;
// `analyze --synthetic` feeds a batch-4 model whole batches.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import { runCli } from '../../src/cli/main';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { zooEntry } from '../fixtures/zoo';

function io() {
  const out: string[] = [], err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), progressStream: new PassThrough() } };
}

const dir = tempDir('ql-qat-sig-');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const save = (name: string) => { const f = path.join(dir, `${name}.onnx`); saveModelFile(f, zooEntry(name).build({ scale: 'tiny', seed: 4 }).model); return f; };

test('quantlens qat on a batch-4 model with --batch-size 1 trains whole batches and compares the export with PTQ', async () => {
  const model = save('mlp_batch4');
  const c = io();
  const code = await runCli(['qat', model, '--synthetic', '--steps', '2', '--batch-size', '1', '-o', path.join(dir, 'mlp.qat.onnx')], c.io);
  assert.equal(code, 0, c.err.join('\n'));
  assert.match(c.err.join('\n'), /Batch: 4 samples per step \(the model's batch dim is fixed at 4\)/);
  const all = [...c.out, ...c.err].join('\n');
  assert.match(all, /QAT -?\d+\.\d+ dB.*plain PTQ of the same recipe -?\d+\.\d+ dB.*16 synthetic samples|16 synthetic samples: QAT -?\d+\.\d+ dB.*plain PTQ of the same recipe -?\d+\.\d+ dB/);
  assert.match(all, /trained formats: int8\/per-channel weights \/ uint8 activations \(2 layers\)/);
});

test('quantlens qat trains a BERT-style encoder from two int64 inputs (input_ids, attention_mask)', async () => {
  const model = save('bert');
  const c = io();
  const out = path.join(dir, 'bert.qat.onnx');
  const code = await runCli(['qat', model, '--synthetic', '--steps', '2', '--batch-size', '4', '-o', out], c.io);
  assert.equal(code, 0, c.err.join('\n'));
  assert.match(c.out.join('\n'), /Trained 2 steps on 16 samples/);
  assert.ok(fs.existsSync(out));
});

test('quantlens analyze --synthetic runs a model whose batch dim is fixed at 4', async () => {
  const model = save('mlp_batch4');
  const c = io();
  const code = await runCli(['analyze', model, '--synthetic'], c.io);
  assert.equal(code, 0, c.err.join('\n'));
});
