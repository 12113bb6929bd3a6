// QAT against PTQ: a QAT export worse than plain PTQ is reported as such, with both figures and the trained formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { versusPtq, versusPtqMessage } from '../../src/core/train/versus-ptq';

const formats = [{ weights: 'int4/per-channel', activations: 'uint8', layers: 3 }];

test('a QAT result below PTQ is flagged and the message says so with both numbers', () => {
  const v = versusPtq({ sqnrDb: 31.234, top1Agreement: 0.97 }, { sqnrDb: 29.5, top1Agreement: 0.98 }, 64, false, formats);
  assert.equal(v.qatWorse, true);
  assert.deepEqual([v.ptqSqnrDb, v.qatSqnrDb], [31.23, 29.5]);
  const m = versusPtqMessage(v);
  assert.match(m, /^QAT came out WORSE than plain PTQ/);
  assert.match(m, /64 real samples: QAT 29\.50 dB, top-1 agreement 98\.0%, plain PTQ of the same recipe 31\.23 dB/);
  assert.match(m, /int4\/per-channel weights \/ uint8 activations \(3 layers\)/);
});

test('lower top-1 agreement also counts as worse; a better QAT result is stated without a warning', () => {
  assert.equal(versusPtq({ sqnrDb: 20, top1Agreement: 0.9 }, { sqnrDb: 25, top1Agreement: 0.85 }, 8, true, formats).qatWorse, true);
  const better = versusPtq({ sqnrDb: 20 }, { sqnrDb: 25 }, 8, true, formats);
  assert.equal(better.qatWorse, false);
  assert.doesNotMatch(versusPtqMessage(better), /WORSE/);
  assert.match(versusPtqMessage(better), /8 synthetic samples/);
});
