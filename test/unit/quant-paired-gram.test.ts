// The sequential statistics' Gram blocks (x̂ᵀx̂, δᵀx̂, δᵀδ as three Gemms, paired-inputs.ts) against the blocks of the one
// Gemm over [x̂ | δ] they replaced (bit for bit), and the repair's shared product sessions (shared-sessions.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gramProduct } from '../../src/core/quant/algorithms/layer-inputs';
import { pairedGram } from '../../src/core/quant/algorithms/paired-inputs';
import { SharedSessions } from '../../src/core/quant/algorithms/shared-sessions';
import { freeProduct } from '../../src/core/quant/algorithms/ort-matmul';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { InferenceBackend, RuntimeSession } from '../../src/core/runtime/backend';

test('paired Gram blocks equal the [x̂ | δ] Gram blocks bit for bit (Σδx̂ᵀ in its transposed layout)', async () => {
  const backend = ortBackend();
  let s = 7;
  const r = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
  for (const [R, K] of [[37, 5], [700, 300]]) {
    const q = Float32Array.from({ length: R * K }, () => r() * 3);
    const d = Float32Array.from({ length: R * K }, () => r() * 0.1);
    const z = new Float32Array(R * 2 * K);
    for (let i = 0; i < R; i++) { z.set(q.subarray(i * K, (i + 1) * K), i * 2 * K); z.set(d.subarray(i * K, (i + 1) * K), i * 2 * K + K); }
    const one = await gramProduct(backend);
    const three = await pairedGram(backend);
    try {
      const g = await one.run(z, R, 2 * K);
      const p = await three.run(q, d, R, K);
      const K2 = 2 * K;
      let off = 0, asym = 0;
      for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) {
        if (p.h[i * K + j] !== g[i * K2 + j]) off++;
        // crossT[i, j] = Σ δ_i x̂_j: the [x̂ | δ] Gram's row K + i, column j, and its column K + i of row j
        if (p.crossT[i * K + j] !== g[(K + i) * K2 + j] || p.crossT[i * K + j] !== g[j * K2 + K + i]) off++;
        if (p.dd[i * K + j] !== g[(K + i) * K2 + K + j]) off++;
        if (p.crossT[i * K + j] !== p.crossT[j * K + i]) asym++;
      }
      assert.equal(off, 0, `${off} values differ at R = ${R}, K = ${K}`);
      assert.ok(asym > 0, 'Σδx̂ᵀ is not symmetric: a transposed block would be caught');
    } finally { await one.release(); await three.release(); }
  }
});

test('shared sessions: one load per small model and options, release is a no-op, close frees them; models with weights are not shared', async () => {
  const inner = ortBackend();
  let created = 0, released = 0;
  const counting: InferenceBackend = {
    version: inner.version,
    createSession: async (m, o) => {
      created++;
      const s = await inner.createSession(m, o);
      return { inputNames: s.inputNames, outputNames: s.outputNames, run: (f, x) => s.run(f, x), release: async () => { released++; await s.release(); } } as RuntimeSession;
    },
  };
  const shared = new SharedSessions(counting);
  const a = await freeProduct(shared);
  const b = await freeProduct(shared);
  const t = await freeProduct(shared, undefined, { transposeA: true });
  assert.equal(created, 2, 'the same product graph loads once; the transposed one is another graph');
  const x = Float32Array.from([1, 2, 3, 4]), y = Float32Array.from([5, 6, 7, 8]);
  await a.release();
  assert.deepEqual([...(await b.run(x, 2, 2, y, 2))], [19, 22, 43, 50], 'a released handle leaves the shared session usable');
  assert.deepEqual([...(await t.run(x, 2, 2, y, 2))], [26, 30, 38, 44]);
  assert.equal(released, 0);
  await shared.createSession(new Uint8Array(128 * 1024)).catch(() => undefined); // too big to share: goes to the inner backend (and fails there)
  assert.equal(created, 3);
  await shared.close();
  assert.equal(released, 2);
});
