// Opset upgrade rewrites that ONNX Runtime cannot run at their old opset (1-6) or that change names only:
// checked on the rewritten nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, float } from '../../src/core/onnx/builder';
import { attr, attrInt, attrString } from '../../src/core/onnx/graph';
import { upgradeOpset } from '../../src/core/onnx/opset-upgrade';
import { DataType, ModelProto, NodeProto } from '../../src/core/onnx/proto';
import { isQuantLensError } from '../../src/core/errors';

const F = DataType.FLOAT;
const only = (m: ModelProto, op: string): NodeProto => {
  const list = m.graph!.node!.filter((n) => n.op_type === op);
  assert.equal(list.length, 1, `one ${op}`);
  return list[0];
};
const initValues = (m: ModelProto, name: string) => m.graph!.initializer!.find((t) => t.name === name)!.int64_data!.map(Number);

test('opset 1-6: Cast by name, Reshape shape attribute, Concat default axis, consumed_inputs dropped', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 3]);
  const c = b.node('Cast', [x], { to: 'INT32' });
  const r = b.node('Reshape', [b.node('Relu', [x], { consumed_inputs: [0] })], { shape: [3, 2] });
  const k = b.node('Concat', [r, r]);
  b.output(c, DataType.INT32); b.output(k);
  const m = upgradeOpset(b.model(3), 13);
  assert.equal(attrInt(only(m, 'Cast'), 'to', 0), DataType.INT32);
  const reshape = only(m, 'Reshape');
  assert.ok(!attr(reshape, 'shape'));
  assert.deepEqual(initValues(m, reshape.input![1]), [3, 2]);
  assert.equal(attrInt(only(m, 'Concat'), 'axis', -99), 1);
  assert.ok(!attr(only(m, 'Relu'), 'consumed_inputs'));
  assert.equal(m.ir_version, 7);
});

test('Scatter becomes ScatterElements; RoiAlign keeps its half-pixel convention; GridSample modes renamed at 20', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 1, 4, 4]);
  const s = b.node('Scatter', [x, b.constInt64('i', [0], [1, 1, 1, 1]), b.constFloat('u', [5], [1, 1, 1, 1])], { axis: 2 });
  const roi = b.node('RoiAlign', [s, b.constFloat('rois', [0, 0, 2, 2], [1, 4]), b.constInt64('bi', [0])], { output_height: 2, output_width: 2 });
  b.output(roi);
  const m = upgradeOpset(b.model(10), 21);
  assert.equal(m.graph!.node!.filter((n) => n.op_type === 'Scatter').length, 0);
  assert.equal(only(m, 'ScatterElements').input!.length, 3);
  assert.equal(attrString(only(m, 'RoiAlign'), 'coordinate_transformation_mode', ''), 'output_half_pixel');
  const g = new GraphBuilder();
  const y = g.input('y', F, [1, 1, 4, 4]);
  g.output(g.node('GridSample', [y, g.input('grid', F, [1, 2, 2, 2])], { mode: 'bilinear' }));
  assert.equal(attrString(only(upgradeOpset(g.model(16), 21), 'GridSample'), 'mode', ''), 'linear');
  assert.equal(attrString(only(upgradeOpset(g.model(16), 19), 'GridSample'), 'mode', ''), 'bilinear');
});

test('BatchNormalization: unused training outputs dropped at 14, used ones refused; spatial=0 refused', () => {
  const mk = (useMean: boolean, spatial?: number) => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 2, 2, 2]);
    const p = ['g', 'b', 'm', 'v'].map((n) => b.constFloat(n, [1, 1]));
    const [y, mean] = b.nodeMulti('BatchNormalization', [x, ...p], 5, spatial === undefined ? {} : { spatial }, { name: 'bn' });
    b.output(y);
    if (useMean) b.output(mean);
    return b.model(spatial === undefined ? 9 : 7);
  };
  assert.equal(only(upgradeOpset(mk(false), 13), 'BatchNormalization').output!.length, 5);
  assert.equal(only(upgradeOpset(mk(false), 14), 'BatchNormalization').output!.length, 1);
  assert.throws(() => upgradeOpset(mk(true), 14), (e) => isQuantLensError(e) && /'bn'/.test(e.message));
  assert.throws(() => upgradeOpset(mk(false, 0), 13), (e) => isQuantLensError(e) && /spatial=0/.test(e.message));
});

test('new constants get fresh names; other domains and their opsets are kept; targets are validated', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 1]);
  b.constFloat('sq_axes', [0]); // a name the rewrite would like to use
  const s = b.node('Squeeze', [x], { axes: [1] }, { name: 'sq' });
  b.output(b.node('Custom', [s], {}, { domain: 'com.example' }));
  const m = upgradeOpset(b.model(11, [{ domain: 'com.example', version: 2 }]), 13);
  const axes = only(m, 'Squeeze').input![1];
  assert.notEqual(axes, 'sq_axes');
  assert.deepEqual(initValues(m, axes), [1]);
  assert.deepEqual(m.opset_import, [{ domain: '', version: 13 }, { domain: 'com.example', version: 2 }]);
  assert.throws(() => upgradeOpset(m, 99), (e) => isQuantLensError(e) && e.code === 'opset-target');
  // Same opset: nothing rewritten, IR raised if needed.
  const same = upgradeOpset(b.model(13, [], 3), 13);
  assert.equal(same.ir_version, 7);
  assert.equal(only(same, 'Squeeze').input!.length, 1);
});

test('Upsample-1 height/width scales and Clip without bounds', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 1, 2, 2]);
  const u = b.node('Upsample', [x], { height_scale: float(2), width_scale: float(3) });
  b.output(b.node('Clip', [u]));
  const m = upgradeOpset(b.model(6), 13);
  const r = only(m, 'Resize');
  assert.deepEqual(r.input!.slice(0, 2), [x, '']);
  assert.deepEqual(m.graph!.initializer!.find((t) => t.name === r.input![2])!.float_data, [1, 1, 2, 3]);
  assert.equal(attrString(r, 'nearest_mode', ''), 'floor');
  assert.equal(only(m, 'Clip').input!.length, 1);
});

test('model-local functions built from ONNX ops are refused rather than left at the old opset', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2]);
  b.output(b.node('MyRelu', [x], {}, { domain: 'local' }));
  const model = b.model(11, [{ domain: 'local', version: 1 }]);
  model.functions = [{ name: 'MyRelu', domain: 'local', input: ['a'], output: ['b'], node: [{ op_type: 'Relu', input: ['a'], output: ['b'] }], opset_import: [{ domain: '', version: 11 }] }];
  assert.throws(() => upgradeOpset(model, 13), (e) => isQuantLensError(e) && /MyRelu/.test(e.message));
  assert.equal(upgradeOpset(model, 11).opset_import![0].version, 11);
});
