// The first-order screening against exact isolated runs on networks with known answers, the default
// measure-where-it-decides mode, and the fallback to measuring layers the autodiff cannot reach.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel } from '../../src/core/analysis/analyze';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType } from '../../src/core/onnx/proto';
import { AnalysisReport } from '../../src/shared/report';
import { arraySource, depthwiseNet, normalData, outlierData, outlierMlp, wideChannelNet } from './analysis-models';

/** Spearman rank correlation (no ties expected). */
function spearman(a: number[], b: number[]): number {
  const rank = (v: number[]) => { const r = new Array<number>(v.length); v.map((x, i) => [x, i]).sort((p, q) => p[0] - q[0]).forEach((p, k) => { r[p[1]] = k; }); return r; };
  const ra = rank(a), rb = rank(b), m = (a.length - 1) / 2;
  let s = 0, sa = 0, sb = 0;
  for (let i = 0; i < a.length; i++) { s += (ra[i] - m) * (rb[i] - m); sa += (ra[i] - m) ** 2; sb += (rb[i] - m) ** 2; }
  return s / Math.sqrt(sa * sb);
}

function pairs(r: AnalysisReport): { name: string; est: number; iso: number }[] {
  return r.layers.flatMap((l) => Object.entries(l.formats).filter(([, f]) => f.estimate !== undefined && f.isolated).map(([id, f]) => ({ name: `${l.name}/${id}`, est: f.estimate!, iso: f.isolated!.sqnrDb })));
}

const lowest = (r: AnalysisReport, id: string, key: 'estimate' | 'isolated') =>
  r.layers.slice().sort((a, b) => (key === 'estimate' ? a.formats[id].estimate! - b.formats[id].estimate! : a.formats[id].isolated!.sqnrDb - b.formats[id].isolated!.sqnrDb))[0].name;

test('estimates rank like exact runs: wide channel (per-tensor), depthwise per-tensor, outlier activation', async () => {
  const wide = await analyzeModel({ modelPath: 'wide.onnx', model: wideChannelNet(), data: arraySource('x', [4, 8, 8], normalData(32, 256, 11)), formats: ['w8-pt', 'w8-pc', 'a8', 'w4-pc'], allButOne: false, measure: 'all' });
  const pw = pairs(wide);
  assert.equal(pw.length, 16);
  assert.ok(spearman(pw.map((p) => p.est), pw.map((p) => p.iso)) >= 0.9, JSON.stringify(pw));
  for (const p of pw) assert.ok(Math.abs(p.est - p.iso) < 6, `${p.name}: estimate ${p.est} dB, measured ${p.iso} dB`);
  assert.equal(lowest(wide, 'w8-pt', 'estimate'), 'conv2');
  assert.equal(wide.method?.estimator, 'fisher');

  const dw = await analyzeModel({ modelPath: 'dw.onnx', model: depthwiseNet(), data: arraySource('x', [8, 8, 8], normalData(16, 512, 12)), formats: ['w8-pt', 'w8-pc'], allButOne: false, measure: 'all' });
  const d = dw.layers.find((l) => l.name === 'dw')!;
  assert.equal(lowest(dw, 'w8-pt', 'estimate'), 'dw');
  assert.ok(d.formats['w8-pc'].estimate! > d.formats['w8-pt'].estimate! + 15, JSON.stringify(d.formats));
  const pd = pairs(dw);
  assert.ok(spearman(pd.map((p) => p.est), pd.map((p) => p.iso)) >= 0.8, JSON.stringify(pd));

  const out = await analyzeModel({ modelPath: 'outlier.onnx', model: outlierMlp(), data: arraySource('x', [16], outlierData(64, 13)), formats: ['a8', 'a16'], allButOne: false, measure: 'all' });
  assert.equal(lowest(out, 'a8', 'estimate'), 'fc1');
  const fc1 = out.layers.find((l) => l.name === 'fc1')!;
  assert.ok(fc1.formats.a16.estimate! > fc1.formats.a8.estimate! + 20);
  for (const p of pairs(out)) assert.ok(Math.abs(p.est - p.iso) < 3, `${p.name}: estimate ${p.est} dB, measured ${p.iso} dB`);
});

test('by default only the decisive layers are measured; the recommendation is verified by running it', async () => {
  const model = wideChannelNet(4);
  const data = () => arraySource('x', [4, 8, 8], normalData(32, 256, 21));
  const r = await analyzeModel({ modelPath: 'wide.onnx', model, data: data(), formats: ['w8-pt', 'w4-pc', 'a8'], target: { kind: 'min-sqnr-db', value: 28 }, base: 'w4a8', higher: 'w8a8' });
  assert.equal(r.method?.measure, 'decisive');
  assert.ok(r.layers.every((l) => Object.values(l.formats).every((f) => f.estimate !== undefined)));
  const measured = r.layers.filter((l) => l.measured);
  assert.equal(r.method?.measuredLayers, measured.length);
  assert.ok(measured.length >= 1);
  for (const l of r.layers) assert.equal(Object.values(l.formats).some((f) => f.isolated), !!l.measured, l.name);
  // the most sensitive layer (by estimate) is among the measured ones, with its exact result
  const top = r.layers.find((l) => l.rank === 1)!;
  assert.ok(top.measured && top.formats['w8-pt'].isolated, top.name);
  assert.ok(r.allQuantized['w8-pt'] && r.allQuantizedEstimate?.['a8'] !== undefined && !r.allQuantized.a8);
  const rec = r.recommendation!;
  assert.ok(rec.met, rec.message);
  assert.ok(rec.metrics.sqnrDb >= 28);
  const chosen = rec.pareto.find((p) => p.kept.length === rec.keep.length)!;
  assert.equal(chosen.verified, true);
  assert.ok(rec.pareto.some((p) => !p.verified), 'predicted points are marked');
  // the same recommendation as measuring everything
  const all = await analyzeModel({ modelPath: 'wide.onnx', model, data: data(), formats: ['w8-pt', 'w4-pc', 'a8'], target: { kind: 'min-sqnr-db', value: 28 }, base: 'w4a8', higher: 'w8a8', measure: 'all' });
  assert.deepEqual(rec.keep.length, all.recommendation!.keep.length);
});

