// A GPT-style head tied to the token embedding (one initializer: Gather and Transpose -> MatMul): its parameters are
// counted once, and the quantized export holds one int8 copy, dequantized once and transposed for the head.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { quantizeModel } from '../../src/cli/commands/quantize';
import { inspectModel } from '../../src/cli/commands/inspect';
import { loadModelFile, saveModelFile } from '../../src/core/onnx/model-file';
import { DataType } from '../../src/core/onnx/proto';
import { zooEntry } from '../fixtures/zoo';

test('tied embedding and head: parameters counted once, one quantized tensor with two uses', async () => {
  const dir = tempDir('ql-tied-');
  try {
    const file = path.join(dir, 'gpt.onnx');
    saveModelFile(file, zooEntry('gpt').build({ scale: 'tiny' }).model);
    const { summary, layers } = await inspectModel(file);
    const head = layers.find((l) => l.name === '/lm_head/MatMul')!;
    const wte = layers.find((l) => l.name === '/transformer/wte/Gather')!;
    assert.equal(head.weight?.origin, 'transformer.wte.weight');
    assert.equal(head.params, 100 * 16);
    assert.equal(summary.layerParams, layers.reduce((n, l) => n + l.params, 0) - head.params, 'the tied head adds no parameters');
    assert.equal(wte.params, 100 * 16);

    const out = path.join(dir, 'gpt.int8.onnx');
    const r = await quantizeModel(file, { output: out, synthetic: true, samples: 4, checkSamples: 4, dim: { sequence: 16 } });
    assert.ok(Object.values(r.outputSqnrDb)[0] > 20, `SQNR ${JSON.stringify(r.outputSqnrDb)}`);
    const g = loadModelFile(out).graph!;
    const tables = (g.initializer ?? []).filter((t) => t.data_type === DataType.INT8 && [100 * 16].includes((t.dims ?? []).map(Number).reduce((a, b) => a * b, 1)));
    assert.equal(tables.length, 1, `one quantized table, got ${tables.map((t) => t.name).join(', ')}`);
    const dq = g.node!.find((n) => n.op_type === 'DequantizeLinear' && n.input![0] === tables[0].name)!;
    const users = g.node!.filter((n) => n.input!.includes(dq.output![0])).map((n) => n.op_type).sort();
    assert.deepEqual(users, ['Gather', 'Transpose']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
