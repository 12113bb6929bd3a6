// Learning-rate schedules, the seeded PRNG, and round-half-even of the JS quantizer mirror.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate } from '../../src/core/train/optimizer';
import { Rng } from '../../src/core/train/random';
import { quantizeValue, rangeToScale, roundHalfEven } from '../../src/core/train/fake-quant';

test('cosine schedule: warmup ramps up, then decays from the base rate to the floor', () => {
  const s = { kind: 'cosine' as const, warmup: 10, minFactor: 0.1 };
  assert.equal(learningRate(1, s, 0, 110), 0.1);
  assert.equal(learningRate(1, s, 9, 110), 1);
  assert.equal(learningRate(1, s, 10, 110), 1);
  assert.ok(Math.abs(learningRate(1, s, 60, 110) - 0.55) < 1e-12, 'half way: (1 + 0.1) / 2');
  assert.ok(Math.abs(learningRate(1, s, 110, 110) - 0.1) < 1e-12);
  for (let t = 11; t < 110; t++) assert.ok(learningRate(1, s, t, 110) <= learningRate(1, s, t - 1, 110));
});

test('step schedule multiplies by gamma every N steps; constant stays', () => {
  const s = { kind: 'step' as const, every: 5, gamma: 0.5 };
  assert.deepEqual([0, 4, 5, 9, 10, 15].map((t) => learningRate(0.8, s, t, 100)), [0.8, 0.8, 0.4, 0.4, 0.2, 0.1]);
  assert.equal(learningRate(0.3, { kind: 'constant' }, 77, 100), 0.3);
});

test('seeded PRNG is reproducible and permutations are permutations', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xa = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(xa, Array.from({ length: 5 }, () => b.next()));
  assert.notDeepEqual(xa, Array.from({ length: 5 }, () => c.next()));
  const p = Array.from(new Rng(1).permutation(100));
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(p, Array.from({ length: 100 }, (_, i) => i));
});

test('round half to even, saturation and zero points as QuantizeLinear', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, -3]);
  assert.equal(quantizeValue(1000, 1, 0, -8, 7), 7);
  assert.equal(quantizeValue(-1000, 1, 0, -8, 7), -8);
  assert.equal(quantizeValue(0.25, 0.1, 10, 0, 255), 12);
  const u = rangeToScale(-1, 3, 8, false, false);
  assert.ok(Math.abs(u.scale - 4 / 255) < 1e-12);
  assert.equal(u.zeroPoint, 64);
  const s = rangeToScale(-2, 1, 4, true, true);
  assert.equal(s.scale, 2 / 7);
  assert.equal(s.zeroPoint, 0);
});

test('the default learning rate follows the weight formats: 1e-6 when all quantized weights have 8 bits or more, else 1e-5', async () => {
  const { defaultLearningRate } = await import('../../src/core/train/qat');
  assert.equal(defaultLearningRate([{ role: 'weight', bits: 8 }, { role: 'activation', bits: 8 }]), 1e-6);
  assert.equal(defaultLearningRate([{ role: 'weight', bits: 8 }, { role: 'weight', bits: 4 }]), 1e-5);
  assert.equal(defaultLearningRate([{ role: 'activation', bits: 8 }]), 1e-5); // nothing quantized on the weights: a float fine-tune
  assert.equal(defaultLearningRate([]), 1e-5);
});
