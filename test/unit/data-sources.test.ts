import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { encodeNpy } from '../../src/core/data/npy';
import { openDataSource } from '../../src/core/data/open';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { mnistDataset } from '../../src/core/data/mnist';
import { ChunkedDataSource, DataSource, KEPT_CHUNK_BYTES } from '../../src/core/data/source';
import { DataType, encodeTensorProto } from '../../src/core/onnx/proto';
import { tensorToProto, Tensor } from '../../src/core/onnx/tensor-data';
import { isQuantLensError } from '../../src/core/errors';

const tmp = () => tempDir('ql-data-');
const f32 = (dims: number[], f: (i: number) => number): Tensor => {
  const n = dims.reduce((a, b) => a * b, 1);
  return { type: DataType.FLOAT, dims, data: Float32Array.from({ length: n }, (_, i) => f(i)) };
};
async function collect(src: DataSource, bs: number) {
  const out = [];
  for await (const b of src.batches(bs)) out.push(b);
  return out;
}
function qlError(pattern: RegExp, file?: string) {
  return (e: unknown) => {
    assert.ok(isQuantLensError(e), `expected QuantLensError, got ${e}`);
    assert.match(e.message, pattern);
    if (file) assert.ok(e.message.includes(file), `message should name ${file}: ${e.message}`);
    return true;
  };
}
const X = { name: 'x', elemType: DataType.FLOAT, shape: ['N', 2, 3] as (number | string)[] };

test('synthetic data is deterministic, independent of batch size, and says synthetic', async () => {
  const inputs = [X, { name: 'ids', elemType: DataType.INT64, shape: ['N', 4] }];
  const a = syntheticDataSource(inputs, { samples: 5, seed: 7 });
  assert.equal(a.description.synthetic, true);
  assert.equal(a.description.kind, 'synthetic');
  assert.equal(a.samples, 5);
  const one = await collect(a, 5);
  const two = await collect(syntheticDataSource(inputs, { samples: 5, seed: 7 }), 2);
  assert.deepEqual(two.map((b) => b.feeds.x.dims), [[2, 2, 3], [2, 2, 3], [1, 2, 3]]);
  const joined = two.flatMap((b) => Array.from(b.feeds.x.data as Float32Array));
  assert.deepEqual(joined, Array.from(one[0].feeds.x.data as Float32Array));
  assert.ok(one[0].feeds.ids.data instanceof BigInt64Array);
  assert.ok(Array.from(one[0].feeds.ids.data as BigInt64Array).every((v) => v >= 0n && v < 10n));
  const other = await collect(syntheticDataSource(inputs, { samples: 5, seed: 8 }), 5);
  assert.notDeepEqual(Array.from(other[0].feeds.x.data as Float32Array), Array.from(one[0].feeds.x.data as Float32Array));
});

test('synthetic normal data has mean ~0 and std ~1; symbolic dims use the default or the given size', async () => {
  const big = syntheticDataSource([{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 'C', 100] }], { samples: 10, dims: { C: 20 } });
  const [b] = await collect(big, 10);
  assert.deepEqual(b.feeds.x.dims, [10, 20, 100]);
  const v = b.feeds.x.data as Float32Array;
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.05, `std ${std}`);
  const [u] = await collect(syntheticDataSource([{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 'W'] }], { samples: 1, distribution: 'uniform' }), 1);
  assert.deepEqual(u.feeds.x.dims, [1, 64]);
  assert.ok((u.feeds.x.data as Float32Array).every((x) => x >= 0 && x < 1));
});

test('a fixed batch dim forces the batch size; a partial last batch is dropped; too few samples is an error', async () => {
  const src = syntheticDataSource([{ name: 'x', elemType: DataType.FLOAT, shape: [1, 3] }], { samples: 3 });
  assert.deepEqual((await collect(src, 8)).map((b) => b.feeds.x.dims), [[1, 3], [1, 3], [1, 3]]);
  const four = syntheticDataSource([{ name: 'x', elemType: DataType.FLOAT, shape: [4, 3] }], { samples: 10 });
  assert.equal(four.samples, 8);
  assert.deepEqual((await collect(four, 2)).map((b) => b.feeds.x.dims), [[4, 3], [4, 3]]);
  assert.throws(() => syntheticDataSource([{ name: 'x', elemType: DataType.FLOAT, shape: [4, 3] }], { samples: 3 }), qlError(/fixed batch size of 4 but the data gives only 3 samples/));
});

