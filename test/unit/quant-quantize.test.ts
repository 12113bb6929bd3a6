// Hand-computed quantization cases: rounding ties, saturation, zero points, every bit width, per-channel and blocked layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mustParseFormat, INT_BITS } from '../../src/shared/formats';
import { activationParams, fitRange, intRange, QuantParams, scaleDims, weightLayout, weightParams } from '../../src/core/quant/qparams';
import { dequantize, fakeQuantize, fakeQuantizeFloat, float8ToFloat, floatToFloat8, quantize, quantizeWeight, roundHalfEven } from '../../src/core/quant/quantize';

const int = (bits: number, signed: boolean, symmetric = signed) => ({ kind: 'int' as const, bits, signed, symmetric, granularity: { kind: 'tensor' as const } });
const p = (scale: number, zp: number, bits = 8, signed = true): QuantParams => ({ format: int(bits, signed), scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), ...intRange(bits, signed) });

test('roundHalfEven rounds ties to even, others to nearest', () => {
  const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2], [0.49999997, 0], [3.7, 4], [-3.7, -4], [-3.2, -3], [1e9 + 0.5, 1e9]];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x) + 0, want, `round(${x})`);
});

test('quantize int8, scale 1, zero point 0: ties to even and saturation at -128/127', () => {
  const x = Float32Array.from([0.5, 1.5, 2.5, -0.5, -2.5, 126.5, 127.5, 200, -127.5, -128.5, -200]);
  assert.deepEqual([...quantize(x, [x.length], p(1, 0))], [0, 2, 2, 0, -2, 126, 127, 127, -128, -128, -128]);
});

test('quantize uint8 with zero point 128 and scale 0.5', () => {
  const x = Float32Array.from([0, 0.25, 0.75, -64.25, -70, 63.75, 63.5, 100]);
  // x/0.5 = 0, 0.5, 1.5, -128.5, -140, 127.5, 127, 200 → round even → 0, 0, 2, -128, -140, 128, 127, 200 → +128, clamp [0, 255]
  assert.deepEqual([...quantize(x, [x.length], p(0.5, 128, 8, false))], [128, 128, 130, 0, 0, 255, 255, 255]);
  assert.deepEqual([...dequantize(Int32Array.from([0, 128, 255]), [3], p(0.5, 128, 8, false))], [-64, 0, 63.5]);
});

test('x / scale is computed in float32 before rounding (as ONNX Runtime)', () => {
  // 0.3 / 0.2 in float64 is 1.4999999999999998 (rounds to 1); in float32 it is exactly 1.5 (rounds to even: 2).
  const x = Float32Array.of(0.3);
  const params = p(0.2, 0);
  assert.equal(Math.fround(Math.fround(0.3) / Math.fround(0.2)), 1.5);
  assert.equal(quantize(x, [1], params)[0], 2);
});

test('intRange and fitRange for every bit width 2..16, signed and unsigned', () => {
  for (const bits of INT_BITS) {
    assert.deepEqual(intRange(bits, true), { qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 });
    assert.deepEqual(intRange(bits, false), { qmin: 0, qmax: 2 ** bits - 1 });
    assert.deepEqual(fitRange(int(bits, true, true)), { qmin: -(2 ** (bits - 1) - 1), qmax: 2 ** (bits - 1) - 1 });
    assert.deepEqual(fitRange(int(bits, true, false)), intRange(bits, true));
  }
  assert.deepEqual(intRange(2, true), { qmin: -2, qmax: 1 });
  assert.deepEqual(intRange(16, false), { qmin: 0, qmax: 65535 });
  assert.throws(() => intRange(1, true));
  assert.throws(() => intRange(17, false));
});

