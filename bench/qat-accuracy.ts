// `npx tsx bench/qat-accuracy.ts`: MNIST accuracy table (FP32, PTQ, QAT, exported QDQ) for W8A8, W4A8, W2A8 on the CNN and the MLP.
import { loadMnistSplit, mnistCnn, mnistMlp } from '../src/core/train/examples';
import { quantRow, trainFp32 } from '../src/core/train/mnist-experiment';

const pct = (v: number) => (100 * v).toFixed(2).padStart(6);

async function main() {
  const { train, test } = loadMnistSplit();
  console.log(`MNIST (npm mnist), fixed split: ${train.count} train / ${test.count} test; FP32 trained from scratch by the QAT engine`);
  console.log('model  config     FP32    PTQ     QAT   QDQ(ORT all)  QDQ(ORT basic)');
  for (const [name, model, epochs] of [['CNN', mnistCnn(1), 4], ['MLP', mnistMlp(1), 6]] as const) {
    const t0 = Date.now();
    const fp = await trainFp32(model, train, test, epochs);
    for (const w of [8, 4, 2]) {
      const r = await quantRow(fp.model, train, test, `int${w}/per-channel`, 'uint8', 2);
      console.log(`${name.padEnd(6)} W${w}A8 pc  ${pct(fp.accuracy)}  ${pct(r.ptq)}  ${pct(r.qat)}  ${pct(r.qdq).padStart(12)}  ${pct(r.qdqUnfused).padStart(14)}`);
    }
    console.error(`(${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  console.log('QDQ(ORT all): default session options; 8-bit signed weights with 8-bit activations fuse into u8s8 integer kernels that\nsaturate on CPUs without VNNI (see src/core/quant/ort-fidelity.ts). QDQ(ORT basic): no Q/DQ fusion.');
}
main().catch((e) => { console.error(e); process.exit(1); });
