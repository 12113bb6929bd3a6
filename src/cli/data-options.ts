/** The data options shared by commands that read samples (quantize, analyze, qat): flags and their parsing. */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { z } from 'zod';
import { OpenDataOptions } from '../core/data/open';
import { MAX_SAMPLES, SampleCountSchema } from '../shared/request-params';

/** Parsed values of the data flags. */
export interface DataFlags {
  data?: string;
  synthetic?: boolean;
  samples?: number;
  seed?: number;
  labels?: string;
  layout?: 'nchw' | 'nhwc';
  channels?: 'rgb' | 'bgr' | 'gray';
  mean?: number[];
  std?: number[];
  scale?: number;
  size?: [number, number];
  dim?: Record<string, number>;
}

/** A commander option parser that checks the number against a schema of src/shared/request-params.ts (as the engine does). */
export function schemaNumber(schema: z.ZodType<number>): (v: string) => number {
  return (v: string) => {
    const r = schema.safeParse(v.trim() === '' ? NaN : Number(v));
    if (r.success) return r.data;
    throw new InvalidArgumentError(r.error.issues[0].message.replace(/got (NaN|a number \(NaN\))$/, `got '${v}'`));
  };
}

/** Parses a positive integer option value. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function numberList(v: string): number[] {
  const a = v.split(',').map((s) => Number(s.trim()));
  if (!a.length || a.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError('expected numbers separated by commas, e.g. 0.485,0.456,0.406');
  return a;
}

function sizeArg(v: string): [number, number] {
  const m = /^(\d+)x(\d+)$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected HxW, e.g. 48x320');
  return [Number(m[1]), Number(m[2])];
}

function dimArg(v: string, prev: Record<string, number> = {}): Record<string, number> {
  const m = /^(.+)=(\d+)$/.exec(v);
  if (!m || Number(m[2]) <= 0) throw new InvalidArgumentError('expected NAME=SIZE, e.g. height=48');
  return { ...prev, [m[1]]: Number(m[2]) };
}

/** Adds the data flags to a command. */
export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--data <path>', 'calibration data: a folder of .npy files (one subfolder per input for several inputs), PNG/JPEG images, or ONNX test data (input_0.pb...); "mnist" for MNIST digits')
    .option('--synthetic', 'use seeded synthetic inputs made from the model\'s input shapes (N(0,1) floats, token ids across the embedding table, 0/1 masks); results then say nothing about real accuracy')
    .option('--samples <n>', `use at most N samples (synthetic: generate N; default 16; at most ${MAX_SAMPLES.toLocaleString('en-US')})`, schemaNumber(SampleCountSchema))
    .option('--seed <n>', 'seed for synthetic data and MNIST splits (default 0)', (v) => { const n = Number(v); if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer'); return n; })
    .option('--labels <file>', 'integer labels .npy (default: labels.npy in the data folder)')
    .addOption(new Option('--layout <layout>', 'image layout (default: from the model input shape)').choices(['nchw', 'nhwc']))
    .addOption(new Option('--channels <order>', 'image channel order (default rgb, gray for 1 channel)').choices(['rgb', 'bgr', 'gray']))
    .option('--mean <values>', 'image mean per channel after scaling, e.g. 0.485,0.456,0.406', numberList)
    .option('--std <values>', 'image std per channel, e.g. 0.229,0.224,0.225', numberList)
    .option('--scale <x>', 'multiply pixel values (0..255) by this first (default 1/255)', (v) => { const n = Number(v); if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number'); return n; })
    .option('--size <HxW>', 'image size for symbolic model dims, e.g. 48x320 (default: the first image\'s size)', sizeArg)
    .option('--dim <name=size>', 'size of a symbolic input dim for synthetic data (repeatable; default 64)', dimArg);
}

/** The data spec and reader options the flags ask for (`undefined` spec when neither --data nor --synthetic was given). */
export function dataFromFlags(f: DataFlags): { spec?: string | { kind: 'synthetic' }; options: OpenDataOptions } {
  const spec = f.synthetic ? { kind: 'synthetic' as const } : f.data;
  return {
    spec,
    options: {
      samples: f.samples,
      seed: f.seed,
      labels: f.labels,
      image: { layout: f.layout, channels: f.channels, mean: f.mean, std: f.std, scale: f.scale, size: f.size },
      synthetic: { seed: f.seed, dims: f.dim },
    },
  };
}
