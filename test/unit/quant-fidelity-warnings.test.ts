// Which exported layers ONNX Runtime's optimized run will not execute as simulated (measured patterns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mustParseFormat } from '../../src/shared/formats';
import { QuantLayer } from '../../src/core/onnx/layer';
import { cpuHasVnni, fidelityWarnings, fusedLossWarning, summarizeFidelityWarnings, u8s8Risk } from '../../src/core/quant/ort-fidelity';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { DataType } from '../../src/core/onnx/proto';
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

test('cpuHasVnni reads the flags of /proc/cpuinfo on x86 and says unknown elsewhere', () => {
  const cpu = (flags: string) => `processor\t: 0\nmodel name\t: Some CPU avx512_vnni in the name\nflags\t\t: ${flags}\n`;
  assert.equal(cpuHasVnni(cpu('fpu sse4_1 avx2 fma'), 'x64', 'linux'), false, 'AVX2 without VNNI (the name does not count)');
  assert.equal(cpuHasVnni(cpu('fpu avx2 avx512f avx512_vnni'), 'x64', 'linux'), true);
  assert.equal(cpuHasVnni(cpu('fpu avx2 avx_vnni'), 'x64', 'linux'), true);
  assert.equal(cpuHasVnni(cpu('fpu avx2 avx_vnni_int8'), 'x64', 'linux'), false, 'whole flags only');
  assert.equal(cpuHasVnni('processor: 0\n', 'x64', 'linux'), undefined, 'no flags line');
  assert.equal(cpuHasVnni(undefined, 'x64', 'darwin'), undefined, 'not Linux: not guessed');
  assert.equal(cpuHasVnni(cpu('fp asimd'), 'arm64', 'linux'), undefined, 'not x86');
  assert.equal(u8s8Risk(undefined, 'arm64'), 'not-x86');
  assert.equal(u8s8Risk(undefined, 'x64'), 'unknown');
  assert.equal(u8s8Risk(false, 'x64'), 'no-vnni');
});

test('u8s8 warnings: none on ARM (its kernels do not saturate), one per layer without VNNI', () => {
  const plan = [entry('a', 'int8/per-channel', 'uint8')];
  assert.deepEqual(fidelityWarnings(plan, { arch: 'arm64' }), []);
  const x = fidelityWarnings(plan, { vnni: false });
  assert.equal(x.length, 1);
});

test('summaries name the first layers and the count, one sentence per kind', () => {
  const plan = ['l1', 'l2', 'l3', 'l4', 'l5'].map((n) => entry(n, 'int8/per-channel', 'uint8'));
  const [s] = summarizeFidelityWarnings(fidelityWarnings(plan, { vnni: false }), false);
  assert.match(s, /^ONNX Runtime on this CPU \(no VNNI\) runs int8 weights with 8-bit activations through u8s8 kernels that saturate/);
  assert.match(s, /int7\/per-channel weights \(reduce range\)/);
  assert.match(s, /Affected: 'l1', 'l2', 'l3' and 2 more \(5 layers\)$/);
  const [u] = summarizeFidelityWarnings(fidelityWarnings(plan.slice(0, 1), { vnni: false }), undefined);
  assert.match(u, /without VNNI \(this CPU's support could not be read\).*Affected: 'l1' \(1 layer\)$/);
  assert.deepEqual(summarizeFidelityWarnings([], false), []);
  assert.equal(fusedLossWarning('y', 30, 31), undefined);
  assert.equal(fusedLossWarning('y', 30, undefined), undefined);
  assert.match(fusedLossWarning('y', 10.3, 39.4)!, /^y: .*10\.30 dB SQNR against 39\.40 dB for the exact Q\/DQ arithmetic/);
  assert.match(fusedLossWarning('y', 10.3, Infinity)!, /against inf dB/);
});

test('measured rules: signed 8-bit activations do not saturate; float weights are requantized behind 4/8/16-bit inputs only; 4-bit activations', () => {
  const layers = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => layer(n, 'MatMul'));
  const kinds = (plan: QuantPlan) => fidelityWarnings(plan, { vnni: false, layers: [...layers, layer('conv', 'Conv')] }).map((w) => `${w.node}:${w.kind}`);
  assert.deepEqual(kinds([entry('a', 'int8/per-channel', 'int8'), entry('b', 'int8/per-tensor', 'uint8')]), ['b:u8s8-saturation']);
  assert.deepEqual(kinds([entry('a', 'float8e4m3fn', 'uint8'), entry('b', undefined, 'int16'), entry('c', undefined, 'uint7'), entry('d', 'bfloat16', 'int6'), entry('e', undefined, 'uint4')]),
    ['a:runtime-weight-quantization', 'b:runtime-weight-quantization', 'e:runtime-weight-quantization']);
  assert.deepEqual(kinds([entry('a', 'int8/per-channel', 'int4'), entry('b', 'uint8', 'uint4'), entry('conv', 'int7/per-channel', 'uint4')]), ['a:int4-activations', 'conv:int4-activations']);
});

test('with the graph, Conv/Gemm count only when their output is quantized again; a 2-D MatMul + bias Add is a Gemm', () => {
  const g = new GraphBuilder('g');
  g.input('x', DataType.FLOAT, [1, 4, 4, 4]);
  const w = (n: string, dims: number[]) => g.constFloat(n, new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  g.node('Conv', ['x', w('w1', [4, 4, 1, 1])], {}, { name: 'c1', output: 'c1o' });
  g.node('Relu', ['c1o'], {}, { name: 'r1', output: 'r' });
  g.node('Conv', ['r', w('w2', [4, 4, 1, 1])], {}, { name: 'c2', output: 'c2o' });
  g.node('BatchNormalization', ['c2o', w('s', [4]), w('b', [4]), w('m', [4]), w('v', [4])], {}, { name: 'bn', output: 'bno' });
  g.node('Flatten', ['bno'], {}, { name: 'fl', output: 'f' });
  g.node('MatMul', ['f', w('w3', [64, 8])], {}, { name: 'mm', output: 'mmo' });
  g.node('Add', ['mmo', w('b3', [8])], {}, { name: 'add', output: 'y' });
  g.output('y', DataType.FLOAT, [1, 8]);
  const graph = new Graph(g.model(13));
  const layers = [layer('c1', 'Conv'), layer('c2', 'Conv'), layer('mm', 'MatMul')].map((l, i) => ({ ...l, activationInputs: [['x', 'r', 'f'][i]], outputs: [['c1o', 'c2o', 'mmo'][i]] }));
  const plan = [entry('c1', 'int8/per-channel', 'uint8'), entry('c2', 'int8/per-channel', 'uint8'), entry('mm', 'int8/per-channel', 'uint8')].map((e, i) => ({ ...e, activations: [{ ...e.activations[0], tensor: ['x', 'r', 'f'][i] }] }));
  const nodes = (o: object) => fidelityWarnings(plan, { vnni: false, layers, graph, ...o }).map((x) => x.node);
  assert.deepEqual(nodes({}), ['c1', 'mm'], 'c2 feeds an unfolded BatchNormalization; MatMul of unknown rank counts');
  assert.deepEqual(nodes({ shapes: new Map([['f', [1, 64]]]) }), ['c1'], 'a 2-D MatMul + bias Add becomes an unquantized Gemm');
  assert.deepEqual(nodes({ shapes: new Map([['f', [1, 2, 32]]]) }), ['c1', 'mm'], 'a 3-D MatMul stays MatMulIntegerToFloat');
  assert.deepEqual(fidelityWarnings(plan, { vnni: false, layers }).map((x) => x.node), ['c1', 'c2', 'mm'], 'without the graph: every layer');
});
