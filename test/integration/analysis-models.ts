/** Seeded test networks for the analysis tests, each built so the right answer is known. */
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { Rng } from '../../src/core/train/random';
import { DataBatch, DataSource } from '../../src/core/data/source';
import { Tensor } from '../../src/core/onnx/tensor-data';

function he(rng: Rng, n: number, fanIn: number, scale = 1): Float32Array {
  const std = Math.sqrt(2 / fanIn) * scale;
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

const f32 = (dims: number[], data: Float32Array) => ({ type: DataType.FLOAT, dims, data });

/**
 * conv1 (4→8, 3x3) → Relu → conv2 (8→8, 3x3; output channel `wide` ×30) → Relu → conv3 (8→8, 1x1; input channel
 * `wide` ÷30, so the function is that of a balanced net) → Relu → GlobalAveragePool → Flatten → Gemm (8→5).
 * Per-tensor weights on conv2 spend their levels on the wide channel: conv2 is the most sensitive layer.
 */
export function wideChannelNet(seed = 1, wide = 3): ModelProto {
  const rng = new Rng(seed);
  const b = new GraphBuilder('wide_channel');
  const x = b.input('x', DataType.FLOAT, ['N', 4, 8, 8]);
  const w1 = b.initializer('conv1.w', f32([8, 4, 3, 3], he(rng, 288, 36)));
  const c1 = b.node('Relu', [b.node('Conv', [x, w1], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv1' })]);
  const w2v = he(rng, 576, 72);
  for (let k = 0; k < 72; k++) w2v[wide * 72 + k] *= 30;
  const w2 = b.initializer('conv2.w', f32([8, 8, 3, 3], w2v));
  const c2 = b.node('Relu', [b.node('Conv', [c1, w2], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv2' })]);
  const w3v = he(rng, 64, 8);
  for (let o = 0; o < 8; o++) w3v[o * 8 + wide] /= 30;
  const w3 = b.initializer('conv3.w', f32([8, 8, 1, 1], w3v));
  const c3 = b.node('Relu', [b.node('Conv', [c2, w3], { kernel_shape: [1, 1] }, { name: 'conv3' })]);
  const g = b.node('Flatten', [b.node('GlobalAveragePool', [c3])], { axis: 1 });
  const wf = b.initializer('fc.w', f32([5, 8], he(rng, 40, 8)));
  const bf = b.initializer('fc.b', f32([5], new Float32Array(5)));
  const y = b.node('Gemm', [g, wf, bf], { transB: 1 }, { name: 'fc', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 5]);
  return b.model(13);
}

/**
 * conv1 (8→16, 1x1) → Relu → depthwise 3x3 (16 groups; channel scales log-uniform over 0.01..1, as after BN
 * folding in MobileNets) → Relu → Mul (1/scale per channel: an unfolded BN) → conv3 (16→8, 1x1) → GAP → Gemm (8→4).
 */
export function depthwiseNet(seed = 2): ModelProto {
  const rng = new Rng(seed);
  const b = new GraphBuilder('depthwise');
  const x = b.input('x', DataType.FLOAT, ['N', 8, 8, 8]);
  const w1 = b.initializer('conv1.w', f32([16, 8, 1, 1], he(rng, 128, 8)));
  const c1 = b.node('Relu', [b.node('Conv', [x, w1], { kernel_shape: [1, 1] }, { name: 'conv1' })]);
  const scales = Array.from({ length: 16 }, (_, c) => 10 ** (-2 + (2 * c) / 15));
  const wd = he(rng, 144, 9);
  for (let c = 0; c < 16; c++) for (let k = 0; k < 9; k++) wd[c * 9 + k] *= scales[c];
  const w2 = b.initializer('dw.w', f32([16, 1, 3, 3], wd));
  const c2 = b.node('Relu', [b.node('Conv', [c1, w2], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 16 }, { name: 'dw' })]);
  const comp = b.initializer('comp', f32([1, 16, 1, 1], Float32Array.from(scales, (v) => 1 / v)));
  const c2c = b.node('Mul', [c2, comp]);
  const w3 = b.initializer('conv3.w', f32([8, 16, 1, 1], he(rng, 128, 16)));
  const c3 = b.node('Conv', [c2c, w3], { kernel_shape: [1, 1] }, { name: 'conv3' });
  const g = b.node('Flatten', [b.node('GlobalAveragePool', [c3])], { axis: 1 });
  const wf = b.initializer('fc.w', f32([4, 8], he(rng, 32, 8)));
  const y = b.node('Gemm', [g, wf], { transB: 1 }, { name: 'fc', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 4]);
  return b.model(13);
}

/**
 * An MLP whose input feature `spike` carries rare huge values (an activation outlier): fc1 (16→32) → Relu → fc2 (32→6).
 * Feed it data from `outlierData`.
 */
export function outlierMlp(seed = 3): ModelProto {
  const rng = new Rng(seed);
  const b = new GraphBuilder('outlier');
  const x = b.input('x', DataType.FLOAT, ['N', 16]);
  const w1v = he(rng, 512, 16);
  for (let o = 0; o < 32; o++) w1v[o * 16] *= 0.01; // the spiky feature barely reaches fc2
  const w1 = b.initializer('fc1.w', f32([32, 16], w1v));
  const h = b.node('Relu', [b.node('Gemm', [x, w1], { transB: 1 }, { name: 'fc1' })]);
  const w2 = b.initializer('fc2.w', f32([6, 32], he(rng, 192, 32)));
  const y = b.node('Gemm', [h, w2], { transB: 1 }, { name: 'fc2', output: 'logits' });
  b.output(y, DataType.FLOAT, ['N', 6]);
  return b.model(13);
}

/** An in-memory DataSource of `count` samples of one float input (and optional labels). */
export function arraySource(input: string, sampleDims: number[], data: Float32Array, labels?: Int32Array): DataSource {
  const per = sampleDims.reduce((a, b) => a * b, 1);
  const count = per ? data.length / per : 0;
  return {
    description: { kind: 'npy', synthetic: false, samples: count, source: 'memory', labeled: !!labels },
    samples: count,
    async *batches(batchSize: number): AsyncIterable<DataBatch> {
      for (let s = 0; s < count; s += batchSize) {
        const n = Math.min(batchSize, count - s);
        const t: Tensor = { type: DataType.FLOAT, dims: [n, ...sampleDims], data: data.slice(s * per, (s + n) * per) };
        yield { feeds: { [input]: t }, labels: labels?.slice(s, s + n) };
      }
    },
  };
}

/** Seeded N(0, 1) samples. */
export function normalData(count: number, per: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * per }, () => rng.normal());
}

/** N(0, 1) samples of 16 features where feature 0 of sample 5 is a spike of 200. */
export function outlierData(count: number, seed: number): Float32Array {
  const d = normalData(count, 16, seed);
  d[5 * 16] = 200;
  return d;
}
