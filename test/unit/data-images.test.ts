import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { decodeImage, imageToSample, planImages, resizeBilinear } from '../../src/core/data/images';
import { openDataSource } from '../../src/core/data/open';
import { DataType } from '../../src/core/onnx/proto';
import { isQuantLensError } from '../../src/core/errors';

/** A PNG whose pixel (x, y) is (r, g, b) = (10x, 20y, 7) written to a temp file. */
function writePng(file: string, w: number, h: number, px: (x: number, y: number) => [number, number, number] = (x, y) => [10 * x, 20 * y, 7]) {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b] = px(x, y);
    png.data.set([r, g, b, 255], (y * w + x) * 4);
  }
  fs.writeFileSync(file, PNG.sync.write(png));
}

const tmp = () => tempDir('ql-img-');

test('PNG decodes to the pixels written', () => {
  const dir = tmp();
  writePng(path.join(dir, 'a.png'), 4, 3);
  const img = decodeImage(path.join(dir, 'a.png'));
  assert.equal(img.width, 4);
  assert.equal(img.height, 3);
  assert.deepEqual(Array.from(img.data.subarray((2 * 4 + 3) * 4, (2 * 4 + 3) * 4 + 4)), [30, 40, 7, 255]);
});

test('bilinear resize: identity at the same size, exact on a linear ramp, averages when halving', () => {
  const w = 8, h = 6;
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([10 * x, 20 * y, 7, 255], (y * w + x) * 4);
  const img = { width: w, height: h, data };
  const same = resizeBilinear(img, h, w);
  assert.deepEqual(Array.from(same), Array.from(data));
  // halving a ramp: output pixel x samples input at 2x + 0.5, value 10 * (2x + 0.5)
  const half = resizeBilinear(img, 3, 4);
  for (let x = 0; x < 4; x++) assert.ok(Math.abs(half[(1 * 4 + x) * 4] - 10 * (2 * x + 0.5)) < 1e-4);
  for (let y = 0; y < 3; y++) assert.ok(Math.abs(half[(y * 4 + 1) * 4 + 1] - 20 * (2 * y + 0.5)) < 1e-4);
  // upsampling clamps at the edges
  const up = resizeBilinear(img, 12, 16);
  assert.equal(up[0], 0);
  assert.ok(Math.abs(up[(15) * 4] - 70) < 1e-4);
});

test('NCHW RGB with mean/std, NHWC BGR and gray follow the plan', () => {
  const img = { width: 2, height: 1, data: Uint8Array.from([255, 0, 51, 255, 0, 102, 255, 255]) };
  const nchw = planImages({ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 1, 2] }, { mean: [0.5], std: [0.5] }, () => img, 'src');
  assert.equal(nchw.layout, 'nchw');
  const a = imageToSample(img, nchw);
  assert.deepEqual(a.dims, [3, 1, 2]);
  const near = (x: ArrayLike<number>, y: number[]) => y.forEach((v, i) => assert.ok(Math.abs(x[i] - v) < 1e-5, `${x[i]} vs ${v}`));
  // planes R, G, B of pixels (255,0,51) and (0,102,255): (v/255 - 0.5) / 0.5
  near(a.data as Float32Array, [1, -1, -1, (102 / 255 - 0.5) / 0.5, (51 / 255 - 0.5) / 0.5, 1]);
  const nhwc = planImages({ name: 'x', elemType: DataType.FLOAT, shape: [1, 1, 2, 3] }, { layout: 'nhwc', channels: 'bgr', scale: 1 }, () => img, 'src');
  assert.equal(nhwc.layout, 'nhwc');
  const b = imageToSample(img, nhwc);
  assert.deepEqual(b.dims, [1, 2, 3]);
  near(b.data as Float32Array, [51, 0, 255, 255, 102, 0]);
  const gray = planImages({ name: 'x', elemType: DataType.FLOAT, shape: [1, 1, 1, 2] }, {}, () => img, 'src');
  assert.equal(gray.channels, 'gray');
  near(imageToSample(img, gray).data as Float32Array, [(0.299 * 255 + 0.114 * 51) / 255, (0.587 * 102 + 0.114 * 255) / 255]);
});

test('an image folder feeds a model input: resized to its HxW, batched, deterministic', async () => {
  const dir = tmp();
  writePng(path.join(dir, 'img1.png'), 16, 8);
  writePng(path.join(dir, 'img2.png'), 32, 16);
  const jpg = jpeg.encode({ width: 8, height: 4, data: Buffer.alloc(8 * 4 * 4, 128) }, 95);
  fs.writeFileSync(path.join(dir, 'img10.jpg'), jpg.data);
  const src = openDataSource(dir, [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 4, 8] }]);
  assert.equal(src.description.kind, 'images');
  assert.equal(src.description.synthetic, false);
  assert.equal(src.samples, 3);
  const batches = [];
  for await (const b of src.batches(2)) batches.push(b);
  assert.deepEqual(batches.map((b) => b.feeds.x.dims), [[2, 3, 4, 8], [1, 3, 4, 8]]);
  // img10.jpg comes last (natural order) and is uniform gray 128
  const last = batches[1].feeds.x.data as Float32Array;
  assert.ok(last.every((v) => Math.abs(v - 128 / 255) < 3 / 255));
  // img1 (16x8) downsampled by 2: red channel at x is 10 * (2x + 0.5)
  const first = batches[0].feeds.x.data as Float32Array;
  assert.ok(Math.abs(first[3] * 255 - 10 * 6.5) < 1e-3);
});

test('a corrupt image and a wrong channel count give QuantLensErrors naming the file', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nnot really'));
  const src = openDataSource(dir, [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 3, 4, 4] }]);
  await assert.rejects(async () => { for await (const _ of src.batches(1)) void _; }, (e: unknown) => isQuantLensError(e) && /broken\.png: the PNG image cannot be decoded/.test(e.message));
  assert.throws(() => openDataSource(dir, [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 5, 4, 4] }]), (e: unknown) => isQuantLensError(e) && /5 channels/.test(e.message) && e.message.includes(dir));
});

test('class folders: images in <class>/ subfolders get the class index as label', async () => {
  const dir = tmp();
  for (const [cls, n] of [['cat', 2], ['dog', 1], ['10_zebra', 1], ['2_ant', 1]] as const) {
    fs.mkdirSync(path.join(dir, cls));
    for (let k = 0; k < n; k++) writePng(path.join(dir, cls, `${k}.png`), 4, 4, () => [cls.length * 10, k, 0]);
  }
  fs.mkdirSync(path.join(dir, 'empty'));
  const src = openDataSource(dir, [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 4, 4] }], { image: { scale: 1 } });
  assert.equal(src.samples, 5);
  assert.equal(src.description.labeled, true);
  assert.match(src.description.detail!, /4 class folders \(2_ant, 10_zebra, cat, dog\)/);
  const batches = [];
  for await (const b of src.batches(8)) batches.push(b);
  assert.deepEqual(Array.from(batches[0].labels!), [0, 1, 2, 2, 3]);
  const red = batches[0].feeds.x.data as Float32Array;
  assert.deepEqual([0, 1, 2, 3, 4].map((k) => red[k * 48]), [50, 80, 30, 30, 30]);
});
