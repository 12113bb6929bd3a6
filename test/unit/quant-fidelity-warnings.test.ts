// Which exported layers ONNX Runtime's optimized run will not execute as simulated (measured patterns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mustParseFormat } from '../../src/shared/formats';
import { QuantLayer } from '../../src/core/onnx/layer';
import { fidelityWarnings } from '../../src/core/quant/ort-fidelity';
import { QuantPlan } from '../../src/core/quant/qdq-export';

const layer = (name: string, opType: string, weight = true): QuantLayer => ({
  name, opType, kind: opType === 'Conv' ? 'conv' : 'matmul', nodeIndex: 0, activationInputs: ['x'], outputs: ['y'], params: 1,
  weight: weight ? { tensor: `${name}_w`, dims: [4, 4], channelAxis: 0, reductionAxis: 1, source: 'initializer' } : undefined,
});
const entry = (node: string, w: string | undefined, a: string): QuantPlan[number] => ({
  node,
  weight: w ? { tensor: `${node}_w`, format: mustParseFormat(w), channelAxis: 0, reductionAxis: 1 } : undefined,
  activations: [{ tensor: 'x', format: mustParseFormat(a) }],
});

test('int8 weights with 8-bit activations warn without VNNI only; int7 and uint8 weights do not', () => {
  const plan = [entry('a', 'int8/per-channel', 'uint8'), entry('b', 'int7', 'uint8'), entry('c', 'uint8', 'uint8'), entry('d', 'int8', 'int16')];
  assert.deepEqual(fidelityWarnings(plan, { vnni: false }).map((w) => [w.node, w.kind]), [['a', 'u8s8-saturation']]);
  assert.deepEqual(fidelityWarnings(plan, { vnni: true }), []);
});

test('float weights next to 8-bit activations, and int4 blocked MatMul with float activations, warn', () => {
  const layers = [layer('conv', 'Conv'), layer('mm', 'MatMul'), layer('gemm', 'Gemm')];
  const plan = [entry('conv', undefined, 'uint8'), entry('mm', 'int4/block:32', 'float'), entry('gemm', 'int4/block:32', 'float')];
  const w = fidelityWarnings(plan, { vnni: true, layers });
  assert.deepEqual(w.map((x) => [x.node, x.kind]), [['conv', 'runtime-weight-quantization'], ['mm', 'matmulnbits-int8-activations']]);
  assert.match(w[0].message, /'conv'/);
});
