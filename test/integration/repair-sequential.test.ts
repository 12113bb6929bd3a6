// Sequential repair: the rounds follow the graph, and the statistics of the partly quantized model give the layer
// error ||W̃ x̂ - W x||² that running both models and comparing the layer's outputs gives (a known answer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { encodeModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { captureModel } from '../../src/core/data/collect-ranges';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { buildPlan } from '../../src/core/quant/plan';
import { dequantizeCodes, roundToNearest, weightMatrix } from '../../src/core/quant/algorithms/layer-matrix';
import { layerSqnrDb, meanError } from '../../src/core/quant/algorithms/layer-error';
import { gatherPairedInputs } from '../../src/core/quant/algorithms/paired-inputs';
import { quantizedWeightsModel, upstreamRounds } from '../../src/core/quant/algorithms/sequential';
import { cnn, smoothData } from './repair-models';

const backend = ortBackend();

test('sequential statistics give the layer error measured by running the float and the quantized model', async () => {
  const model = cnn();
  const graph = new Graph(model);
  const layers = await buildInventoryAsync(graph, backend, { stats: false });
  assert.deepEqual(upstreamRounds(graph, ['fc', 'conv2', 'conv1']), [['conv1'], ['conv2'], ['fc']]);
  const plan = buildPlan(layers, { defaults: { weights: 'int3/per-channel', activations: 'float' }, layers: {} });
  const quant = quantizedWeightsModel(model, plan, graph);
  const data = smoothData(24, 7);
  const fc = layers.find((l) => l.name === 'fc')!;
  const conv1 = layers.find((l) => l.name === 'conv1')!;
  const stats = await gatherPairedInputs(model, quant, graph, [fc, conv1], data, backend, { seed: 1 });
  // the first layer sees the graph input: nothing before it is quantized
  const s1 = stats.get('conv1')!.quantized!;
  assert.ok(s1.dd.every((v) => v === 0) && s1.crossT.every((v) => v === 0));
  // fc: every one of the 24 rows is kept (dense rows, no sampling), so the statistics are exact sums
  const st = stats.get('fc')!;
  assert.equal(st.rows, 24);
  const w = toFloat32(graph.constantValue('w3')!);
  const m = weightMatrix(plan.find((p) => p.node === 'fc')!.weight!, w, [10, 16]);
  const q = dequantizeCodes(m, roundToNearest(m));
  // direct: the Gemm input of both models on the same samples, then W x and W̃ x̂ in JS
  const inputOf = async (mp: typeof model) => {
    const s = await backend.createSession(encodeModelProto(captureModel(mp, ['f'])), { optimization: 'disabled' });
    try { const out: Float32Array[] = []; for await (const b of data.batches(8)) out.push(toFloat32((await s.run(b.feeds, ['f'])).f)); return out.flatMap((a) => [...a]); } finally { await s.release(); }
  };
  const xf = await inputOf(model), xq = await inputOf(quant);
  let signal = 0, noise = 0;
  const errMean = new Float64Array(10);
  for (let n = 0; n < 24; n++) {
    for (let r = 0; r < 10; r++) {
      let a = 0, b = 0;
      for (let k = 0; k < 16; k++) { a += m.w[r * 16 + k] * xf[n * 16 + k]; b += q[r * 16 + k] * xq[n * 16 + k]; }
      signal += a * a; noise += (b - a) ** 2; errMean[r] += (b - a) / 24;
    }
  }
  const direct = 10 * Math.log10(signal / noise);
  const fromStats = layerSqnrDb(m.w, q, 10, 16, st);
  assert.ok(direct < 25, `the quantized conv layers change fc's input: ${direct.toFixed(2)} dB`);
  assert.ok(Math.abs(fromStats - direct) < 1e-3, `statistics ${fromStats} dB vs direct ${direct} dB`);
  const me = meanError(m.w, q, 10, 16, st);
  for (let r = 0; r < 10; r++) assert.ok(Math.abs(me[r] - errMean[r]) < 1e-4, `mean error row ${r}: ${me[r]} vs ${errMean[r]}`);
});
