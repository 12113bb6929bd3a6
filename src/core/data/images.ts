/** Image files (PNG, JPEG) as model inputs: decode, bilinear resize, channel order, scale and normalization, layout. */
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { QuantLensError } from '../errors';
import { DataType } from '../onnx/proto';
import { Tensor } from '../onnx/tensor-data';
import { readDataFile, extOf } from './files';
import { convertTensor, ModelInput, SampleChunk, shapeText } from './source';

/** File extensions read as images. */
export const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg']);

/** How images become tensors. Defaults: layout and channels from the model's input shape, scale 1/255, mean 0, std 1. */
export interface ImageOptions {
  /** `nchw` (channels first) or `nhwc`; default: whichever axis of the model input has 1 or 3 channels (NCHW when both). */
  layout?: 'nchw' | 'nhwc';
  /** Channel order: `rgb`, `bgr` or `gray`; default `rgb` for 3 channels, `gray` for 1. */
  channels?: 'rgb' | 'bgr' | 'gray';
  /** Multiplies pixel values (0..255) first; default 1/255. */
  scale?: number;
  /** Subtracted after scaling, per channel (one value for all, or one per channel in the chosen order). */
  mean?: number[];
  /** Divides after the mean, per channel. */
  std?: number[];
  /** Target [height, width] for symbolic model dims; default: the first image's size. */
  size?: [number, number];
}

/** Decoded pixels: RGBA, 8 bits per channel. */
export interface RgbaImage { width: number; height: number; data: Uint8Array }

/** Decodes a PNG or JPEG file to RGBA; errors name the file. */
export function decodeImage(file: string, bytes: Uint8Array = readDataFile(file)): RgbaImage {
  const ext = extOf(file);
  try {
    if (ext === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    if (ext === 'jpg' || ext === 'jpeg') {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    throw new QuantLensError('data-corrupt', `the ${ext.toUpperCase()} image cannot be decoded (${e instanceof Error ? e.message : e})`, file);
  }
  throw new QuantLensError('data-unsupported', `'.${ext}' images are not supported (PNG and JPEG are)`, file);
}

/** Bilinear resize of one RGBA image to `outH` x `outW`, returning float RGB(A) planes (half-pixel centers, edge clamped). */
export function resizeBilinear(img: RgbaImage, outH: number, outW: number): Float32Array {
  const { width: w, height: h, data } = img;
  const out = new Float32Array(outH * outW * 4);
  const sy = h / outH;
  const sx = w / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      const a = (y0 * w + x0) * 4, b = (y0 * w + x1) * 4, c = (y1 * w + x0) * 4, d = (y1 * w + x1) * 4;
      const o = (y * outW + x) * 4;
      for (let k = 0; k < 4; k++) {
        out[o + k] = (data[a + k] * (1 - wx) + data[b + k] * wx) * (1 - wy) + (data[c + k] * (1 - wx) + data[d + k] * wx) * wy;
      }
    }
  }
  return out;
}

/** The resolved preprocessing for a model input: target layout, size and channels. */
export interface ImagePlan {
  layout: 'nchw' | 'nhwc';
  channels: 'rgb' | 'bgr' | 'gray';
  height: number;
  width: number;
  scale: number;
  mean: number[];
  std: number[];
}

/** Works out layout, channel count and size from the model input shape and options; `first` fills symbolic H/W. */
export function planImages(input: ModelInput, options: ImageOptions, first: () => RgbaImage, source: string): ImagePlan {
  const shape = input.shape;
  if (!shape || shape.length !== 4) {
    throw new QuantLensError('data-shape', `images need a model input of rank 4 (NCHW or NHWC); input '${input.name}' has shape ${shapeText(shape)}`, source);
  }
  const isC = (d: number | string) => d === 1 || d === 3;
  const layout = options.layout ?? (isC(shape[1]) ? 'nchw' : isC(shape[3]) ? 'nhwc' : 'nchw');
  const [cDim, hDim, wDim] = layout === 'nchw' ? [shape[1], shape[2], shape[3]] : [shape[3], shape[1], shape[2]];
  const c = typeof cDim === 'number' && cDim > 0 ? cDim : options.channels === 'gray' ? 1 : 3;
  if (c !== 1 && c !== 3) {
    throw new QuantLensError('data-shape', `model input '${input.name}' of shape ${shapeText(shape)} has ${c} channels in ${layout.toUpperCase()} layout; images give 1 (gray) or 3 (RGB/BGR)`, source);
  }
  const channels = options.channels ?? (c === 1 ? 'gray' : 'rgb');
  if ((channels === 'gray') !== (c === 1)) {
    throw new QuantLensError('data-shape', `channels '${channels}' do not fit model input '${input.name}' with ${c} channel${c > 1 ? 's' : ''} (shape ${shapeText(shape)})`, source);
  }
  let height = typeof hDim === 'number' && hDim > 0 ? hDim : options.size?.[0];
  let width = typeof wDim === 'number' && wDim > 0 ? wDim : options.size?.[1];
  if (height === undefined || width === undefined) {
    const img = first();
    height ??= img.height;
    width ??= img.width;
  }
  const perChannel = (v: number[] | undefined, dflt: number, what: string) => {
    const a = v && v.length ? v : [dflt];
    if (a.length !== 1 && a.length !== c) throw new QuantLensError('data-options', `${what} has ${a.length} values; give 1 or ${c}`, source);
    return a.length === 1 ? new Array(c).fill(a[0]) : a.slice();
  };
  const std = perChannel(options.std, 1, 'std');
  if (std.some((s) => s === 0)) throw new QuantLensError('data-options', 'std values must not be 0', source);
  return { layout, channels, height, width, scale: options.scale ?? 1 / 255, mean: perChannel(options.mean, 0, 'mean'), std };
}

/** Turns one decoded image into a sample tensor [C,H,W] or [H,W,C] (float32) following the plan. */
export function imageToSample(img: RgbaImage, plan: ImagePlan): Tensor {
  const { height: H, width: W, layout, channels, scale, mean, std } = plan;
  const px = resizeBilinear(img, H, W);
  const c = channels === 'gray' ? 1 : 3;
  const out = new Float32Array(c * H * W);
  const order = channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  for (let i = 0; i < H * W; i++) {
    for (let k = 0; k < c; k++) {
      const v = channels === 'gray' ? 0.299 * px[i * 4] + 0.587 * px[i * 4 + 1] + 0.114 * px[i * 4 + 2] : px[i * 4 + order[k]];
      const y = (v * scale - mean[k]) / std[k];
      if (layout === 'nchw') out[k * H * W + i] = y; else out[i * c + k] = y;
    }
  }
  return { type: DataType.FLOAT, dims: layout === 'nchw' ? [c, H, W] : [H, W, c], data: out };
}

/** One chunk per image file for `input` (one sample each), preprocessed when a batch needs it. */
export function imageChunks(files: readonly string[], input: ModelInput, options: ImageOptions, source: string): { chunks: SampleChunk[]; plan: ImagePlan } {
  const plan = planImages(input, options, () => decodeImage(files[0]), source);
  const sampleDims = plan.layout === 'nchw' ? [plan.channels === 'gray' ? 1 : 3, plan.height, plan.width] : [plan.height, plan.width, plan.channels === 'gray' ? 1 : 3];
  const chunks = files.map((file) => ({
    file, count: 1, sampleDims,
    load: () => {
      const t = imageToSample(decodeImage(file), plan);
      return convertTensor({ ...t, dims: [1, ...t.dims] }, input.elemType, file, input.name);
    },
  }));
  return { chunks, plan };
}
