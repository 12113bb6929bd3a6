// Numbers that cannot lie: non-finite weights are a clear error naming the tensor, an undefined SQNR (all-zero float
// output) is printed as undefined and written as null, never 200 dB; axes beyond a weight's rank and formats ONNX
// Runtime cannot load for an op are refused before export, with the reason.
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { ResponseError } from 'vscode-jsonrpc';
import { runCli } from '../../src/cli/main';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { tensorToProto } from '../../src/core/onnx/tensor-data';
import { EngineErrorCodes } from '../../src/shared/protocol';
import { captureIO, tinyConvNet } from '../fixtures/tiny-models';

const root = tempDir('ql-numbers-');

/** tinyConvNet with initializer `name` replaced by `values` (same shape). */
function withWeight(name: string, fill: (i: number) => number): ModelProto {
  const m = tinyConvNet();
  const init = m.graph!.initializer!;
  const k = init.findIndex((t) => t.name === name);
  const dims = (init[k].dims ?? []).map(Number);
  init[k] = tensorToProto(name, { type: DataType.FLOAT, dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)) });
  return m;
}
function save(name: string, m: ModelProto): string {
  const f = path.join(root, name);
  saveModelFile(f, m);
  return f;
}
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO();
  const code = await runCli(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('numbers that cannot lie', () => {
  let engine: EngineClient;
  before(async () => { engine = await startEngine({ initializationOptions: { memoryBudgetMB: 128 } }); });
  after(async () => { await engine?.close(); fs.rmSync(root, { recursive: true, force: true }); });

  it('NaN, Inf and all-NaN weights: quantize and analyze (CLI and engine) name the tensor and layer', async () => {
    const nan = save('nan.onnx', withWeight('w2', (i) => (i === 3 ? NaN : 0.1)));
    const inf = save('inf.onnx', withWeight('w1', (i) => (i % 7 === 0 ? Infinity : 0.1)));
    const allNan = save('allnan.onnx', withWeight('wf', () => NaN));
    const out = path.join(root, 'o.onnx');
    let r = await cli(['quantize', nan, '--synthetic', '--samples', '2', '-o', out]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /nan\.onnx: weight 'w2' of layer 'conv2' holds 1 NaN value \(of 24\), so its quantization range is undefined; .*"layers": \{"conv2": "float"\}/);
    assert.doesNotMatch(r.out, /200\.00 dB/);
    r = await cli(['analyze', inf, '--samples', '2']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /weight 'w1' of layer 'conv1' holds 16 infinite values/);
    r = await cli(['analyze', allNan, '--samples', '2']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /weight 'wf' of layer 'fc' holds 18 NaN values/);
    for (const [model, re] of [[inf, /weight 'w1' of layer 'conv1'/], [allNan, /weight 'wf' of layer 'fc'/]] as const) {
      const e = await engine.connection.sendRequest('quant/analyze', { model, data: { samples: 2 } }).then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof ResponseError, String(e));
      assert.equal(e.code, EngineErrorCodes.UserError, e.message);
      assert.match(e.message, re);
    }
    const e = await engine.connection.sendRequest('quant/export', { model: nan, output: out, data: { samples: 2 } }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof ResponseError && e.code === EngineErrorCodes.UserError && /weight 'w2' of layer 'conv2'/.test(e.message), String(e));
    assert.ok(!fs.existsSync(out));
    // Keeping the layer in float, as the message says, works.
    const rf = path.join(root, 'keep.qrecipe.json');
    fs.writeFileSync(rf, JSON.stringify({ version: 1, model: 'nan.onnx', layers: { conv2: 'float' } }));
    r = await cli(['quantize', nan, '--synthetic', '--samples', '2', '--recipe', rf, '-o', out]);
    assert.equal(r.code, 0, r.err);
    fs.rmSync(out);
  });

  it('an all-zero float output: SQNR undefined in text and null in JSON, never 200 dB', async () => {
    const zero = save('zero.onnx', (() => { const m = withWeight('wf', () => 0); const b = m.graph!.initializer!.findIndex((t) => t.name === 'bf'); m.graph!.initializer![b] = tensorToProto('bf', { type: DataType.FLOAT, dims: [3], data: new Float32Array(3) }); return m; })());
    const out = path.join(root, 'z.onnx');
    let r = await cli(['quantize', zero, '--synthetic', '--samples', '2', '-o', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Output SQNR y: undefined \(reference output is all zero\)/);
    assert.doesNotMatch(r.out, /200/);
    r = await cli(['quantize', zero, '--synthetic', '--samples', '2', '-o', out, '--json']);
    const j = JSON.parse(r.out) as { outputSqnrDb: Record<string, number | null>; outputSqnrUndefined: Record<string, string> };
    assert.equal(j.outputSqnrDb.y, null);
    assert.equal(j.outputSqnrUndefined.y, 'reference output is all zero');
    const res = await engine.connection.sendRequest('quant/evaluate', { model: zero, recipe: { version: 1 }, data: { samples: 2 } }) as { metrics: { sqnrDb: number | null } };
    assert.equal(res.metrics.sqnrDb, null, 'null over JSON-RPC');
  });

  it('int8/per-channel:3 on a rank-2 weight and 4-bit activations into a Conv are refused before export', async () => {
    const model = save('tiny.onnx', tinyConvNet());
    const out = path.join(root, 'p.onnx');
    const rf = path.join(root, 'axis.qrecipe.json');
    fs.writeFileSync(rf, JSON.stringify({ version: 1, model: 'tiny.onnx', defaults: { weights: 'int8/per-channel:3' } }));
    let r = await cli(['quantize', model, '--synthetic', '--samples', '2', '--recipe', rf, '-o', out]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /axis\.qrecipe\.json: layer 'fc': int8\/per-channel:3 quantizes along axis 3, but weight 'wf' has rank 2 \(axes 0\.\.1\)/);
    let e = await engine.connection.sendRequest('quant/export', { model, output: out, recipe: rf, data: { samples: 2 } }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof ResponseError && e.code === EngineErrorCodes.UserError && /has rank 2/.test(e.message), String(e));
    r = await cli(['analyze', model, '--samples', '2', '--formats', 'w8a8,int8/per-channel:3:uint8']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /format 'int8\/per-channel:3:uint8' quantizes weights along axis 3, but layer 'fc' has a weight of rank 2/);
    e = await engine.connection.sendRequest('quant/analyze', { model, formats: ['int8/per-channel:3:uint8'], data: { samples: 2 } }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof ResponseError && e.code === EngineErrorCodes.UserError && /axis 3, but layer 'fc'/.test(e.message), String(e));
    fs.writeFileSync(rf, JSON.stringify({ version: 1, model: 'tiny.onnx', defaults: { activations: 'uint4' } }));
    r = await cli(['quantize', model, '--synthetic', '--samples', '2', '--recipe', rf, '-o', out]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /layer 'conv1': uint4 activations into a Conv cannot run in ONNX Runtime \(.*QLinearConv.*fail to load\)/);
    assert.doesNotMatch(r.err, /Calibrating/, 'refused before calibration');
    e = await engine.connection.sendRequest('quant/evaluate', { model, recipe: { defaults: { activations: 'int4' } }, data: { samples: 2 } }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof ResponseError && e.code === EngineErrorCodes.UserError && /int4 activations into a Conv/.test(e.message), String(e));
    assert.ok(!fs.existsSync(out));
  });
});
