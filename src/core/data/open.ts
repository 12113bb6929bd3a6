/** Opening data for a model: picks the reader (npy, images, ONNX .pb, MNIST, synthetic) from a path or spec, then builds the source from what it read. */
import * as fs from 'fs';
import * as path from 'path';
import { QuantLensError } from '../errors';
import { DataKind } from '../../shared/data';
import { extOf, listFolder } from './files';
import { IMAGE_EXTENSIONS, ImageOptions, imageChunks } from './images';
import { mnistSamples } from './mnist';
import { inputFolderName, LABELS_FILE, npyChunks, npyFiles, npyLayout, readLabels } from './npy-folder';
import { dataSource, DataSource, ModelInput, SampleChunk, SampleRead } from './source';
import { SyntheticOptions, syntheticSamples } from './synthetic';
import { pbChunks, pbSampleFolders } from './tensor-pb';

/** Where samples come from: a path (folder or single file), or a generator / package. */
export type DataSpec = string | { kind: 'synthetic' } | { kind: 'mnist'; split?: 'train' | 'test' };

/** Options for opening data. */
export interface OpenDataOptions {
  /** Use at most this many samples (the first ones, in file order); default all. For synthetic/MNIST: how many to make. */
  samples?: number;
  /** Integer labels `.npy`; default `labels.npy` in the data folder when present. */
  labels?: string;
  /** Image preprocessing. */
  image?: ImageOptions;
  /** Synthetic generator options (seed, distribution, symbolic dims). */
  synthetic?: Omit<SyntheticOptions, 'samples'>;
  /** Seed for MNIST's split. */
  seed?: number;
}

/** Parses the spec strings `synthetic`, `mnist`, `mnist:train`, `mnist:test` (when no such path exists). */
function specialSpec(spec: string): Exclude<DataSpec, string> | undefined {
  if (fs.existsSync(spec)) return undefined;
  if (spec === 'synthetic') return { kind: 'synthetic' };
  const m = /^mnist(?::(train|test))?$/.exec(spec);
  if (m) return { kind: 'mnist', split: (m[1] as 'train' | 'test' | undefined) ?? 'train' };
  return undefined;
}

/** Opens the data for a model's inputs, choosing the reader from the spec; errors are QuantLensErrors naming the path. */
export function openDataSource(spec: DataSpec, inputs: readonly ModelInput[], options: OpenDataOptions = {}): DataSource {
  return dataSource(readSamples(spec, inputs, options), inputs, options.samples);
}

/** Reads the samples a spec names for the model's inputs (chunks, labels, what the data is), without opening a source yet. */
export function readSamples(spec: DataSpec, inputs: readonly ModelInput[], options: OpenDataOptions = {}): SampleRead {
  if (inputs.length === 0) throw new QuantLensError('data-layout', 'the model has no inputs to feed');
  const s = typeof spec === 'string' ? specialSpec(spec) ?? spec : spec;
  if (typeof s !== 'string') {
    if (s.kind === 'synthetic') return syntheticSamples(inputs, { ...options.synthetic, samples: options.samples });
    return mnistSamples(inputs, { samples: options.samples, seed: options.seed, split: s.split });
  }
  const target = path.resolve(s);
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError(code === 'ENOENT' ? 'data-missing' : 'data-unreadable', code === 'ENOENT' ? 'the data folder does not exist' : `the data path cannot be read (${code ?? e})`, s);
  }
  const labelsFile = options.labels ?? (st.isDirectory() && fs.existsSync(path.join(target, LABELS_FILE)) ? path.join(target, LABELS_FILE) : undefined);
  const labels = labelsFile ? readLabels(labelsFile) : undefined;
  const read = (kind: DataKind, chunks: Map<string, SampleChunk[]>, detail?: string, chunkLabels = labels): SampleRead =>
    ({ about: { kind, synthetic: false, source: s, detail }, chunks, labels: chunkLabels });

  if (st.isFile()) {
    const ext = extOf(target);
    if (ext === 'npy') return read('npy', new Map([[oneInput(inputs, s).name, npyChunks([target], oneInput(inputs, s))]]));
    if (IMAGE_EXTENSIONS.has(ext)) return images([target], oneInput(inputs, s));
    if (ext === 'pb') return read('pb', pbChunks([path.dirname(target)], inputs));
    throw new QuantLensError('data-unsupported', `'.${ext}' files are not a data format QuantLens reads (a folder of .npy, .png/.jpg or ONNX .pb files)`, s);
  }

  const { files, dirs } = listFolder(target);
  if (files.length === 0 && dirs.length === 0) throw new QuantLensError('data-empty', 'the data folder is empty', s);
  const hasNpy = npyFiles(target).length > 0 || inputs.some((i) => dirs.includes(inputFolderName(i.name)) && npyFiles(path.join(target, inputFolderName(i.name))).length > 0);
  if (hasNpy) {
    const layout = npyLayout(target, inputs);
    const chunks = new Map<string, SampleChunk[]>();
    for (const input of inputs) {
      const list = layout.get(input.name) ?? [];
      if (list.length === 0) throw new QuantLensError('data-empty', `no .npy files for model input '${input.name}'`, s);
      chunks.set(input.name, npyChunks(list, input));
    }
    return read('npy', chunks);
  }
  const pbFolders = pbSampleFolders(target);
  if (pbFolders.length) return read('pb', pbChunks(pbFolders, inputs), `${pbFolders.length} ONNX test-data folder${pbFolders.length > 1 ? 's' : ''}`);
  const imagesIn = (d: string) => listFolder(d).files.filter((f) => IMAGE_EXTENSIONS.has(extOf(f))).map((f) => path.join(d, f));
  const found = imagesIn(target);
  if (found.length) return images(found, oneInput(inputs, s));
  // class folders (`<folder>/<class>/*.png`): label = index of the class folder in natural order
  const classes = dirs.map((d) => ({ name: d, files: imagesIn(path.join(target, d)) })).filter((c) => c.files.length);
  if (classes.length) {
    const list = classes.flatMap((c) => c.files);
    const classLabels = labels ?? Int32Array.from(classes.flatMap((c, k) => c.files.map(() => k)));
    const names = classes.map((c) => c.name);
    return images(list, oneInput(inputs, s), classLabels, `${names.length} class folders (${names.slice(0, 4).join(', ')}${names.length > 4 ? ', ...' : ''})`);
  }
  throw new QuantLensError('data-empty', 'the data folder holds no .npy files, PNG/JPEG images or ONNX test data (input_<k>.pb)', s);

  function images(list: string[], input: ModelInput, imageLabels = labels, note?: string): SampleRead {
    const { chunks, plan } = imageChunks(list, input, options.image ?? {}, s as string);
    const detail = `${plan.layout.toUpperCase()} ${plan.channels.toUpperCase()} ${plan.height}x${plan.width}, x*${+plan.scale.toPrecision(6)} - mean [${plan.mean.join(', ')}], / std [${plan.std.join(', ')}]${note ? `; ${note}` : ''}`;
    return read('images', new Map([[input.name, chunks]]), detail, imageLabels);
  }
}

/** The one input of a model fed from a single-input format (a file, images), or a clear error for several. */
function oneInput(inputs: readonly ModelInput[], source: string): ModelInput {
  if (inputs.length !== 1) {
    throw new QuantLensError('data-layout', `the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}): give a folder with one subfolder of .npy files per input`, source);
  }
  return inputs[0];
}