test('npy folder: single and stacked files in natural order, labels, sample limit', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 's2.npy'), encodeNpy(f32([2, 3], (i) => 200 + i)));
  fs.writeFileSync(path.join(dir, 's10.npy'), encodeNpy(f32([2, 2, 3], (i) => 1000 + i)));
  fs.writeFileSync(path.join(dir, 's1.npy'), encodeNpy({ type: DataType.DOUBLE, dims: [2, 3], data: Float64Array.from({ length: 6 }, (_, i) => 100 + i) }));
  fs.writeFileSync(path.join(dir, 'labels.npy'), encodeNpy({ type: DataType.INT64, dims: [4], data: BigInt64Array.from([3n, 1n, 4n, 1n]) }));
  const src = openDataSource(dir, [X]);
  assert.equal(src.description.kind, 'npy');
  assert.equal(src.description.synthetic, false);
  assert.equal(src.description.labeled, true);
  assert.equal(src.samples, 4);
  const bs = await collect(src, 3);
  assert.deepEqual(bs.map((b) => b.feeds.x.dims), [[3, 2, 3], [1, 2, 3]]);
  const firsts = bs.flatMap((b) => { const d = b.feeds.x.data as Float32Array; return Array.from({ length: b.feeds.x.dims[0] }, (_, k) => d[k * 6]); });
  assert.deepEqual(firsts, [100, 200, 1000, 1006]);
  assert.deepEqual(bs.flatMap((b) => Array.from(b.labels!)), [3, 1, 4, 1]);
  const limited = openDataSource(dir, [X], { samples: 2 });
  assert.equal(limited.samples, 2);
  assert.deepEqual((await collect(limited, 8)).map((b) => b.feeds.x.dims[0]), [2]);
});

test('npy folder with several inputs: one subfolder per input name', async () => {
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'a'));
  fs.mkdirSync(path.join(dir, 'b_0'));
  fs.writeFileSync(path.join(dir, 'a', '0.npy'), encodeNpy(f32([2, 2], (i) => i)));
  fs.writeFileSync(path.join(dir, 'b_0', '0.npy'), encodeNpy(f32([2, 1], (i) => -i)));
  const src = openDataSource(dir, [{ name: 'a', elemType: DataType.FLOAT, shape: ['N', 2] }, { name: 'b:0', elemType: DataType.FLOAT, shape: ['N', 1] }]);
  const [b] = await collect(src, 4);
  assert.deepEqual(b.feeds.a.dims, [2, 2]);
  assert.deepEqual(Array.from(b.feeds['b:0'].data as Float32Array), [-0, -1]);
  fs.rmSync(path.join(dir, 'b_0'), { recursive: true });
  assert.throws(() => openDataSource(dir, [{ name: 'a', elemType: DataType.FLOAT, shape: ['N', 2] }, { name: 'b:0', elemType: DataType.FLOAT, shape: ['N', 1] }]), qlError(/'b_0\/' is missing/, dir));
});

test('ONNX test-data folders (test_data_set_k/input_0.pb) are read', async () => {
  const dir = tmp();
  for (let k = 0; k < 3; k++) {
    const d = path.join(dir, `test_data_set_${k}`);
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'input_0.pb'), encodeTensorProto(tensorToProto('x', f32([1, 2, 3], (i) => k * 10 + i))));
    fs.writeFileSync(path.join(d, 'output_0.pb'), encodeTensorProto(tensorToProto('y', f32([1], () => 0))));
  }
  const src = openDataSource(dir, [X]);
  assert.equal(src.description.kind, 'pb');
  const [b] = await collect(src, 3);
  const d = b.feeds.x.data as Float32Array;
  assert.deepEqual([d[0], d[6], d[12]], [0, 10, 20]);
});

