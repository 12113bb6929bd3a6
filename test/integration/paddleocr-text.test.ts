// PaddleOCR quantized on real-looking inputs: text lines and pages rendered by Debian's Chromium (not N(0,1) noise),
// calibrated and exported by quantizeModel, then read back: the rec model must still read the same strings, the
// direction classifier must agree, the det map must overlap. Needs /usr/bin/chromium (scripts/e2e-setup.sh): fails without.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { renderTextImages, TextImages } from '../fixtures/text-images';
import {
  binaryIoU, characterErrorRate, ctcAlphabet, ctcGreedyDecode, positiveShare, runOcrModel, stringAgreement, top1Agreement,
} from '../fixtures/paddleocr-eval';

let images: Promise<TextImages> | undefined;
/** Renders once (Chromium, ~4 s); a missing Chromium fails every test with the renderer's message. */
const rendered = () => (images ??= renderTextImages());
const workDir = async () => {
  const dir = path.join((await rendered()).dir, 'models');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};
after(async () => {
  const r = await images?.catch(() => undefined);
  if (r) fs.rmSync(r.dir, { recursive: true, force: true });
});

test('rec (int7 weights, uint8 activations): float reads the rendered lines, quantized reads the same strings', async () => {
  const imgs = await rendered();
  const r = await runOcrModel('rec', imgs.linesDir, 'int7/per-channel', await workDir());
  const alphabet = ctcAlphabet();
  assert.equal(alphabet.length, r.float.dims[2], 'blank + dictionary + space = the rec output width');
  const truth = imgs.lines.map((l) => l.text);
  const [f, q, x] = [r.float, r.fused, r.exact].map((t) => ctcGreedyDecode(t, alphabet));
  const out = 'softmax_11.tmp_0';
  console.log(`rec int7: SQNR fused ${r.quantize.outputSqnrDb[out]} dB, exact ${r.quantize.exactSqnrDb[out]} dB; float CER ${characterErrorRate(f, truth).toFixed(3)}; strings ${JSON.stringify(f)} -> ${JSON.stringify(q)}`);
  assert.equal(r.quantize.checkSamples, truth.length);
  // the float model reads the rendered text (measured: CER 0 with spaces ignored): the images and preprocessing are right
  assert.ok(characterErrorRate(f, truth) <= 0.1, `float CER ${characterErrorRate(f, truth)}: ${JSON.stringify(f)}`);
  // measured: 8/8 lines identical (spaces ignored), fused and exact; SQNR of the probabilities 9.1 dB
  assert.ok(stringAgreement(q, f) >= 6 / 8, `fused quantized strings ${JSON.stringify(q)} vs float ${JSON.stringify(f)}`);
  assert.ok(stringAgreement(x, f) >= 6 / 8, `exact quantized strings ${JSON.stringify(x)} vs float ${JSON.stringify(f)}`);
  assert.ok(characterErrorRate(q, truth) <= 0.1);
  assert.ok(r.quantize.outputSqnrDb[out] > 6, `fused SQNR ${r.quantize.outputSqnrDb[out]} dB`);
  assert.ok(r.quantize.exactSqnrDb[out] > 6, `exact SQNR ${r.quantize.exactSqnrDb[out]} dB`);
});

test('cls (int7 weights): upright vs 180-degree lines, quantized agrees with float', async () => {
  const imgs = await rendered();
  const r = await runOcrModel('cls', imgs.clsDir, 'int7/per-channel', await workDir());
  const out = 'softmax_0.tmp_0';
  const acc = r.quantize.accuracy?.[out];
  console.log(`cls int7: SQNR fused ${r.quantize.outputSqnrDb[out]} dB, exact ${r.quantize.exactSqnrDb[out]} dB; accuracy ${JSON.stringify(acc)}; top-1 agreement ${top1Agreement(r.float, r.fused)} / ${top1Agreement(r.float, r.exact)}`);
  assert.deepEqual(r.float.dims, [16, 2]);
  assert.deepEqual([...r.labels!], [...Array(8).fill(0), ...Array(8).fill(1)], 'class folders 0/ and 180/ label the samples');
  // measured: float and quantized 16/16 correct, agreement 16/16, SQNR 52 dB
  assert.ok(acc && acc.float >= 14 / 16, `float accuracy ${JSON.stringify(acc)}`);
  assert.ok(acc.quantized >= 14 / 16, `quantized accuracy ${JSON.stringify(acc)}`);
  assert.ok(top1Agreement(r.float, r.fused) >= 15 / 16);
  assert.ok(top1Agreement(r.float, r.exact) >= 15 / 16);
  assert.ok(r.quantize.outputSqnrDb[out] > 35, `fused SQNR ${r.quantize.outputSqnrDb[out]} dB`);
  assert.ok(r.quantize.exactSqnrDb[out] > 35, `exact SQNR ${r.quantize.exactSqnrDb[out]} dB`);
});

test('det (int8 weights, 320x320 pages): the binarized text maps overlap', async () => {
  const imgs = await rendered();
  const r = await runOcrModel('det', imgs.pagesDir, 'int8/per-channel', await workDir());
  const out = 'sigmoid_0.tmp_0';
  const [iouFused, iouExact] = [binaryIoU(r.float, r.fused), binaryIoU(r.float, r.exact)];
  console.log(`det int8: SQNR fused ${r.quantize.outputSqnrDb[out]} dB, exact ${r.quantize.exactSqnrDb[out]} dB; text area ${positiveShare(r.float).toFixed(3)}; IoU(>0.3) ${iouFused.toFixed(3)} / ${iouExact.toFixed(3)}`);
  assert.deepEqual(r.float.dims, [2, 1, 320, 320]);
  // the float map marks the text (measured 6% of the page), not nothing and not everything
  const area = positiveShare(r.float);
  assert.ok(area > 0.01 && area < 0.3, `float text area ${area}`);
  // measured: IoU 0.817 fused and exact, SQNR 7.3 dB (min-max calibration on 2 pages)
  assert.ok(iouFused >= 0.65, `IoU fused ${iouFused}`);
  assert.ok(iouExact >= 0.65, `IoU exact ${iouExact}`);
  assert.ok(r.quantize.exactSqnrDb[out] > 4, `exact SQNR ${r.quantize.exactSqnrDb[out]} dB`);
});
