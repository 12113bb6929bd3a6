// Networks where the answer is known: the wide-channel layer, the depthwise layer per-tensor and the outlier
// activation come out as the most sensitive, with the right diagnosis; the configurable model equals JS fake quant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { arraySource, depthwiseNet, normalData, outlierData, outlierMlp, wideChannelNet } from './analysis-models';

const codes = (r: { diagnoses: { code: string }[] }) => r.diagnoses.map((d) => d.code);

test('a layer with one output channel x30 is the most sensitive under per-tensor weights, diagnosed as channel spread', async () => {
  const data = arraySource('x', [4, 8, 8], normalData(32, 256, 11));
  const report = await analyzeModel({ modelPath: 'wide.onnx', model: wideChannelNet(), data, formats: ['w8-pt', 'w8-pc', 'a8'], allButOne: false, measure: 'all' });
  assert.deepEqual(report.layers.map((l) => l.name).sort(), ['conv1', 'conv2', 'conv3', 'fc']);
  const byRank = report.layers.slice().sort((a, b) => a.rank - b.rank);
  assert.equal(byRank[0].name, 'conv2');
  const conv2 = byRank[0];
  assert.ok(codes(conv2).includes('channel-range-spread'), `diagnoses: ${codes(conv2)}`);
  const d = conv2.diagnoses.find((x) => x.code === 'channel-range-spread')!;
  assert.ok(d.evidence.channelRangeSpread > 10 && d.evidence.gapDb > 6, JSON.stringify(d.evidence));
  for (const l of report.layers.filter((x) => x.name !== 'conv2')) assert.ok(!codes(l).includes('channel-range-spread'), `${l.name}: ${codes(l)}`);
  // per-channel fixes it: conv2's isolated output SQNR per-channel is far better than per-tensor
  assert.ok(conv2.formats['w8-pc'].isolated!.sqnrDb > conv2.formats['w8-pt'].isolated!.sqnrDb + 10);
  // the per-output-channel weight SQNR points at the non-wide channels
  const ch = conv2.formats['w8-pt'].weightChannelSqnrDb!;
  assert.equal(ch.indexOf(Math.max(...ch)), 3);
});

test('a depthwise convolution quantized per-tensor is far more sensitive than per-channel', async () => {
  const data = arraySource('x', [8, 8, 8], normalData(16, 512, 12));
  const report = await analyzeModel({ modelPath: 'dw.onnx', model: depthwiseNet(), data, formats: ['w8-pc', 'w8-pt'], primaryFormat: 'w8-pt', measure: 'all' });
  const dw = report.layers.find((l) => l.name === 'dw')!;
  assert.equal(dw.kind, 'depthwise-conv');
  const pt = dw.formats['w8-pt'].isolated!.sqnrDb;
  const pc = dw.formats['w8-pc'].isolated!.sqnrDb;
  assert.ok(pc > pt + 15, `per-channel ${pc} dB vs per-tensor ${pt} dB`);
  assert.equal(dw.rank, 1);
  assert.ok(codes(dw).includes('depthwise-per-tensor'), `diagnoses: ${codes(dw)}`);
  // all-but-one under per-tensor: leaving the depthwise layer float helps most
  const abo = report.layers.map((l) => [l.name, l.formats['w8-pt'].allButOne!.sqnrDb] as const).sort((a, b) => b[1] - a[1]);
  assert.equal(abo[0][0], 'dw');
  assert.ok(report.allQuantized['w8-pc'].sqnrDb > report.allQuantized['w8-pt'].sqnrDb + 10);
});

test('an input activation with outliers is the most sensitive under 8-bit activations, diagnosed as outliers', async () => {
  const data = arraySource('x', [16], outlierData(64, 13));
  const report = await analyzeModel({ modelPath: 'outlier.onnx', model: outlierMlp(), data, formats: ['a8', 'a16', 'w8-pc'], allButOne: false, measure: 'all' });
  const fc1 = report.layers.find((l) => l.name === 'fc1')!;
  const fc2 = report.layers.find((l) => l.name === 'fc2')!;
  assert.equal(fc1.rank, 1);
  assert.ok(codes(fc1).includes('activation-outliers'), `diagnoses: ${codes(fc1)}`);
  assert.ok(!codes(fc2).includes('activation-outliers'), `fc2 diagnoses: ${codes(fc2)}`);
  assert.ok(fc1.activation!.outlierRatio > 10);
  assert.ok(fc1.formats.a16.isolated!.sqnrDb > fc1.formats.a8.isolated!.sqnrDb + 20);
  // local error is measured on the layer's own output
  assert.ok(fc1.formats.a8.localSqnrDb! < fc2.formats.a8.localSqnrDb!);
});
