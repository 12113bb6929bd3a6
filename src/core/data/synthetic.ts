/**
 * Synthetic inputs generated from the model's input metadata, for when no real data is given.
 * Float inputs: N(0, 1) (or uniform in [0, 1) with `distribution: 'uniform'`); token ids (an integer input indexing an
 * embedding table, see onnx/input-roles.ts): uniform over the table's rows; masks: 1 for a prefix of random length, then
 * 0; bool: 0/1; other integers: uniform in [0, 10). Symbolic dims other than the batch axis (axis 0) take
 * `dims[name]` or 64. The description names each input's distribution.
 * Sample i of input k depends only on (seed, k, i): the values do not change with the batch size.
 */
import { QuantLensError } from '../errors';
import { DataType } from '../onnx/proto';
import { sizeOf, Tensor } from '../onnx/tensor-data';
import { convertTensor, dataSource, DataSource, ModelInput, SampleChunk, SampleRead } from './source';

/** The size a symbolic non-batch dim gets unless the options name it. */
export const SYNTHETIC_DEFAULT_DIM = 64;
/** Most values one synthetic sample of an input may hold (2^27: 1 GiB as float64 while generating). */
export const MAX_SYNTHETIC_VALUES = 2 ** 27;
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

/** Generates sample `index` of input `k` (n values, rows of `row` along the last axis) as float64 values. */
function generate(input: ModelInput, k: number, index: number, n: number, row: number, o: Required<Pick<SyntheticOptions, 'seed' | 'distribution'>>): Float64Array {
  const rand = mulberry32(mixSeed(o.seed, k, index));
  const out = new Float64Array(n);
  const t = input.elemType;
  if (t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16 || t === DataType.BFLOAT16) {
    if (o.distribution === 'uniform') for (let i = 0; i < n; i++) out[i] = rand();
    else { const g = gaussian(rand); for (let i = 0; i < n; i++) out[i] = g(); }
  } else if (input.role?.kind === 'token-ids') {
    const vocab = input.role.vocab;
    for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * vocab);
  } else if (input.role?.kind === 'mask') {
    for (let start = 0; start < n; start += row) {
      const keep = 1 + Math.floor(rand() * row);
      for (let i = 0; i < row && start + i < n; i++) out[start + i] = i < keep ? 1 : 0;
    }
  } else if (t === DataType.BOOL) for (let i = 0; i < n; i++) out[i] = rand() < 0.5 ? 0 : 1;
  else for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * INTEGER_RANGE);
  return out;
}

/** Other integer inputs are drawn uniformly from [0, INTEGER_RANGE). */
const INTEGER_RANGE = 10;

function isFloatInput(input: ModelInput): boolean {
  return [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16].includes(input.elemType);
}

/** How synthetic values of one input are drawn, in words (for logs and reports). */
export function syntheticInputDetail(input: ModelInput, distribution: 'normal' | 'uniform' = 'normal'): string {
  if (isFloatInput(input)) return distribution === 'normal' ? 'N(0,1) floats' : 'uniform [0,1) floats';
  if (input.role?.kind === 'token-ids') return `token ids uniform in [0, ${input.role.vocab}) (rows of embedding '${input.role.table}')`;
  if (input.role?.kind === 'mask') return '0/1 mask (1 for a random-length prefix, then 0)';
  if (input.elemType === DataType.BOOL) return 'random booleans';
  return `integers uniform in [0, ${INTEGER_RANGE})`;
}

/** A DataSource of seeded synthetic samples for the model's inputs; its description says synthetic. */
export function syntheticDataSource(inputs: readonly ModelInput[], options: SyntheticOptions = {}): DataSource {
  return dataSource(syntheticSamples(inputs, options), inputs);
}

/** Seeded synthetic samples for the model's inputs (chunks of one sample each), described as synthetic. */
export function syntheticSamples(inputs: readonly ModelInput[], options: SyntheticOptions = {}): SampleRead {
  const samples = options.samples ?? SYNTHETIC_DEFAULT_SAMPLES;
  if (!(Number.isInteger(samples) && samples > 0)) throw new QuantLensError('data-options', `the number of synthetic samples must be a positive integer, got ${samples}`);
  const o = { seed: options.seed ?? 0, distribution: options.distribution ?? 'normal' } as const;
  const chunks = new Map<string, SampleChunk[]>();
  inputs.forEach((input, k) => {
    const sampleDims = syntheticSampleDims(input, options.dims);
    const n = sizeOf(sampleDims);
    if (!(n <= MAX_SYNTHETIC_VALUES)) throw new QuantLensError('data-too-large', `one synthetic sample of input '${input.name}' would hold ${n.toLocaleString('en-US')} values (shape ${sampleDims.join('x')}), more than the limit of ${MAX_SYNTHETIC_VALUES.toLocaleString('en-US')}; give real data or smaller sizes for its symbolic dims`);
    const row = Math.max(1, sampleDims.length ? sampleDims[sampleDims.length - 1] : 1);
    const list: SampleChunk[] = [];
    // Blocks of samples (at most ~1M values each): 100,000 samples are 1,563 chunks, not 100,000 (building them
    // one per sample blocked the engine for a second). Sample i still depends only on (seed, k, i).
    const block = Math.max(1, Math.min(64, Math.floor(2 ** 20 / Math.max(1, n))));
    for (let i0 = 0; i0 < samples; i0 += block) {
      const count = Math.min(block, samples - i0);
      list.push({
        file: count === 1 ? `synthetic:${input.name}[${i0}]` : `synthetic:${input.name}[${i0}..${i0 + count - 1}]`, count, sampleDims,
        load: (): Tensor => {
          const v = new Float64Array(count * n);
          for (let j = 0; j < count; j++) v.set(generate(input, k, i0 + j, n, row, o), j * n);
          const t: Tensor = isFloatInput(input) ? { type: DataType.DOUBLE, dims: [count, ...sampleDims], data: v } : { type: DataType.INT32, dims: [count, ...sampleDims], data: Int32Array.from(v) };
          return convertTensor(t, input.elemType, 'synthetic', input.name);
        },
      });
    }
    chunks.set(input.name, list);
  });
  const about: SampleRead['about'] = {
    kind: 'synthetic', synthetic: true, source: 'synthetic',
    detail: `${inputs.length === 1 ? syntheticInputDetail(inputs[0], o.distribution) : inputs.map((i) => `${i.name}: ${syntheticInputDetail(i, o.distribution)}`).join('; ')}, seed ${o.seed}`,
  };
  return { about, chunks };
}
