// ONNX Runtime fidelity text: fused-vs-exact numbers and warnings in the report panel and the export notification.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fidelityView } from '../../webview/fidelity';
import { exportNotification } from '../../src/extension/export-message';

const m = (sqnrDb: number) => ({ sqnrDb, mse: 1e-3, cosine: 0.99 });
const VNNI = 'ONNX Runtime on this CPU (no VNNI) runs int8 weights with 8-bit activations through u8s8 kernels that saturate; use int7/per-channel weights.';

describe('fidelityView', () => {
  it('shows both runs and the gap when the exact run exists', () => {
    const v = fidelityView({ metrics: m(23.04), exactMetrics: m(33.7), warnings: [VNNI, ' '] });
    assert.match(v.comparison ?? '', /fused kernels\): SQNR 23\.0 dB/);
    assert.match(v.comparison ?? '', /exact Q\/DQ arithmetic: SQNR 33\.7 dB \(10\.7 dB lost/);
    assert.deepEqual(v.warnings, [VNNI]);
  });
  it('shows nothing extra without exact metrics or warnings', () => {
    assert.deepEqual(fidelityView({ metrics: m(30) }), { warnings: [] });
    assert.match(fidelityView({ metrics: m(30), exactMetrics: m(30.01) }).comparison ?? '', /no gap/);
  });
});

describe('exportNotification', () => {
  const base = { output: '/w/cls.qdq.onnx', sizeBytes: 300 * 1024, floatSizeBytes: 1200 * 1024, metrics: m(23.04) };
  it('is a warning carrying the engine warning and both SQNRs when ONNX Runtime deviates', () => {
    const n = exportNotification({ ...base, exactMetrics: m(33.7), warnings: [VNNI] }, 'cls.qdq.onnx');
    assert.equal(n.warning, true);
    assert.match(n.text, /^QuantLens: wrote cls\.qdq\.onnx \(QDQ file 300 KiB; float model file 1200 KiB; output SQNR 23\.0 dB in ONNX Runtime, 33\.7 dB with exact Q\/DQ arithmetic\)\. Warning: ONNX Runtime on this CPU \(no VNNI\)/);
  });
  it('is plain information otherwise', () => {
    assert.deepEqual(exportNotification(base, 'cls.qdq.onnx'), { warning: false, text: 'QuantLens: wrote cls.qdq.onnx (QDQ file 300 KiB; float model file 1200 KiB; output SQNR 23.0 dB)' });
  });
});