test('activationParams: hand-computed scales and zero points', () => {
  const i8 = activationParams(-1, 2, mustParseFormat('int8'));
  assert.equal(i8.scale[0], Math.fround(4 / 254));
  assert.equal(i8.zeroPoint[0], 0);
  const u8 = activationParams(-1, 2, mustParseFormat('uint8'));
  assert.equal(u8.scale[0], Math.fround(3 / 255));
  assert.equal(u8.zeroPoint[0], 85);
  const relu = activationParams(0.5, 2, mustParseFormat('uint8')); // range widened to include 0
  assert.equal(relu.scale[0], Math.fround(2 / 255));
  assert.equal(relu.zeroPoint[0], 0);
  const neg = activationParams(-3, -1, mustParseFormat('uint8'));
  assert.equal(neg.zeroPoint[0], 255);
  const u8sym = activationParams(-1, 2, mustParseFormat('uint8/sym')); // ORT convention: mid-range zero point
  assert.equal(u8sym.scale[0], Math.fround(4 / 255));
  assert.equal(u8sym.zeroPoint[0], 128);
  assert.equal(activationParams(-1, 1, mustParseFormat('uint4/sym')).zeroPoint[0], 8);
  assert.equal(activationParams(-1, 1, mustParseFormat('int4')).scale[0], Math.fround(1 / 7));
  const zero = activationParams(0, 0, mustParseFormat('int8'));
  assert.equal(zero.scale[0], 1);
  assert.equal(zero.zeroPoint[0], 0);
  assert.deepEqual([zero.qmin, zero.qmax], [-128, 127]);
});

test('every bit width: range ends map to the fit range ends and 0 is exact', () => {
  for (const bits of INT_BITS) {
    for (const [signed, symmetric] of [[true, true], [true, false], [false, false], [false, true]] as const) {
      const f = int(bits, signed, symmetric);
      const params = activationParams(-0.75, 2.25, f);
      const fit = fitRange(f);
      const q = quantize(Float32Array.of(-0.75, 2.25, 0), [3], params);
      const label = `${signed ? '' : 'u'}int${bits}${symmetric ? '/sym' : '/asym'}`;
      if (symmetric) {
        assert.equal(q[1], signed ? fit.qmax : fit.qmax, label);
        assert.ok(q[0] >= fit.qmin, label);
      } else {
        assert.equal(q[0], fit.qmin, label);
        assert.equal(q[1], fit.qmax, label);
      }
      assert.equal(dequantize(q, [3], params)[2], 0, `${label}: 0 is exactly representable`);
      assert.ok(q.every((v) => v >= params.qmin && v <= params.qmax), label);
    }
  }
});

test('per-channel layout: one scale per index along the axis', () => {
  // dims [2, 3], channels on axis 1
  const w = Float32Array.from([1, -2, 4, -1, 1, 2]);
  const params = weightParams(w, [2, 3], mustParseFormat('int8/per-channel'), 1, 0);
  assert.equal(params.axis, 1);
  assert.deepEqual([...params.scale], [1, 2, 4].map((a) => Math.fround(a / 127)));
  assert.deepEqual([...quantize(w, [2, 3], params)], [127, -127, 127, -127, 64, 64]);
  // a format axis overrides the channel axis
  const axis0 = weightParams(w, [2, 3], mustParseFormat('int8/per-channel:0'), 1, 0);
  assert.deepEqual([...axis0.scale], [4, 2].map((a) => Math.fround(a / 127)));
});

test('blocked layout: scale shape is the input shape with the block axis divided by the block size', () => {
  // dims [2, 5], blocks of 2 along axis 1 → scale shape [2, 3]
  const w = Float32Array.from([1, -7, 2, 3.5, 0.7, 14, 1, 0, 0, -0.7]); // 1 / (14 / 7) = 0.5 rounds to 0
  const params = weightParams(w, [2, 5], mustParseFormat('int4/block:2'), 0, 1);
  assert.deepEqual(scaleDims([2, 5], params), [2, 3]);
  assert.deepEqual([...params.scale], [7, 3.5, 0.7, 14, 0, 0.7].map((a) => (a === 0 ? 1 : Math.fround(a / 7))));
  assert.deepEqual([...quantize(w, [2, 5], params)], [1, -7, 4, 7, 7, 7, 0, 0, 0, -7]);
  // blocks along axis 0 with an inner dimension: dims [3, 2], block 2 → scale shape [2, 2]
  const v = Float32Array.from([1, 10, -2, 20, 3, 30]);
  const b0 = weightParams(v, [3, 2], mustParseFormat('int8/block:2'), 1, 0);
  assert.deepEqual(scaleDims([3, 2], b0), [2, 2]);
  assert.deepEqual([...b0.scale], [2, 20, 3, 30].map((a) => Math.fround(a / 127)));
  assert.deepEqual([...quantize(v, [3, 2], b0)], [64, 64, -127, 127, 127, 127]);
});

