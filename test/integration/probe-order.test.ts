// Nodes appended to read a model's tensors run, in ONNX Runtime, right after the tensor they read when appended in
// readersInRunOrder's order, and only after the whole forward in the model's own order (ORT's profile gives the order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto, ModelProto, NodeProto } from '../../src/core/onnx/proto';
import { readersInRunOrder } from '../../src/core/onnx/probe-order';
import { ortBackend } from '../../src/core/runtime/ort-backend';

/** x -> Relu -> Sigmoid -> Relu -> Sigmoid -> y, and a reader of each node's output (Shape, or ReduceMax as QAT's calibration). */
function chain(reader: 'Shape' | 'ReduceMax' = 'Shape'): { model: ModelProto; readers: NodeProto[][] } {
  const b = new GraphBuilder('chain');
  let t = b.input('x', DataType.FLOAT, [2, 8]);
  const produced: string[] = [];
  ['Relu', 'Sigmoid', 'Relu', 'Sigmoid'].forEach((op, i) => {
    t = b.node(op, [t], {}, { name: `f${i}`, output: i === 3 ? 'y' : `t${i}` });
    produced.push(t);
  });
  b.output('y');
  const readers = produced.map((p, i) => [{ op_type: reader, input: [p], output: [`s${i}`], name: `read${i}` }]);
  return { model: b.model(17), readers };
}

/** The node names in the order ONNX Runtime ran them, from its profile of one run. */
async function runOrder(model: ModelProto, readers: NodeProto[], optimization: 'disabled' | 'all' = 'disabled'): Promise<string[]> {
  const g = model.graph!;
  const m: ModelProto = { ...model, graph: { ...g, node: [...(g.node ?? []), ...readers], output: [...(g.output ?? []), ...readers.map((n) => ({ name: n.output![0] }))] } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-order-'));
  try {
    const s = await ortBackend().createSession(encodeModelProto(m), { threads: 1, optimization, profilePrefix: path.join(dir, 'p') });
    await s.run({ x: { type: DataType.FLOAT, dims: [2, 8], data: new Float32Array(16).fill(0.5) } });
    await s.release();
    const events = JSON.parse(fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]), 'utf8')) as { cat: string; name: string; ts: number }[];
    return events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).sort((a, b) => a.ts - b.ts).map((e) => e.name.replace(/_kernel_time$/, ''));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('readers appended in readersInRunOrder run as soon as their tensor exists; in the model order, after the whole forward', async () => {
  const { model, readers } = chain();
  const ordered = await runOrder(model, readersInRunOrder(readers));
  assert.deepEqual(ordered, ['f0', 'read0', 'f1', 'read1', 'f2', 'read2', 'f3', 'read3']);
  const naive = await runOrder(model, readers.flat());
  assert.deepEqual(naive.slice(0, 4), ['f0', 'f1', 'f2', 'f3'], `the model order ran ${naive.join(', ')}`);
});

test('the same with ReduceMax readers in a session at the \'all\' optimization level (QAT calibration\'s ranges)', async () => {
  const { model, readers } = chain('ReduceMax');
  assert.deepEqual(await runOrder(model, readersInRunOrder(readers), 'all'), ['f0', 'read0', 'f1', 'read1', 'f2', 'read2', 'f3', 'read3']);
});

test('readersInRunOrder keeps each group in its order and puts the last tensor\'s group first', () => {
  const n = (name: string): NodeProto => ({ op_type: 'Identity', name });
  assert.deepEqual(readersInRunOrder([[n('a1'), n('a2')], [n('b1')], [n('c1'), n('c2')]]).map((x) => x.name), ['c1', 'c2', 'b1', 'a1', 'a2']);
});
