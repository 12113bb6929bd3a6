// The CLI refuses what the engine refuses, with the same shared schema: sample counts, QAT numbers, recipe fields and
// nesting, outputs that are folders or system files. Exit 1 (bad input) or 2 (bad option), never 3 (internal).
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { captureIO, tinyConvNet } from '../fixtures/tiny-models';

const root = tempDir('ql-limits-');
const model = path.join(root, 'tiny.onnx');
saveModelFile(model, tinyConvNet());

async function run(args: string[]): Promise<{ code: number; err: string }> {
  const io = captureIO();
  const code = await runCli(args, io);
  return { code, err: io.stderr() };
}

test('--samples 1000000000, --batch-size 0, --steps -1, --lr x are refused as usage errors with the limit', async () => {
  const out = path.join(root, 'o.onnx');
  let r = await run(['quantize', model, '--synthetic', '--samples', '1000000000', '-o', out]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /--samples <n>' argument '1000000000' is invalid\. the samples must be at most 100,000/);
  r = await run(['analyze', model, '--samples', '1e9']);
  assert.equal(r.code, 2, r.err);
  r = await run(['qat', model, '--synthetic', '--batch-size', '0', '-o', out]);
  assert.match(r.err, /the batch size must be at least 1/);
  assert.equal(r.code, 2);
  r = await run(['qat', model, '--synthetic', '--steps', '-1', '-o', out]);
  assert.match(r.err, /the steps must be at least 1/);
  r = await run(['qat', model, '--synthetic', '--lr', 'x', '-o', out]);
  assert.match(r.err, /expected a learning rate \(a number\), got 'x'/);
  assert.equal(r.code, 2);
  assert.ok(!fs.existsSync(out));
});

test('quantize --recipe rejects unknown fields, wrong types and deep nesting, naming the file and field', async () => {
  const out = path.join(root, 'r.onnx');
  const f = path.join(root, 'bad.qrecipe.json');
  const cases: [unknown, RegExp][] = [
    [{ version: 1, model: 'tiny.onnx', defaults: { weights: 'int8' }, colour: 'red' }, /bad\.qrecipe\.json: the recipe: unknown field 'colour'/],
    [{ version: 1, model: 'tiny.onnx', defaults: { weights: 'int8', precision: 3 } }, /defaults: unknown field 'precision'/],
    [{ version: 1, model: 'tiny.onnx', defaults: { weights: 8 } }, /defaults\.weights: expected a format string such as "int8\/per-channel", got a number \(8\)/],
    [{ version: 1, model: 'tiny.onnx', defaults: { activations: null } }, /defaults\.activations: .*got null/],
    [{ version: 1, model: 'tiny.onnx', layers: { conv1: { calibration: [] } } }, /layers\.conv1\.calibration: .*got an array/],
    [{ version: 1, model: 'tiny.onnx', samples: 0 }, /samples: the samples must be at least 1/],
    [[1, 2], /a recipe must be a JSON object, got an array/],
  ];
  for (const [recipe, problem] of cases) {
    fs.writeFileSync(f, JSON.stringify(recipe));
    const r = await run(['quantize', model, '--synthetic', '--samples', '2', '--recipe', f, '-o', out]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, problem);
  }
  fs.writeFileSync(f, `{"version": 1, "model": "tiny.onnx", "notes": ${'['.repeat(100000)}${']'.repeat(100000)}}`);
  const r = await run(['quantize', model, '--synthetic', '--recipe', f, '-o', out]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /bad\.qrecipe\.json: the recipe nests objects or arrays more than 1000 levels deep; the depth limit is 32/);
  assert.ok(!fs.existsSync(out));
});

test('outputs that are a folder or /proc/self/mem are bad input, checked before any work', async () => {
  let r = await run(['quantize', model, '--synthetic', '--samples', '2', '-o', root]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /is a folder; give a file name inside it/);
  r = await run(['quantize', model, '--synthetic', '--samples', '2', '-o', '/proc/self/mem']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /\/proc\/self\/mem: the output is inside a system folder/);
  r = await run(['analyze', model, '--samples', '2', '--html', root]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /the HTML report is a folder/);
});
