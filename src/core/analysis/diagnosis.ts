/** Per-layer findings a person can act on, each backed by the numbers that triggered it. */
import { Diagnosis, FormatCandidate, LayerFormatResult, LayerReport } from '../../shared/report';

/** Context of a layer's diagnosis. */
export interface DiagnosisContext {
  primary: string;
  candidates: readonly FormatCandidate[];
  /** True when no quantized layer follows this one (its error reaches the outputs directly). */
  outputLayer: boolean;
  layerCount: number;
}

/** Thresholds the findings use (dB gaps and ratios). */
export const DIAGNOSIS_THRESHOLDS = {
  /** Per-tensor weight SQNR this far below per-channel: the channels' ranges differ too much. */
  perTensorGapDb: 6,
  /** Largest channel range over the median channel's. */
  channelSpread: 4,
  /** Activation absolute max over its 99.99th percentile. */
  activationOutlier: 4,
  /** Isolated end-to-end SQNR this far below the local SQNR: the network amplifies the layer's error. */
  amplificationDb: 10,
  /** 4-bit isolated SQNR below this while 8-bit is fine. */
  lowBitDb: 20,
  /** Weight absolute max over its standard deviation. */
  weightOutlier: 20,
} as const;

const r1 = (v: number) => Math.round(v * 10) / 10;

/** The isolated output SQNR of a result: measured, else the screening's estimate. */
function outputDb(r: LayerFormatResult | undefined): number | undefined {
  return r?.isolated?.sqnrDb ?? r?.estimate;
}

function byFormat(rep: LayerReport, candidates: readonly FormatCandidate[], weights: string, activations = 'float') {
  const c = candidates.find((k) => k.weights === weights && k.activations === activations);
  return c ? { id: c.id, r: rep.formats[c.id] } : undefined;
}

