/**
 * PaddleOCR W8A8 on real-looking inputs: text rendered by Chromium (test/fixtures/text-images.ts). Per model (det, rec,
 * cls) and weight format (int8, int7 per-channel; uint8 activations, min-max calibration on the same images): output
 * SQNR vs float with ONNX Runtime's fused kernels and exact Q/DQ, plus the task metric (rec: greedy CTC strings, det:
 * IoU of the >0.3 maps, cls: top-1 agreement / accuracy on upright vs 180-degree lines).
 * Run: `npx tsx bench/paddleocr-sqnr.ts`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderTextImages } from '../test/fixtures/text-images';
import {
  binaryIoU, characterErrorRate, ctcAlphabet, ctcGreedyDecode, OcrKind, positiveShare, runOcrModel, stringAgreement, top1Agreement,
} from '../test/fixtures/paddleocr-eval';

const WEIGHTS = ['int8/per-channel', 'int7/per-channel'];
/** Extra det rows: is det's loss in the activations (uint8, min-max) or the weights? */
const DET_EXTRA: { weights: string; calibration?: string }[] = [{ weights: 'int8/per-channel', calibration: 'percentile:99.99' }, { weights: 'int16/per-channel' }];
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const db = (v: number | undefined) => (v === undefined ? '-' : v === Infinity ? 'inf' : v.toFixed(2));

async function main(): Promise<void> {
  const t0 = Date.now();
  const imgs = await renderTextImages();
  const work = path.join(imgs.dir, 'models');
  fs.mkdirSync(work);
  const alphabet = ctcAlphabet();
  const truth = imgs.lines.map((l) => l.text);
  const rows: string[][] = [['model', 'weights', 'samples', 'SQNR fused', 'SQNR exact', 'task metric (fused / exact)']];
  const recStrings: { weights: string; fused: string[]; exact: string[] }[] = [];
  let recFloat: string[] = [];
  try {
    for (const kind of ['det', 'rec', 'cls'] as OcrKind[]) {
      const configs = [...WEIGHTS.map((weights) => ({ weights, calibration: undefined as string | undefined })), ...(kind === 'det' ? DET_EXTRA : [])];
      for (const { weights: w, calibration } of configs) {
        const dir = kind === 'rec' ? imgs.linesDir : kind === 'cls' ? imgs.clsDir : imgs.pagesDir;
        const r = await runOcrModel(kind, dir, w, work, { calibration });
        const out = Object.keys(r.quantize.outputSqnrDb)[0];
        let metric = '';
        if (kind === 'rec') {
          recFloat = ctcGreedyDecode(r.float, alphabet);
          const [f, x] = [ctcGreedyDecode(r.fused, alphabet), ctcGreedyDecode(r.exact, alphabet)];
          recStrings.push({ weights: w, fused: f, exact: x });
          metric = `same string as float ${pct(stringAgreement(f, recFloat, false))} / ${pct(stringAgreement(x, recFloat, false))}, spaces ignored ${pct(stringAgreement(f, recFloat))} / ${pct(stringAgreement(x, recFloat))}; CER vs truth float ${pct(characterErrorRate(recFloat, truth))}, quantized ${pct(characterErrorRate(f, truth))} / ${pct(characterErrorRate(x, truth))}`;
        } else if (kind === 'det') {
          metric = `IoU(>0.3) ${binaryIoU(r.float, r.fused).toFixed(3)} / ${binaryIoU(r.float, r.exact).toFixed(3)}; text area float ${pct(positiveShare(r.float))}, quantized ${pct(positiveShare(r.fused))}`;
        } else {
          const acc = r.quantize.accuracy?.[out];
          metric = `top-1 agreement ${pct(top1Agreement(r.float, r.fused))} / ${pct(top1Agreement(r.float, r.exact))}${acc ? `; accuracy (0 vs 180 deg) float ${pct(acc.float)}, quantized ${pct(acc.quantized)}` : ''}`;
        }
        rows.push([kind, `${w}${calibration ? ` ${calibration}` : ''}`, String(r.quantize.checkSamples), db(r.quantize.outputSqnrDb[out]), db(r.quantize.exactSqnrDb[out]), metric]);
        process.stderr.write(`${kind} ${w} ${calibration ?? ''} done (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    }
  } finally {
    fs.rmSync(imgs.dir, { recursive: true, force: true });
  }
  console.log('PaddleOCR W8A8 (uint8 activations, min-max unless said, per-channel weights) on Chromium-rendered text; SQNR in dB, quantized vs float');
  console.log('det: 2 pages 320x320; rec: 8 lines 48x320; cls: 8 lines upright + 8 rotated 180 deg, 48x192\n');
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(`| ${r.map((v, c) => v.padEnd(widths[c])).join(' | ')} |`);
  console.log('\nrec strings (greedy CTC; "|" marks the ends):');
  const q = (s: string) => `|${s}|`;
  truth.forEach((t, i) => {
    console.log(`  truth ${q(t)}  float ${q(recFloat[i])}${recStrings.map((s) => `  ${s.weights.split('/')[0]} fused ${q(s.fused[i])} exact ${q(s.exact[i])}`).join('')}`);
  });
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

main().catch((e) => { console.error(e); process.exit(1); });