test('data errors: missing folder, empty folder, wrong shape, label count, NaN, corrupt file, wrong type', async () => {
  const dir = tmp();
  assert.throws(() => openDataSource(path.join(dir, 'nope'), [X]), qlError(/does not exist/, 'nope'));
  assert.throws(() => openDataSource(dir, [X]), qlError(/data folder is empty/, dir));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
  assert.throws(() => openDataSource(dir, [X]), qlError(/holds no \.npy files/, dir));
  fs.writeFileSync(path.join(dir, 'a.npy'), encodeNpy(f32([2, 4], () => 0)));
  assert.throws(() => openDataSource(dir, [X]), qlError(/shape \(2, 4\) does not fit model input 'x' of shape \(N, 2, 3\)/, 'a.npy'));
  fs.writeFileSync(path.join(dir, 'a.npy'), encodeNpy(f32([2, 3], () => 0)));
  fs.writeFileSync(path.join(dir, 'labels.npy'), encodeNpy({ type: DataType.INT32, dims: [2], data: Int32Array.from([1, 2]) }));
  assert.throws(() => openDataSource(dir, [X]), qlError(/2 labels for 1 samples/, dir));
  fs.writeFileSync(path.join(dir, 'labels.npy'), encodeNpy(f32([1], () => 1)));
  assert.throws(() => openDataSource(dir, [X]), qlError(/labels must be integers/, 'labels.npy'));
  fs.rmSync(path.join(dir, 'labels.npy'));
  fs.writeFileSync(path.join(dir, 'b.npy'), encodeNpy(f32([2, 3], (i) => (i === 4 ? NaN : 0))));
  const src = openDataSource(dir, [X]);
  await assert.rejects(() => collect(src, 1), qlError(/NaN \(at flat index 4\)/, 'b.npy'));
  fs.writeFileSync(path.join(dir, 'b.npy'), encodeNpy(f32([2, 3], (i) => (i === 1 ? Infinity : 0))));
  await assert.rejects(() => collect(openDataSource(dir, [X]), 1), qlError(/infinite/, 'b.npy'));
  fs.writeFileSync(path.join(dir, 'b.npy'), Buffer.from('garbage bytes'));
  assert.throws(() => openDataSource(dir, [X]), qlError(/not a NumPy \.npy file/, 'b.npy'));
  fs.rmSync(path.join(dir, 'b.npy'));
  fs.writeFileSync(path.join(dir, 'a.npy'), encodeNpy(f32([2, 3], () => 0.5)));
  await assert.rejects(() => collect(openDataSource(dir, [{ name: 'x', elemType: DataType.INT64, shape: ['N', 2, 3] }]), 1), qlError(/element type float cannot be fed to model input 'x' of type int64/, 'a.npy'));
});

test('MNIST: deterministic disjoint splits of float [N,1,28,28] in [0,1] with labels', () => {
  const a = mnistDataset({ train: 200, test: 50, seed: 1 });
  const b = mnistDataset({ train: 100, test: 50, seed: 1 });
  assert.deepEqual(a.train.dims, [200, 1, 28, 28]);
  assert.equal(a.train.images.length, 200 * 784);
  assert.ok(a.train.images.every((v) => v >= 0 && v <= 1));
  assert.ok(a.train.images.some((v) => v > 0.5));
  assert.deepEqual(Array.from(a.test.labels), Array.from(b.test.labels));
  assert.deepEqual(Array.from(a.train.labels.subarray(0, 100)), Array.from(b.train.labels));
  assert.ok(new Set(a.train.labels).size === 10);
  // disjoint: no test image equals a training image
  const key = (imgs: Float32Array, k: number) => imgs.subarray(k * 784, (k + 1) * 784).join(',');
  const trainKeys = new Set(Array.from({ length: 200 }, (_, k) => key(a.train.images, k)));
  assert.ok(Array.from({ length: 50 }, (_, k) => key(a.test.images, k)).every((k) => !trainKeys.has(k)));
  const c = mnistDataset({ train: 100, seed: 2 });
  assert.notDeepEqual(Array.from(c.train.labels), Array.from(b.train.labels));
});

test('MNIST as a data source for a [N,784] model input', async () => {
  const src = openDataSource('mnist', [{ name: 'img', elemType: DataType.FLOAT, shape: ['N', 784] }], { samples: 20 });
  assert.equal(src.description.kind, 'mnist');
  assert.equal(src.description.synthetic, false);
  const bs = await collect(src, 8);
  assert.deepEqual(bs.map((b) => b.feeds.img.dims), [[8, 784], [8, 784], [4, 784]]);
  assert.equal(bs.reduce((s, b) => s + b.labels!.length, 0), 20);
});

test('a source keeps the chunks it loaded (up to KEPT_CHUNK_BYTES) for its next passes; later chunks load again; batches are fresh copies', async () => {
  const per = 1 << 20; // 4 MiB a sample as float32
  const count = Math.ceil(KEPT_CHUNK_BYTES / (per * 4)) + 2;
  const loads = new Array<number>(count).fill(0);
  const chunks = Array.from({ length: count }, (_, c) => ({
    file: `chunk${c}`, count: 1, sampleDims: [per],
    load: () => { loads[c]++; return f32([1, per], (i) => c + i / per); },
  }));
  const src = new ChunkedDataSource({ about: { kind: 'npy', synthetic: false, source: 'test' }, chunks: new Map([['x', chunks]]) }, [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', per] }]);
  const first = await collect(src, 3);
  const kept = Math.floor(KEPT_CHUNK_BYTES / (per * 4));
  first[0].feeds.x.data[0] = -1; // a consumer writing into a batch must not change the next pass
  const second = await collect(src, 3);
  assert.deepEqual(loads, loads.map((_, c) => (c < kept ? 1 : 2)));
  assert.equal(second[0].feeds.x.data[0], 0);
  for (const [b, batch] of second.entries()) for (let k = 0; k < batch.feeds.x.dims[0]; k++) assert.equal(batch.feeds.x.data[k * per + 5], b * 3 + k + 5 / per);
});
