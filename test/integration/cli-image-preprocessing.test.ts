// The image preprocessing behind `--data <images>`: the bilinear resize equals ONNX's Resize (linear, half_pixel) in ORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { resizeBilinear } from '../../src/core/data/images';
import { mulberry32 } from '../../src/core/data/synthetic';

test('resizeBilinear matches ONNX Runtime Resize(mode=linear, half_pixel) when shrinking, growing and both', async () => {
  for (const [h, w, H, W] of [[13, 17, 5, 9], [6, 8, 20, 31], [48, 100, 48, 192], [37, 29, 11, 11]]) {
    const r = mulberry32(h * 1000 + W);
    const rgba = Uint8Array.from({ length: h * w * 4 }, () => Math.floor(r() * 256));
    const planes = new Float32Array(4 * h * w);
    for (let i = 0; i < h * w; i++) for (let c = 0; c < 4; c++) planes[c * h * w + i] = rgba[i * 4 + c];
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 4, h, w]);
    const sizes = b.constInt64('sizes', [1, 4, H, W]);
    b.output(b.node('Resize', [x, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, { output: 'y' }));
    const s = await ortBackend().createSession(encodeModelProto(b.model(13)), { threads: 1 });
    try {
      const ref = (await s.run({ x: { type: DataType.FLOAT, dims: [1, 4, h, w], data: planes } })).y.data as Float32Array;
      const mine = resizeBilinear({ width: w, height: h, data: rgba }, H, W);
      let maxDiff = 0;
      for (let i = 0; i < H * W; i++) for (let c = 0; c < 4; c++) maxDiff = Math.max(maxDiff, Math.abs(mine[i * 4 + c] - ref[c * H * W + i]));
      assert.ok(maxDiff < 0.01, `${h}x${w} -> ${H}x${W}: max difference ${maxDiff} (pixel values 0..255)`);
    } finally {
      await s.release();
    }
  }
});
