/** Opening a data source for a model: picks the reader (npy, images, ONNX .pb, MNIST, synthetic) from a path or spec. */
import * as fs from 'fs';
import * as path from 'path';
import { QuantLensError } from '../errors';
import { DataDescription } from '../../shared/data';
import { extOf, listFolder } from './files';
import { IMAGE_EXTENSIONS, ImageOptions, imageChunks } from './images';
import { mnistDataSource } from './mnist';
import { inputFolderName, LABELS_FILE, npyChunks, npyFiles, npyLayout, readLabels } from './npy-folder';
import { ChunkedDataSource, DataSource, ModelInput, SampleChunk } from './source';
import { SyntheticOptions, syntheticDataSource } from './synthetic';
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
  if (inputs.length === 0) throw new QuantLensError('data-layout', 'the model has no inputs to feed');
  const s = typeof spec === 'string' ? specialSpec(spec) ?? spec : spec;
  if (typeof s !== 'string') {
    if (s.kind === 'synthetic') return syntheticDataSource(inputs, { ...options.synthetic, samples: options.samples });
    return mnistDataSource(inputs, { samples: options.samples, seed: options.seed, split: s.split });
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
  const make = (kind: DataDescription['kind'], chunks: Map<string, SampleChunk[]>, detail?: string) =>
    new ChunkedDataSource({ kind, synthetic: false, samples: 0, source: s, detail }, inputs, chunks, labels, options.samples);

  if (st.isFile()) {
    const ext = extOf(target);
    if (ext === 'npy') return oneInput(inputs, s, (input) => make('npy', new Map([[input.name, npyChunks([target], input)]])));
    if (IMAGE_EXTENSIONS.has(ext)) return oneInput(inputs, s, (input) => imageSource([target], input));
    if (ext === 'pb') return make('pb', pbChunks([path.dirname(target)], inputs));
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
    return make('npy', chunks);
  }
  const pbFolders = pbSampleFolders(target);
  if (pbFolders.length) return make('pb', pbChunks(pbFolders, inputs), `${pbFolders.length} ONNX test-data folder${pbFolders.length > 1 ? 's' : ''}`);
  const imagesIn = (d: string) => listFolder(d).files.filter((f) => IMAGE_EXTENSIONS.has(extOf(f))).map((f) => path.join(d, f));
  const images = imagesIn(target);
  if (images.length) return oneInput(inputs, s, (input) => imageSource(images, input));
  // class folders (`<folder>/<class>/*.png`): label = index of the class folder in natural order
  const classes = dirs.map((d) => ({ name: d, files: imagesIn(path.join(target, d)) })).filter((c) => c.files.length);
  if (classes.length) {
    const list = classes.flatMap((c) => c.files);
    const classLabels = labels ? undefined : Int32Array.from(classes.flatMap((c, k) => c.files.map(() => k)));
    const names = classes.map((c) => c.name);
    return oneInput(inputs, s, (input) => imageSource(list, input, classLabels, `${names.length} class folders (${names.slice(0, 4).join(', ')}${names.length > 4 ? ', ...' : ''})`));
  }
  throw new QuantLensError('data-empty', 'the data folder holds no .npy files, PNG/JPEG images or ONNX test data (input_<k>.pb)', s);

  function imageSource(list: string[], input: ModelInput, classLabels?: Int32Array, note?: string): DataSource {
    const { chunks, plan } = imageChunks(list, input, options.image ?? {}, s as string);
    const detail = `${plan.layout.toUpperCase()} ${plan.channels.toUpperCase()} ${plan.height}x${plan.width}, x*${+plan.scale.toPrecision(6)} - mean [${plan.mean.join(', ')}], / std [${plan.std.join(', ')}]${note ? `; ${note}` : ''}`;
    const chunkMap = new Map([[input.name, chunks]]);
    if (classLabels) return new ChunkedDataSource({ kind: 'images', synthetic: false, samples: 0, source: s as string, detail }, inputs, chunkMap, classLabels, options.samples);
    return make('images', chunkMap, detail);
  }
}

function oneInput(inputs: readonly ModelInput[], source: string, open: (input: ModelInput) => DataSource): DataSource {
  if (inputs.length !== 1) {
    throw new QuantLensError('data-layout', `the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}): give a folder with one subfolder of .npy files per input`, source);
  }
  return open(inputs[0]);
}