test('quantize rejects parameters that do not fit the layout', () => {
  const params = weightParams(new Float32Array(6), [2, 3], mustParseFormat('int8/per-channel'), 1, 0);
  assert.throws(() => quantize(new Float32Array(6), [3, 2], params), /scales/);
  assert.throws(() => quantize(new Float32Array(5), [2, 3], params), /elements/);
});

test('fakeQuantize equals dequantize(quantize(x))', () => {
  const x = Float32Array.from({ length: 200 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 9)));
  const params = weightParams(x, [10, 20], mustParseFormat('uint6/block:8'), 0, 1);
  assert.deepEqual(fakeQuantize(x, [10, 20], params), dequantize(quantize(x, [10, 20], params), [10, 20], params));
});

test('float16 / bfloat16 / float8 round trips round to nearest even and saturate float8', () => {
  const h = fakeQuantizeFloat(Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 1e-8, -2.5]), 'float16');
  assert.deepEqual([...h], [1, 1 + 2 ** -9, Infinity, 0, -2.5]);
  const b = fakeQuantizeFloat(Float32Array.from([1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.140625]), 'bfloat16');
  assert.deepEqual([...b], [1, 1 + 2 ** -6, 3.140625]);
  const e4 = fakeQuantizeFloat(Float32Array.from([500, -1000, 0.001, 1.0625, 1.1875, 300]), 'float8e4m3fn');
  assert.deepEqual([...e4], [448, -448, 2 ** -9, 1, 1.25, 288]);
  const e5 = fakeQuantizeFloat(Float32Array.from([1.1, 1e6, 1.125]), 'float8e5m2');
  assert.deepEqual([...e5], [1, 57344, 1]);
  for (let bits = 0; bits < 256; bits++) {
    const v = float8ToFloat(bits, 'float8e4m3fn');
    if (!Number.isNaN(v)) assert.equal(floatToFloat8(v, 'float8e4m3fn'), bits === 0x80 ? 0x80 : bits, `e4m3 code ${bits}`);
    const u = float8ToFloat(bits, 'float8e5m2');
    if (Number.isFinite(u)) assert.equal(floatToFloat8(u, 'float8e5m2'), bits, `e5m2 code ${bits}`);
  }
});

test('quantizeWeight handles every kind of format', () => {
  const w = Float32Array.from([0.1, -0.25, 1.3, 2 ** -12]);
  assert.equal(quantizeWeight(w, [4], mustParseFormat('float'), 0, 0).fake, w);
  assert.deepEqual(quantizeWeight(w, [4], mustParseFormat('float16'), 0, 0).fake, fakeQuantizeFloat(w, 'float16'));
  assert.deepEqual(quantizeWeight(w, [4], mustParseFormat('bfloat16'), 0, 0).fake, fakeQuantizeFloat(w, 'bfloat16'));
  assert.deepEqual(quantizeWeight(w, [4], mustParseFormat('float8e4m3'), 0, 0).fake, fakeQuantizeFloat(w, 'float8e4m3fn'));
  const q = quantizeWeight(w, [2, 2], mustParseFormat('int4/per-channel'), 0, 1);
  assert.ok(q.params);
  assert.deepEqual(q.fake, fakeQuantize(w, [2, 2], q.params!));
  assert.notDeepEqual(q.fake, w);
});

test('blocked convolution weights are quantized as the [O, I * k * k] view (depthwise: one block per channel)', () => {
  const f = mustParseFormat('int4/block:16');
  assert.deepEqual(weightLayout([8, 1, 3, 3], f, 0, 1), { dims: [8, 9], channelAxis: 0, reductionAxis: 1, reshaped: true });
  assert.deepEqual(weightLayout([8, 4, 3, 3], mustParseFormat('int4/per-channel'), 0, 1).reshaped, false);
  assert.deepEqual(weightLayout([8, 4, 3, 3], mustParseFormat('int4/block:16/asym'), 1, 0).reshaped, false, 'ConvTranspose keeps its layout');
  const w = Float32Array.from({ length: 72 }, (_, i) => Math.sin(i) * (1 + (i % 9)));
  const q = quantizeWeight(w, [8, 1, 3, 3], f, 0, 1);
  assert.equal(q.params!.scale.length, 8, 'one scale per depthwise channel, not one per weight');
  assert.deepEqual(q.fake, fakeQuantize(w, [8, 9], q.params!));
});
