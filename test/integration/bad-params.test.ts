// Every engine request's params are checked against the shared schema: mistakes get InvalidParams (-32602) naming
// the field, file-system mistakes a user error naming the file, never an internal error; the engine keeps answering.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { ResponseError } from 'vscode-jsonrpc';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { EngineErrorCodes, EngineStatusRequest } from '../../src/shared/protocol';
import { tinyConvNet } from '../fixtures/tiny-models';
import { tempDir, writeMlp } from './engine-helpers';

describe('engine: bad params are InvalidParams naming the field', () => {
  let engine: EngineClient;
  let dir: string;
  let conv: string;
  let mlp: string;

  before(async () => {
    dir = tempDir();
    conv = path.join(dir, 'tiny.onnx');
    saveModelFile(conv, tinyConvNet());
    mlp = writeMlp(path.join(dir, 'mlp.onnx'), 2, 8);
    engine = await startEngine({ initializationOptions: { memoryBudgetMB: 128 } });
  });
  after(async () => {
    await engine?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Sends a raw request and returns its ResponseError (fails when it succeeds). */
  async function refused(method: string, params: unknown): Promise<ResponseError<{ code?: string; field?: string; file?: string }>> {
    const e = await engine.connection.sendRequest(method, params).then(() => undefined, (x: unknown) => x);
    if (!(e instanceof ResponseError)) assert.fail(`${method} ${String(JSON.stringify(params)).slice(0, 80)} should fail, got ${e}`);
    assert.notEqual(e.code, EngineErrorCodes.InternalError, `not an internal error: ${e.message}`);
    return e as ResponseError<{ code?: string; field?: string; file?: string }>;
  }
  async function invalid(method: string, params: unknown, field: string, problem: RegExp): Promise<void> {
    const e = await refused(method, params);
    assert.equal(e.code, EngineErrorCodes.InvalidParams, e.message);
    assert.equal(e.data?.field, field, e.message);
    assert.ok(e.message.includes(`${field}: `), e.message);
    assert.match(e.message, problem);
  }

  it('inspect with {}, null, [1,2] and {model: 5}', async () => {
    await invalid('quant/inspect', {}, 'model', /is required/);
    await invalid('quant/inspect', null, 'params', /must be an object, got null/);
    await invalid('quant/inspect', [1, 2], 'params', /must be an object, got an array/);
    await invalid('quant/inspect', { model: 5 }, 'model', /expected a file path \(a string\), got a number \(5\)/);
  });

  it('export to a folder or to /proc/self/mem is a user error naming the output', async () => {
    let e = await refused('quant/export', { model: conv, output: dir, data: { samples: 2 } });
    assert.equal(e.code, EngineErrorCodes.UserError);
    assert.match(e.message, /is a folder; give a file name inside it/);
    assert.equal(e.data?.file, dir);
    e = await refused('quant/export', { model: conv, output: '/proc/self/mem', data: { samples: 2 } });
    assert.equal(e.code, EngineErrorCodes.UserError);
    assert.match(e.message, /\/proc\/self\/mem: .*system folder/);
  });

  it('compare without a quantized model', async () => {
    await invalid('quant/compare', { float: conv }, 'quantized', /is required/);
    await invalid('quant/compare', { float: conv, quantized: '' }, 'quantized', /must not be empty/);
  });

  it('recipes whose format is a number, null or [], unknown fields, deep nesting', async () => {
    for (const [v, got] of [[8, /got a number \(8\)/], [null, /got null/], [[], /got an array/]] as const) {
      await invalid('quant/export', { model: conv, output: path.join(dir, 'o.onnx'), recipe: { version: 1, defaults: { weights: v } } }, 'recipe.defaults.weights', got);
      await invalid('quant/evaluate', { model: conv, recipe: { layers: { conv1: { activations: v } } } }, 'recipe.layers.conv1.activations', got);
    }
    await invalid('quant/evaluate', { model: conv, recipe: { version: 1, defualts: {} } }, 'recipe', /unknown field 'defualts'/);
    await invalid('quant/evaluate', { model: conv, recipe: { version: 2 } }, 'recipe.version', /version 2 is not supported/);
    let deep: unknown = 'x';
    for (let i = 0; i < 2000; i++) deep = { a: deep };
    await invalid('quant/evaluate', { model: conv, recipe: { layers: deep } }, 'params', /more than 64 levels deep \(the depth limit/);
    let arr: unknown = 1;
    for (let i = 0; i < 2000; i++) arr = [arr];
    await invalid('quant/analyze', { model: conv, formats: arr }, 'params', /depth limit/);
    // The same recipe in a file: the file reader applies the same schema and names the file.
    const f = path.join(dir, 'bad.qrecipe.json');
    fs.writeFileSync(f, JSON.stringify({ version: 1, model: 'tiny.onnx', defaults: { weights: 8 } }));
    let e = await refused('quant/evaluate', { model: conv, recipe: f });
    assert.equal(e.code, EngineErrorCodes.UserError);
    assert.match(e.message, /bad\.qrecipe\.json: defaults\.weights: expected a format string/);
    fs.writeFileSync(f, `${'['.repeat(20000)}${']'.repeat(20000)}`);
    e = await refused('quant/evaluate', { model: conv, recipe: f });
    assert.equal(e.code, EngineErrorCodes.UserError);
    assert.match(e.message, /more than 1000 levels deep; the depth limit is 32/);
  });

  it('QAT: batchSize 0, steps -1, lr "x", train "weights"; analyze and QAT with data.samples 1e9', async () => {
    const qat = { model: mlp, output: path.join(dir, 'q.onnx') };
    await invalid('quant/qat', { ...qat, batchSize: 0 }, 'batchSize', /at least 1/);
    await invalid('quant/qat', { ...qat, steps: -1 }, 'steps', /at least 1/);
    await invalid('quant/qat', { ...qat, lr: 'x' }, 'lr', /expected a learning rate \(a number\), got a string \("x"\)/);
    await invalid('quant/qat', { ...qat, data: { samples: 1e9 } }, 'data.samples', /at most 100,000/);
    await invalid('quant/qat', { ...qat, train: 'weights' }, 'train', /expected 'auto', 'all' or 'quant-params', got "weights"/);
    await invalid('quant/analyze', { model: mlp, data: { samples: 1e9 } }, 'data.samples', /at most 100,000/);
    await invalid('quant/analyze', { model: mlp, data: { samples: 2.5 } }, 'data.samples', /integer/);
    await invalid('quant/recommend', { model: mlp, target: { kind: 'min-sqnr-db', value: 'x' } }, 'target.value', /a number/);
    // Within the cap but over the memory budget (128 MB): refused before training, with the numbers.
    const e = await refused('quant/qat', { model: conv, output: path.join(dir, 'w.onnx'), data: { samples: 100000 }, steps: 1 });
    assert.equal(e.code, EngineErrorCodes.UserError);
    assert.match(e.message, /QAT holds all 100,000 samples in memory: 146 MB \(0\.8 kB per sample x 2 copies\) exceeds the memory budget of 128 MB; use at most 87,381 samples/);
  });

  it('the engine still answers after all of the above', async () => {
    const s = await engine.connection.sendRequest(EngineStatusRequest);
    assert.deepEqual(s.jobs, []);
  });
});
