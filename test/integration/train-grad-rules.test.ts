// Every gradient rule against central finite differences (float64 where ONNX Runtime has kernels, float32 otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGradient, GradCase } from './train-grad-harness';
import { float } from '../../src/core/onnx/builder';
import { DataType } from '../../src/core/onnx/proto';

const x = (...shape: number[]) => ({ shape });
const pos = (...shape: number[]) => ({ shape, kind: 'pos' as const });
const ints = (...v: number[]) => ({ ints: v });

const cases: Record<string, GradCase> = {
  'Add broadcast': { op: 'Add', inputs: [x(2, 3, 4), x(3, 1)] },
  'Sub broadcast': { op: 'Sub', inputs: [x(2, 3), x(3)] },
  'Mul broadcast both': { op: 'Mul', inputs: [x(2, 1, 4), x(3, 1)] },
  'Div broadcast': { op: 'Div', inputs: [x(2, 3), pos(1, 3)] },
  'Sum of three': { op: 'Sum', inputs: [x(2, 3), x(3), x(2, 1)] },
  Relu: { op: 'Relu', inputs: [x(3, 5)] },
  LeakyRelu: { op: 'LeakyRelu', inputs: [x(3, 5)], attrs: { alpha: float(0.1) } },
  Sigmoid: { op: 'Sigmoid', inputs: [x(3, 5)] },
  Tanh: { op: 'Tanh', inputs: [x(3, 5)] },
  HardSigmoid: { op: 'HardSigmoid', inputs: [x(4, 5)], attrs: { alpha: float(0.6), beta: float(0.5) }, float32: true },
  HardSwish: { op: 'HardSwish', inputs: [{ shape: [4, 5] }], float32: true },
  Gelu: { op: 'Gelu', inputs: [x(3, 5)], opset: 20, float32: true },
  'Gelu tanh': { op: 'Gelu', inputs: [x(3, 5)], opset: 20, attrs: { approximate: 'tanh' }, float32: true },
  Clip: { op: 'Clip', inputs: [x(4, 5), { shape: [], kind: 'f' }, { shape: [], kind: 'fpos' }] },
  Softmax: { op: 'Softmax', inputs: [x(2, 3, 4)], attrs: { axis: 1 } },
  LogSoftmax: { op: 'LogSoftmax', inputs: [x(2, 5)], attrs: { axis: -1 } },
  Exp: { op: 'Exp', inputs: [x(2, 3)] },
  Log: { op: 'Log', inputs: [pos(2, 3)] },
  Sqrt: { op: 'Sqrt', inputs: [pos(2, 3)] },
  Neg: { op: 'Neg', inputs: [x(2, 3)] },
  Reciprocal: { op: 'Reciprocal', inputs: [pos(2, 3)] },
  Erf: { op: 'Erf', inputs: [x(2, 3)], float32: true },
  Pow: { op: 'Pow', inputs: [pos(2, 3), { shape: [], kind: 'fpos' }] },
  'Gemm plain + C row': { op: 'Gemm', inputs: [x(3, 4), x(4, 5), x(5)], attrs: { alpha: float(0.7), beta: float(1.3) } },
  'Gemm transA': { op: 'Gemm', inputs: [x(4, 3), x(4, 5), x(3, 5)], attrs: { transA: 1 } },
  'Gemm transB': { op: 'Gemm', inputs: [x(3, 4), x(5, 4), x(1, 5)], attrs: { transB: 1 } },
  'Gemm transA transB': { op: 'Gemm', inputs: [x(4, 3), x(5, 4)], attrs: { transA: 1, transB: 1 } },
  MatMul: { op: 'MatMul', inputs: [x(2, 3, 4), x(4, 5)] },
  'MatMul batched broadcast': { op: 'MatMul', inputs: [x(2, 1, 3, 4), x(3, 4, 2)] },
  'MatMul 1-D': { op: 'MatMul', inputs: [x(4), x(4, 5)] },
  'MatMul 1-D right': { op: 'MatMul', inputs: [x(2, 3, 4), x(4)] },
  Conv: { op: 'Conv', inputs: [x(2, 3, 6, 5), x(4, 3, 3, 3), x(4)], attrs: { pads: [1, 1, 1, 1] }, float32: true },
  'Conv stride dilation asym pads': { op: 'Conv', inputs: [x(1, 2, 9, 8), x(3, 2, 3, 2)], attrs: { strides: [2, 3], dilations: [2, 1], pads: [1, 0, 2, 1] }, float32: true },
  'Conv groups': { op: 'Conv', inputs: [x(2, 4, 5, 5), x(6, 2, 3, 3), x(6)], attrs: { group: 2, pads: [1, 1, 1, 1] }, float32: true },
  'Conv groups batch 1 (channel-major by reshape)': { op: 'Conv', inputs: [x(1, 4, 5, 5), x(6, 2, 3, 3), x(6)], attrs: { group: 2, pads: [1, 1, 1, 1], strides: [2, 1] }, float32: true },
  'Conv depthwise stride 2': { op: 'Conv', inputs: [x(2, 3, 7, 7), x(3, 1, 3, 3)], attrs: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] }, float32: true },
  'Conv depthwise stride 1 (flipped-kernel input gradient)': { op: 'Conv', inputs: [x(2, 3, 6, 5), x(3, 1, 3, 3), x(3)], attrs: { group: 3, pads: [1, 1, 1, 1] }, float32: true },
  'Conv depthwise stride 1 dilation 2 asym pads': { op: 'Conv', inputs: [x(1, 2, 8, 7), x(2, 1, 3, 2)], attrs: { group: 2, dilations: [2, 1], pads: [2, 0, 1, 1] }, float32: true },
  'Conv depthwise 1-D no pads': { op: 'Conv', inputs: [x(2, 4, 9), x(4, 1, 3)], attrs: { group: 4 }, float32: true },
  'Conv depthwise stride 2 no pads, source past the last window (grouped-Conv weight gradient sliced)': { op: 'Conv', inputs: [x(2, 3, 8, 8), x(3, 1, 3, 3)], attrs: { group: 3, strides: [2, 2] }, float32: true },
  'Conv depthwise 1x1 output (pads as large as the gradient kernel)': { op: 'Conv', inputs: [x(1, 2, 2, 2), x(2, 1, 3, 3)], attrs: { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, float32: true },
  'Conv depthwise strides 3x2 dilation 2x1 asym pads': { op: 'Conv', inputs: [x(2, 2, 11, 10), x(2, 1, 3, 3)], attrs: { group: 2, strides: [3, 2], dilations: [2, 1], pads: [1, 2, 0, 1] }, float32: true },
  'ConvTranspose depthwise stride 2': { op: 'ConvTranspose', inputs: [x(2, 3, 4, 4), x(3, 1, 3, 3)], attrs: { group: 3, strides: [2, 2], pads: [1, 1, 0, 0] }, float32: true },
  'Conv 28x28 stride 1 (flipped-kernel input gradient)': { op: 'Conv', inputs: [x(1, 2, 28, 28), x(3, 2, 3, 3), x(3)], attrs: { pads: [1, 1, 1, 1] }, float32: true },
  'Conv 28x30 stride 1 dilation 2x1 asym pads (flipped-kernel input gradient)': { op: 'Conv', inputs: [x(1, 2, 28, 30), x(3, 2, 3, 2)], attrs: { dilations: [2, 1], pads: [2, 0, 1, 1] }, float32: true },
  'Conv 28x28 stride 2 (weight gradient windows by a one-hot Conv)': { op: 'Conv', inputs: [x(2, 3, 28, 28), x(4, 3, 3, 3), x(4)], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, float32: true },
  'Conv 28x29 strides 2x3 dilation 2x1 asym pads, source past the last window (one-hot Conv windows sliced)': { op: 'Conv', inputs: [x(1, 2, 28, 29), x(3, 2, 3, 2)], attrs: { strides: [2, 3], dilations: [2, 1], pads: [1, 0, 0, 1] }, float32: true },
  'Conv 1-D 800 stride 4 kernel 5 (one-hot Conv windows)': { op: 'Conv', inputs: [x(2, 2, 800), x(3, 2, 5)], attrs: { strides: [4], pads: [2, 2] }, float32: true },
  'ConvTranspose 14x14 stride 2 (one-hot Conv windows of the output gradient)': { op: 'ConvTranspose', inputs: [x(1, 2, 14, 14), x(2, 3, 3, 3)], attrs: { strides: [2, 2], pads: [1, 1, 0, 0] }, float32: true },
  'Conv 1x1 (transposed-weight input gradient)': { op: 'Conv', inputs: [x(2, 3, 4, 5), x(4, 3, 1, 1), x(4)], float32: true },
  'Conv 1x1 stride 2': { op: 'Conv', inputs: [x(1, 3, 5, 5), x(2, 3, 1, 1)], attrs: { strides: [2, 2] }, float32: true },
  'Conv 1x1 strides 2x3, batch 2 (per-sample products summed)': { op: 'Conv', inputs: [x(2, 3, 5, 7), x(2, 3, 1, 1), x(2)], attrs: { strides: [2, 3] }, float32: true },
  'ConvTranspose 1x1 stride 2, batch 2 (per-sample products summed)': { op: 'ConvTranspose', inputs: [x(2, 3, 3, 3), x(3, 2, 1, 1)], attrs: { strides: [2, 2] }, float32: true },
  'Conv SAME_UPPER': { op: 'Conv', inputs: [x(1, 2, 6, 7), x(2, 2, 3, 3)], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] }, float32: true },
  'Conv 1-D': { op: 'Conv', inputs: [x(2, 2, 9), x(3, 2, 3), x(3)], attrs: { pads: [1, 1], strides: [2] }, float32: true },
  ConvTranspose: { op: 'ConvTranspose', inputs: [x(1, 3, 4, 4), x(3, 2, 3, 3), x(2)], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, float32: true },
  'ConvTranspose depthwise': { op: 'ConvTranspose', inputs: [x(2, 3, 4, 4), x(3, 1, 3, 3)], attrs: { group: 3, pads: [1, 1, 1, 1] }, float32: true },
  'ConvTranspose groups': { op: 'ConvTranspose', inputs: [x(2, 4, 3, 3), x(4, 1, 2, 2)], attrs: { group: 2, strides: [2, 2] }, float32: true },
  MaxPool: { op: 'MaxPool', inputs: [x(2, 3, 6, 6)], attrs: { kernel_shape: [2, 2], strides: [2, 2] }, float32: true },
  'MaxPool tiling with its own indices output': { op: 'MaxPool', inputs: [x(2, 3, 6, 6)], outputs: 2, attrs: { kernel_shape: [2, 2], strides: [2, 2] }, float32: true },
  'MaxPool overlapping padded': { op: 'MaxPool', inputs: [x(1, 2, 7, 7)], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, float32: true },
  AveragePool: { op: 'AveragePool', inputs: [x(1, 2, 7, 7)], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, float32: true },
  'AveragePool count_include_pad': { op: 'AveragePool', inputs: [x(1, 2, 6, 6)], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }, float32: true },
  GlobalAveragePool: { op: 'GlobalAveragePool', inputs: [x(2, 3, 4, 5)], float32: true },
  BatchNormalization: { op: 'BatchNormalization', inputs: [x(2, 3, 4, 4), x(3), x(3), { shape: [3], kind: 'f' }, { shape: [3], kind: 'fpos' }] },
  LayerNormalization: { op: 'LayerNormalization', inputs: [x(2, 3, 4), x(4), x(4)], attrs: { axis: -1 } },
  'LayerNormalization axis 1': { op: 'LayerNormalization', inputs: [x(2, 3, 4), x(3, 4), x(3, 4)], attrs: { axis: 1 } },
  Flatten: { op: 'Flatten', inputs: [x(2, 3, 4)], attrs: { axis: 2 } },
  Reshape: { op: 'Reshape', inputs: [x(2, 3, 4), ints(4, -1)] },
  Transpose: { op: 'Transpose', inputs: [x(2, 3, 4)], attrs: { perm: [2, 0, 1] } },
  Concat: { op: 'Concat', inputs: [x(2, 3), x(2, 2), x(2, 1)], attrs: { axis: 1 } },
  Split: { op: 'Split', inputs: [x(2, 6), ints(2, 4)], attrs: { axis: 1 }, outputs: 2 },
  Slice: { op: 'Slice', inputs: [x(4, 6), ints(1, -1), ints(4, 0), ints(0, 1), ints(2, -2)] },
  Squeeze: { op: 'Squeeze', inputs: [x(2, 1, 3), ints(1)] },
  Unsqueeze: { op: 'Unsqueeze', inputs: [x(2, 3), ints(0, 3)] },
  Identity: { op: 'Identity', inputs: [x(2, 3)] },
  Dropout: { op: 'Dropout', inputs: [x(2, 3)] },
  Pad: { op: 'Pad', inputs: [x(2, 3), ints(1, 0, 0, 2)] },
  Expand: { op: 'Expand', inputs: [x(3, 1), ints(2, 3, 4)] },
  ReduceSum: { op: 'ReduceSum', inputs: [x(2, 3, 4), ints(1)], attrs: { keepdims: 0 } },
  ReduceMean: { op: 'ReduceMean', inputs: [x(2, 3, 4)], attrs: { axes: [0, 2], keepdims: 1 } },
  'Resize nearest x2': { op: 'Resize', inputs: [x(1, 2, 3, 4), null, { floats: [1, 1, 2, 2] }], attrs: { mode: 'nearest' }, float32: true },
  'Resize nearest half_pixel x1.5': { op: 'Resize', inputs: [x(2, 1, 4, 3), null, { floats: [1, 1, 1.5, 1.5] }], attrs: { mode: 'nearest', coordinate_transformation_mode: 'half_pixel', nearest_mode: 'round_prefer_ceil' }, float32: true },
  Gather: { op: 'Gather', inputs: [x(5, 3), ints(4, 0, 4)], attrs: { axis: 0 } },
  'Gather embedding (2-D token ids, repeats, negative)': { op: 'Gather', inputs: [x(6, 4), { ints: [1, 5, 1, -1, 0, 2], dims: [2, 3] }], attrs: { axis: 0 } },
  'Gather on activations axis 1 (scalar index, CLS token)': { op: 'Gather', inputs: [x(2, 5, 3), { ints: [0], dims: [] }], attrs: { axis: 1 } },
  'Gather axis 2 (2-D indices)': { op: 'Gather', inputs: [x(2, 3, 4), { ints: [3, 0, 3, 1], dims: [2, 2] }], attrs: { axis: 2 } },
  'Slice unit steps (padded back)': { op: 'Slice', inputs: [x(2, 5, 4), ints(1, 0), ints(4, 3), ints(1, 2)] },
  'Where broadcast': { op: 'Where', inputs: [{ bools: [1, 0, 1, 1, 0, 0, 1, 0], dims: [2, 1, 4] }, x(2, 3, 4), x(4)] },
  Max: { op: 'Max', inputs: [x(2, 3), x(3)] },
  Min: { op: 'Min', inputs: [x(2, 3), x(2, 1)] },
  ReduceMax: { op: 'ReduceMax', inputs: [x(2, 3, 4)], attrs: { axes: [2], keepdims: 0 } },
  ReduceMin: { op: 'ReduceMin', inputs: [x(2, 3, 4)], attrs: { axes: [1], keepdims: 1 } },
  'Trilu (causal mask)': { op: 'Trilu', inputs: [x(2, 4, 4)], attrs: { upper: 0 } },
  Tile: { op: 'Tile', inputs: [x(2, 3), ints(2, 3)] },
  CumSum: { op: 'CumSum', inputs: [x(2, 5), { ints: [1], dims: [] }] },
  'CumSum reverse exclusive': { op: 'CumSum', inputs: [x(2, 5), { ints: [1], dims: [] }], attrs: { reverse: 1, exclusive: 1 } },
  Sin: { op: 'Sin', inputs: [x(2, 3)] },
  Cos: { op: 'Cos', inputs: [x(2, 3)] },
  // Composite patterns of exported transformers and mobile CNNs.
  'decomposed LayerNorm (ReduceMean, Sub, Pow, Sqrt, Div)': {
    op: 'composite', inputs: [x(2, 3, 5), x(5), x(5)], build: (b, [v, g, beta]) => {
      const mu = b.node('ReduceMean', [v], { axes: [-1], keepdims: 1 });
      const d = b.node('Sub', [v, mu]);
      const two = b.initializer('two', { type: DataType.DOUBLE, dims: [], data: Float64Array.of(2) });
      const eps = b.initializer('eps', { type: DataType.DOUBLE, dims: [], data: Float64Array.of(1e-5) });
      const varr = b.node('ReduceMean', [b.node('Pow', [d, two])], { axes: [-1], keepdims: 1 });
      const nrm = b.node('Div', [d, b.node('Sqrt', [b.node('Add', [varr, eps])])]);
      return b.node('Add', [b.node('Mul', [nrm, g]), beta]);
    },
  },
  'SiLU (x * Sigmoid(x))': { op: 'composite', inputs: [x(3, 4)], build: (b, [v]) => b.node('Mul', [v, b.node('Sigmoid', [v])]) },
  'attention (Transpose, MatMul, Div, Softmax, MatMul between activations)': {
    op: 'composite', inputs: [x(2, 4, 3), x(2, 4, 3), x(2, 4, 3)], build: (b, [q, k, v]) => {
      const s = b.node('MatMul', [q, b.node('Transpose', [k], { perm: [0, 2, 1] })]);
      const scale = b.initializer('scale', { type: DataType.DOUBLE, dims: [], data: Float64Array.of(Math.sqrt(3)) });
      return b.node('MatMul', [b.node('Softmax', [b.node('Div', [s, scale])], { axis: -1 }), v]);
    },
  },
  'Shape-derived Reshape and Expand (integer subgraph, no gradient)': {
    op: 'composite', inputs: [x(2, 6), x(1, 3)], build: (b, [v, w]) => {
      const shp = b.node('Shape', [v]);
      const n = b.node('Gather', [shp, b.constInt64('zero', [0], [])], { axis: 0 });
      const target = b.node('Concat', [b.node('Unsqueeze', [n, b.constInt64('ax', [0])]), b.constInt64('m1', [2]), b.constInt64('c3', [3])], { axis: 0 });
      const r = b.node('Reshape', [v, target]);
      const e = b.node('Expand', [w, b.node('Shape', [r])]);
      return b.node('Mul', [r, e]);
    },
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(`gradient of ${name} matches finite differences`, async () => {
    const r = await checkGradient(c);
    assert.ok(r.checked > 0);
  });
}

test('flipped-kernel input gradient of an ungrouped Conv: more points, other seeds (edges included)', async () => {
  // 12 random points per seed: four seeds reach the padded borders of the 28x28 input too.
  for (const seed of [1, 2, 3, 4]) {
    const r = await checkGradient({ op: 'Conv', inputs: [x(1, 2, 28, 28), x(2, 2, 3, 3)], attrs: { pads: [1, 2, 1, 0] }, float32: true }, seed);
    assert.ok(r.checked > 0);
  }
});
