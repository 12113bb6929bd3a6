/**
 * Synthetic inputs generated from the model's input metadata, for when no real data is given.
 * Float inputs: N(0, 1) (or uniform in [0, 1) with `distribution: 'uniform'`); integer inputs: uniform
 * integers in [0, 10); bool: 0/1. Symbolic dims other than the batch axis (axis 0) take `dims[name]` or 64.
 * Sample i of input k depends only on (seed, k, i): the values do not change with the batch size.
 */
import { QuantLensError } from '../errors';
import { DataType } from '../onnx/proto';
import { sizeOf, Tensor } from '../onnx/tensor-data';
import { DataDescription } from '../../shared/data';
import { ChunkedDataSource, convertTensor, DataSource, ModelInput, SampleChunk } from './source';

/** The size a symbolic non-batch dim gets unless the options name it. */
export const SYNTHETIC_DEFAULT_DIM = 64;
/** The number of samples generated unless asked otherwise. */
export const SYNTHETIC_DEFAULT_SAMPLES = 16;

/** Options of the synthetic generator. */
export interface SyntheticOptions {
  samples?: number;
  seed?: number;
  distribution?: 'normal' | 'uniform';
  /** Sizes for symbolic dims, by their name (`dim_param`) or by `<input>:<axis>`. */
  dims?: Record<string, number>;
}

/** A small fast seeded PRNG (mulberry32) giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes integers into one 32-bit seed. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
  }
  return h >>> 0;
}

/** Standard normal samples from a uniform generator (Box-Muller). */
export function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) { const s = spare; spare = undefined; return s; }
    let u = 0;
    while (u === 0) u = rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** The per-sample shape synthetic data uses for an input (symbolic dims resolved as documented). */
export function syntheticSampleDims(input: ModelInput, dims: Record<string, number> = {}): number[] {
  const shape = input.shape;
  if (!shape || shape.length === 0) throw new QuantLensError('data-shape', `model input '${input.name}' has no declared shape, so synthetic data cannot be generated for it; pass real data`);
  return shape.slice(1).map((d, i) => {
    if (typeof d === 'number' && d > 0) return d;
    const v = (typeof d === 'string' ? dims[d] : undefined) ?? dims[`${input.name}:${i + 1}`] ?? SYNTHETIC_DEFAULT_DIM;
    if (!(Number.isInteger(v) && v > 0)) throw new QuantLensError('data-options', `size ${v} for dim '${d}' of input '${input.name}' is not a positive integer`);
    return v;
  });
}

/** Generates sample `index` of input `k` as float64 values. */
function generate(input: ModelInput, k: number, index: number, n: number, o: Required<Pick<SyntheticOptions, 'seed' | 'distribution'>>): Float64Array {
  const rand = mulberry32(mixSeed(o.seed, k, index));
  const out = new Float64Array(n);
  const t = input.elemType;
  if (t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16 || t === DataType.BFLOAT16) {
    if (o.distribution === 'uniform') for (let i = 0; i < n; i++) out[i] = rand();
    else { const g = gaussian(rand); for (let i = 0; i < n; i++) out[i] = g(); }
  } else if (t === DataType.BOOL) for (let i = 0; i < n; i++) out[i] = rand() < 0.5 ? 0 : 1;
  else for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 10);
  return out;
}

/** A DataSource of seeded synthetic samples for the model's inputs; its description says synthetic. */
export function syntheticDataSource(inputs: readonly ModelInput[], options: SyntheticOptions = {}): DataSource {
  const samples = options.samples ?? SYNTHETIC_DEFAULT_SAMPLES;
  if (!(Number.isInteger(samples) && samples > 0)) throw new QuantLensError('data-options', `the number of synthetic samples must be a positive integer, got ${samples}`);
  const o = { seed: options.seed ?? 0, distribution: options.distribution ?? 'normal' } as const;
  const chunks = new Map<string, SampleChunk[]>();
  inputs.forEach((input, k) => {
    const sampleDims = syntheticSampleDims(input, options.dims);
    const n = sizeOf(sampleDims);
    const list: SampleChunk[] = [];
    for (let i = 0; i < samples; i++) {
      list.push({
        file: `synthetic:${input.name}[${i}]`, count: 1, sampleDims,
        load: (): Tensor => {
          const v = generate(input, k, i, n, o);
          const isFloat = [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16].includes(input.elemType);
          const t: Tensor = isFloat ? { type: DataType.DOUBLE, dims: [1, ...sampleDims], data: v } : { type: DataType.INT32, dims: [1, ...sampleDims], data: Int32Array.from(v) };
          return convertTensor(t, input.elemType, 'synthetic', input.name);
        },
      });
    }
    chunks.set(input.name, list);
  });
  const description: DataDescription = {
    kind: 'synthetic', synthetic: true, samples, source: 'synthetic',
    detail: `${o.distribution === 'normal' ? 'N(0,1)' : 'uniform [0,1)'} floats, seed ${o.seed}`,
  };
  return new ChunkedDataSource(description, inputs, chunks);
}
