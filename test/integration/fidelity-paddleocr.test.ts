// The u8s8 prediction names exactly the layers ONNX Runtime fuses into integer kernels, on a real model
// (PaddleOCR's direction classifier: Conv+BatchNormalization layers stay unfused, SE-block convs fuse).
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { quantizeModel } from '../../src/cli/commands/quantize';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { decodeModelProto } from '../../src/core/onnx/proto';
import { buildPlan } from '../../src/core/quant/plan';
import { fidelityWarnings } from '../../src/core/quant/ort-fidelity';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { CLS_MODEL } from './engine-helpers';

test('PaddleOCR cls, int8/uint8: predicted u8s8 Conv layers == the QLinearConv nodes of the optimized model', async () => {
  const dir = tempDir('ql-fid-ocr-');
  try {
    const out = path.join(dir, 'cls.q.onnx');
    const r = await quantizeModel(CLS_MODEL, { output: out, synthetic: true, samples: 8, checkSamples: 2 });
    const optimized = path.join(dir, 'opt.onnx');
    const s = await ortBackend().createSession(out, { optimization: 'all', threads: 1, optimizedModelPath: optimized });
    await s.release();
    const fused = decodeModelProto(fs.readFileSync(optimized)).graph!.node!
      .filter((n) => ['QLinearConv', 'QGemm', 'MatMulIntegerToFloat'].includes(n.op_type ?? ''))
      .map((n) => (n.name ?? '').replace(/_token_\d+$/, '')).sort();

    const graph = new Graph(loadModelFile(CLS_MODEL), CLS_MODEL);
    const layers = await buildInventoryAsync(graph, ortBackend(), { stats: false });
    const plan = buildPlan(layers, { defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: {} });
    const predicted = fidelityWarnings(plan, { vnni: false, layers, graph }).filter((w) => w.kind === 'u8s8-saturation').map((w) => w.node);
    const convs = layers.filter((l) => l.opType === 'Conv').length;
    console.log(`fused ${fused.length} (${fused.slice(0, 3).join(', ')}...), predicted ${predicted.length} of ${layers.length} layers (${convs} Conv); fused ${r.outputSqnrDb['softmax_0.tmp_0']} dB, exact ${r.exactSqnrDb['softmax_0.tmp_0']} dB`);
    assert.ok(fused.length > 0 && fused.length < convs, 'some but not all Conv layers fuse');
    assert.deepEqual(predicted.filter((n) => layers.find((l) => l.name === n)!.opType === 'Conv').sort(), fused.filter((n) => n.startsWith('p2o.Conv')));
    // without the graph every int8 layer is (over-)predicted
    assert.equal(fidelityWarnings(plan, { vnni: false, layers }).length, layers.length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
