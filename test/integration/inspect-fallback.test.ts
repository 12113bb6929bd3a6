// inspect falls back to the static view when ONNX Runtime cannot run a model (with a note naming the file), ORT's
// own coloured log lines never reach the terminal, and a subgraph nesting beyond the reader's limit is named as such.
import { after, test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { startEngine } from '../../src/engine/client-for-tests';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { AttributeType, DataType, encodeModelProto, GraphProto, ModelProto, ValueInfoProto } from '../../src/core/onnx/proto';
import { InspectRequest } from '../../src/shared/protocol';
import { captureIO, randn } from '../fixtures/tiny-models';

const root = tempDir('ql-inspect-fb-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A Conv whose weight expects 5 input channels on a 3-channel input: readable, but ONNX Runtime refuses to load it. */
function unrunnable(): string {
  const b = new GraphBuilder('bad');
  const x = b.input('x', DataType.FLOAT, [1, 3, 8, 8]);
  const w = b.constFloat('w', randn(4 * 5 * 3 * 3, 1), [4, 5, 3, 3]);
  const y = b.node('Conv', [x, w], { kernel_shape: [3, 3] }, { name: 'conv', output: 'y' });
  b.output(y);
  const f = path.join(root, 'unrunnable.onnx');
  saveModelFile(f, b.model(13));
  return f;
}

test('a model ONNX Runtime cannot run: static inventory with a note naming the file, no raw ORT lines', async () => {
  const f = unrunnable();
  const io = captureIO();
  assert.equal(await runCli(['inspect', f], io), 0, io.stderr());
  assert.match(io.stdout(), /conv\s+Conv\s+conv/);
  assert.match(io.stdout(), /MACs\s+unknown/);
  assert.match(io.stdout(), /Note: ONNX Runtime cannot run this model, so this is the static view/);
  assert.doesNotMatch(io.stdout() + io.stderr(), /<model>/);
  const json = JSON.parse((await (async () => { const j = captureIO(); await runCli(['inspect', f, '--json'], j); return j.stdout(); })())) as { warnings: string[]; layers: unknown[] };
  assert.equal(json.layers.length, 1);
  assert.equal(json.warnings.length, 1);
  // As a process: nothing ONNX Runtime logs itself (coloured "[E:onnxruntime:...]" lines) reaches stderr.
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'inspect', f], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /\x1b\[|onnxruntime:/, r.stderr);
  // The engine gives the same static view, its warning naming the problem.
  const engine = await startEngine();
  try {
    const info = await engine.connection.sendRequest(InspectRequest, { model: f });
    assert.equal(info.layers.length, 1);
    assert.ok(info.warnings.some((w) => /ONNX Runtime failed|shape inference/.test(w)), info.warnings.join('\n'));
    assert.ok(info.warnings.every((w) => !w.includes('<model>')), info.warnings.join('\n'));
    assert.doesNotMatch(engine.stderr(), /\x1b\[\d*;?\d*m/);
  } finally {
    await engine.close();
  }
});

test('subgraphs nested beyond the protobuf reader\'s depth limit are named as a depth limit, not as damage', async () => {
  const vi = (name: string): ValueInfoProto => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_value: 1 }] } } } });
  const leaf = (i: number): GraphProto => ({ name: `e${i}`, node: [{ op_type: 'Identity', input: ['x'], output: [`e${i}`], name: `e${i}` }], output: [vi(`e${i}`)] });
  let g: GraphProto = leaf(0);
  for (let i = 1; i <= 100; i++) {
    g = { name: `g${i}`, node: [{ op_type: 'If', input: ['c'], output: [`y${i}`], name: `if${i}`, attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g }, { name: 'else_branch', type: AttributeType.GRAPH, g: leaf(i) }] }], output: [vi(`y${i}`)] };
  }
  g.input = [vi('x'), { name: 'c', type: { tensor_type: { elem_type: DataType.BOOL, shape: { dim: [] } } } }];
  const model: ModelProto = { ir_version: 8, opset_import: [{ domain: '', version: 13 }], graph: g };
  // protobufjs refuses to encode it too: lift its limit for writing only.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const util = (require('protobufjs/minimal') as { util: { recursionLimit: number } }).util;
  const limit = util.recursionLimit;
  util.recursionLimit = 100000;
  const f = path.join(root, 'nested-if.onnx');
  try { fs.writeFileSync(f, encodeModelProto(model)); } finally { util.recursionLimit = limit; }
  const io = captureIO();
  assert.equal(await runCli(['inspect', f], io), 1);
  assert.match(io.stderr(), /nested-if\.onnx: the model nests subgraphs \(If\/Loop\/Scan bodies\) deeper than the protobuf reader's depth limit/);
  assert.doesNotMatch(io.stderr(), /damaged or truncated/);
});