test('a target out of reach with every layer in the higher format: no repair is computed, the recommendation is the same', async () => {
  const model = wideChannelNet(4);
  const data = () => arraySource('x', [4, 8, 8], normalData(32, 256, 21));
  const o = { modelPath: 'wide.onnx', model, formats: ['w8-pt', 'w4-pc', 'a8'], target: { kind: 'min-sqnr-db', value: 150 } as const, base: 'w4a8', higher: 'w8a8' };
  const r = await analyzeModel({ ...o, data: data() });
  assert.equal(r.method?.measure, 'decisive');
  const rec = r.recommendation!;
  assert.equal(rec.met, false);
  assert.equal(rec.keep.length, r.layers.length, rec.message);
  const weighted = r.layers.filter((l) => l.weightTensor);
  assert.ok(weighted.length > 0);
  for (const l of weighted) assert.equal(l.repairNotComputed, 'out-of-reach', l.name);
  assert.ok(r.layers.every((l) => !l.repair));
  assert.ok(r.warnings.some((w) => /repair not computed: the target \(output SQNR >= 150 dB\) is out of reach even with every layer in w8a8 \(measured [\d.]+ dB\)/.test(w)), r.warnings.join('\n'));
  // repairs computed anyway (named with --repair): the same best reachable point, measured the same
  const forced = await analyzeModel({ ...o, data: data(), repair: ['gptq'] });
  assert.ok(forced.layers.some((l) => l.repair), 'repairs computed when named');
  assert.deepEqual(rec.keep.slice().sort(), forced.recommendation!.keep.slice().sort());
  assert.deepEqual(rec.metrics, forced.recommendation!.metrics);
  assert.equal(forced.recommendation!.met, false);
});

test('a layer upstream of an op without a gradient rule is not screened but measured', async () => {
  const b = new GraphBuilder('lrn');
  const x = b.input('x', DataType.FLOAT, ['N', 4, 8, 8]);
  const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.3);
  const c1 = b.node('Conv', [x, b.initializer('w1', { type: DataType.FLOAT, dims: [8, 4, 3, 3], data: rnd(288, 1) })], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv1' });
  const n = b.node('LRN', [c1], { size: 3 }, { name: 'lrn' });
  const c2 = b.node('Relu', [b.node('Conv', [n, b.initializer('w2', { type: DataType.FLOAT, dims: [8, 8, 1, 1], data: rnd(64, 2) })], { kernel_shape: [1, 1] }, { name: 'conv2' })]);
  const g = b.node('Flatten', [b.node('GlobalAveragePool', [c2])], { axis: 1 });
  b.output(b.node('Gemm', [g, b.initializer('wf', { type: DataType.FLOAT, dims: [3, 8], data: rnd(24, 3) })], { transB: 1 }, { name: 'fc', output: 'y' }), DataType.FLOAT, ['N', 3]);
  const r = await analyzeModel({ modelPath: 'lrn.onnx', model: b.model(13), data: arraySource('x', [4, 8, 8], normalData(8, 256, 5)), formats: ['w8-pt'], allButOne: false });
  const conv1 = r.layers.find((l) => l.name === 'conv1')!;
  assert.match(conv1.notScreened ?? '', /LRN/);
  assert.ok(conv1.measured && conv1.formats['w8-pt'].isolated && conv1.formats['w8-pt'].estimate === undefined);
  assert.ok(r.layers.find((l) => l.name === 'fc')!.formats['w8-pt'].estimate !== undefined);
  assert.ok(r.warnings.some((w) => /screening could not reach 1 layer/.test(w)), r.warnings.join('\n'));
});

test('the screening reads the first screeningSamples samples only, and says so; its estimates stay close to a full screening', async () => {
  const model = wideChannelNet();
  const data = () => arraySource('x', [4, 8, 8], normalData(32, 256, 11));
  const formats = ['w8-pt', 'w8-pc', 'a8'];
  const part = await analyzeModel({ modelPath: 'wide.onnx', model, data: data(), formats, allButOne: false, measure: 'all', screeningSamples: 8 });
  const full = await analyzeModel({ modelPath: 'wide.onnx', model, data: data(), formats, allButOne: false, measure: 'all', screeningSamples: 32 });
  assert.equal(part.method?.screenedSamples, 8);
  assert.equal(full.method?.screenedSamples, 32);
  assert.equal(part.data.samples, 32, 'the rest of the analysis reads every sample');
  let differ = 0;
  for (const l of full.layers) for (const [id, f] of Object.entries(l.formats)) {
    const p = part.layers.find((x) => x.name === l.name)!.formats[id];
    assert.deepEqual(p.isolated, f.isolated, 'measured on all samples either way');
    assert.ok(Math.abs(p.estimate! - f.estimate!) < 3, `${l.name}/${id}: ${p.estimate} vs ${f.estimate} dB`);
    if (p.estimate !== f.estimate) differ++;
  }
  assert.ok(differ > 0, 'the estimates come from fewer samples');
  assert.equal(lowest(part, 'w8-pt', 'estimate'), lowest(full, 'w8-pt', 'estimate'));
});