/** The findings for one layer (empty when nothing stands out). */
export function diagnoseLayer(rep: LayerReport, o: DiagnosisContext): Diagnosis[] {
  const out: Diagnosis[] = [];
  const T = DIAGNOSIS_THRESHOLDS;
  const pc = byFormat(rep, o.candidates, 'int8/per-channel');
  const pt = byFormat(rep, o.candidates, 'int8/per-tensor');
  const spread = rep.weightStats?.channelRangeSpread;
  const pcW = pc?.r?.weightSqnrDb, ptW = pt?.r?.weightSqnrDb;
  const gap = pcW !== undefined && ptW !== undefined ? pcW - ptW : undefined;
  if (gap !== undefined && gap >= T.perTensorGapDb) {
    const evidence: Record<string, number> = { perTensorWeightSqnrDb: r1(ptW!), perChannelWeightSqnrDb: r1(pcW!), gapDb: r1(gap) };
    if (spread !== undefined) evidence.channelRangeSpread = r1(spread);
    const iso = pt?.r?.isolated?.sqnrDb, isoPc = pc?.r?.isolated?.sqnrDb;
    if (iso !== undefined) evidence.perTensorOutputSqnrDb = r1(iso);
    if (isoPc !== undefined) evidence.perChannelOutputSqnrDb = r1(isoPc);
    if (rep.kind === 'depthwise-conv') {
      out.push({
        code: 'depthwise-per-tensor', severity: gap >= 12 ? 'error' : 'warning',
        message: `Depthwise convolution: each channel has its own filter, and one int8 scale for all of them loses ${r1(gap)} dB (weight SQNR ${r1(ptW!)} dB per-tensor vs ${r1(pcW!)} dB per-channel).`,
        suggestion: 'Quantize this layer\'s weights per channel (int8/per-channel); if the target hardware needs per-tensor, apply cross-layer equalization first.',
        evidence,
      });
    } else {
      out.push({
        code: 'channel-range-spread', severity: gap >= 12 ? 'warning' : 'info',
        message: `Weight ranges differ widely between output channels${spread !== undefined ? ` (largest channel ${r1(spread)}x the median)` : ''}: per-tensor int8 gives ${r1(ptW!)} dB weight SQNR, per-channel ${r1(pcW!)} dB.`,
        suggestion: 'Use per-channel weight quantization for this layer, or cross-layer equalization to even out the channels.',
        evidence,
      });
    }
  } else if (spread !== undefined && spread >= 10 && gap === undefined) {
    out.push({
      code: 'channel-range-spread', severity: 'info',
      message: `The widest output channel's range is ${r1(spread)}x the median channel's: per-tensor weight quantization would waste most levels on it.`,
      suggestion: 'Quantize the weights per channel, or equalize the channels.', evidence: { channelRangeSpread: r1(spread) },
    });
  }

  const act = rep.activation;
  if (act && act.outlierRatio >= T.activationOutlier) {
    const a8 = outputDb(byFormat(rep, o.candidates, 'float', 'uint8')?.r) ?? outputDb(byFormat(rep, o.candidates, 'float', 'int8')?.r);
    const a16 = outputDb(byFormat(rep, o.candidates, 'float', 'int16')?.r);
    const evidence: Record<string, number> = { outlierRatio: r1(act.outlierRatio), absMax: Math.max(Math.abs(act.min), Math.abs(act.max)), calibratedMin: act.calibratedMin, calibratedMax: act.calibratedMax };
    if (a8 !== undefined) evidence.a8OutputSqnrDb = r1(a8);
    if (a16 !== undefined) evidence.a16OutputSqnrDb = r1(a16);
    const hurts = a8 !== undefined && a16 !== undefined ? a16 - a8 >= 10 : true;
    out.push({
      code: 'activation-outliers', severity: hurts ? 'warning' : 'info',
      message: `The input activation '${act.tensor}' has outliers: its absolute max is ${r1(act.outlierRatio)}x its 99.99th percentile, so an 8-bit min-max range leaves few levels for the bulk of the values${a8 !== undefined && a16 !== undefined ? ` (output SQNR ${r1(a8)} dB at 8 bits, ${r1(a16)} dB at 16 bits)` : ''}.`,
      suggestion: 'Calibrate this activation with a percentile (calibration: "percentile:99.99") or keep it in 16 bits (activations: "int16").',
      evidence,
    });
  }

  const prim = rep.formats[o.primary];
  if (prim?.localSqnrDb !== undefined && prim.isolated && prim.localSqnrDb - prim.isolated.sqnrDb >= T.amplificationDb) {
    out.push({
      code: 'error-amplification', severity: 'warning',
      message: `The network amplifies this layer's error: ${r1(prim.localSqnrDb)} dB at the layer's output, ${r1(prim.isolated.sqnrDb)} dB at the model's output (${o.primary}).`,
      suggestion: 'Keep this layer in higher precision, or fine-tune with QAT; small errors here grow downstream.',
      evidence: { localSqnrDb: r1(prim.localSqnrDb), outputSqnrDb: r1(prim.isolated.sqnrDb), gapDb: r1(prim.localSqnrDb - prim.isolated.sqnrDb) },
    });
  }

  const w4 = outputDb(byFormat(rep, o.candidates, 'int4/per-channel')?.r);
  const w8 = outputDb(pc?.r);
  if (w4 !== undefined && w8 !== undefined && w4 < T.lowBitDb && w8 >= T.lowBitDb + 10) {
    out.push({
      code: 'low-bit-weights', severity: 'warning',
      message: `4-bit weights cost this layer much more than 8-bit: output SQNR ${r1(w4)} dB with int4 vs ${r1(w8)} dB with int8 (per-channel).`,
      suggestion: 'Keep this layer\'s weights in 8 bits, or try 4-bit blocks (int4/block:32).',
      evidence: { w4OutputSqnrDb: r1(w4), w8OutputSqnrDb: r1(w8) },
    });
  }

  const ws = rep.weightStats;
  if (ws && ws.outlierRatio >= T.weightOutlier) {
    out.push({
      code: 'wide-weight-range', severity: 'info',
      message: `A few weights are far larger than the rest: the absolute max is ${r1(ws.outlierRatio)} standard deviations.`,
      suggestion: 'Per-channel or block quantization limits the damage; weight clipping during QAT can help further.',
      evidence: { outlierRatio: r1(ws.outlierRatio), absMax: ws.absMax, std: ws.std },
    });
  }

  if (o.outputLayer && rep.rank > 0 && rep.rank <= Math.max(1, Math.ceil(o.layerCount / 10))) {
    out.push({
      code: 'sensitive-output-layer', severity: 'info',
      message: `This layer feeds the model's outputs directly and ranks ${rep.rank} of ${o.layerCount} in sensitivity.`,
      suggestion: 'Output layers are commonly kept in 8 bits or float; they are small and their error is not averaged out.',
      evidence: { rank: rep.rank },
    });
  }
  return out;
}
