/** Small reference models built in code (MNIST MLP and CNN) with seeded He initialisation, and the fixed MNIST split. */
import { GraphBuilder } from '../onnx/builder';
import { DataType, ModelProto } from '../onnx/proto';
import { Rng } from './random';
import { mnistDataset } from '../data/mnist';
import { Tensor } from '../onnx/tensor-data';

function he(rng: Rng, n: number, fanIn: number): Float32Array {
  const std = Math.sqrt(2 / fanIn);
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

/** MLP 784-hidden-10 (Flatten, Gemm, Relu, Gemm) for 1x28x28 inputs, output logits. */
export function mnistMlp(seed = 1, hidden = 128): ModelProto {
  const rng = new Rng(seed);
  const b = new GraphBuilder('mnist_mlp');
  const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
  const f = b.node('Flatten', [x], { axis: 1 }, { name: '/flatten/Flatten' });
  const w1 = b.initializer('fc1.weight', { type: DataType.FLOAT, dims: [hidden, 784], data: he(rng, hidden * 784, 784) });
  const b1 = b.initializer('fc1.bias', { type: DataType.FLOAT, dims: [hidden], data: new Float32Array(hidden) });
  const h = b.node('Gemm', [f, w1, b1], { transB: 1 }, { name: '/fc1/Gemm' });
  const r = b.node('Relu', [h], {}, { name: '/relu/Relu' });
  const w2 = b.initializer('fc2.weight', { type: DataType.FLOAT, dims: [10, hidden], data: he(rng, 10 * hidden, hidden) });
  const b2 = b.initializer('fc2.bias', { type: DataType.FLOAT, dims: [10], data: new Float32Array(10) });
  const y = b.node('Gemm', [r, w2, b2], { transB: 1 }, { name: '/fc2/Gemm', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 10]);
  return b.model(17);
}

/** Conv(cin->cout, 3x3, pad 1) + Relu + MaxPool 2x2 named `/<name>/...`, He-initialised from `rng`. */
function convReluPool(b: GraphBuilder, rng: Rng, name: string, inp: string, cin: number, cout: number): string {
  const w = b.initializer(`${name}.weight`, { type: DataType.FLOAT, dims: [cout, cin, 3, 3], data: he(rng, cout * cin * 9, cin * 9) });
  const bias = b.initializer(`${name}.bias`, { type: DataType.FLOAT, dims: [cout], data: new Float32Array(cout) });
  const c = b.node('Conv', [inp, w, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: `/${name}/Conv` });
  const r = b.node('Relu', [c], {}, { name: `/${name}/Relu` });
  return b.node('MaxPool', [r], { kernel_shape: [2, 2], strides: [2, 2] }, { name: `/${name}/MaxPool` });
}

/** CNN: Conv(1->c1,3x3,pad 1) Relu MaxPool2 Conv(c1->c2,3x3,pad 1) Relu MaxPool2 Flatten Gemm(->10). */
export function mnistCnn(seed = 1, c1 = 8, c2 = 16): ModelProto {
  const rng = new Rng(seed);
  const b = new GraphBuilder('mnist_cnn');
  const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
  const conv = (name: string, inp: string, cin: number, cout: number) => convReluPool(b, rng, name, inp, cin, cout);
  const p1 = conv('conv1', x, 1, c1);
  const p2 = conv('conv2', p1, c1, c2);
  const f = b.node('Flatten', [p2], { axis: 1 }, { name: '/flatten/Flatten' });
  const w = b.initializer('fc.weight', { type: DataType.FLOAT, dims: [10, c2 * 49], data: he(rng, 10 * c2 * 49, c2 * 49) });
  const bias = b.initializer('fc.bias', { type: DataType.FLOAT, dims: [10], data: new Float32Array(10) });
  const y = b.node('Gemm', [f, w, bias], { transB: 1 }, { name: '/fc/Gemm', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 10]);
  return b.model(17);
}

/** CNN with two fully connected layers (4 quantizable layers): Conv(1->c1) Relu MaxPool Conv(c1->c2) Relu MaxPool Flatten Gemm(->hidden) Relu Gemm(->10). */
export function mnistCnn4(seed = 1, c1 = 8, c2 = 16, hidden = 64): ModelProto {
  const rng = new Rng(seed);
  const b = new GraphBuilder('mnist_cnn4');
  const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
  const conv = (name: string, inp: string, cin: number, cout: number) => convReluPool(b, rng, name, inp, cin, cout);
  const p2 = conv('conv2', conv('conv1', x, 1, c1), c1, c2);
  const f = b.node('Flatten', [p2], { axis: 1 }, { name: '/flatten/Flatten' });
  const w1 = b.initializer('fc1.weight', { type: DataType.FLOAT, dims: [hidden, c2 * 49], data: he(rng, hidden * c2 * 49, c2 * 49) });
  const b1 = b.initializer('fc1.bias', { type: DataType.FLOAT, dims: [hidden], data: new Float32Array(hidden) });
  const h = b.node('Relu', [b.node('Gemm', [f, w1, b1], { transB: 1 }, { name: '/fc1/Gemm' })], {}, { name: '/fc1/Relu' });
  const w2 = b.initializer('fc2.weight', { type: DataType.FLOAT, dims: [10, hidden], data: he(rng, 10 * hidden, hidden) });
  const b2 = b.initializer('fc2.bias', { type: DataType.FLOAT, dims: [10], data: new Float32Array(10) });
  const y = b.node('Gemm', [h, w2, b2], { transB: 1 }, { name: '/fc2/Gemm', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 10]);
  return b.model(17);
}

/** The fixed MNIST split used by the QAT tests and benchmarks: 8000 training and 2000 test digits. */
export function loadMnistSplit(train = 8000, test = 2000): { train: DigitSet; test: DigitSet } {
  const d = mnistDataset({ train, test, seed: 2024 });
  return { train: d.train, test: d.test };
}

/** A labelled image set: images [N, 1, 28, 28] flattened, labels 0..9. */
export interface DigitSet {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

/** The images of a digit set as an input tensor [N, 1, 28, 28]. */
export function digitTensor(s: DigitSet): Tensor {
  return { type: DataType.FLOAT, dims: [s.count, 1, 28, 28], data: s.images };
}
