/** QAT against plain PTQ of the same recipe: the comparison record and the sentence the CLI and the UI show. */
import { QatVersusPtq, TrainedFormat } from '../../shared/training';

/** Output quality of one quantized model against the float model. */
export interface QualityFigures {
  sqnrDb: number;
  top1Agreement?: number;
}

/** Compares the exported QAT model with PTQ (both measured on the same `samples` against the float model). */
export function versusPtq(ptq: QualityFigures, qat: QualityFigures, samples: number, synthetic: boolean, formats: TrainedFormat[]): QatVersusPtq {
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const ptqSqnrDb = r2(ptq.sqnrDb), qatSqnrDb = r2(qat.sqnrDb);
  const worseAgreement = ptq.top1Agreement !== undefined && qat.top1Agreement !== undefined && qat.top1Agreement < ptq.top1Agreement;
  return {
    ptqSqnrDb, qatSqnrDb, ptqAgreement: ptq.top1Agreement, qatAgreement: qat.top1Agreement,
    qatWorse: qatSqnrDb < ptqSqnrDb || worseAgreement, samples, synthetic, formats,
  };
}

/** One line: both figures, the data they were measured on, and a plain statement when QAT lost to PTQ. */
export function versusPtqMessage(v: QatVersusPtq): string {
  const db = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} dB` : x > 0 ? 'exact (no error)' : 'undefined');
  const agree = (x?: number) => (x === undefined ? '' : `, top-1 agreement ${(100 * x).toFixed(1)}%`);
  const fmt = v.formats.map((f) => `${f.weights} weights / ${f.activations} activations (${f.layers} layer${f.layers === 1 ? '' : 's'})`).join('; ');
  const on = `${v.samples} ${v.synthetic ? 'synthetic' : 'real'} sample${v.samples === 1 ? '' : 's'}`;
  const head = `output SQNR against the float model on ${on}: QAT ${db(v.qatSqnrDb)}${agree(v.qatAgreement)}, plain PTQ of the same recipe ${db(v.ptqSqnrDb)}${agree(v.ptqAgreement)}; trained formats: ${fmt || 'none (float)'}`;
  return v.qatWorse ? `QAT came out WORSE than plain PTQ: ${head}. Use the PTQ model, or train longer / with a lower learning rate or more data.` : head;
}
